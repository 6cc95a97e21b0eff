//! The columns of `Aggregator.add_many` and `add_table`, read without a Python object per row where
//! the caller has them that way: text columns as one str, a sequence of str, a categorical
//! `(names, codes)` pair (codes in any integer buffer), a pandas `Categorical` (or a category
//! Series / Index), or any Arrow array through the PyCapsule interface (dictionary-encoded strings
//! are read as names plus codes); values as a float64 buffer, a sequence or Arrow float64; event times
//! as one int, an int64 buffer, a sequence or Arrow int64 / timestamp.
//!
//! Arrow columns may come in chunks whose boundaries differ from column to column: the rows are
//! cut where any column changes chunk, each piece becomes one core [`Batch`] (slices only), and the
//! pieces go to the core together (`add_batches`: validated as a whole, applied in order).

use crate::arrow;
use crate::buffer::{Column as Buf, Elem};
use crate::error::to_py;
use crate::names::{NameCache, Names as KeptNames, Slot};
use arrow_array::ArrayRef;
use dashfeed::event::now_ms;
use dashfeed::window::{Batch, Bitmap, Codes, Column, Names};
use dashfeed::Error;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyString, PyTuple};
use std::borrow::Cow;
use std::sync::Arc;

/// A text argument, kept alive while the batch is applied.
pub enum Texts<'py> {
    /// One name for every row.
    One(String),
    /// A sequence of str of mostly distinct objects, one name per row.
    Rows(Vec<Bound<'py, PyString>>),
    /// A sequence of str repeating a few objects, dictionary-encoded by object identity: its
    /// distinct str objects and, per row, the index of its object among them.
    Strs {
        /// The distinct str objects (equal strings in distinct objects appear once each).
        names: Vec<Bound<'py, PyString>>,
        /// One index into `names` per row.
        codes: Vec<u32>,
    },
    /// Categorical: distinct names and one code per row.
    Pair {
        /// The names (kept between calls: [`NameCache`]).
        names: Arc<KeptNames>,
        /// The codes.
        codes: Ints,
    },
    /// Arrow chunks (strings, or dictionary-encoded strings).
    Arrow(Vec<ArrayRef>),
}

/// Integer codes: a buffer read in place, or a sequence copied.
pub enum Ints {
    /// An integer buffer (numpy array).
    Buf(Buf),
    /// A sequence of ints.
    Owned(Vec<i64>),
}

/// The values argument.
pub enum Floats {
    /// A float64 buffer.
    Buf(Buf),
    /// A sequence of numbers.
    Owned(Vec<f64>),
    /// Arrow float64 chunks.
    Arrow(Vec<ArrayRef>),
}

/// The event-time argument.
pub enum Times {
    /// One time for every row.
    One(i64),
    /// An int64 buffer.
    Buf(Buf),
    /// A sequence of ints.
    Owned(Vec<i64>),
    /// Arrow chunks, each with its times converted to ms when they are not ms already.
    Arrow(Vec<(ArrayRef, Option<Vec<i64>>)>),
}

fn invalid(msg: String) -> PyErr {
    to_py(Error::invalid(msg))
}

/// The str items of a sequence (names of a categorical column, or one per row).
fn strs<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyString>>> {
    obj.try_iter()
        .and_then(|it| {
            it.map(|x| x.and_then(|x| Ok(x.cast_into::<PyString>()?)))
                .collect()
        })
        .map_err(|_| invalid(format!("{what} must hold str only")))
}

