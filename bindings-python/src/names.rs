//! The categorical names an `Aggregator` was last given, kept between `add_many` calls.
//!
//! A caller with many categories usually sends the same names call after call — a `(names, codes)`
//! pair whose names list it built once, or a pandas `Categorical` whose `categories.tolist()` hands
//! out the same str objects each time — and only the codes change. Reading 100,000 names (iterating
//! the list, checking each item, taking its UTF-8 text) costs ~2 ms a call, some 30 ns per row of a
//! 65,536-row batch. [`NameCache`] keeps the str objects of the last names per column (held, so their
//! text stays valid) with their text: a call whose names are the same objects in the same order
//! costs one pointer comparison per name.
//!
//! Bound: one list of names per column (dashboards, metrics), the last one given, of at most
//! [`MAX_NAMES`] names and [`MAX_BYTES`] bytes of text; what it holds are references to those str
//! objects (which it keeps alive: at most `MAX_BYTES` of text per column beyond what the caller
//! holds) plus 24 bytes per name. A call with other names replaces it; `Aggregator.flush()` and
//! `flush_columns()` drop it.

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use std::sync::Arc;

/// Lists of names longer than this are read on every call and not kept.
pub const MAX_NAMES: usize = 1 << 20;

/// Lists whose texts take more bytes than this (UTF-8, summed) are read on every call and not kept.
pub const MAX_BYTES: usize = 64 << 20;

/// Lists shorter than this are read on every call (reading them costs less than keeping them).
const MIN_NAMES: usize = 64;

/// The text columns a cache slot serves.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    /// The `dashboards` column.
    Dashboards = 0,
    /// The `metrics` column.
    Metrics = 1,
}

/// One list of names: the str objects, held, and their UTF-8 text.
pub struct Names {
    /// The str objects, in order (strong references).
    objects: Vec<Py<PyString>>,
    /// The text of each object. Each borrows from the object at the same index of `objects`,
    /// which this struct holds for as long as the texts exist.
    texts: Vec<&'static str>,
    /// The texts' bytes, summed.
    bytes: usize,
}

impl Names {
    /// The names' texts, for as long as `self` is borrowed.
    pub fn texts(&self) -> &[&str] {
        &self.texts
    }

    /// Reads str objects into a list of names.
    fn read(items: Vec<Bound<'_, PyString>>) -> PyResult<Self> {
        let mut texts = Vec::with_capacity(items.len());
        for s in &items {
            let text: &str = s.to_str()?;
            // SAFETY: a str object's UTF-8 text lives as long as the object and never changes (str
            // is immutable); `objects` below holds a strong reference to this object for as long
            // as `texts` exists, and `texts` only lends its items for borrows of `self`.
            texts.push(unsafe { &*(text as *const str) });
        }
        Ok(Names {
            objects: items.into_iter().map(Bound::unbind).collect(),
            bytes: texts.iter().map(|t| t.len()).sum(),
            texts,
        })
    }

    /// Whether `seq`, a list or tuple (exactly: a subclass may iterate other items than it holds),
    /// holds exactly these objects, in this order.
    fn same_as(&self, seq: &Bound<'_, PyAny>) -> bool {
        let n = self.objects.len();
        let item: unsafe extern "C" fn(
            *mut pyo3::ffi::PyObject,
            pyo3::ffi::Py_ssize_t,
        ) -> *mut pyo3::ffi::PyObject = if let Ok(list) = seq.cast_exact::<PyList>() {
            if list.len() != n {
                return false;
            }
            pyo3::ffi::PyList_GetItem
        } else if let Ok(tuple) = seq.cast_exact::<PyTuple>() {
            if tuple.len() != n {
                return false;
            }
            pyo3::ffi::PyTuple_GetItem
        } else {
            return false;
        };
        self.objects.iter().enumerate().all(|(i, o)| {
            // SAFETY: `seq` is a live list or tuple of `n` items (checked above) and `i < n`; the
            // GIL is held and no Python code runs during the loop, so its length cannot change.
            // The result is a borrowed reference, only compared by address.
            let got = unsafe { item(seq.as_ptr(), i as pyo3::ffi::Py_ssize_t) };
            got == o.as_ptr()
        })
    }
}

/// The last names given per text column (see the module docs).
#[derive(Default)]
pub struct NameCache {
    slots: Mutex<[Option<Arc<Names>>; 2]>,
}

impl NameCache {
    /// The names of `seq` for `slot`: the kept ones when `seq` holds the same objects, else
    /// `read()`'s str objects, kept for the next call when their number is within bounds.
    pub fn get<'py>(
        &self,
        slot: Slot,
        seq: &Bound<'py, PyAny>,
        read: impl FnOnce() -> PyResult<Vec<Bound<'py, PyString>>>,
    ) -> PyResult<Arc<Names>> {
        let kept = self.slots.lock()[slot as usize].clone();
        if let Some(names) = kept.filter(|k| k.same_as(seq)) {
            return Ok(names);
        }
        let names = Arc::new(Names::read(read()?)?);
        let keep =
            (MIN_NAMES..=MAX_NAMES).contains(&names.objects.len()) && names.bytes <= MAX_BYTES;
        let new = keep.then(|| names.clone());
        let old = std::mem::replace(&mut self.slots.lock()[slot as usize], new);
        // Released after the lock: dropping the last reference to a str (a subclass with `__del__`,
        // a weakref callback) may run Python code, which may call back into this aggregator.
        drop(old);
        Ok(names)
    }

    /// Drops the kept names.
    pub fn clear(&self) {
        let old = std::mem::take(&mut *self.slots.lock());
        // After the lock, as in `get`.
        drop(old);
    }
}
