//! The one public error type of the engine.
//!
//! Every error carries a kind (which maps one-to-one onto the Python exception
//! hierarchy of the SDK) and a hand-written message that names the offending value
//! and the rule it broke. The binding maps kinds to exceptions in one place.

use std::fmt;

/// The category of an error. Stable: the Python binding maps each to one exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A named thing (branch, collection, version) does not exist.
    NotFound,
    /// The input is malformed: bad key, bad path, bad value type, NaN vector.
    Validation,
    /// A concurrent change or an existing name prevents the operation.
    Conflict,
    /// The call is not valid in the handle's current state (closed, in a transaction).
    State,
    /// The input is well formed but breaks a constraint (dimension, non-empty space).
    Constraint,
    /// The database was opened read-only.
    AccessDenied,
    /// The disk failed, a file is damaged, or the database is poisoned.
    Io,
}

impl ErrorKind {
    /// A short stable code, e.g. for logs.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Validation => "validation",
            ErrorKind::Conflict => "conflict",
            ErrorKind::State => "state",
            ErrorKind::Constraint => "constraint",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::Io => "io",
        }
    }
}

/// An engine error: a kind plus a message meant for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::State, message)
    }
    pub fn constraint(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Constraint, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AccessDenied, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
