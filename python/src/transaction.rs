//! `Transaction(db)`: a context manager around `begin` / `commit` / `rollback`.
//!
//! Entering begins a transaction on the handle and returns the handle; leaving commits
//! if the block finished normally and rolls back if it raised. The exception always
//! propagates (`__exit__` returns False): a failed rollback is ignored so that it never
//! hides the error that caused it, and a failed commit raises its own error.

use pyo3::prelude::*;

use crate::Strata;

/// A transaction scope on a `Strata` handle: `with Transaction(db):` or
/// `with db.transaction():`.
#[pyclass(frozen, module = "stratadb")]
pub struct Transaction {
    db: Py<Strata>,
    read_only: bool,
}

impl Transaction {
    pub fn new(db: Py<Strata>, read_only: bool) -> Self {
        Transaction { db, read_only }
    }
}

#[pymethods]
impl Transaction {
    #[new]
    #[pyo3(signature = (db, read_only=false))]
    fn py_new(db: Py<Strata>, read_only: bool) -> Self {
        Transaction::new(db, read_only)
    }

    /// The handle the transaction runs on.
    #[getter]
    fn db(&self, py: Python<'_>) -> Py<Strata> {
        self.db.clone_ref(py)
    }

    /// Whether the transaction was begun read-only.
    #[getter]
    fn read_only(&self) -> bool {
        self.read_only
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<Py<Strata>> {
        self.db.get().begin_transaction(py, self.read_only)?;
        Ok(self.db.clone_ref(py))
    }

    #[pyo3(signature = (exc_type=None, exc_value=None, traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc_value, traceback);
        let db = self.db.get();
        match exc_type {
            None => {
                db.commit_transaction(py)?;
            }
            Some(_) => {
                // Never let a rollback failure replace the exception being raised.
                let _ = db.rollback_transaction();
            }
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "<stratadb.Transaction read_only={}>",
            if self.read_only { "True" } else { "False" }
        )
    }
}
