//! The Python binding of StrataDB: the `stratadb._stratadb` extension module.
//!
//! A thin layer over [`stratadb::Session`]: each method converts its arguments into
//! owned Rust data while holding the GIL, calls the engine (releasing the GIL for
//! anything that can take long: search, scans, batches, transactions, branch
//! operations; for single-record writes only while they wait for the writer lock or an
//! fsync), and converts the result into the dict shapes of api.md.
//!
//! Invariants:
//! - Every engine call goes through `errors::engine` (GIL released), `errors::write`
//!   (GIL released only while the engine waits) or `errors::quick` (GIL held, for point
//!   reads), which catch panics and map engine errors in one place.
//! - No Python object is touched while the GIL is released: vectors and values are
//!   copied into owned memory first.
//! - Parameter names match the published `stratadb==0.6.0`, so keyword calls keep
//!   working (`create_branch(branch=...)`, `branch_get(name=...)`).

mod convert;
mod errors;
mod past;
mod shapes;
mod transaction;

use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList, PyTuple};
use stratadb::vector_index::Filter;
use stratadb::time_travel::PastView;
use stratadb::{Durability, Session, Value};

use crate::convert::{str_list, to_embedding, to_optional_value, to_packed, to_value, type_name};
use crate::errors::{engine, quick, to_py_err, validation, write};
use crate::transaction::Transaction;

/// A handle on a StrataDB database. Create one with `Strata.open(path)` or
/// `Strata.cache()`.
#[pyclass(frozen, weakref, module = "stratadb")]
pub struct Strata {
    session: Session,
}

impl Strata {
    /// The read-only view behind an `as_of=` argument.
    fn past(&self, as_of: &Bound<'_, PyAny>) -> PyResult<PastView> {
        let point = past::to_as_of(as_of)?;
        quick(|| self.session.at(point))
    }

    pub(crate) fn begin_transaction(&self, py: Python<'_>, read_only: bool) -> PyResult<()> {
        let session = &self.session;
        engine(py, || session.begin(read_only))
    }

    pub(crate) fn commit_transaction(&self, py: Python<'_>) -> PyResult<u64> {
        let session = &self.session;
        engine(py, || session.commit())
    }

    pub(crate) fn rollback_transaction(&self) -> PyResult<()> {
        quick(|| self.session.rollback())
    }
}

/// Reads one `{"field", "op", "value"}` condition list into an engine filter.
fn to_filter(conditions: &Bound<'_, PyAny>) -> PyResult<Filter> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = conditions.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = conditions.cast::<PyTuple>() {
        tuple.iter().collect()
    } else if conditions.is_instance_of::<PyDict>() {
        // A single condition is accepted as a list of one.
        vec![conditions.clone()]
    } else {
        return Err(validation(
            "filter must be a list of {\"field\", \"op\", \"value\"} dicts".to_owned(),
        ));
    };
    let mut parsed = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let condition = item.cast::<PyDict>().map_err(|_| {
            validation(format!(
                "filter[{index}] must be a dict with 'field', 'op' and 'value'"
            ))
        })?;
        let text = |name: &str| -> PyResult<String> {
            let value = condition
                .get_item(name)?
                .ok_or_else(|| validation(format!("filter[{index}] is missing '{name}'")))?;
            value
                .extract::<String>()
                .map_err(|_| validation(format!("filter[{index}]['{name}'] must be a str")))
        };
        let field = text("field")?;
        let op = text("op")?;
        let value = condition
            .get_item("value")?
            .ok_or_else(|| validation(format!("filter[{index}] is missing 'value'")))?;
        let value = to_value(&value, &format!("filter[{index}]['value']"))?;
        parsed.push((field, op, value));
    }
    Filter::new(parsed).map_err(to_py_err)
}

