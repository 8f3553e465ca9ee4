//! The dict shapes of the Python API (api.md), built from engine results.
//!
//! Every dict key is an interned string (`intern!`), created once per process, so
//! building a result dict allocates only the values. Keys appear in the order api.md
//! lists them.

use stratadb::bundle::{ExportReport, ImportReport, ValidateReport};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use stratadb::branch_ops::{DiffEntry, DiffReport, MergeReport};
use stratadb::model::{ChainNode, Event, Versioned};
use stratadb::session::{
    BranchDescription, CollectionStats, DatabaseInfo, ForkReport, Page, TransactionInfo,
    VectorRecord,
};
use stratadb::vector_index::SearchHit;
use stratadb::Packed;

use crate::convert::{embedding_to_py, optional_to_py, packed_to_py, str_list};

/// `{"value", "version", "timestamp"}`; `value` is `None` for a delete.
pub fn versioned<'py>(py: Python<'py>, node: &ChainNode<Packed>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "value"), optional_to_py(py, node.value())?)?;
    dict.set_item(intern!(py, "version"), node.version())?;
    dict.set_item(intern!(py, "timestamp"), node.timestamp())?;
    Ok(dict)
}

/// A versioned dict, or `None`.
pub fn optional_versioned<'py>(
    py: Python<'py>,
    node: Option<Versioned<Packed>>,
) -> PyResult<Bound<'py, PyAny>> {
    match node {
        Some(node) => Ok(versioned(py, &node)?.into_any()),
        None => Ok(py.None().into_bound(py)),
    }
}

/// A history, newest first, or `None` if the record never existed.
pub fn history<'py>(
    py: Python<'py>,
    nodes: Option<Vec<Versioned<Packed>>>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(nodes) = nodes else {
        return Ok(py.None().into_bound(py));
    };
    let items = nodes
        .iter()
        .map(|node| versioned(py, node))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}

/// `{"value", "version", "timestamp", "event_type"}`, where `version` is the sequence
/// number (as in the published package).
pub fn event<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "value"), packed_to_py(py, &event.payload)?)?;
    dict.set_item(intern!(py, "version"), event.sequence)?;
    dict.set_item(intern!(py, "timestamp"), event.timestamp)?;
    dict.set_item(
        intern!(py, "event_type"),
        PyString::new(py, &event.event_type),
    )?;
    Ok(dict)
}

pub fn events<'py, E: AsRef<Event>>(py: Python<'py>, events: &[E]) -> PyResult<Bound<'py, PyList>> {
    let items = events
        .iter()
        .map(|item| event(py, item.as_ref()))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// `{"keys": [...]}`, plus `"cursor"` only when more keys follow.
pub fn page<'py>(py: Python<'py>, page: &Page) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "keys"), str_list(py, &page.keys)?)?;
    if let Some(cursor) = &page.cursor {
        dict.set_item(intern!(py, "cursor"), PyString::new(py, cursor))?;
    }
    Ok(dict)
}

/// `{"key", "embedding", "metadata", "version", "timestamp"}`; the embedding is a new
/// float32 array.
pub fn vector_record<'py>(py: Python<'py>, record: &VectorRecord) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "key"), PyString::new(py, &record.key))?;
    dict.set_item(
        intern!(py, "embedding"),
        embedding_to_py(py, &record.embedding),
    )?;
    dict.set_item(
        intern!(py, "metadata"),
        optional_to_py(py, record.metadata.as_ref())?,
    )?;
    dict.set_item(intern!(py, "version"), record.version)?;
    dict.set_item(intern!(py, "timestamp"), record.timestamp)?;
    Ok(dict)
}

/// Search hits, best first: `{"key", "score", "metadata"}` with `score` a Python float.
pub fn search_hits<'py>(py: Python<'py>, hits: &[SearchHit]) -> PyResult<Bound<'py, PyList>> {
    let items = hits
        .iter()
        .map(|hit| {
            let dict = PyDict::new(py);
            dict.set_item(intern!(py, "key"), PyString::new(py, &hit.key))?;
            dict.set_item(intern!(py, "score"), f64::from(hit.score))?;
            dict.set_item(
                intern!(py, "metadata"),
                optional_to_py(py, hit.metadata.as_ref())?,
            )?;
            Ok(dict)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// `{"name", "dimension", "metric", "count", "index_type", "memory_bytes"}`.
pub fn collection_stats<'py>(
    py: Python<'py>,
    stats: &CollectionStats,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "name"), PyString::new(py, &stats.name))?;
    dict.set_item(intern!(py, "dimension"), stats.dimension)?;
    dict.set_item(
        intern!(py, "metric"),
        PyString::new(py, stats.metric.as_str()),
    )?;
    dict.set_item(intern!(py, "count"), stats.count)?;
    dict.set_item(intern!(py, "index_type"), intern!(py, "brute_force"))?;
    dict.set_item(intern!(py, "memory_bytes"), stats.memory_bytes)?;
    Ok(dict)
}

/// `{"source", "destination", "keys_copied"}`.
pub fn fork_report<'py>(py: Python<'py>, report: &ForkReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "source"), PyString::new(py, &report.source))?;
    dict.set_item(
        intern!(py, "destination"),
        PyString::new(py, &report.destination),
    )?;
    dict.set_item(intern!(py, "keys_copied"), report.keys_copied)?;
    Ok(dict)
}

