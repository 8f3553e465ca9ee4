//! The shared engine behind every handle on one database: the published state and the
//! single writer path.
//!
//! Readers call [`Engine::snapshot`]: one atomic load and no lock while no commit has
//! landed since the last snapshot was taken; the first snapshot after a commit takes a
//! short lock to publish the newest state. Writers go through [`Engine::commit`], which
//! under the writer lock assigns the next version, builds the commit against the newest
//! state, appends it to the log, and only then makes it the newest state; outside the
//! lock it waits for durability. A commit that no reader's snapshot shares the state
//! with changes it in place instead of copying the paths it touches; that is why
//! publishing is lazy.
//!
//! Invariants: the newest state's `last_version` equals the version of the newest
//! commit the log accepted; the published state, when there is one, is the newest
//! state; versions are never reused; nothing becomes visible that the log refused.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

// The writer lock, the newest and the published state (`ArcSwapOption`, a loom stand-in
// under `--cfg loom`) and the flags of the commit and close paths: loom-checked by
// tests/loom.rs.
use crate::sync::{ArcSwapOption, AtomicBool, AtomicUsize, Mutex, MutexGuard, ThreadBuilder};

use crate::blocking::blocking;
use crate::commit::{apply, apply::cannot_fail, apply_in_place, Commit, CommitBody, CommitLog, MemoryLog};
use crate::durability::Durable;
use crate::retention::Retention;
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

/// Where an engine keeps its data.
enum Backend {
    Memory(MemoryLog),
    Durable(Box<Durable>),
}

/// One database: its state, its writer path and its log.
pub struct Engine {
    /// The newest state, shared with readers; `None` when a commit has landed since a
    /// reader last asked (the first reader after it publishes the newest state again).
    published: ArcSwapOption<DbState>,
    /// The newest state. Locked only for moments: to take a reference to it, and by a
    /// commit to change it (after the log has the commit).
    newest: Mutex<Arc<DbState>>,
    /// The writer lock, and the buffer each commit is encoded into under it.
    writer: Mutex<Vec<u8>>,
    backend: Backend,
    opened_at: Instant,
    durability: Durability,
    read_only: bool,
    handles: AtomicUsize,
    closed: AtomicBool,
    compacting: AtomicBool,
    retention: Mutex<Retention>,
    this: Weak<Engine>,
}

/// The most mutations a commit applies in place, under the lock that the first reader
/// after a commit takes; a larger commit is applied to a copy outside that lock, so that
/// no reader waits on a big transaction or merge.
const IN_PLACE_MAX_MUTATIONS: usize = 16;

/// Whether `commit` changes the newest state in place once it is logged: a small write
/// that cannot fail (nothing to undo after the log took it).
fn changes_in_place(state: &DbState, commit: &Commit) -> bool {
    matches!(&commit.body, CommitBody::Write { mutations, .. } if mutations.len() <= IN_PLACE_MAX_MUTATIONS)
        && cannot_fail(state, commit)
}

/// The largest encode buffer kept between commits (a batch of 1,000 vectors of 384
/// dimensions needs 1.5 MiB); a bigger one, from a rare big commit, is freed.
const ENCODE_BUFFER_KEPT_BYTES: usize = 4 << 20;

/// What a successful commit produced.
#[derive(Debug, Clone)]
pub struct Committed<R> {
    /// The version of the commit, or `None` if the builder decided nothing changes.
    pub version: Option<u64>,
    pub output: R,
}

impl Engine {
    /// A private in-memory database.
    pub fn in_memory() -> Arc<Engine> {
        Engine::with_backend(DbState::new(now_micros()), Backend::Memory(MemoryLog), Durability::None, false)
    }

    /// An engine over a recovered durable database.
    pub(crate) fn durable(state: DbState, durable: Durable, durability: Durability, read_only: bool) -> Arc<Engine> {
        Engine::with_backend(state, Backend::Durable(Box::new(durable)), durability, read_only)
    }

    fn with_backend(state: DbState, backend: Backend, durability: Durability, read_only: bool) -> Arc<Engine> {
        Arc::new_cyclic(|this| Engine {
            published: ArcSwapOption::new(None),
            newest: Mutex::new(Arc::new(state)),
            writer: Mutex::new(Vec::new()),
            backend,
            opened_at: Instant::now(),
            durability,
            read_only,
            handles: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            compacting: AtomicBool::new(false),
            retention: Mutex::new(Retention::default()),
            this: this.clone(),
        })
    }

    fn log(&self) -> &dyn CommitLog {
        match &self.backend {
            Backend::Memory(log) => log,
            Backend::Durable(durable) => durable.log(),
        }
    }

    /// The durable parts, for a database opened from a directory.
    pub(crate) fn durable_parts(&self) -> Option<&Durable> {
        match &self.backend {
            Backend::Memory(_) => None,
            Backend::Durable(durable) => Some(durable),
        }
    }

    /// The newest state. Lock-free unless a commit has landed since the last snapshot.
    pub fn snapshot(&self) -> Arc<DbState> {
        if let Some(state) = self.published.load_full() {
            return state;
        }
        let newest = self.newest.lock();
        let state = Arc::clone(&newest);
        // Under `newest`'s lock, so that a commit cannot slip in between and leave an
        // older state published.
        self.published.store(Some(Arc::clone(&state)));
        state
    }

