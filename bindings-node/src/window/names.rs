//! What an `Aggregator` keeps of its text columns' names between `addMany` calls.
//!
//! A `string[]` column is dictionary-encoded by the JS helper (`codes` in `js/window.js`) into a
//! dictionary that the aggregator keeps from call to call, and a categorical `{ names, codes }`
//! column's names are compared (`===`, one by one, on the JS side) with the last ones kept. Each
//! kept list has a generation number; this side keeps its UTF-8 copy of the list under that number,
//! so a call over names seen before copies only the names appended since (a dictionary that grew)
//! or none (the same categorical names), where every call used to copy every distinct name out of
//! V8 (100,000 names: some 6 ms a call, 90 ns per row of a 65,536-row batch).
//!
//! Bounds (set by the helper): a column keeps at most 2^20 names or 2^25 UTF-16 units plus one
//! call's names; against a dictionary of more than 8 names per row of the batch plus 4,096, a batch
//! of fewer than 4,096 rows is encoded on its own and a larger one starts the dictionary over, so
//! a call's cost follows its own size. `flush()` / `flushColumns()` drop everything kept, here and in the
//! helper; the JS side goes with the aggregator (a `WeakMap`).
//!
//! Raw Node-API: the names are read once per generation, not once per call. Bench rows: `node
//! bench/window.js`, the `addMany` rows.

use crate::error::Result;
use crate::napi::raw;
use dashfeed::Error;
use napi::sys;
use parking_lot::Mutex;
use std::sync::Arc;

/// Distinct names, concatenated, with the end offset of each.
#[derive(Default, Clone)]
pub struct NameList {
    text: String,
    ends: Vec<usize>,
}

impl NameList {
    /// Appends the strings `arr[from..]` (a JS array); a non-string is `invalid_input`, naming
    /// `what.names[i]`.
    fn read_from(
        &mut self,
        env: sys::napi_env,
        arr: sys::napi_value,
        from: u32,
        what: &str,
    ) -> Result<()> {
        let n = raw::array_len(env, arr)?;
        self.ends.reserve(n.saturating_sub(from) as usize);
        for i in from..n {
            let item = raw::element(env, arr, i)?;
            // One call per name: reading it reports a non-string (no separate type check).
            if raw::try_str(env, item, |s| self.text.push_str(s))?.is_none() {
                return Err(Error::invalid(format!("{what}.names[{i}] must be a string")).into());
            }
            self.ends.push(self.text.len());
        }
        Ok(())
    }

    /// Reads a whole JS array of strings.
    pub fn read(env: sys::napi_env, arr: sys::napi_value, what: &str) -> Result<NameList> {
        let mut list = NameList::default();
        list.read_from(env, arr, 0, what)?;
        Ok(list)
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        let mut names = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            names.push(self.text.get(start..end).unwrap_or_default());
            start = end;
        }
        names
    }

    /// Number of names.
    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// A text column of `addMany`, as the helper numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The dashboards column.
    Dashboards = 0,
    /// The metrics column.
    Metrics = 1,
}

/// One column's kept names: the helper's list of generation `gen` (0: none), as read so far.
///
/// Shared with the calls that use it: a call takes its own reference when it reads its arguments,
/// so a call made meanwhile (a getter among the arguments may call the same aggregator) that
/// appends names or starts a new generation changes another list (copied on write), never the
/// one the first call's codes index.
#[derive(Default)]
struct Kept {
    gen: f64,
    list: Arc<NameList>,
}

/// The names an aggregator keeps per text column (see the module docs).
#[derive(Default)]
pub struct KeptNames {
    columns: [Kept; 2],
}

/// The names of one call's coded column: read for it alone, or kept by the aggregator.
pub enum CallNames {
    /// Read for this call only.
    Owned(NameList),
    /// The aggregator's kept list, as it was when this call read its arguments.
    Kept(Arc<NameList>),
}

impl CallNames {
    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            CallNames::Owned(list) => list.names(),
            CallNames::Kept(list) => list.names(),
        }
    }
}

/// The names of a coded column for one call: the helper's `list` of generation `gen`. Gen 0 and
/// -1 (a list for this call only) read the whole list with no lock held (it may be the caller's
/// own array, whose getters may call the aggregator); 0 also drops what `slot` kept (the helper
/// started the column over). Any positive gen brings the copy kept for
/// `slot` up to the list (the names appended since the last call of that gen, or the whole list
/// for a new one) and shares it; an error there leaves nothing kept for `slot`.
pub fn call_names(
    env: sys::napi_env,
    kept: &Mutex<KeptNames>,
    (slot, gen, list): (Slot, f64, sys::napi_value),
    what: &str,
) -> Result<CallNames> {
    if gen <= 0.0 {
        if gen == 0.0 {
            kept.lock().columns[slot as usize] = Kept::default();
        }
        return NameList::read(env, list, what).map(CallNames::Owned);
    }
    // The helper's own array of strings (no holes, no getters): reading it runs no JavaScript,
    // so the lock is not taken again meanwhile.
    let mut guard = kept.lock();
    let kept = &mut guard.columns[slot as usize];
    let n = raw::array_len(env, list)? as usize;
    if kept.gen != gen || kept.list.len() > n {
        *kept = Kept {
            gen,
            list: Arc::default(),
        };
    }
    let from = u32::try_from(kept.list.len()).unwrap_or(u32::MAX);
    if from as usize != n {
        if let Err(e) = Arc::make_mut(&mut kept.list).read_from(env, list, from, what) {
            *kept = Kept::default();
            return Err(e);
        }
    }
    Ok(CallNames::Kept(Arc::clone(&kept.list)))
}

impl KeptNames {
    /// Drops every kept name (their memory too, once no call holds them).
    pub fn clear(&mut self) {
        self.columns = Default::default();
    }
}
