//! Result objects out of the cycle collector's reach.
//!
//! pyo3 gives every `#[pyclass]` the GC flag, so each object it creates is tracked by CPython's
//! cycle collector: creating many of them (a `poll()` returning 50,000 window results) triggers
//! collections, and each one that runs in full walks every tracked object of the process (in a
//! benchmark holding a 1M-element list, a fifth of `add_many` + `poll` time at 100k keys). An object
//! that holds no Python reference can never be part of a cycle, so untracking it changes nothing but
//! that cost. `python bench/window.py`, the 100k-key rows.

use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::{ffi, PyClass};

/// Creates a Python object for `value`, untracked by the cycle collector. For classes whose fields
/// hold no Python reference only (`T` holds plain Rust data).
pub(crate) fn untracked<T: PyClass + Into<PyClassInitializer<T>>>(
    py: Python<'_>,
    value: T,
) -> PyResult<Bound<'_, T>> {
    let obj = Bound::new(py, value)?;
    // SAFETY: `obj` is a live object of a GC type (every pyclass is one), held here with the GIL;
    // untracking is allowed at any time, and pyo3's deallocator untracks again only if tracked. The
    // object holds no Python reference, so no cycle can go through it.
    unsafe { ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    Ok(obj)
}

/// A list of untracked objects (see [`untracked`]), one per item.
pub(crate) fn untracked_list<'py, T, I>(py: Python<'py>, items: I) -> PyResult<Bound<'py, PyList>>
where
    T: PyClass + Into<PyClassInitializer<T>>,
    I: IntoIterator<Item = T>,
{
    let list = PyList::empty(py);
    for item in items {
        list.append(untracked(py, item)?)?;
    }
    Ok(list)
}
