//! Time travel in Python: the `as_of=` argument of the read calls and the read-only
//! view `db.at(as_of)` returns.
//!
//! `as_of` is a commit version (`int`) or a `datetime` (a naive one is local time, as
//! `datetime.timestamp()` reads it). Both the keyword and the view go through the same
//! functions below, so they answer alike.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBool, PyDict, PyInt, PyList};
use stratadb::model::AsOf;
use stratadb::time_travel::PastView;

use crate::convert::{self, str_list, to_embedding, type_name};
use crate::errors::{engine, quick, validation};
use crate::shapes;

/// Reads an `as_of` argument.
pub fn to_as_of(value: &Bound<'_, PyAny>) -> PyResult<AsOf> {
    if value.is_instance_of::<PyBool>() {
        return Err(validation("as_of must be a version (int) or a datetime, got 'bool'"));
    }
    if value.is_instance_of::<PyInt>() {
        let version: i128 = value.extract()?;
        return u64::try_from(version)
            .map(AsOf::Version)
            .map_err(|_| validation(format!("as_of version {version} is out of range; versions are 0 or more")));
    }
    let py = value.py();
    let datetime = py.import("datetime")?;
    if value.is_instance(&datetime.getattr("datetime")?)? {
        let aware = if value.getattr("tzinfo")?.is_none() { value.call_method0("astimezone")? } else { value.clone() };
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        let epoch = datetime.getattr("datetime")?.call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
        let delta = aware.call_method1("__sub__", (epoch,))?;
        let days: i64 = delta.getattr("days")?.extract()?;
        let seconds: i64 = delta.getattr("seconds")?.extract()?;
        let micros: i64 = delta.getattr("microseconds")?.extract()?;
        let total = i128::from(days) * 86_400_000_000 + i128::from(seconds) * 1_000_000 + i128::from(micros);
        return u64::try_from(total)
            .map(AsOf::Time)
            .map_err(|_| validation("as_of datetime is before 1970-01-01, when no commit can exist"));
    }
    Err(validation(format!("as_of must be a version (int) or a datetime, got '{}'", type_name(value))))
}

pub fn kv_get<'py>(py: Python<'py>, view: &PastView, key: &str) -> PyResult<Bound<'py, PyAny>> {
    let node = quick(|| view.kv_get(key))?;
    convert::optional_to_py(py, node.as_deref().and_then(|node| node.value()))
}

pub fn kv_list<'py>(py: Python<'py>, view: &PastView, prefix: Option<&str>) -> PyResult<Bound<'py, PyList>> {
    let page = engine(py, || view.kv_list(prefix, None, None))?;
    str_list(py, &page.keys)
}

pub fn state_get<'py>(py: Python<'py>, view: &PastView, cell: &str) -> PyResult<Bound<'py, PyAny>> {
    let node = quick(|| view.state_get(cell))?;
    convert::optional_to_py(py, node.as_deref().and_then(|node| node.value()))
}

pub fn json_get<'py>(py: Python<'py>, view: &PastView, key: &str, path: &str) -> PyResult<Bound<'py, PyAny>> {
    let value = quick(|| view.json_get(key, path))?;
    convert::optional_to_py(py, value.as_ref())
}

pub fn json_list<'py>(
    py: Python<'py>,
    view: &PastView,
    limit: usize,
    prefix: Option<&str>,
    cursor: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let page = engine(py, || view.json_list(limit, prefix, cursor))?;
    shapes::page(py, &page)
}

pub fn event_get<'py>(py: Python<'py>, view: &PastView, sequence: u64) -> PyResult<Bound<'py, PyAny>> {
    match quick(|| view.event_get(sequence))? {
        Some(event) => Ok(shapes::event(py, &event)?.into_any()),
        None => Ok(py.None().into_bound(py)),
    }
}

pub fn event_list<'py>(py: Python<'py>, view: &PastView, event_type: &str) -> PyResult<Bound<'py, PyList>> {
    let events = engine(py, || view.event_list(event_type, None, None))?;
    shapes::events(py, &events)
}

pub fn vector_get<'py>(py: Python<'py>, view: &PastView, collection: &str, key: &str) -> PyResult<Bound<'py, PyAny>> {
    match quick(|| view.vector_get(collection, key))? {
        Some(record) => Ok(shapes::vector_record(py, &record)?.into_any()),
        None => Ok(py.None().into_bound(py)),
    }
}

