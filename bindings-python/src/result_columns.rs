//! Python face of `dashfeed::window::ResultColumns`: `WindowColumns`, what `Aggregator.poll_columns()`
//! and `flush_columns()` return — the results as one Arrow record batch, handed out through the Arrow
//! PyCapsule interface (`__arrow_c_array__`, `__arrow_c_stream__`, `__arrow_c_schema__`), so that
//! `pyarrow.record_batch(cols)`, `pyarrow.table(cols)` and `polars.DataFrame(cols)` take it without a
//! Python object per result. The number columns and the texts' bytes move into Arrow without a copy;
//! the dictionary codes and offsets are converted to `i32`, and the tags column is built row by row.
//!
//! The batch's columns are the keys of `WindowResult.to_dict()`, in its order, with the quantiles
//! flattened: `dashboard` and `metric` (dictionary<int32, utf8>, unique categories), `tags`
//! (map<utf8, utf8>), `start` and `end` (timestamp[ms, UTC]), `count` (uint64), `sum`, `min`, `max`,
//! `mean`, `first`, `last`, one float64 column per configured quantile (`p50`, `p99`), `final` (bool).

use crate::error::to_py;
use arrow_array::builder::{MapBuilder, StringBuilder};
use arrow_array::ffi::{to_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, RecordBatch,
    RecordBatchIterator, StringArray, StructArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::ArrowError;
use dashfeed::window::{quantile_name, Aggregator, Categorical, ResultColumns};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict, PyList, PyTuple};
use std::sync::Arc;

/// Window results as columns (one Arrow record batch). See `dashfeed.WindowColumns` in the package
/// docs.
#[pyclass(module = "dashfeed", name = "WindowColumns", frozen)]
pub struct PyWindowColumns {
    batch: RecordBatch,
}

/// The largest offset an Arrow string or map array (32-bit offsets) holds.
const ARROW_MAX: usize = i32::MAX as usize;

fn arrow_err(e: ArrowError) -> PyErr {
    to_py(Error::Internal(format!(
        "cannot build the Arrow batch of window results ({e})"
    )))
}

/// A categorical column (`dictionary<int32, utf8>`): the texts' bytes handed over as they are, the
/// offsets and codes converted to Arrow's `i32`.
fn categorical(cat: Categorical) -> Result<ArrayRef, ArrowError> {
    let too_large =
        |_| ArrowError::InvalidArgumentError("over 2 GiB of distinct texts in one batch".into());
    let offsets = cat
        .offsets
        .iter()
        .map(|&o| i32::try_from(o).map_err(too_large))
        .collect::<Result<Vec<i32>, _>>()?;
    let texts = StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(cat.bytes.into_bytes()),
        None,
    )?;
    let codes = cat
        .codes
        .into_iter()
        .map(|c| i32::try_from(c).map_err(too_large))
        .collect::<Result<Vec<i32>, _>>()?;
    let dict = DictionaryArray::<Int32Type>::try_new(Int32Array::from(codes), Arc::new(texts))?;
    Ok(Arc::new(dict))
}

impl PyWindowColumns {
    /// The record batch of `cols` (see the module docs), taken from `agg` by a poll. Arrow's strings
    /// and maps have 32-bit offsets: a batch holding more text than that (only possible with over
    /// 2 GiB of distinct names, or of tags over its rows) is refused whole with `too_large`, and its
    /// results go back to `agg` (the next `poll()` returns them), so nothing is lost.
    pub fn new_or_unpoll(cols: ResultColumns, agg: &mut Aggregator) -> PyResult<Self> {
        let (entries, tag_names, tag_values) = cols.tags.expanded_size();
        for (what, size) in [
            (
                "distinct dashboard texts of a poll (kept: poll() returns them)",
                cols.dashboard.bytes.len(),
            ),
            (
                "distinct metric texts of a poll (kept: poll() returns them)",
                cols.metric.bytes.len(),
            ),
            ("tag entries of a poll (kept: poll() returns them)", entries),
            ("tag names of a poll (kept: poll() returns them)", tag_names),
            (
                "tag values of a poll (kept: poll() returns them)",
                tag_values,
            ),
        ] {
            if size > ARROW_MAX {
                agg.unpoll_columns(cols);
                return Err(to_py(Error::TooLarge {
                    what,
                    limit: ARROW_MAX,
                }));
            }
        }
        Self::build(cols).map_err(arrow_err)
    }