    /// The writer lock. Uncontended it is taken at once; a wait for it goes through
    /// [`blocking`], so that an embedding can release its own lock (the GIL) meanwhile.
    fn lock_writer(&self) -> MutexGuard<'_, Vec<u8>> {
        if let Some(guard) = self.writer.try_lock() {
            return guard;
        }
        if !crate::blocking::hooked() {
            return self.writer.lock();
        }
        // A guard cannot come out of a hooked wait (waits are `Send`, guards are not):
        // wait there until the lock is free, then try again.
        loop {
            blocking(|| drop(self.writer.lock()));
            if let Some(guard) = self.writer.try_lock() {
                return guard;
            }
        }
    }

    /// The newest state, for the writer (which holds the writer lock): unlike
    /// [`Engine::snapshot`] it does not publish, so the next commit can still change the
    /// state in place once this reference is dropped.
    fn newest(&self) -> Arc<DbState> {
        Arc::clone(&self.newest.lock())
    }

    /// Runs `change` on the newest state under its lock, and withdraws the published
    /// state (it is no longer the newest).
    fn change_newest<R>(&self, change: impl FnOnce(&mut Arc<DbState>) -> R) -> R {
        let mut newest = self.newest.lock();
        self.published.store(None);
        change(&mut newest)
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }
    pub fn read_only(&self) -> bool {
        self.read_only
    }
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
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
        let (version, output) = {
            let mut writer = self.lock_writer();
            if self.is_closed() {
                return Err(Error::state("the database is closed"));
            }
            let current = self.newest();
            let (body, output) = build(&current)?;
            let Some(body) = body else {
                return Ok(Committed { version: None, output });
            };
            // An import may need to skip ahead past the versions of the history it brings.
            let version = (current.last_version + 1).max(body.minimum_version());
            // Timestamps never go backwards, even if the wall clock does.
            let timestamp = now_micros().max(current.last_timestamp);
            let commit = Commit { version, timestamp, body };
            let payload = &mut *writer;
            self.log().encode(&commit, payload)?;
            if changes_in_place(&current, &commit) {
                // Dropping our reference first lets `make_mut` find the state unshared
                // when no reader holds it; then nothing is copied.
                drop(current);
                self.log().append(version, payload)?;
                self.change_newest(|newest| apply_in_place(Arc::make_mut(newest), commit))?;
            } else {
                let next = Arc::new(apply(&current, commit)?);
                drop(current);
                self.log().append(version, payload)?;
                self.change_newest(|newest| *newest = next);
            }
            // Keep the buffer for the next commit, unless a rare big one grew it.
            if payload.capacity() > ENCODE_BUFFER_KEPT_BYTES {
                *payload = Vec::new();
            }
            (version, output)
        };
        self.log().await_durable(version)?;
        self.maybe_compact_in_background();
        Ok(Committed { version: Some(version), output })
    }

    /// Makes every acknowledged commit durable.
    pub fn flush(&self) -> Result<()> {
        self.log().flush()
    }

    /// Writes a snapshot of the state and removes the log it covers. Readers and
    /// writers go on meanwhile; the writer lock is held only to seal the log.
    pub fn compact(&self) -> Result<()> {
        let Some(durable) = self.durable_parts() else { return Ok(()) };
        if self.read_only {
            return Err(Error::access_denied("the database was opened read-only; compact() writes files"));
        }
        let _one_at_a_time = durable.compaction_guard();
        let result = durable.compact(|roll| {
            let _writer = self.writer.lock();
            if self.is_closed() {
                return Err(Error::state("the database is closed"));
            }
            self.trim_history_locked();
            let first_segment = roll()?;
            Ok((self.snapshot(), first_segment))
        });
        durable.note_compaction(&result);
        result
    }

    /// The retention policy.
    pub fn retention(&self) -> Retention {
        *self.retention.lock()
    }

    /// Sets the retention policy (enforced by [`Engine::apply_retention`] and compaction).
    pub fn set_retention(&self, retention: Retention) {
        *self.retention.lock() = retention;
    }

    /// Removes history outside the retention policy from the published state.
    pub fn apply_retention(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::access_denied("the database was opened read-only; retention_apply() changes it"));
        }
        let _writer = self.writer.lock();
        if self.is_closed() {
            return Err(Error::state("the database is closed"));
        }
        self.trim_history_locked();
        Ok(())
    }

    /// Trims history by the policy; the caller holds the writer lock.
    fn trim_history_locked(&self) {
        let policy = self.retention();
        let current = self.newest();
        if let Some(trimmed) = policy.apply(&current, now_micros().max(current.last_timestamp)) {
            self.change_newest(|newest| *newest = Arc::new(trimmed));
        }
    }

    fn maybe_compact_in_background(&self) {
        let Some(durable) = self.durable_parts() else { return };
        if !durable.wants_compaction() || self.compacting.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(engine) = self.this.upgrade() else { return };
        let spawned = ThreadBuilder::new().name("stratadb-compactor".into()).spawn(move || {
            // A failed background compaction leaves the log as it was; a failing disk
            // shows up as a poisoned log on the next write.
            let _ = engine.compact();
            engine.compacting.store(false, Ordering::SeqCst);
        });
        if spawned.is_err() {
            self.compacting.store(false, Ordering::SeqCst);
        }
    }

    /// Counts a new handle.
    pub(crate) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::SeqCst);
    }

    /// Releases a handle; the last one closes the engine: final fsync, flusher
    /// stopped, directory lock released.
    pub(crate) fn release_handle(&self) -> Result<()> {
        if self.handles.fetch_sub(1, Ordering::SeqCst) != 1 {
            return self.flush();
        }
        if self.durable_parts().is_some_and(Durable::wants_compaction_at_close) && !self.read_only {
            // The next open then loads a snapshot instead of replaying the log. A
            // failure leaves the log as it is (and is kept for info()); closing goes on.
            let _ = self.compact();
        }
        // A running compaction finishes before the directory is released.
        let _compaction = self.durable_parts().map(Durable::compaction_guard);
        let _writer = self.writer.lock();
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Durable(durable) => durable.close(),
        }
    }
}
