//! The `bytes` objects that `Message.raw(format)` returns, shared by the subscribers of a
//! publication.
//!
//! Every subscriber of a publication gets its own `Message` object (its `data` dict is its own to
//! change), but the wire bytes are one immutable core buffer: copying it into a new `bytes` object
//! on every `raw()` call cost a copy of the whole message per delivery (11% of `python bench/hub.py`'s
//! 1,000 × 4 KiB row, plus glibc's allocator for each object). Here the first `raw()` of a
//! publication and format makes the object and the next subscribers' calls return it.
//!
//! Bounded: the objects of the last [`ENTRIES`] publications, and at most [`BUDGET`] bytes of them,
//! oldest dropped first (an object larger than the budget is not kept at all). The key is the
//! publication's address; an entry holds a pin on it (`PublicationPin`, a weak reference: a few
//! hundred bytes, not the publication's data or encodings), so no other publication can take that
//! address while the entry lives and a hit is always the same publication.

use dashfeed::codec::Format;
use dashfeed::hub::{Message, PublicationPin};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::VecDeque;
use std::sync::LazyLock;

/// Publications whose bytes objects are kept at most.
pub(crate) const ENTRIES: usize = 256;
/// Bytes of cached objects kept at most (their lengths summed).
pub(crate) const BUDGET: usize = 4 << 20;

struct Entry {
    /// Its address (the key) names no other publication while the entry lives.
    _pin: PublicationPin,
    /// The bytes object per format (MessagePack, JSON), once made.
    objects: [Option<Py<PyBytes>>; 2],
    /// Their lengths summed.
    held: usize,
}

#[derive(Default)]
struct Cache {
    entries: hashbrown::HashMap<usize, Entry>,
    /// Keys, oldest first.
    order: VecDeque<usize>,
    /// Bytes of every entry's objects.
    held: usize,
}

impl Cache {
    /// Drops the oldest entries until the bounds hold; returns them, to be dropped after the lock.
    fn evict(&mut self) -> Vec<Entry> {
        let mut gone = Vec::new();
        while self.held > BUDGET || self.entries.len() > ENTRIES {
            let Some(key) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.entries.remove(&key) {
                self.held -= e.held;
                gone.push(e);
            }
        }
        gone
    }
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(|| Mutex::new(Cache::default()));

fn slot(format: Format) -> usize {
    match format {
        Format::MsgPack => 0,
        Format::Json => 1,
    }
}

/// The wire bytes of `msg` in `format` as a `bytes` object: the one already made for its
/// publication when there is one, else a new one, kept for the next subscriber.
pub(crate) fn raw<'py, B: AsRef<[u8]>>(
    py: Python<'py>,
    msg: &Message,
    format: Format,
    bytes: impl FnOnce() -> PyResult<B>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = msg.publication_key();
    let i = slot(format);
    if let Some(obj) = CACHE
        .lock()
        .entries
        .get(&key)
        .and_then(|e| e.objects[i].as_ref())
    {
        return Ok(obj.bind(py).clone());
    }
    let data = bytes()?;
    let data = data.as_ref();
    let obj = PyBytes::new(py, data);
    let gone = {
        let mut c = CACHE.lock();
        let c = &mut *c;
        let held = c.entries.get(&key).map_or(0, |e| e.held);
        if held + data.len() > BUDGET {
            // Not kept: it would push every other entry out, then its own.
            return Ok(obj);
        }
        let entry = c.entries.entry(key).or_insert_with(|| {
            c.order.push_back(key);
            Entry {
                _pin: msg.pin(),
                objects: [None, None],
                held: 0,
            }
        });
        if entry.objects[i].is_none() {
            entry.objects[i] = Some(obj.clone().unbind());
            entry.held += data.len();
            c.held += data.len();
        }
        c.evict()
    };
    // Outside the lock: dropping the objects (and publications) of evicted entries.
    drop(gone);
    Ok(obj)
}