    fn build(cols: ResultColumns) -> Result<Self, ArrowError> {
        let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for &c in &cols.tags.codes {
            for (name, value) in &cols.tags.sets[c as usize] {
                tags.keys().append_value(name);
                tags.values().append_value(value);
            }
            tags.append(true)?;
        }
        let dashboard = categorical(cols.dashboard)?;
        let metric = categorical(cols.metric)?;
        let time = |v: Vec<i64>| Arc::new(TimestampMillisecondArray::from(v).with_timezone("UTC"));
        let mut columns: Vec<(String, ArrayRef)> = vec![
            ("dashboard".into(), dashboard),
            ("metric".into(), metric),
            ("tags".into(), Arc::new(tags.finish())),
            ("start".into(), time(cols.start_ms)),
            ("end".into(), time(cols.end_ms)),
            ("count".into(), Arc::new(UInt64Array::from(cols.count))),
            ("sum".into(), Arc::new(Float64Array::from(cols.sum))),
            ("min".into(), Arc::new(Float64Array::from(cols.min))),
            ("max".into(), Arc::new(Float64Array::from(cols.max))),
            ("mean".into(), Arc::new(Float64Array::from(cols.mean))),
            ("first".into(), Arc::new(Float64Array::from(cols.first))),
            ("last".into(), Arc::new(Float64Array::from(cols.last))),
        ];
        for (q, values) in cols.quantiles.iter().zip(cols.quantile_values) {
            columns.push((quantile_name(*q), Arc::new(Float64Array::from(values))));
        }
        columns.push(("final".into(), Arc::new(BooleanArray::from(cols.is_final))));
        Ok(PyWindowColumns {
            batch: RecordBatch::try_from_iter(columns)?,
        })
    }

    fn schema_capsule<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.batch.schema().as_ref()).map_err(arrow_err)?;
        PyCapsule::new_with_value(py, schema, c"arrow_schema")
    }
}

#[pymethods]
impl PyWindowColumns {
    /// Number of results (rows).
    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    /// The column names, in order.
    #[getter]
    fn column_names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let schema = self.batch.schema();
        PyList::new(py, schema.fields().iter().map(|f| f.name().as_str()))
    }

    /// The Arrow schema, as an `arrow_schema` PyCapsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        self.schema_capsule(py)
    }

    /// The batch as a struct array: `(arrow_schema, arrow_array)` PyCapsules. `requested_schema` is
    /// not used (the protocol lets a producer keep its own).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let array = StructArray::from(self.batch.clone());
        let (array, schema) = to_ffi(&arrow_array::Array::to_data(&array)).map_err(arrow_err)?;
        let schema = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
        let array: Bound<'_, PyCapsule> =
            PyCapsule::new_with_value::<FFI_ArrowArray>(py, array, c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    /// The batch as a one-batch stream: an `arrow_array_stream` PyCapsule.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader = RecordBatchIterator::new([Ok(self.batch.clone())], self.batch.schema());
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// The columns as a dict of lists (one Python object per value: for small batches; use Arrow
    /// for large ones).
    fn to_pydict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let rows = self.batch.num_rows();
        for (field, col) in self
            .batch
            .schema()
            .fields()
            .iter()
            .zip(self.batch.columns())
        {
            out.set_item(field.name(), values(py, col.as_ref(), rows)?)?;
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!("WindowColumns({} rows)", self.batch.num_rows())
    }
}

/// The values of one column as a list (times as ms, tags as dicts).
fn values<'py>(
    py: Python<'py>,
    col: &dyn arrow_array::Array,
    rows: usize,
) -> PyResult<Bound<'py, PyList>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, TimestampMillisecondType, UInt64Type};
    use arrow_schema::DataType;
    let out = PyList::empty(py);
    match col.data_type() {
        DataType::Dictionary(..) => {
            let dict = col.as_dictionary::<Int32Type>();
            let names = dict.values().as_string::<i32>();
            for c in dict.keys().values() {
                out.append(names.value(*c as usize))?;
            }
        }
        DataType::Map(..) => {
            let map = col.as_map();
            let (names, values) = (
                map.keys().as_string::<i32>(),
                map.values().as_string::<i32>(),
            );
            for i in 0..rows {
                let d = PyDict::new(py);
                for j in map.value_offsets()[i] as usize..map.value_offsets()[i + 1] as usize {
                    d.set_item(names.value(j), values.value(j))?;
                }
                out.append(d)?;
            }
        }
        DataType::Timestamp(..) => {
            for v in col.as_primitive::<TimestampMillisecondType>().values() {
                out.append(*v)?;
            }
        }
        DataType::UInt64 => {
            for v in col.as_primitive::<UInt64Type>().values() {
                out.append(*v)?;
            }
        }
        DataType::Boolean => {
            for v in col.as_boolean().values() {
                out.append(v)?;
            }
        }
        _ => {
            for v in col.as_primitive::<Float64Type>().values() {
                out.append(*v)?;
            }
        }
    }
    Ok(out)
}
