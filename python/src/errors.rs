//! The one place where engine errors and Rust panics become Python exceptions.
//!
//! The exception classes are defined in Python (`stratadb/errors.py`), because the
//! hierarchy uses multiple inheritance (`NotFoundError(StrataError, LookupError)`), which
//! is natural there. `import_exception!` imports each class lazily, once, the first time
//! an error of that kind is raised.
//!
//! Invariant: every call into the engine goes through [`engine`], [`write`] or [`quick`],
//! so a Rust panic never reaches Python as `PanicException`; it becomes
//! `StrataError("internal error: ...")` instead. [`engine`] also releases the GIL for the
//! duration of the call, [`write`] only while the engine waits.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use stratadb::{Durability, Error, ErrorKind, Session};

pyo3::import_exception!(stratadb.errors, StrataError);
pyo3::import_exception!(stratadb.errors, NotFoundError);
pyo3::import_exception!(stratadb.errors, ValidationError);
pyo3::import_exception!(stratadb.errors, ConflictError);
pyo3::import_exception!(stratadb.errors, StateError);
pyo3::import_exception!(stratadb.errors, ConstraintError);
pyo3::import_exception!(stratadb.errors, AccessDeniedError);
pyo3::import_exception!(stratadb.errors, IoError);

/// Maps an engine error onto the exception of its kind, keeping the engine's message.
pub fn to_py_err(error: Error) -> PyErr {
    let message = error.message().to_owned();
    match error.kind() {
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::Validation => ValidationError::new_err(message),
        ErrorKind::Conflict => ConflictError::new_err(message),
        ErrorKind::State => StateError::new_err(message),
        ErrorKind::Constraint => ConstraintError::new_err(message),
        ErrorKind::AccessDenied => AccessDeniedError::new_err(message),
        ErrorKind::Io => IoError::new_err(message),
        // `ErrorKind` is non-exhaustive: a kind added later still raises the base class.
        _ => StrataError::new_err(message),
    }
}

/// A `ValidationError` raised by the binding itself (bad argument shape or value).
pub fn validation(message: impl Into<String>) -> PyErr {
    ValidationError::new_err(message.into())
}

/// A `StrataError` for a Rust panic, with the panic's message when it has one.
fn panic_to_py_err(payload: Box<dyn Any + Send>) -> PyErr {
    let detail = if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    };
    StrataError::new_err(format!("internal error: {detail}"))
}

/// Runs an engine call that may block (takes the writer lock, fsyncs, scans data) with
/// the GIL released, catching panics. Arguments must already be owned Rust data:
/// nothing inside `call` may touch a Python object.
pub fn engine<T, F>(py: Python<'_>, call: F) -> PyResult<T>
where
    F: Send + FnOnce() -> stratadb::Result<T>,
    T: Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(call))) {
        Ok(result) => result.map_err(to_py_err),
        Err(payload) => Err(panic_to_py_err(payload)),
    }
}

/// Runs a single-record write on `session`, catching panics. In `"always"` mode every
/// write waits for an fsync, so the GIL is released for the whole call, as by [`engine`]
/// (other threads then prepare their writes meanwhile, and join the group commit).
/// Otherwise the GIL is held and released only if the engine has to wait (for the
/// writer lock another writer holds, a new log segment: see `stratadb::blocking`): an
/// uncontended write takes a few microseconds, less than releasing and re-taking the
/// GIL, and releasing it would hand the interpreter to another thread at every write.
/// Arguments must already be owned Rust data, as for [`engine`].
pub fn write<T, F>(session: &Session, call: F) -> PyResult<T>
where
    F: Send + FnOnce() -> stratadb::Result<T>,
    T: Send,
{
    if session.engine().durability() == Durability::Always {
        return Python::attach(|py| engine(py, call));
    }
    quick(|| stratadb::blocking::with_blocking_hook(wait_without_gil, call))
}

/// The blocking hook of [`write`]: runs the engine's wait with the GIL released.
fn wait_without_gil(wait: &mut (dyn FnMut() + Send)) {
    Python::attach(|py| py.detach(wait));
}

/// Runs a quick engine call (a point read) while holding the GIL, catching panics.
/// Releasing and re-taking the GIL would cost more than such a call.
pub fn quick<T>(call: impl FnOnce() -> stratadb::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(to_py_err),
        Err(payload) => Err(panic_to_py_err(payload)),
    }
}