/// `{"id", "status", "created_at", "updated_at", "version", "timestamp", "parent"}`.
pub fn branch_description<'py>(
    py: Python<'py>,
    branch: &BranchDescription,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "id"), PyString::new(py, &branch.name))?;
    dict.set_item(intern!(py, "status"), intern!(py, "active"))?;
    dict.set_item(intern!(py, "created_at"), branch.created_at)?;
    dict.set_item(intern!(py, "updated_at"), branch.updated_at)?;
    dict.set_item(intern!(py, "version"), branch.updated_version)?;
    dict.set_item(intern!(py, "timestamp"), branch.updated_at)?;
    dict.set_item(intern!(py, "parent"), branch.parent.as_deref())?;
    Ok(dict)
}

/// A list of `{"space", "primitive", "key"}`.
fn entries<'py>(py: Python<'py>, entries: &[DiffEntry]) -> PyResult<Bound<'py, PyList>> {
    let items = entries
        .iter()
        .map(|entry| {
            let dict = PyDict::new(py);
            dict.set_item(intern!(py, "space"), PyString::new(py, &entry.space))?;
            dict.set_item(intern!(py, "primitive"), PyString::new(py, entry.primitive))?;
            dict.set_item(intern!(py, "key"), PyString::new(py, &entry.key))?;
            Ok(dict)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// `{"branch_a", "branch_b", "summary": {...}, "added", "removed", "modified"}`.
pub fn diff_report<'py>(py: Python<'py>, report: &DiffReport) -> PyResult<Bound<'py, PyDict>> {
    let summary = PyDict::new(py);
    summary.set_item(intern!(py, "total_added"), report.added.len())?;
    summary.set_item(intern!(py, "total_removed"), report.removed.len())?;
    summary.set_item(intern!(py, "total_modified"), report.modified.len())?;
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "branch_a"), PyString::new(py, &report.branch_a))?;
    dict.set_item(intern!(py, "branch_b"), PyString::new(py, &report.branch_b))?;
    dict.set_item(intern!(py, "summary"), summary)?;
    dict.set_item(intern!(py, "added"), entries(py, &report.added)?)?;
    dict.set_item(intern!(py, "removed"), entries(py, &report.removed)?)?;
    dict.set_item(intern!(py, "modified"), entries(py, &report.modified)?)?;
    Ok(dict)
}

/// `{"keys_applied", "spaces_merged", "conflicts": [...]}`.
pub fn merge_report<'py>(py: Python<'py>, report: &MergeReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "keys_applied"), report.keys_applied)?;
    dict.set_item(intern!(py, "spaces_merged"), report.spaces_merged)?;
    dict.set_item(intern!(py, "conflicts"), entries(py, &report.conflicts)?)?;
    Ok(dict)
}

/// `{"version", "uptime_secs", "branch_count", "total_keys", "path", "durability",
/// "last_version", "read_only"}`.
pub fn database_info<'py>(py: Python<'py>, info: &DatabaseInfo) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "version"), PyString::new(py, info.version))?;
    dict.set_item(intern!(py, "uptime_secs"), info.uptime_secs)?;
    dict.set_item(intern!(py, "branch_count"), info.branch_count)?;
    dict.set_item(intern!(py, "total_keys"), info.total_keys)?;
    dict.set_item(intern!(py, "path"), info.path.as_deref())?;
    dict.set_item(
        intern!(py, "durability"),
        PyString::new(py, info.durability),
    )?;
    dict.set_item(intern!(py, "last_version"), info.last_version)?;
    dict.set_item(intern!(py, "read_only"), info.read_only)?;
    dict.set_item(intern!(py, "log_bytes"), info.log_bytes)?;
    dict.set_item(intern!(py, "poisoned"), info.poisoned.as_deref())?;
    dict.set_item(intern!(py, "compaction_error"), info.compaction_error.as_deref())?;
    let recovery = match &info.recovery {
        None => None,
        Some(report) => {
            let entry = PyDict::new(py);
            entry.set_item(intern!(py, "snapshot_version"), report.snapshot_version)?;
            entry.set_item(intern!(py, "commits_replayed"), report.commits_replayed)?;
            entry.set_item(intern!(py, "segments_replayed"), report.segments_replayed)?;
            entry.set_item(intern!(py, "truncated_tail"), report.truncated_tail.as_deref())?;
            entry.set_item(intern!(py, "removed_files"), &report.removed_files)?;
            Some(entry)
        }
    };
    dict.set_item(intern!(py, "recovery"), recovery)?;
    Ok(dict)
}

/// `{"id", "status", "started_at"}` (exactly these keys, as api.md lists them).
pub fn transaction_info<'py>(
    py: Python<'py>,
    info: &TransactionInfo,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "id"), info.id)?;
    dict.set_item(intern!(py, "status"), intern!(py, "active"))?;
    dict.set_item(intern!(py, "started_at"), info.started_at)?;
    Ok(dict)
}

/// `branch_export`'s result.
pub fn export_report<'py>(py: Python<'py>, report: &ExportReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("branch_id", &report.branch)?;
    dict.set_item("path", &report.path)?;
    dict.set_item("entry_count", report.entry_count)?;
    dict.set_item("bundle_size", report.bundle_size)?;
    Ok(dict)
}

/// `branch_import`'s result.
pub fn import_report<'py>(py: Python<'py>, report: &ImportReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("branch_id", &report.branch)?;
    dict.set_item("transactions_applied", report.transactions_applied)?;
    dict.set_item("keys_written", report.keys_written)?;
    Ok(dict)
}

/// `branch_validate_bundle`'s result (`problems` lists what failed, empty when valid).
pub fn validate_report<'py>(py: Python<'py>, report: &ValidateReport) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("branch_id", &report.branch)?;
    dict.set_item("format_version", report.format_version)?;
    dict.set_item("entry_count", report.entry_count)?;
    dict.set_item("checksums_valid", report.checksums_valid)?;
    dict.set_item("problems", &report.problems)?;
    Ok(dict)
}