/// A sequence of str as a categorical column, dictionary-encoded by object identity: a column
/// usually repeats a few str objects (the same metric names row after row), so one pointer lookup
/// per row replaces reading and hashing every row's text, and the core resolves each distinct name
/// once (`Aggregator::add_batch`). A column of mostly distinct objects (`json.loads` or `csv` output:
/// one object per row, equal texts or not) stays one name per row, where the encoding would only add
/// work. The items are held, so no pointer is reused meanwhile.
fn by_identity<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Texts<'py>> {
    if let Ok(list) = obj.cast::<PyList>() {
        if let Some(texts) = list_by_identity(list)? {
            return Ok(texts);
        }
    }
    let items = strs(obj, what)?;
    if u32::try_from(items.len()).is_err() {
        return Ok(Texts::Rows(items));
    }
    let mut index: hashbrown::HashMap<usize, u32> = hashbrown::HashMap::new();
    let mut names: Vec<Bound<'py, PyString>> = Vec::new();
    let most = items.len() / 4 + 16;
    let mut codes = Vec::with_capacity(items.len().min(1024));
    for s in &items {
        let next = names.len();
        let code = *index.entry(s.as_ptr() as usize).or_insert_with(|| {
            names.push(s.clone());
            next as u32
        });
        if names.len() > most {
            return Ok(Texts::Rows(items));
        }
        codes.push(code);
    }
    Ok(Texts::Strs { names, codes })
}

/// [`by_identity`] for a list, without holding every row's item: each row's object is looked up
/// by address, and only the distinct ones (checked to be `str` when first met) are held. A list of
/// mostly distinct objects goes on row by row from where that showed (the rows read so far are
/// rebuilt from the names met). `None` when an item is not a `str`: the caller reports it.
fn list_by_identity<'py>(list: &Bound<'py, PyList>) -> PyResult<Option<Texts<'py>>> {
    let n = list.len();
    if u32::try_from(n).is_err() {
        return Ok(None);
    }
    let mut index: hashbrown::HashMap<usize, u32> = hashbrown::HashMap::new();
    let mut names: Vec<Bound<'py, PyString>> = Vec::new();
    let most = n / 4 + 16;
    let mut codes = Vec::with_capacity(n);
    for i in 0..n {
        let item = list.get_item(i)?;
        let next = names.len() as u32;
        let code = match index.entry(item.as_ptr() as usize) {
            hashbrown::hash_map::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_map::Entry::Vacant(e) => {
                let Ok(s) = item.cast_into::<PyString>() else {
                    return Ok(None);
                };
                names.push(s);
                if names.len() > most {
                    // Mostly distinct objects: one name per row, this one included.
                    let mut items: Vec<Bound<'py, PyString>> = Vec::with_capacity(n);
                    items.extend(codes.iter().map(|&c: &u32| names[c as usize].clone()));
                    items.extend(names.pop());
                    for j in i + 1..n {
                        let Ok(s) = list.get_item(j)?.cast_into::<PyString>() else {
                            return Ok(None);
                        };
                        items.push(s);
                    }
                    return Ok(Some(Texts::Rows(items)));
                }
                *e.insert(next)
            }
        };
        codes.push(code);
    }
    Ok(Some(Texts::Strs { names, codes }))
}