/// Reads a `retention=` argument: a dict with `keep_versions` and/or `keep_seconds`.
fn to_retention(value: &Bound<'_, PyAny>) -> PyResult<stratadb::retention::Retention> {
    let settings = value.cast::<PyDict>().map_err(|_| {
        validation(format!(
            "retention must be a dict with 'keep_versions' and/or 'keep_seconds', got '{}'",
            type_name(value)
        ))
    })?;
    let mut keep_versions = None;
    let mut keep_seconds = None;
    for (name, setting) in settings.iter() {
        let name: String = name.extract().map_err(|_| validation("retention keys must be str"))?;
        let number = if setting.is_none() {
            None
        } else {
            Some(setting.extract::<u64>().map_err(|_| {
                validation(format!("retention['{name}'] must be a non-negative int, got '{}'", type_name(&setting)))
            })?)
        };
        match name.as_str() {
            "keep_versions" => keep_versions = number,
            "keep_seconds" => keep_seconds = number,
            other => {
                return Err(validation(format!(
                    "unknown retention setting '{other}'; the settings are 'keep_versions' and 'keep_seconds'"
                )))
            }
        }
    }
    stratadb::retention::Retention::new(keep_versions, keep_seconds, "retention").map_err(to_py_err)
}

/// One item of `vector_batch_upsert`, read into owned data.
fn to_batch_item(
    item: &Bound<'_, PyAny>,
    index: usize,
) -> PyResult<(String, Vec<f32>, Option<Value>)> {
    let entry = item.cast::<PyDict>().map_err(|_| {
        validation(format!(
            "vectors[{index}] must be a dict with 'key' and 'vector', got '{}'",
            type_name(item)
        ))
    })?;
    let key = entry
        .get_item("key")?
        .ok_or_else(|| validation(format!("vectors[{index}] is missing 'key'")))?;
    let key = key.extract::<String>().map_err(|_| {
        validation(format!(
            "vectors[{index}]['key'] must be a str, got '{}'",
            type_name(&key)
        ))
    })?;
    let vector = entry
        .get_item("vector")?
        .ok_or_else(|| validation(format!("vectors[{index}] is missing 'vector'")))?;
    let embedding = to_embedding(&vector, &format!("vectors[{index}]['vector']"))?;
    let metadata = entry.get_item("metadata")?;
    let metadata = to_optional_value(metadata.as_ref(), &format!("vectors[{index}]['metadata']"))?;
    Ok((key, embedding, metadata))
}

#[pymethods]
impl Strata {
    // ----- construction and lifetime --------------------------------------------------

    /// Open or create a database directory.
    #[staticmethod]
    #[pyo3(signature = (path, *, durability=None, read_only=false, retention=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        durability: Option<PyBackedStr>,
        read_only: bool,
        retention: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Strata> {
        let retention = retention.map(to_retention).transpose()?;
        let durability = durability
            .as_deref()
            .map(Durability::parse)
            .transpose()
            .map_err(to_py_err)?;
        let options = stratadb::OpenOptions {
            durability,
            read_only,
            retention,
            ..stratadb::OpenOptions::default()
        };
        let session = engine(py, || Session::open(&path, options))?;
        Ok(Strata { session })
    }

    /// Create a private in-memory database.
    #[staticmethod]
    #[pyo3(signature = (*, retention=None))]
    fn cache(retention: Option<&Bound<'_, PyAny>>) -> PyResult<Strata> {
        let session = Session::in_memory();
        if let Some(retention) = retention {
            session.engine().set_retention(to_retention(retention)?);
        }
        Ok(Strata { session })
    }

