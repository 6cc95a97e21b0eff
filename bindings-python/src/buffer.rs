//! Zero-copy reads of numeric columns through the buffer protocol (numpy arrays, array.array,
//! memoryview), for batch input without a Python object per row.
//!
//! pyo3 hides its buffer API under abi3 before 3.11, so the two functions are declared here. CPython has
//! exported `PyObject_GetBuffer` / `PyBuffer_Release` with this `Py_buffer` layout since 3.3, and they are
//! in the limited API from 3.11, so an abi3 module (Python ≥ 3.10) may call them on every CPython it loads into.

use crate::error::to_py;
use dashfeed::window::Codes;
use dashfeed::Error;
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

#[repr(C)]
struct RawBuffer {
    buf: *mut c_void,
    obj: *mut ffi::PyObject,
    len: ffi::Py_ssize_t,
    itemsize: ffi::Py_ssize_t,
    readonly: c_int,
    ndim: c_int,
    format: *mut c_char,
    shape: *mut ffi::Py_ssize_t,
    strides: *mut ffi::Py_ssize_t,
    suboffsets: *mut ffi::Py_ssize_t,
    internal: *mut c_void,
}

extern "C" {
    fn PyObject_GetBuffer(obj: *mut ffi::PyObject, view: *mut RawBuffer, flags: c_int) -> c_int;
    fn PyBuffer_Release(view: *mut RawBuffer);
}

/// PyBUF_C_CONTIGUOUS | PyBUF_FORMAT.
const FLAGS: c_int = 0x0038 | 0x0004;

/// Element types a column may hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Elem {
    /// float64
    F64,
    /// int64
    I64,
    /// Integers of any width, signed or not (categorical codes).
    Int,
}

/// A contiguous, read-only view of a 1-D buffer of `f64` or `i64`, released on drop.
pub struct Column {
    view: RawBuffer,
    len: usize,
    /// For `Elem::Int`: whether the integers are signed.
    signed: bool,
}

// SAFETY: the view only points at memory the exporter keeps alive until release; we read it while the
// owning Python object is referenced by the caller (it stays alive across a GIL release).
unsafe impl Send for Column {}

impl Column {
    /// Gets a C-contiguous 1-D view of `obj` holding `elem`s; `None` when `obj` has no buffer protocol.
    pub fn get(obj: &Bound<'_, PyAny>, elem: Elem, what: &str) -> PyResult<Option<Column>> {
        let mut view = std::mem::MaybeUninit::<RawBuffer>::zeroed();
        // SAFETY: `view` is a zeroed Py_buffer; on failure CPython sets an error and leaves nothing to free.
        let rc = unsafe { PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), FLAGS) };
        if rc != 0 {
            // Not a buffer (a list, say): let the caller fall back to the sequence path.
            let _ = PyErr::take(obj.py());
            return Ok(None);
        }
        // SAFETY: GetBuffer succeeded, so the struct is initialised.
        let view = unsafe { view.assume_init() };
        let mut col = Column {
            len: 0,
            view,
            signed: false,
        };
        let format = if col.view.format.is_null() {
            "B".to_owned()
        } else {
            // SAFETY: a non-null format is a NUL-terminated struct-module format string.
            unsafe { CStr::from_ptr(col.view.format) }
                .to_string_lossy()
                .into_owned()
        };
        let code = format.trim_start_matches(['@', '=', '<']);
        let size = col.view.itemsize;
        let ok = match elem {
            Elem::F64 => code == "d" && size == 8,
            Elem::I64 => matches!(code, "q" | "l" | "n") && size == 8,
            Elem::Int => {
                col.signed = matches!(code, "b" | "h" | "i" | "l" | "q" | "n");
                let int = col.signed || matches!(code, "B" | "H" | "I" | "L" | "Q" | "N");
                let aligned = size > 0 && (col.view.buf as usize).is_multiple_of(size as usize);
                int && matches!(size, 1 | 2 | 4 | 8) && aligned
            }
        };
        if !ok || col.view.ndim > 1 {
            let want = match elem {
                Elem::F64 => "float64",
                Elem::I64 => "int64",
                Elem::Int => "integers",
            };
            return Err(to_py(Error::invalid(format!(
                "{what}: a buffer of {want} is needed (got format {format:?}, {} dimensions)",
                col.view.ndim
            ))));
        }
        col.len = (col.view.len / size) as usize;
        Ok(Some(col))
    }

    /// The elements of an `Elem::Int` column as the core's categorical codes.
    pub fn as_codes(&self) -> Codes<'_> {
        let p = self.view.buf;
        if self.len == 0 {
            return Codes::U8(&[]);
        }
        // SAFETY: checked an integer format of this item size and signedness, aligned, C-contiguous,
        // `len` items; alive until drop.
        unsafe {
            match (self.view.itemsize, self.signed) {
                (1, true) => Codes::I8(std::slice::from_raw_parts(p as *const i8, self.len)),
                (2, true) => Codes::I16(std::slice::from_raw_parts(p as *const i16, self.len)),
                (4, true) => Codes::I32(std::slice::from_raw_parts(p as *const i32, self.len)),
                (8, true) => Codes::I64(std::slice::from_raw_parts(p as *const i64, self.len)),
                (1, false) => Codes::U8(std::slice::from_raw_parts(p as *const u8, self.len)),
                (2, false) => Codes::U16(std::slice::from_raw_parts(p as *const u16, self.len)),
                (4, false) => Codes::U32(std::slice::from_raw_parts(p as *const u32, self.len)),
                _ => Codes::U64(std::slice::from_raw_parts(p as *const u64, self.len)),
            }
        }
    }

    /// The elements as `f64`s (only for an `Elem::F64` column).
    pub fn as_f64(&self) -> &[f64] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: checked format "d", itemsize 8, C-contiguous, `len` items; alive until drop.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const f64, self.len) }
    }

    /// The elements as `i64`s (only for an `Elem::I64` column).
    pub fn as_i64(&self) -> &[i64] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: checked an 8-byte signed integer format, C-contiguous, `len` items; alive until drop.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const i64, self.len) }
    }
}

impl Drop for Column {
    fn drop(&mut self) {
        // SAFETY: releasing a view obtained from PyObject_GetBuffer; needs the GIL, which Drop runs under
        // because Columns are only dropped in code that holds it (see window.rs).
        Python::attach(|_| unsafe { PyBuffer_Release(&mut self.view) });
    }
}
