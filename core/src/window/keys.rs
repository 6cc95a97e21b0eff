//! Key interning for the aggregator's hot path: a [`KeyTable`] maps (dashboard, metric, sorted tags) to
//! a small slot id without allocating when the key already exists (a `hashbrown::HashTable` of ids,
//! probed with a precomputed foldhash of the borrowed parts), and each [`Slot`] holds the key's open
//! windows ([`Win`]), the first of them inside the slot itself (more spill to the heap until they
//! close). A tag-less key with short names also keeps an inline copy of them ([`ShortKey`]), so that the
//! usual lookup compares bytes in the slot itself instead of following the key's pointers.
//!
//! Slot ids are reused lowest first, and free slots at the end of the array are given back
//! ([`KeyTable::trim`]); a key that stays at a high id after a burst keeps the array (and the table)
//! at that size until it is forgotten too.

use super::accum::Accumulator;
use crate::error::{Error, Result};
use crate::event::{Key, MAX_NAME_BYTES};
use hashbrown::{DefaultHashBuilder, HashTable};
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// Open windows held inline in a [`Slot`].
pub(crate) const INLINE_WINDOWS: usize = 1;

/// Slot count up to which [`KeyTable::trim`] keeps the array as it is, and the least capacity it
/// leaves.
const TRIM_MIN: usize = 64;

/// One open window of one key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Win {
    /// Open sequence: unique, increasing in the order windows are opened; orders results.
    pub id: u64,
    /// Start (ms, inclusive). Count windows: the smallest event time.
    pub start: i64,
    /// End (ms, exclusive). Count windows: the largest event time.
    pub end: i64,
    /// Running aggregates.
    pub acc: Accumulator,
    /// Changed since its last partial result (emit mode `updates` only).
    pub dirty: bool,
}

/// Longest dashboard id and metric name kept inline in a [`ShortKey`].
const SHORT: usize = 16;

/// Inline copy of a tag-less key whose names fit in [`SHORT`] bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShortKey {
    d: [u8; SHORT],
    m: [u8; SHORT],
    dl: u8,
    ml: u8,
}

impl ShortKey {
    fn new(key: &Key) -> Option<Self> {
        let (d, m) = (key.dashboard.as_bytes(), key.metric.as_bytes());
        if !key.tags.is_empty() || d.len() > SHORT || m.len() > SHORT {
            return None;
        }
        let mut short = ShortKey {
            d: [0; SHORT],
            m: [0; SHORT],
            dl: d.len() as u8,
            ml: m.len() as u8,
        };
        short.d[..d.len()].copy_from_slice(d);
        short.m[..m.len()].copy_from_slice(m);
        Some(short)
    }

    #[inline(always)]
    fn matches(&self, d: &str, m: &str) -> bool {
        let (dl, ml) = (usize::from(self.dl), usize::from(self.ml));
        d.len() == dl
            && m.len() == ml
            && same(&self.m[..ml], m.as_bytes())
            && same(&self.d[..dl], d.as_bytes())
    }
}

/// State of one interned key.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// The key; `None` while the slot is free.
    pub key: Option<Arc<Key>>,
    /// Inline copy of the key's names when it has no tags and short names.
    short: Option<ShortKey>,
    /// Hash of the key's parts, kept for rehashing.
    pub hash: u64,
    /// Open windows, sorted by start. The first ones are held in the slot itself, so that the usual
    /// event (one open window per key, tumbling) reads one place in memory, not the slot and then a
    /// heap block; a key whose windows spilled to the heap comes back inline when one is left.
    pub windows: SmallVec<[Win; INLINE_WINDOWS]>,
    /// Bumped each time the key runs out of open windows; stale idle-list entries carry an older one.
    pub gen: u32,
}

impl Slot {
    /// The key's dashboard and metric from the slot's inline copy, when it has one (a tag-less key
    /// with short names): read without going to the key's own allocation.
    pub fn names(&self) -> Option<(&str, &str)> {
        let short = self.short.as_ref()?;
        let d = std::str::from_utf8(&short.d[..usize::from(short.dl)]).ok()?;
        let m = std::str::from_utf8(&short.m[..usize::from(short.ml)]).ok()?;
        Some((d, m))
    }
}

/// Interned keys, addressed by slot id.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    build: DefaultHashBuilder,
    table: HashTable<u32>,
    /// Slots by id (free ones have `key == None`).
    pub slots: Vec<Slot>,
    /// Free slot ids, lowest first: new keys fill the array from the bottom, so that the free slots
    /// gather at its end, where [`trim`](Self::trim) can give them back.
    free: BinaryHeap<Reverse<u32>>,
    /// Bumped whenever a key is forgotten: a slot id remembered across events (the categorical
    /// columns' name → slot map) is valid only while this has not changed.
    pub removals: u64,
    /// Times [`trim`](Self::trim) gave slots back (read by the tests).
    pub trims: u64,
}