    /// Flush and close this handle. Closing twice is fine.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let session = &self.session;
        engine(py, || session.close())
    }

    fn __enter__<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.clone()
    }

    #[pyo3(signature = (exc_type=None, exc_value=None, traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_type, exc_value, traceback);
        self.close(py)?;
        Ok(false)
    }

    /// A context manager: begin on enter, commit on success, roll back on an exception.
    #[pyo3(signature = (read_only=false))]
    fn transaction(slf: &Bound<'_, Self>, read_only: bool) -> Transaction {
        Transaction::new(slf.clone().unbind(), read_only)
    }

    // ----- KV ---------------------------------------------------------------------------

    /// Store a value under a key; returns the commit version.
    fn kv_put(&self, key: PyBackedStr, value: &Bound<'_, PyAny>) -> PyResult<u64> {
        let value = to_packed(value, "value")?;
        let (session, key) = (&self.session, &*key);
        write(session, || session.kv_put(key, value))
    }

    /// The value of a key, or None if it is missing or deleted (as_of: as of a past version or datetime).
    #[pyo3(signature = (key, *, as_of=None))]
    fn kv_get<'py>(&self, py: Python<'py>, key: PyBackedStr, as_of: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(as_of) = as_of {
            return past::kv_get(py, &self.past(as_of)?, &key);
        }
        let node = quick(|| self.session.kv_get(&key))?;
        convert::optional_to_py(py, node.as_deref().and_then(|node| node.value()))
    }

    /// Delete a key; returns whether it existed.
    fn kv_delete(&self, key: PyBackedStr) -> PyResult<bool> {
        let (session, key) = (&self.session, &*key);
        write(session, || session.kv_delete(key))
    }

    /// The keys starting with prefix, sorted.
    #[pyo3(signature = (prefix=None, *, as_of=None))]
    fn kv_list<'py>(
        &self,
        py: Python<'py>,
        prefix: Option<PyBackedStr>,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        if let Some(as_of) = as_of {
            return past::kv_list(py, &self.past(as_of)?, prefix.as_deref());
        }
        let (session, prefix) = (&self.session, prefix.as_deref());
        let keys = engine(py, || session.kv_list(prefix))?;
        str_list(py, &keys)
    }

    /// Every version of a key, newest first (deletes have value None); None if it never existed.
    fn kv_history<'py>(&self, py: Python<'py>, key: PyBackedStr) -> PyResult<Bound<'py, PyAny>> {
        let nodes = quick(|| self.session.kv_history(&key))?;
        shapes::history(py, nodes)
    }

    /// {"value", "version", "timestamp"} of a key, or None.
    fn kv_get_versioned<'py>(
        &self,
        py: Python<'py>,
        key: PyBackedStr,
    ) -> PyResult<Bound<'py, PyAny>> {
        let node = quick(|| self.session.kv_get(&key))?;
        shapes::optional_versioned(py, node)
    }

    /// One page of keys: {"keys": [...], "cursor": str} (cursor only when more follow).
    #[pyo3(signature = (prefix=None, limit=None, cursor=None))]
    fn kv_list_paginated<'py>(
        &self,
        py: Python<'py>,
        prefix: Option<PyBackedStr>,
        limit: Option<usize>,
        cursor: Option<PyBackedStr>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (session, prefix, cursor) = (&self.session, prefix.as_deref(), cursor.as_deref());
        let page = engine(py, || session.kv_list_paginated(prefix, limit, cursor))?;
        shapes::page(py, &page)
    }

    // ----- state cells ------------------------------------------------------------------

    /// Set a state cell; returns the commit version.
    fn state_set(
        &self,
        cell: PyBackedStr,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let value = to_packed(value, "value")?;
        let (session, cell) = (&self.session, &*cell);
        write(session, || session.state_set(cell, value))
    }

    /// The value of a state cell, or None.
    #[pyo3(signature = (cell, *, as_of=None))]
    fn state_get<'py>(&self, py: Python<'py>, cell: PyBackedStr, as_of: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(as_of) = as_of {
            return past::state_get(py, &self.past(as_of)?, &cell);
        }
        let node = quick(|| self.session.state_get(&cell))?;
        convert::optional_to_py(py, node.as_deref().and_then(|node| node.value()))
    }

    /// Create a cell only if absent; returns its current version either way.
    fn state_init(
        &self,
        cell: PyBackedStr,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let value = to_packed(value, "value")?;
        let (session, cell) = (&self.session, &*cell);
        write(session, || session.state_init(cell, value))
    }

    /// Set a cell iff its version equals expected_version (None: iff absent); new version or None.
    #[pyo3(signature = (cell, new_value, expected_version=None))]
    fn state_cas(
        &self,
        cell: PyBackedStr,
        new_value: &Bound<'_, PyAny>,
        expected_version: Option<u64>,
    ) -> PyResult<Option<u64>> {
        let value = to_packed(new_value, "new_value")?;
        let (session, cell) = (&self.session, &*cell);
        write(session, || session.state_cas(cell, value, expected_version))
    }

    /// Every version of a cell, newest first; None if it never existed.
    fn state_history<'py>(
        &self,
        py: Python<'py>,
        cell: PyBackedStr,
    ) -> PyResult<Bound<'py, PyAny>> {
        let nodes = quick(|| self.session.state_history(&cell))?;
        shapes::history(py, nodes)
    }

    /// Delete a state cell; returns whether it existed.
    fn state_delete(&self, cell: PyBackedStr) -> PyResult<bool> {
        let (session, cell) = (&self.session, &*cell);
        write(session, || session.state_delete(cell))
    }

    /// The cell names starting with prefix, sorted.
    #[pyo3(signature = (prefix=None))]
    fn state_list<'py>(
        &self,
        py: Python<'py>,
        prefix: Option<PyBackedStr>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (session, prefix) = (&self.session, prefix.as_deref());
        let cells = engine(py, || session.state_list(prefix))?;
        str_list(py, &cells)
    }

    /// {"value", "version", "timestamp"} of a cell, or None.
    fn state_get_versioned<'py>(
        &self,
        py: Python<'py>,
        cell: PyBackedStr,
    ) -> PyResult<Bound<'py, PyAny>> {
        let node = quick(|| self.session.state_get(&cell))?;
        shapes::optional_versioned(py, node)
    }

    // ----- events -----------------------------------------------------------------------

    /// Append an event; returns its sequence number (0-based per branch and space).
    fn event_append(
        &self,
        event_type: PyBackedStr,
        payload: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let payload = to_packed(payload, "payload")?;
        let (session, event_type) = (&self.session, &*event_type);
        write(session, || session.event_append(event_type, payload))
    }

    /// {"value", "version", "timestamp", "event_type"} of an event, or None.
    #[pyo3(signature = (sequence, *, as_of=None))]
    fn event_get<'py>(&self, py: Python<'py>, sequence: u64, as_of: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(as_of) = as_of {
            return past::event_get(py, &self.past(as_of)?, sequence);
        }
        match quick(|| self.session.event_get(sequence))? {
            Some(event) => Ok(shapes::event(py, &event)?.into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// The events of one type, in sequence order.
    #[pyo3(signature = (event_type, *, as_of=None))]
    fn event_list<'py>(
        &self,
        py: Python<'py>,
        event_type: PyBackedStr,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        if let Some(as_of) = as_of {
            return past::event_list(py, &self.past(as_of)?, &event_type);
        }
        let (session, event_type) = (&self.session, &*event_type);
        let events = engine(py, || session.event_list(event_type))?;
        shapes::events(py, &events)
    }

    /// The number of events in the current branch and space.
    #[pyo3(signature = (*, as_of=None))]
    fn event_len(&self, as_of: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        if let Some(as_of) = as_of {
            let view = self.past(as_of)?;
            return quick(|| view.event_len());
        }
        quick(|| self.session.event_len())
    }

    /// Events of one type with sequence > after, at most limit of them.
    #[pyo3(signature = (event_type, limit=None, after=None))]
    fn event_list_paginated<'py>(
        &self,
        py: Python<'py>,
        event_type: PyBackedStr,
        limit: Option<usize>,
        after: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (session, event_type) = (&self.session, &*event_type);
        let events = engine(py, || {
            session.event_list_paginated(event_type, limit, after)
        })?;
        shapes::events(py, &events)
    }

    // ----- JSON documents ---------------------------------------------------------------

    /// Set the value at a JSON path ("$" is the whole document); returns the commit version.
    fn json_set(
        &self,
        key: PyBackedStr,
        path: PyBackedStr,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let value = to_value(value, "value")?;
        let (session, key, path) = (&self.session, &*key, &*path);
        write(session, || session.json_set(key, path, value))
    }

    /// The value at a JSON path, or None if the document or path is missing.
    #[pyo3(signature = (key, path, *, as_of=None))]
    fn json_get<'py>(
        &self,
        py: Python<'py>,
        key: PyBackedStr,
        path: PyBackedStr,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(as_of) = as_of {
            return past::json_get(py, &self.past(as_of)?, &key, &path);
        }
        let value = quick(|| self.session.json_get(&key, &path))?;
        convert::optional_to_py(py, value.as_ref())
    }

    /// Delete the document ("$") or the member at path; returns the version, or 0 if nothing was removed.
    fn json_delete(&self, key: PyBackedStr, path: PyBackedStr) -> PyResult<u64> {
        let (session, key, path) = (&self.session, &*key, &*path);
        write(session, || session.json_delete(key, path))
    }

    /// Every version of a document, newest first; None if it never existed.
    fn json_history<'py>(&self, py: Python<'py>, key: PyBackedStr) -> PyResult<Bound<'py, PyAny>> {
        let nodes = quick(|| self.session.json_history(&key))?;
        shapes::history(py, nodes)
    }

    /// {"value", "version", "timestamp"} of a document, or None.
    fn json_get_versioned<'py>(
        &self,
        py: Python<'py>,
        key: PyBackedStr,
    ) -> PyResult<Bound<'py, PyAny>> {
        let node = quick(|| self.session.json_get_versioned(&key))?;
        shapes::optional_versioned(py, node)
    }

    /// One page of document keys: {"keys": [...], "cursor": str} (cursor only when more follow).
    #[pyo3(signature = (limit, prefix=None, cursor=None, *, as_of=None))]
    fn json_list<'py>(
        &self,
        py: Python<'py>,
        limit: usize,
        prefix: Option<PyBackedStr>,
        cursor: Option<PyBackedStr>,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if let Some(as_of) = as_of {
            return past::json_list(py, &self.past(as_of)?, limit, prefix.as_deref(), cursor.as_deref());
        }
        let (session, prefix, cursor) = (&self.session, prefix.as_deref(), cursor.as_deref());
        let page = engine(py, || session.json_list(limit, prefix, cursor))?;
        shapes::page(py, &page)
    }

    // ----- vectors ----------------------------------------------------------------------

    /// Create a vector collection (metric "cosine", "euclidean" or "dot_product").
    #[pyo3(signature = (collection, dimension, metric=None))]
    fn vector_create_collection(
        &self,
        py: Python<'_>,
        collection: PyBackedStr,
        dimension: usize,
        metric: Option<PyBackedStr>,
    ) -> PyResult<u64> {
        let metric = metric.as_deref().unwrap_or("cosine");
        let (session, collection) = (&self.session, &*collection);
        engine(py, || {
            session.vector_create_collection(collection, dimension, metric)
        })
    }

    /// Delete a collection; returns whether it existed.
    fn vector_delete_collection(&self, py: Python<'_>, collection: PyBackedStr) -> PyResult<bool> {
        let (session, collection) = (&self.session, &*collection);
        engine(py, || session.vector_delete_collection(collection))
    }

    /// The stats of every collection in the current space, sorted by name.
    fn vector_list_collections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let all = quick(|| self.session.vector_list_collections())?;
        let items = all
            .iter()
            .map(|stats| shapes::collection_stats(py, stats))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// {"name", "dimension", "metric", "count", "index_type", "memory_bytes"} of a collection.
    fn vector_collection_stats<'py>(
        &self,
        py: Python<'py>,
        collection: PyBackedStr,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stats = quick(|| self.session.vector_collection_stats(&collection))?;
        shapes::collection_stats(py, &stats)
    }

    /// Insert or replace a vector (NumPy array of any float dtype, or list of numbers).
    #[pyo3(signature = (collection, key, vector, metadata=None))]
    fn vector_upsert(
        &self,
        collection: PyBackedStr,
        key: PyBackedStr,
        vector: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let embedding = to_embedding(vector, "vector")?;
        let metadata = to_optional_value(metadata, "metadata")?;
        let (session, collection, key) = (&self.session, &*collection, &*key);
        write(session, || session.vector_upsert(collection, key, embedding, metadata))
    }

    /// Upsert [{"key", "vector", "metadata"?}, ...] in one commit; returns one version per item.
    fn vector_batch_upsert(
        &self,
        py: Python<'_>,
        collection: PyBackedStr,
        vectors: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<u64>> {
        let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = vectors.cast::<PyList>() {
            list.iter().collect()
        } else if let Ok(tuple) = vectors.cast::<PyTuple>() {
            tuple.iter().collect()
        } else {
            return Err(validation(format!(
                "vectors must be a list of {{\"key\", \"vector\", \"metadata\"}} dicts, got '{}'",
                type_name(vectors)
            )));
        };
        let batch = items
            .iter()
            .enumerate()
            .map(|(index, item)| to_batch_item(item, index))
            .collect::<PyResult<Vec<_>>>()?;
        let (session, collection) = (&self.session, &*collection);
        engine(py, || session.vector_batch_upsert(collection, batch))
    }

    /// {"key", "embedding" (float32 array), "metadata", "version", "timestamp"}, or None.
    #[pyo3(signature = (collection, key, *, as_of=None))]
    fn vector_get<'py>(
        &self,
        py: Python<'py>,
        collection: PyBackedStr,
        key: PyBackedStr,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(as_of) = as_of {
            return past::vector_get(py, &self.past(as_of)?, &collection, &key);
        }
        match quick(|| self.session.vector_get(&collection, &key))? {
            Some(record) => Ok(shapes::vector_record(py, &record)?.into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Delete a vector; returns whether it existed.
    fn vector_delete(
        &self,
        collection: PyBackedStr,
        key: PyBackedStr,
    ) -> PyResult<bool> {
        let (session, collection, key) = (&self.session, &*collection, &*key);
        write(session, || session.vector_delete(collection, key))
    }

    /// The k nearest vectors, best first: [{"key", "score", "metadata"}].
    #[pyo3(signature = (collection, query, k, *, as_of=None))]
    fn vector_search<'py>(
        &self,
        py: Python<'py>,
        collection: PyBackedStr,
        query: &Bound<'py, PyAny>,
        k: usize,
        as_of: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        if let Some(as_of) = as_of {
            return past::vector_search(py, &self.past(as_of)?, &collection, query, k);
        }
        let query = to_embedding(query, "query")?;
        let (session, collection) = (&self.session, &*collection);
        let hits = engine(py, || session.vector_search(collection, &query, k))?;
        shapes::search_hits(py, &hits)
    }

    /// Search with an optional metric override and metadata filter [{"field", "op", "value"}].
    #[pyo3(signature = (collection, query, k, metric=None, filter=None))]
    fn vector_search_filtered<'py>(
        &self,
        py: Python<'py>,
        collection: PyBackedStr,
        query: &Bound<'py, PyAny>,
        k: usize,
        metric: Option<PyBackedStr>,
        filter: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let query = to_embedding(query, "query")?;
        let filter = match filter {
            Some(filter) if !filter.is_none() => Some(to_filter(filter)?),
            _ => None,
        };
        let (session, collection, metric) = (&self.session, &*collection, metric.as_deref());
        let hits = engine(py, || {
            session.vector_search_filtered(collection, &query, k, metric, filter.as_ref())
        })?;
        shapes::search_hits(py, &hits)
    }

    // ----- branches ---------------------------------------------------------------------

    /// The name of this handle's current branch.
    fn current_branch(&self) -> PyResult<String> {
        quick(|| self.session.current_branch())
    }

    /// Switch this handle to another branch (the current space resets to "default").
    fn set_branch(&self, branch: PyBackedStr) -> PyResult<()> {
        quick(|| self.session.set_branch(&branch))
    }

    /// Create an empty branch.
    fn create_branch(&self, py: Python<'_>, branch: PyBackedStr) -> PyResult<()> {
        let (session, branch) = (&self.session, &*branch);
        engine(py, || session.create_branch(branch)).map(|_version| ())
    }

    /// Copy the current branch (all spaces, primitives and history) to a new branch.
    #[pyo3(signature = (destination, *, at=None))]
    fn fork_branch<'py>(
        &self,
        py: Python<'py>,
        destination: PyBackedStr,
        at: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let at = at.filter(|a| !a.is_none()).map(past::to_as_of).transpose()?;
        let (session, destination) = (&self.session, &*destination);
        let report = engine(py, || session.fork_branch_at(destination, at))?;
        shapes::fork_report(py, &report)
    }

    /// The names of all branches, sorted.
    fn list_branches<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let branches = quick(|| self.session.list_branches())?;
        str_list(py, &branches)
    }

    /// Delete a branch (not "default", not the current branch).
    fn delete_branch(&self, py: Python<'_>, branch: PyBackedStr) -> PyResult<()> {
        let (session, branch) = (&self.session, &*branch);
        engine(py, || session.delete_branch(branch))
    }

    /// Whether a branch exists.
    fn branch_exists(&self, name: PyBackedStr) -> PyResult<bool> {
        quick(|| self.session.branch_exists(&name))
    }

    /// {"id", "status", "created_at", "updated_at", "version", "timestamp", "parent"}, or None.
    fn branch_get<'py>(&self, py: Python<'py>, name: PyBackedStr) -> PyResult<Bound<'py, PyAny>> {
        match quick(|| self.session.branch_get(&name))? {
            Some(branch) => Ok(shapes::branch_description(py, &branch)?.into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Per-key differences from branch_a to branch_b (added = only in branch_b).
    fn diff_branches<'py>(
        &self,
        py: Python<'py>,
        branch_a: PyBackedStr,
        branch_b: PyBackedStr,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (session, branch_a, branch_b) = (&self.session, &*branch_a, &*branch_b);
        let report = engine(py, || session.diff_branches(branch_a, branch_b))?;
        shapes::diff_report(py, &report)
    }

    /// Three-way merge of source into the current branch ("last_writer_wins" or "strict").
    #[pyo3(signature = (source, strategy=None))]
    fn merge_branches<'py>(
        &self,
        py: Python<'py>,
        source: PyBackedStr,
        strategy: Option<PyBackedStr>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let strategy = strategy.as_deref().unwrap_or("last_writer_wins");
        let (session, source) = (&self.session, &*source);
        let report = engine(py, || session.merge_branches(source, strategy))?;
        shapes::merge_report(py, &report)
    }

    // ----- spaces -----------------------------------------------------------------------

    /// The name of this handle's current space.
    fn current_space(&self) -> PyResult<String> {
        quick(|| self.session.current_space())
    }

    /// Switch to a space, creating it on first use.
    fn set_space(&self, py: Python<'_>, space: PyBackedStr) -> PyResult<()> {
        let (session, space) = (&self.session, &*space);
        engine(py, || session.set_space(space))
    }

    /// The spaces of the current branch, sorted.
    #[pyo3(signature = (*, as_of=None))]
    fn list_spaces<'py>(&self, py: Python<'py>, as_of: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyList>> {
        if let Some(as_of) = as_of {
            return past::list_spaces(py, &self.past(as_of)?);
        }
        let spaces = quick(|| self.session.list_spaces())?;
        str_list(py, &spaces)
    }

    /// Create a space if it does not exist.
    fn space_create(&self, py: Python<'_>, space: PyBackedStr) -> PyResult<()> {
        let (session, space) = (&self.session, &*space);
        engine(py, || session.space_create(space))
    }

    /// Whether a space exists in the current branch.
    fn space_exists(&self, space: PyBackedStr) -> PyResult<bool> {
        quick(|| self.session.space_exists(&space))
    }

    /// Delete an empty space (a non-empty one raises ConstraintError).
    fn delete_space(&self, py: Python<'_>, space: PyBackedStr) -> PyResult<()> {
        let (session, space) = (&self.session, &*space);
        engine(py, || session.delete_space(space))
    }

    /// Delete a space and everything in it.
    fn delete_space_force(&self, py: Python<'_>, space: PyBackedStr) -> PyResult<()> {
        let (session, space) = (&self.session, &*space);
        engine(py, || session.delete_space_force(space))
    }

    // ----- transactions -----------------------------------------------------------------

    /// Begin a transaction on this handle.
    #[pyo3(signature = (read_only=false))]
    fn begin(&self, py: Python<'_>, read_only: bool) -> PyResult<()> {
        self.begin_transaction(py, read_only)
    }

    /// Commit the open transaction as one version; returns it.
    fn commit(&self, py: Python<'_>) -> PyResult<u64> {
        self.commit_transaction(py)
    }

    /// Discard the open transaction's writes.
    fn rollback(&self) -> PyResult<()> {
        self.rollback_transaction()
    }

    /// Whether a transaction is open on this handle.
    fn txn_is_active(&self) -> PyResult<bool> {
        quick(|| self.session.txn_is_active())
    }

    /// {"id", "status", "started_at"} of the open transaction, or None.
    fn txn_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match quick(|| self.session.txn_info())? {
            Some(info) => Ok(shapes::transaction_info(py, &info)?.into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }

    // ----- database ---------------------------------------------------------------------

    /// The package version.
    fn ping(&self) -> PyResult<&'static str> {
        quick(|| self.session.ping())
    }

    /// {"version", "uptime_secs", "branch_count", "total_keys", "path", "durability", ...}.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let session = &self.session;
        let info = engine(py, || session.info())?;
        shapes::database_info(py, &info)
    }

    /// Make every acknowledged write durable.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let session = &self.session;
        engine(py, || session.flush())
    }

    /// Write a snapshot, drop the log it covers and apply retention.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        let session = &self.session;
        engine(py, || session.compact())
    }

    /// A read-only view of the current branch and space as of a past version (int) or datetime.
    fn at(&self, as_of: &Bound<'_, PyAny>) -> PyResult<past::StrataView> {
        Ok(past::StrataView { view: self.past(as_of)? })
    }

    /// Write a branch (all spaces, primitives and history) to a bundle file.
    /// Returns {"branch_id", "path", "entry_count", "bundle_size"}.
    fn branch_export<'py>(&self, py: Python<'py>, branch: PyBackedStr, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
        let (session, branch) = (&self.session, &*branch);
        let report = engine(py, || session.branch_export(branch, &path))?;
        shapes::export_report(py, &report)
    }

    /// Import the branch a bundle file holds (under its own name, or as `branch`), as one commit.
    /// Returns {"branch_id", "transactions_applied", "keys_written"}.
    #[pyo3(signature = (path, *, branch=None))]
    fn branch_import<'py>(&self, py: Python<'py>, path: PathBuf, branch: Option<PyBackedStr>) -> PyResult<Bound<'py, PyDict>> {
        let (session, branch) = (&self.session, branch.as_deref());
        let report = engine(py, || session.branch_import(&path, branch))?;
        shapes::import_report(py, &report)
    }

    /// Check every checksum of a bundle file without importing it.
    /// Returns {"branch_id", "format_version", "entry_count", "checksums_valid"}.
    fn branch_validate_bundle<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
        let session = &self.session;
        let report = engine(py, || session.branch_validate_bundle(&path))?;
        shapes::validate_report(py, &report)
    }

    /// Apply the retention policy.
    fn retention_apply(&self, py: Python<'_>) -> PyResult<()> {
        let session = &self.session;
        engine(py, || session.retention_apply())
    }
}

/// The `stratadb._stratadb` extension module.
#[pymodule]
fn _stratadb(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Strata>()?;
    module.add_class::<Transaction>()?;
    module.add_class::<past::StrataView>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