fn ints(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Ints> {
    if let Some(b) = Buf::get(obj, Elem::Int, what)? {
        return Ok(Ints::Buf(b));
    }
    obj.extract().map(Ints::Owned).map_err(|_| {
        invalid(format!(
            "{what} must be an integer buffer or a sequence of ints"
        ))
    })
}

/// The UTF-8 views of str objects (borrowed from them).
fn utf8_rows<'a>(items: &'a [Bound<'_, PyString>]) -> PyResult<Vec<&'a str>> {
    items.iter().map(|s| s.to_str()).collect()
}

/// The pandas `Categorical` behind `obj` (itself, or the `.array` of a category Series).
fn categorical<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = obj.py();
    let (codes, categories) = (pyo3::intern!(py, "codes"), pyo3::intern!(py, "categories"));
    if obj.hasattr(codes)? && obj.hasattr(categories)? {
        return Ok(Some(obj.clone()));
    }
    let array = pyo3::intern!(py, "array");
    if obj.hasattr(pyo3::intern!(py, "cat"))? && obj.hasattr(array)? {
        let array = obj.getattr(array)?;
        if array.hasattr(codes)? && array.hasattr(categories)? {
            return Ok(Some(array));
        }
    }
    Ok(None)
}

impl<'py> Texts<'py> {
    /// Reads a text argument (see the module docs for the forms); the names of a categorical one
    /// come from `cache` when they are the ones it kept.
    pub fn read(
        obj: &Bound<'py, PyAny>,
        what: &str,
        (cache, slot): (&NameCache, Slot),
    ) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Texts::One(s.to_cow()?.into_owned()));
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            let first = t.get_item(0).ok();
            if t.len() == 2 && first.is_some_and(|f| !f.is_instance_of::<PyString>()) {
                let names = t.get_item(0)?;
                return Ok(Texts::Pair {
                    names: cache.get(slot, &names, || strs(&names, &format!("{what} names")))?,
                    codes: ints(&t.get_item(1)?, &format!("{what} codes"))?,
                });
            }
        }
        if let Some(cat) = categorical(obj)? {
            let py = obj.py();
            let mut names = cat.getattr(pyo3::intern!(py, "categories"))?;
            // Iterating a pandas Index boxes every item on each access (pandas 3's Arrow-backed str
            // makes that ~1 µs a name); `tolist()` converts them in one go.
            let tolist = pyo3::intern!(py, "tolist");
            if names.hasattr(tolist)? {
                names = names.call_method0(tolist)?;
            }
            return Ok(Texts::Pair {
                names: cache.get(slot, &names, || strs(&names, &format!("{what} categories")))?,
                codes: ints(
                    &cat.getattr(pyo3::intern!(py, "codes"))?,
                    &format!("{what} codes"),
                )?,
            });
        }
        if arrow::is_arrow(obj)? {
            return Ok(Texts::Arrow(arrow::chunks(obj, what)?));
        }
        by_identity(obj, what).map_err(|_| {
            invalid(format!(
                "{what} must be a str, a sequence of str, a (names, codes) pair, a pandas \
                 Categorical or an Arrow array of strings"
            ))
        })
    }

    fn view(&self, what: &str) -> PyResult<TextView<'_>> {
        Ok(match self {
            Texts::One(s) => TextView::One(s),
            Texts::Rows(items) => TextView::Chunks(vec![TextChunk::Each(utf8_rows(items)?, None)]),
            Texts::Strs { names, codes } => TextView::Chunks(vec![TextChunk::Coded {
                names: Cow::Owned(utf8_rows(names)?),
                codes: Codes::U32(codes),
                valid: None,
            }]),
            Texts::Pair { names, codes } => TextView::Chunks(vec![TextChunk::Coded {
                names: Cow::Borrowed(names.texts()),
                codes: match codes {
                    Ints::Buf(b) => b.as_codes(),
                    Ints::Owned(v) => Codes::I64(v),
                },
                valid: None,
            }]),
            Texts::Arrow(chunks) => {
                let mut out = Vec::with_capacity(chunks.len());
                for c in chunks {
                    let valid = arrow::validity(c.as_ref());
                    out.push(match arrow::dictionary(c.as_ref(), what)? {
                        Some((names, codes)) => TextChunk::Coded {
                            names: Cow::Owned(names),
                            codes,
                            valid,
                        },
                        None => TextChunk::Each(arrow::strings(c.as_ref(), what)?, valid),
                    });
                }
                TextView::Chunks(out)
            }
        })
    }
}

impl Floats {
    /// Reads the values argument.
    pub fn read(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Some(b) = Buf::get(obj, Elem::F64, "values")? {
            return Ok(Floats::Buf(b));
        }
        if arrow::is_arrow(obj)? {
            return Ok(Floats::Arrow(arrow::chunks(obj, "values")?));
        }
        obj.extract().map(Floats::Owned).map_err(|_| {
            invalid(
                "values must be a float64 buffer, a sequence of numbers or Arrow float64".into(),
            )
        })
    }