pub(crate) use crate::event::check_name;

/// Checks tags as [`Event::validate`](crate::Event::validate) does, except order. Returns whether they
/// are sorted by key (the caller sorts a copy when they are not).
pub(crate) fn check_tags<K: AsRef<str>, V: AsRef<str>>(tags: &[(K, V)]) -> Result<bool> {
    for (k, v) in tags {
        check_name("tag key", k.as_ref())?;
        if v.as_ref().len() > MAX_NAME_BYTES {
            return Err(Error::invalid(format!(
                "tag {} value is longer than {MAX_NAME_BYTES} bytes",
                k.as_ref()
            )));
        }
    }
    let sorted = tags.windows(2).all(|w| w[0].0.as_ref() < w[1].0.as_ref());
    if !sorted {
        let mut keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(format!("tag {} given twice", w[0])));
        }
    }
    Ok(sorted)
}

/// Byte equality with the short lengths of metric names inlined (no `memcmp` call up to 16 bytes).
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// [`same`] on strings.
#[inline]
fn same_str(a: &str, b: &str) -> bool {
    same(a.as_bytes(), b.as_bytes())
}

#[inline]
fn same_key<K: AsRef<str>, V: AsRef<str>>(key: &Key, d: &str, m: &str, tags: &[(K, V)]) -> bool {
    same_str(&key.metric, m)
        && same_str(&key.dashboard, d)
        && key.tags.len() == tags.len()
        && key
            .tags
            .iter()
            .zip(tags)
            .all(|((a, b), (c, e))| same_str(a, c.as_ref()) && same_str(b, e.as_ref()))
}

/// Rows (or close-schedule entries) looked ahead when prefetching key slots: enough to cover a miss
/// to memory at a few ns per row, few enough that the lines are still in cache when the row comes.
pub(crate) const AHEAD: usize = 16;

/// Slot-table size (bytes) above which slots, keys and names are prefetched (the coded row loop and
/// the close sweep; [`KeyTable::prefetch`] and [`KeyTable::prefetch_key`] do nothing below it).
/// Below it the table stays in the core's L2 cache and the prefetch instructions cost more than
/// they save: `bench_windows`'s coded rows on this machine (1 MiB L2 per core, 184-byte slots) ran
/// 1k keys (184 KB) in 25 ns per event without and 30 with, 3k keys level, 10k keys (1.8 MB) in 70
/// with and 85 without, 100k keys in 330 with and 500 without.
const PREFETCH_OVER: usize = 512 * 1024;

