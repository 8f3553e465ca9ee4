//! The shared engine behind every handle on one database: the published state and the
//! single writer path.
//!
//! Readers call [`Engine::snapshot`]: one atomic load, no lock, never blocked by a
//! writer. Writers go through [`Engine::commit`], which under one mutex assigns the
//! next version, builds the commit against the newest state, applies it, appends it to
//! the log, and only then publishes the new state; outside the mutex it waits for
//! durability. Invariant: the published state's `last_version` equals the version of
//! the newest commit the log accepted, and versions are never reused.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::commit::{apply, Commit, CommitBody, CommitLog, MemoryLog};
use crate::error::{Error, Result};
use crate::model::DbState;

/// How hard a commit tries to reach stable storage before it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsync before every write returns (concurrent writers share fsyncs).
    Always,
    /// Writes reach the OS before returning; fsync at least every 100 ms and on flush.
    Standard,
    /// No fsync except on flush and close.
    None,
}

impl Durability {
    pub fn parse(text: &str) -> Result<Durability> {
        match text {
            "always" => Ok(Durability::Always),
            "standard" => Ok(Durability::Standard),
            "none" => Ok(Durability::None),
            other => Err(Error::validation(format!(
                "durability {other:?} is not one of \"always\", \"standard\", \"none\""
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Always => "always",
            Durability::Standard => "standard",
            Durability::None => "none",
        }
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// One database: its state, its writer path and its log.
pub struct Engine {
    state: ArcSwap<DbState>,
    writer: Mutex<()>,
    log: Box<dyn CommitLog>,
    opened_at: Instant,
    durability: Durability,
    read_only: bool,
    path: Option<String>,
}

/// What a successful commit produced.
#[derive(Debug, Clone)]
pub struct Committed<R> {
    /// The version of the commit, or `None` if the builder decided nothing changes.
    pub version: Option<u64>,
    /// The state just after the commit (or the state the builder saw).
    pub state: Arc<DbState>,
    pub output: R,
}

impl Engine {
    /// A private in-memory database.
    pub fn in_memory() -> Arc<Engine> {
        Arc::new(Engine {
            state: ArcSwap::from_pointee(DbState::new(now_micros())),
            writer: Mutex::new(()),
            log: Box::new(MemoryLog),
            opened_at: Instant::now(),
            durability: Durability::None,
            read_only: false,
            path: None,
        })
    }

    /// The newest published state. Lock-free.
    pub fn snapshot(&self) -> Arc<DbState> {
        self.state.load_full()
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }
    pub fn read_only(&self) -> bool {
        self.read_only
    }
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }
    pub fn uptime_secs(&self) -> u64 {
        self.opened_at.elapsed().as_secs()
    }

    /// Runs `build` against the newest state under the writer lock. If it returns a
    /// body, that body becomes the next commit: applied, logged, published, and made
    /// durable before this returns. Errors from `build` or `apply` change nothing.
    pub fn commit<R>(&self, build: impl FnOnce(&DbState) -> Result<(Option<CommitBody>, R)>) -> Result<Committed<R>> {
        if self.read_only {
            return Err(Error::access_denied("the database was opened read-only; writes are not allowed"));
        }
        let (version, state, output) = {
            let _writer = self.writer.lock();
            let current = self.state.load_full();
            let (body, output) = build(&current)?;
            let Some(body) = body else {
                return Ok(Committed { version: None, state: current, output });
            };
            let version = current.last_version + 1;
            // Timestamps never go backwards, even if the wall clock does.
            let timestamp = now_micros().max(current.last_timestamp);
            let commit = Commit { version, timestamp, body };
            let next = Arc::new(apply(&current, &commit)?);
            self.log.append(&commit)?;
            self.state.store(Arc::clone(&next));
            (version, next, output)
        };
        self.log.await_durable(version)?;
        Ok(Committed { version: Some(version), state, output })
    }

    /// Makes every acknowledged commit durable.
    pub fn flush(&self) -> Result<()> {
        self.log.flush()
    }
}