    fn view(&self) -> PyResult<Vec<(&[f64], Option<Bitmap<'_>>)>> {
        Ok(match self {
            Floats::Buf(b) => vec![(b.as_f64(), None)],
            Floats::Owned(v) => vec![(v, None)],
            Floats::Arrow(chunks) => chunks
                .iter()
                .map(|c| {
                    Ok((
                        arrow::floats(c.as_ref(), "values")?,
                        arrow::validity(c.as_ref()),
                    ))
                })
                .collect::<PyResult<_>>()?,
        })
    }
}

impl Times {
    /// Reads the event-time argument (`None`: now).
    pub fn read(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(t) = obj.filter(|t| !t.is_none()) else {
            return Ok(Times::One(now_ms()));
        };
        if t.is_instance_of::<PyInt>() {
            return Ok(Times::One(t.extract()?));
        }
        if let Some(b) = Buf::get(t, Elem::I64, "ts")? {
            return Ok(Times::Buf(b));
        }
        if arrow::is_arrow(t)? {
            return Times::arrow(arrow::chunks(t, "ts")?);
        }
        t.extract().map(Times::Owned).map_err(|_| {
            invalid(
                "ts must be None, an int, an int64 buffer, a sequence of ints or Arrow int64 / \
                 timestamp"
                    .into(),
            )
        })
    }

    /// Arrow chunks of event times (int64 ms or timestamps).
    pub fn arrow(chunks: Vec<ArrayRef>) -> PyResult<Self> {
        let mut out = Vec::with_capacity(chunks.len());
        for c in chunks {
            let converted = arrow::times(c.as_ref(), "ts")?.ok();
            out.push((c, converted));
        }
        Ok(Times::Arrow(out))
    }

    fn view(&self) -> PyResult<TimeView<'_>> {
        Ok(match self {
            Times::One(t) => TimeView::One(*t),
            Times::Buf(b) => TimeView::Chunks(vec![(b.as_i64(), None)]),
            Times::Owned(v) => TimeView::Chunks(vec![(v, None)]),
            Times::Arrow(chunks) => TimeView::Chunks(
                chunks
                    .iter()
                    .map(|(c, converted)| {
                        let rows = match converted {
                            Some(v) => v.as_slice(),
                            None => arrow::times(c.as_ref(), "ts")?.err().unwrap_or(&[]),
                        };
                        Ok((rows, arrow::validity(c.as_ref())))
                    })
                    .collect::<PyResult<_>>()?,
            ),
        })
    }
}

/// One chunk of a text column.
enum TextChunk<'a> {
    Each(Vec<&'a str>, Option<Bitmap<'a>>),
    Coded {
        names: Cow<'a, [&'a str]>,
        codes: Codes<'a>,
        valid: Option<Bitmap<'a>>,
    },
}

impl TextChunk<'_> {
    fn len(&self) -> usize {
        match self {
            TextChunk::Each(rows, _) => rows.len(),
            TextChunk::Coded { codes, .. } => codes.len(),
        }
    }
}

enum TextView<'a> {
    One(&'a str),
    Chunks(Vec<TextChunk<'a>>),
}

enum TimeView<'a> {
    One(i64),
    Chunks(Vec<(&'a [i64], Option<Bitmap<'a>>)>),
}

/// Where row `at` falls: (chunk, row within it), given the chunks' lengths.
fn locate(lens: &[usize], mut at: usize) -> (usize, usize) {
    for (j, &len) in lens.iter().enumerate() {
        if at < len {
            return (j, at);
        }
        at -= len;
    }
    (lens.len(), 0)
}