pub fn vector_search<'py>(
    py: Python<'py>,
    view: &PastView,
    collection: &str,
    query: &Bound<'py, PyAny>,
    k: usize,
) -> PyResult<Bound<'py, PyList>> {
    let query = to_embedding(query, "query")?;
    let hits = engine(py, || view.vector_search(collection, &query, k, None, None))?;
    shapes::search_hits(py, &hits)
}

pub fn list_spaces<'py>(py: Python<'py>, view: &PastView) -> PyResult<Bound<'py, PyList>> {
    let spaces = quick(|| view.list_spaces())?;
    str_list(py, &spaces)
}

/// A read-only view of one branch and space as of a past commit, from `db.at(as_of)`.
/// It keeps the database state it was made from, so it answers the same way however
/// the database changes afterwards.
#[pyclass(frozen, module = "stratadb")]
pub struct StrataView {
    pub(crate) view: PastView,
}

#[pymethods]
impl StrataView {
    /// The point this view reads at: a version (int) or a time (µs since the epoch).
    #[getter]
    fn as_of(&self) -> (&'static str, u64) {
        match self.view.point() {
            AsOf::Version(version) => ("version", version),
            AsOf::Time(time) => ("time", time),
        }
    }

    /// The branch this view reads.
    #[getter]
    fn branch(&self) -> &str {
        self.view.branch_name()
    }

    /// The space this view reads.
    #[getter]
    fn space(&self) -> &str {
        self.view.space_name()
    }

    /// The value of a key as of the view's point, or None.
    fn kv_get<'py>(&self, py: Python<'py>, key: PyBackedStr) -> PyResult<Bound<'py, PyAny>> {
        kv_get(py, &self.view, &key)
    }

    /// The keys live at the view's point, sorted.
    #[pyo3(signature = (prefix=None))]
    fn kv_list<'py>(&self, py: Python<'py>, prefix: Option<PyBackedStr>) -> PyResult<Bound<'py, PyList>> {
        kv_list(py, &self.view, prefix.as_deref())
    }

    /// A state cell's value as of the view's point, or None.
    fn state_get<'py>(&self, py: Python<'py>, cell: PyBackedStr) -> PyResult<Bound<'py, PyAny>> {
        state_get(py, &self.view, &cell)
    }

    /// The value at a JSON path as of the view's point, or None.
    fn json_get<'py>(&self, py: Python<'py>, key: PyBackedStr, path: PyBackedStr) -> PyResult<Bound<'py, PyAny>> {
        json_get(py, &self.view, &key, &path)
    }

    /// One page of document keys live at the view's point.
    #[pyo3(signature = (limit, prefix=None, cursor=None))]
    fn json_list<'py>(
        &self,
        py: Python<'py>,
        limit: usize,
        prefix: Option<PyBackedStr>,
        cursor: Option<PyBackedStr>,
    ) -> PyResult<Bound<'py, PyDict>> {
        json_list(py, &self.view, limit, prefix.as_deref(), cursor.as_deref())
    }

    /// An event appended by the view's point, or None.
    fn event_get<'py>(&self, py: Python<'py>, sequence: u64) -> PyResult<Bound<'py, PyAny>> {
        event_get(py, &self.view, sequence)
    }

    /// The events of one type appended by the view's point.
    fn event_list<'py>(&self, py: Python<'py>, event_type: PyBackedStr) -> PyResult<Bound<'py, PyList>> {
        event_list(py, &self.view, &event_type)
    }

    /// The number of events appended by the view's point.
    fn event_len(&self) -> PyResult<u64> {
        quick(|| self.view.event_len())
    }

    /// A vector as of the view's point, or None.
    fn vector_get<'py>(&self, py: Python<'py>, collection: PyBackedStr, key: PyBackedStr) -> PyResult<Bound<'py, PyAny>> {
        vector_get(py, &self.view, &collection, &key)
    }

    /// The k best matches among the vectors as they were at the view's point.
    fn vector_search<'py>(
        &self,
        py: Python<'py>,
        collection: PyBackedStr,
        query: &Bound<'py, PyAny>,
        k: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        vector_search(py, &self.view, &collection, query, k)
    }

    /// The spaces that existed at the view's point.
    fn list_spaces<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        list_spaces(py, &self.view)
    }

    fn __repr__(&self) -> String {
        let point = match self.view.point() {
            AsOf::Version(version) => format!("version {version}"),
            AsOf::Time(time) => format!("time {time}"),
        };
        format!("<StrataView branch='{}' space='{}' as of {point}>", self.view.branch_name(), self.view.space_name())
    }
}
