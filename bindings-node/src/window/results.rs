//! Window results between the core and JavaScript.
//!
//! Out: each `WindowResult` becomes the plain object `WindowResult::to_value()` describes (same keys,
//! same order: `dashboard, metric, tags, start, end, count, sum, min, max, mean, first, last,
//! quantiles, final`). The native side writes the results into flat columns (numbers in a
//! Float64Array, each distinct string made once) and one call of the helper in `js/window.js`
//! makes the objects with an object literal, several times faster than defining fourteen
//! properties per object through Node-API.
//!
//! In: `Hub.publishResults` takes those objects back ([`WindowResultObject`], also the TypeScript
//! type of a result) and rebuilds the core results, so `hub.publishResults(agg.poll())` publishes
//! exactly what the core would.
//!
//! Raw Node-API: results are written as flat columns and turned into objects by one helper call per
//! `poll()`. Bench rows: `node bench/window.js`, every row (each one polls 60,000 or ~920,000 results).

use super::HELPERS;
use crate::error::Result;
use crate::napi::args::{number, own};
use crate::napi::raw::{self, napi_call};
use crate::napi::realm;
use crate::napi::script;
use dashfeed::event::Key;
use dashfeed::window::{quantile_name, WindowResult};
use dashfeed::Error;
use napi::bindgen_prelude::{JsValue, Object};
use napi::sys;
use napi_derive::napi;
use std::collections::HashMap;
use std::hash::Hasher;
use std::ptr;
use std::sync::Arc;

/// One window's aggregates, as `poll()` / `flush()` return them and `Hub.publishResults` takes
/// them.
#[napi(object, object_to_js = false, js_name = "WindowResult")]
pub struct WindowResultObject<'a> {
    /// Dashboard id.
    pub dashboard: String,
    /// Metric name.
    pub metric: String,
    /// Tags of the key, sorted by name.
    pub tags: HashMap<String, String>,
    /// Window start (ms, inclusive).
    pub start: i64,
    /// Window end (ms, exclusive; for count windows the last event time).
    pub end: i64,
    /// Number of events.
    pub count: i64,
    /// Sum of the values.
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// `sum / count`.
    pub mean: f64,
    /// Value of the earliest event.
    pub first: f64,
    /// Value of the latest event.
    pub last: f64,
    /// The configured quantiles by name (`p50`, `p99`, `p99.9`), in configuration order.
    #[napi(ts_type = "Record<string, number>")]
    pub quantiles: Object<'a>,
    /// `true` for the result emitted when the window closed, `false` for a partial update.
    #[napi(js_name = "final")]
    pub is_final: bool,
}

/// Numbers per result in the `nums` column (see `bindings-node/js/window.js`).
const FIELDS: usize = 12;

/// The FxHash function (rustc's): a multiply and a rotate per word. The strings of one batch are
/// hashed once each per result; SipHash's DoS resistance buys nothing for a cache that lives for
/// one call, whose collisions cost a duplicate string at worst.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The strings of a batch, each made once while the cache holds it: a direct-mapped table by
/// content hash, so a lookup is one hash, one probe of a table that stays in cache and one compare.
/// A growing map of every string (the earlier form) cost a cache miss per result once the strings
/// were many, as with 100,000 metrics, where each result has its own metric anyway. Two strings
/// that share a slot may each be made more than once: objects then hold equal strings, not the
/// same one (which JavaScript cannot tell apart).
struct Strings<'a> {
    /// (string, index in `list`), `u32::MAX` for an empty slot.
    slots: Vec<(&'a str, u32)>,
    /// The bits of the hash that index `slots`.
    bits: u32,
    list: Vec<&'a str>,
}

/// The cache's size bounds: 64 slots to 16,384 (384 KiB).
const MIN_SLOT_BITS: u32 = 6;
const MAX_SLOT_BITS: u32 = 14;

impl<'a> Strings<'a> {
    /// A cache for about `n` string lookups (four slots per lookup, within the bounds).
    fn with_capacity(n: usize) -> Self {
        let bits = n
            .saturating_mul(4)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(MIN_SLOT_BITS, MAX_SLOT_BITS);
        Strings {
            slots: vec![("", u32::MAX); 1 << bits],
            bits,
            list: Vec::with_capacity(n),
        }
    }

    fn id(&mut self, s: &'a str) -> u32 {
        let mut h = FxHasher::default();
        h.write(s.as_bytes());
        // The high bits: FxHash's multiply mixes them best.
        let i = (h.finish() >> (64 - self.bits)) as usize;
        let next = self.list.len() as u32;
        match self.slots.get_mut(i) {
            Some(slot) if slot.1 != u32::MAX && slot.0 == s => slot.1,
            Some(slot) => {
                *slot = (s, next);
                self.list.push(s);
                next
            }
            None => {
                self.list.push(s);
                next
            }
        }
    }
}

/// A JS string (Latin-1 when ASCII, which V8 takes without decoding).
fn js_string(env: sys::napi_env, s: &str) -> Result<sys::napi_value> {
    if !s.is_ascii() {
        return raw::string(env, s);
    }
    let mut out = ptr::null_mut();
    napi_call!(napi_create_string_latin1(
        env,
        s.as_ptr().cast(),
        s.len() as isize,
        &mut out
    ))?;
    Ok(out)
}