fn shift(valid: Option<Bitmap<'_>>, by: usize) -> Option<Bitmap<'_>> {
    valid.map(|b| Bitmap {
        bits: b.bits,
        offset: b.offset + by,
    })
}

fn names_at<'a>(view: &'a TextView<'a>, lens: &[usize], a: usize, b: usize) -> Names<'a> {
    let TextView::Chunks(chunks) = view else {
        return match view {
            TextView::One(s) => Names::One(s),
            TextView::Chunks(_) => Names::One(""),
        };
    };
    let (j, lo) = locate(lens, a);
    let hi = lo + (b - a);
    match &chunks[j] {
        TextChunk::Each(rows, _) => Names::Each(&rows[lo..hi]),
        TextChunk::Coded {
            names,
            codes,
            valid,
        } => Names::Coded {
            names,
            codes: codes.slice(lo, hi),
            valid: shift(*valid, lo),
        },
    }
}

/// The rows of each text column, and the first null of a plain (not dictionary) Arrow string chunk.
fn text_lens(view: &TextView<'_>, what: &str) -> PyResult<Option<Vec<usize>>> {
    let TextView::Chunks(chunks) = view else {
        return Ok(None);
    };
    let mut before = 0;
    for c in chunks {
        if let TextChunk::Each(rows, Some(valid)) = c {
            if let Some(i) = valid.first_null(what, rows.len()).map_err(to_py)? {
                return Err(invalid(format!("{what}[{}] is null", before + i)));
            }
        }
        before += c.len();
    }
    Ok(Some(chunks.iter().map(TextChunk::len).collect()))
}

/// Cuts the columns into core batches where any column changes chunk, and applies them all in one
/// core call with the GIL released. Returns the number of rows.
pub fn apply(
    py: Python<'_>,
    agg: &parking_lot::Mutex<dashfeed::window::Aggregator>,
    (dashboards, metrics): (&Texts<'_>, &Texts<'_>),
    values: &Floats,
    ts: &Times,
    tags: &[(&str, &str)],
) -> PyResult<usize> {
    let (d, m) = (dashboards.view("dashboards")?, metrics.view("metrics")?);
    let (v, t) = (values.view()?, ts.view()?);
    let v_lens: Vec<usize> = v.iter().map(|(rows, _)| rows.len()).collect();
    let n: usize = v_lens.iter().sum();
    let d_lens = text_lens(&d, "dashboards")?;
    let m_lens = text_lens(&m, "metrics")?;
    let t_lens = match &t {
        TimeView::One(_) => None,
        TimeView::Chunks(c) => Some(c.iter().map(|(rows, _)| rows.len()).collect::<Vec<_>>()),
    };
    let mut cuts = vec![0, n];
    for (what, lens) in [
        ("dashboards", &d_lens),
        ("metrics", &m_lens),
        ("ts", &t_lens),
    ] {
        let Some(lens) = lens else { continue };
        let rows: usize = lens.iter().sum();
        if rows != n {
            return Err(invalid(format!("{what} has {rows} rows, values has {n}")));
        }
        cuts.extend(lens.iter().scan(0, |end, len| {
            *end += len;
            Some(*end)
        }));
    }
    cuts.extend(v_lens.iter().scan(0, |end, len| {
        *end += len;
        Some(*end)
    }));
    cuts.sort_unstable();
    cuts.dedup();
    let one = [n];
    let mut batches = Vec::with_capacity(cuts.len());
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (vj, vlo) = locate(&v_lens, a);
        let (vals, vvalid) = v[vj];
        batches.push(Batch {
            dashboards: names_at(&d, d_lens.as_deref().unwrap_or(&one), a, b),
            metrics: names_at(&m, m_lens.as_deref().unwrap_or(&one), a, b),
            values: &vals[vlo..vlo + (b - a)],
            values_valid: shift(vvalid, vlo),
            ts: match &t {
                TimeView::One(x) => Column::One(*x),
                TimeView::Chunks(c) => {
                    let (tj, tlo) = locate(t_lens.as_deref().unwrap_or(&one), a);
                    Column::Each(&c[tj].0[tlo..tlo + (b - a)])
                }
            },
            ts_valid: match &t {
                TimeView::One(_) => None,
                TimeView::Chunks(c) => {
                    let (tj, tlo) = locate(t_lens.as_deref().unwrap_or(&one), a);
                    shift(c[tj].1, tlo)
                }
            },
            tags,
        });
    }
    let res = py.detach(|| agg.lock().add_batches(&batches));
    res.map_err(to_py)
}