/// Asks the CPU to start loading the cache lines of `bytes` bytes at `p` (a no-op off x86-64).
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch_bytes(p: *const u8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    if bytes > 0 {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // From the cache line holding the first byte to the one holding the last.
        let first = p.wrapping_sub(p as usize % 64);
        let end = p.wrapping_add(bytes);
        let mut line = first;
        while line < end {
            // SAFETY: a prefetch is a hint: it never faults and nothing is read into the program,
            // whatever the address (here, always a line overlapping a live allocation).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.cast()) };
            line = line.wrapping_add(64);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, bytes);
}

/// Asks the CPU to start loading the allocation of an interned key: its reference counts (just
/// before the key in the `Arc`'s allocation) and its parts' headers.
#[inline(always)]
pub(crate) fn prefetch_arc_key(key: &Arc<Key>) {
    let counts = Arc::as_ptr(key).cast::<u8>().wrapping_sub(16);
    prefetch_bytes(counts, 16 + std::mem::size_of::<Key>());
}

/// Asks the CPU to start loading the first bytes of `s` (a name, to be compared soon).
#[inline(always)]
pub(crate) fn prefetch_str(s: &str) {
    prefetch_bytes(s.as_ptr(), s.len().min(64));
}

impl KeyTable {
    /// Hash of a key's parts; equal for borrowed and owned forms of the same key.
    #[inline]
    pub fn hash<K: AsRef<str>, V: AsRef<str>>(&self, d: &str, m: &str, tags: &[(K, V)]) -> u64 {
        let mut h = self.build.build_hasher();
        d.hash(&mut h);
        m.hash(&mut h);
        h.write_usize(tags.len());
        for (k, v) in tags {
            k.as_ref().hash(&mut h);
            v.as_ref().hash(&mut h);
        }
        h.finish()
    }

    /// The slot id of a key (tags sorted), if interned.
    #[inline]
    pub fn find<K: AsRef<str>, V: AsRef<str>>(
        &self,
        hash: u64,
        d: &str,
        m: &str,
        tags: &[(K, V)],
    ) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(hash, |&id| {
                let slot = &slots[id as usize];
                slot.hash == hash
                    && match &slot.short {
                        Some(short) => tags.is_empty() && short.matches(d, m),
                        None => slot.key.as_deref().is_some_and(|k| same_key(k, d, m, tags)),
                    }
            })
            .copied()
    }

    /// Whether slot `id` holds the key (tags sorted): the check of a remembered slot id.
    #[inline]
    pub fn holds<K: AsRef<str>, V: AsRef<str>>(
        &self,
        id: u32,
        d: &str,
        m: &str,
        tags: &[(K, V)],
    ) -> bool {
        self.slots
            .get(id as usize)
            .is_some_and(|slot| match &slot.short {
                Some(short) => tags.is_empty() && short.matches(d, m),
                None => slot.key.as_deref().is_some_and(|k| same_key(k, d, m, tags)),
            })
    }

    /// Asks the CPU to start loading slot `id` (its key and first window), when it exists and the
    /// slots outgrow the cache ([`worth_prefetching`](Self::worth_prefetching)): a hint for a row a
    /// few rows on, so that its slot is in cache when the row comes.
    #[inline(always)]
    pub fn prefetch(&self, id: u32) {
        if !self.worth_prefetching() {
            return;
        }
        if let Some(slot) = self.slots.get(id as usize) {
            prefetch_bytes(std::ptr::from_ref(slot).cast(), std::mem::size_of::<Slot>());
        }
    }

    /// Asks the CPU to start loading the interned key of slot `id` (its reference counts, which a
    /// result's copy of the key updates): a hint for a window a few on in the close sweep, whose slot
    /// was prefetched earlier; nothing while the slots fit in cache, as for [`prefetch`](Self::prefetch).
    #[inline(always)]
    pub fn prefetch_key(&self, id: u32) {
        if !self.worth_prefetching() {
            return;
        }
        if let Some(Some(key)) = self.slots.get(id as usize).map(|s| s.key.as_ref()) {
            prefetch_arc_key(key);
        }
    }

    /// Interns a key that is not present (the caller has checked with [`find`](Self::find)).
    pub fn insert(&mut self, hash: u64, key: Key) -> u32 {
        let id = match self.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[id as usize];
        slot.short = ShortKey::new(&key);
        slot.key = Some(Arc::new(key));
        slot.hash = hash;
        let slots = &self.slots;
        self.table
            .insert_unique(hash, id, |&x| slots[x as usize].hash);
        id
    }

    /// Forgets the key in slot `id` (its windows must be closed) and frees the slot.
    pub fn remove(&mut self, id: u32) {
        let slot = &mut self.slots[id as usize];
        if slot.key.take().is_none() {
            return;
        }
        self.removals += 1;
        slot.short = None;
        slot.windows.clear();
        if let Ok(entry) = self.table.find_entry(slot.hash, |&x| x == id) {
            entry.remove();
        }
        self.free.push(Reverse(id));
    }

    /// Gives back the free slots at the end of the array, with their memory, once at most half of
    /// the slots hold a key (a burst of keys that went quiet is not kept for ever). Returns the new
    /// slot count when it shrank: ids from there on are gone, and whoever lists slot ids must drop
    /// them. Stale ids elsewhere are harmless: the schedule and the partials check the slot exists
    /// and holds the window id they name.
    pub fn trim(&mut self) -> Option<usize> {
        let len = self.slots.len();
        if len <= TRIM_MIN || self.table.len() * 2 > len {
            return None;
        }
        let mut n = len;
        while n > 0 && self.slots[n - 1].key.is_none() {
            n -= 1;
        }
        if n == len {
            return None;
        }
        self.slots.truncate(n);
        self.slots.shrink_to(n.max(TRIM_MIN));
        self.free.retain(|&Reverse(id)| (id as usize) < n);
        self.free.shrink_to(self.free.len().max(TRIM_MIN));
        let slots = &self.slots;
        self.table
            .shrink_to(self.table.len(), |&x| slots[x as usize].hash);
        self.trims += 1;
        Some(n)
    }

    /// Forgets every key and gives back the memory that held them.
    pub fn clear(&mut self) {
        self.removals += 1;
        self.table = HashTable::new();
        self.slots = Vec::new();
        self.free = BinaryHeap::new();
    }

    /// Whether the slots outgrow the cache enough for prefetching them to pay ([`PREFETCH_OVER`]).
    #[inline(always)]
    pub fn worth_prefetching(&self) -> bool {
        self.slots.len() > PREFETCH_OVER / std::mem::size_of::<Slot>()
    }

    /// Number of interned keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(d: &str, m: &str, tags: &[(&str, &str)]) -> Key {
        Key {
            dashboard: d.into(),
            metric: m.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn keys_intern_find_and_free() {
        let mut t = KeyTable::default();
        let tags = [("host", "a")];
        let h = t.hash("d", "m", &tags);
        assert_eq!(t.find(h, "d", "m", &tags), None);
        let id = t.insert(h, key("d", "m", &tags));
        let owned = vec![("host".to_string(), "a".to_string())];
        assert_eq!(
            t.hash("d", "m", &owned),
            h,
            "borrowed and owned parts hash alike"
        );
        assert_eq!(t.find(h, "d", "m", &owned), Some(id));
        let h2 = t.hash("d", "m", &[] as &[(&str, &str)]);
        assert_eq!(t.find(h2, "d", "m", &[] as &[(&str, &str)]), None);
        let id2 = t.insert(h2, key("d", "m", &[]));
        assert_ne!(id, id2);
        assert_eq!(t.len(), 2);
        t.remove(id);
        assert_eq!(t.len(), 1);
        assert_eq!(t.find(h, "d", "m", &tags), None);
        let id3 = t.insert(h, key("d", "m", &tags));
        assert_eq!(id3, id, "free slots are reused");
        for i in 0..1000 {
            let m = format!("m{i}");
            let h = t.hash("x", &m, &[] as &[(&str, &str)]);
            t.insert(h, key("x", &m, &[]));
        }
        assert_eq!(t.find(h2, "d", "m", &[] as &[(&str, &str)]), Some(id2));
        assert_eq!(t.len(), 1002);
        t.clear();
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn short_string_equality_checks_every_byte() {
        let words = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abc",
            "abd",
            "xbc",
            "abcd",
            "abce",
            "abcdefg",
            "abcdefh",
            "bbcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "bbcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "abcdXfghijklmnop",
        ];
        for a in words {
            for b in words {
                assert_eq!(same_str(a, b), a == b, "{a:?} vs {b:?}");
            }
        }
        // Every single-byte difference at every length up to 40 is seen.
        for n in 1..40 {
            let base: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            for i in 0..n {
                let mut other = base.clone().into_bytes();
                other[i] = b'Z';
                let other = String::from_utf8(other).unwrap();
                assert!(!same_str(&base, &other), "{base} vs {other}");
            }
            assert!(same_str(&base, &base.clone()));
        }
    }

    #[test]
    fn short_inline_keys_and_long_or_tagged_keys_stay_distinct() {
        let mut t = KeyTable::default();
        let long = "m".repeat(40);
        let none: &[(&str, &str)] = &[];
        let tagged = [("h", "a")];
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: [Case; 5] = [
            ("d", "cpu", none),
            ("d", "cpu", &tagged),
            ("d", &long, none),
            ("dashboard-longer-than-16", "cpu", none),
            ("d", "cpu2", none),
        ];
        let ids: Vec<u32> = cases
            .iter()
            .map(|&(d, m, tags)| {
                let h = t.hash(d, m, tags);
                assert_eq!(t.find(h, d, m, tags), None);
                t.insert(h, key(d, m, tags))
            })
            .collect();
        assert!(t.slots[ids[0] as usize].short.is_some());
        assert!(t.slots[ids[1] as usize].short.is_none());
        assert!(t.slots[ids[2] as usize].short.is_none());
        for (&(d, m, tags), &id) in cases.iter().zip(&ids) {
            assert_eq!(t.find(t.hash(d, m, tags), d, m, tags), Some(id), "{d}/{m}");
        }
        t.remove(ids[0]);
        assert!(t.slots[ids[0] as usize].short.is_none());
        assert_eq!(t.find(t.hash("d", "cpu", none), "d", "cpu", none), None);
    }

    #[test]
    fn names_and_tags_are_checked() {
        assert!(check_name("metric", "cpu").is_ok());
        assert!(check_name("metric", "").is_err());
        assert!(check_name("metric", &"x".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert!(check_tags(&[("a", "1"), ("b", "2")]).unwrap());
        assert!(!check_tags(&[("b", "1"), ("a", "2")]).unwrap());
        assert_eq!(
            check_tags(&[("b", "1"), ("b", "2")]).unwrap_err().code(),
            "invalid_input"
        );
        assert_eq!(
            check_tags(&[("b", "1"), ("a", "2"), ("b", "3")])
                .unwrap_err()
                .code(),
            "invalid_input"
        );
        assert_eq!(
            check_tags(&[("", "1")]).unwrap_err().code(),
            "invalid_input"
        );
        let long = "v".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            check_tags(&[("k", long.as_str())]).unwrap_err().code(),
            "invalid_input"
        );
    }
}
