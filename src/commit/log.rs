//! The seam between the commit path and durability.
//!
//! The engine encodes each commit with `encode` (before applying it, since applying
//! moves its values into the state), then calls `append` with those bytes, in version
//! order, while it holds the writer lock, and publishes the new state only after
//! `append` succeeded. It then
//! calls `await_durable` without the lock, so that concurrent committers can share one
//! fsync (group commit). An in-memory database uses [`MemoryLog`], which keeps nothing.

use crate::commit::record::Commit;
use crate::error::Result;

/// Where commits go to become durable.
pub trait CommitLog: Send + Sync {
    /// Replaces `into`'s contents with the bytes `append` will write for `commit`
    /// (nothing when nothing is written). The engine passes the same buffer every time,
    /// so a large commit does not allocate (and fault in) a fresh one.
    fn encode(&self, commit: &Commit, into: &mut Vec<u8>) -> Result<()>;
    /// Records the encoded commit. Called under the writer lock, versions strictly
    /// increasing.
    fn append(&self, version: u64, payload: &[u8]) -> Result<()>;
    /// Returns once `version` is as durable as the configured mode promises.
    fn await_durable(&self, version: u64) -> Result<()>;
    /// Makes every appended commit durable (fsync).
    fn flush(&self) -> Result<()>;
}

/// The log of an in-memory database: nothing to write, nothing to wait for.
#[derive(Debug, Default)]
pub struct MemoryLog;

impl CommitLog for MemoryLog {
    fn encode(&self, _commit: &Commit, into: &mut Vec<u8>) -> Result<()> {
        into.clear();
        Ok(())
    }
    fn append(&self, _version: u64, _payload: &[u8]) -> Result<()> {
        Ok(())
    }
    fn await_durable(&self, _version: u64) -> Result<()> {
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
