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
/// hold no Python reference only (`T` holds plain Rust data; the object's one reference is to its
/// type, which lives as long as the module).
pub(crate) fn untracked<T: PyClass + Into<PyClassInitializer<T>>>(
    py: Python<'_>,
    value: T,
) -> PyResult<Bound<'_, T>> {
    let obj = Bound::new(py, value)?;
    let p = obj.as_ptr();
    // SAFETY: `p` is a live object, held here with the GIL; its type is read through the stable ABI.
    let gc_type = unsafe { ffi::PyType_IS_GC(ffi::Py_TYPE(p)) } != 0;
    if gc_type {
        // SAFETY: `p` is a live object of a GC type (it has the GC header the call reads), held with
        // the GIL. Untracking is allowed at any time; CPython's `PyObject_GC_UnTrack` does nothing
        // for an untracked object, so pyo3's deallocator calling it again is fine. The object holds
        // no reference but to its type, so no cycle can go through it.
        unsafe { ffi::PyObject_GC_UnTrack(p.cast()) };
    }
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
