//! The seam between the commit path and durability.
//!
//! The engine calls `append` for every commit, in version order, while it holds the
//! writer lock, and publishes the new state only after `append` succeeded. It then
//! calls `await_durable` without the lock, so that concurrent committers can share one
//! fsync (group commit). An in-memory database uses [`MemoryLog`], which keeps nothing.

use crate::commit::record::Commit;
use crate::error::Result;

/// Where commits go to become durable.
pub trait CommitLog: Send + Sync {
    /// Records the commit. Called under the writer lock, versions strictly increasing.
    fn append(&self, commit: &Commit) -> Result<()>;
    /// Returns once `version` is as durable as the configured mode promises.
    fn await_durable(&self, version: u64) -> Result<()>;
    /// Makes every appended commit durable (fsync).
    fn flush(&self) -> Result<()>;
}

/// The log of an in-memory database: nothing to write, nothing to wait for.
#[derive(Debug, Default)]
pub struct MemoryLog;

impl CommitLog for MemoryLog {
    fn append(&self, _commit: &Commit) -> Result<()> {
        Ok(())
    }
    fn await_durable(&self, _version: u64) -> Result<()> {
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