/// A JS array of `items` as strings (see [`js_string`]), made in a few calls ([`realm::array`]).
pub(super) fn string_array<'a>(
    env: sys::napi_env,
    items: impl Iterator<Item = &'a str>,
) -> Result<sys::napi_value> {
    let strings = items
        .map(|s| js_string(env, s))
        .collect::<Result<Vec<_>>>()?;
    realm::array(env, &strings)
}

/// A TypedArray of `kind` holding a copy of `data`.
pub(super) fn typed<T: Copy>(env: sys::napi_env, kind: i32, data: &[T]) -> Result<sys::napi_value> {
    let bytes = std::mem::size_of_val(data);
    let (mut buf, mut ab, mut out) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
    napi_call!(napi_create_arraybuffer(env, bytes, &mut buf, &mut ab))?;
    if bytes > 0 {
        // SAFETY: the new ArrayBuffer has `bytes` writable bytes at `buf`, `data` as many readable.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr().cast::<u8>(), buf.cast::<u8>(), bytes) };
    }
    napi_call!(napi_create_typedarray(
        env,
        kind,
        data.len(),
        ab,
        0,
        &mut out
    ))?;
    Ok(out)
}

/// The JS array of result objects for `results` (see the module docs): the native side fills flat
/// columns, the helper of `js/window.js` makes the objects.
pub fn results_to_js(env: sys::napi_env, results: &[WindowResult]) -> Result<sys::napi_value> {
    let n = results.len();
    // The quantile names (one per configured quantile), owned here and indexed like the others.
    let mut names: Vec<(u64, String)> = Vec::new();
    for r in results {
        for &(q, _) in &r.quantiles {
            if !names.iter().any(|(bits, _)| *bits == q.to_bits()) {
                names.push((q.to_bits(), quantile_name(q)));
            }
        }
    }
    let mut strings = Strings::with_capacity(2 * n + names.len());
    let name_ids: Vec<(u64, u32)> = names
        .iter()
        .map(|(bits, name)| (*bits, strings.id(name)))
        .collect();
    let mut ids = Vec::with_capacity(2 * n);
    let mut nums = Vec::with_capacity(FIELDS * n);
    let (mut refs, mut qvals) = (Vec::new(), Vec::new());
    for r in results {
        ids.push(strings.id(&r.key.dashboard));
        ids.push(strings.id(&r.key.metric));
        nums.extend_from_slice(&[
            r.start_ms as f64,
            r.end_ms as f64,
            r.count as f64,
            r.sum,
            r.min,
            r.max,
            r.mean,
            r.first,
            r.last,
            if r.is_final { 1.0 } else { 0.0 },
            r.key.tags.len() as f64,
            r.quantiles.len() as f64,
        ]);
        for (k, v) in &r.key.tags {
            refs.push(strings.id(k));
            refs.push(strings.id(v));
        }
        for &(q, v) in &r.quantiles {
            let id = name_ids.iter().find(|(bits, _)| *bits == q.to_bits());
            refs.push(id.map_or(0, |(_, id)| *id));
            qvals.push(v);
        }
    }
    let strs = string_array(env, strings.list.iter().copied())?;
    let mut count = ptr::null_mut();
    napi_call!(napi_create_uint32(env, n as u32, &mut count))?;
    use sys::TypedarrayType as T;
    let args = [
        count,
        strs,
        typed(env, T::uint32_array, &ids)?,
        typed(env, T::float64_array, &nums)?,
        typed(env, T::uint32_array, &refs)?,
        typed(env, T::float64_array, &qvals)?,
    ];
    script::call(env, HELPERS, c"results", &args)
}

/// The quantile of a result field name: `"p99.9"` → 0.999.
fn quantile_of(name: &str) -> Result<f64> {
    let q = name
        .strip_prefix('p')
        .and_then(|pct| pct.parse::<f64>().ok())
        .map(|pct| pct / 100.0)
        .filter(|q| *q > 0.0 && *q < 1.0 && quantile_name(*q) == name);
    q.ok_or_else(|| {
        Error::invalid(format!("{name:?} is not a quantile name such as \"p99\"")).into()
    })
}

impl WindowResultObject<'_> {
    /// The core result this object describes.
    pub fn to_core(&self, env: sys::napi_env) -> Result<WindowResult> {
        let mut tags: Vec<(String, String)> = self
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.sort_unstable();
        let mut quantiles = Vec::new();
        own(env, self.quantiles.raw(), |name, value| {
            let q = quantile_of(&name)?;
            quantiles.push((q, number(env, value, "a quantile value")?));
            Ok(())
        })?;
        let count = u64::try_from(self.count)
            .map_err(|_| Error::invalid(format!("count must not be negative ({})", self.count)))?;
        Ok(WindowResult {
            key: Arc::new(Key {
                dashboard: self.dashboard.clone(),
                metric: self.metric.clone(),
                tags,
            }),
            start_ms: self.start,
            end_ms: self.end,
            count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            mean: self.mean,
            first: self.first,
            last: self.last,
            quantiles,
            is_final: self.is_final,
        })
    }
}
