//! Durable databases: a directory with a write-ahead log, snapshots and a manifest.
//!
//! Directory layout (README "Files in a database directory"):
//! - `strata.toml`: configuration (durability mode, compaction threshold);
//! - `LOCK`: the writer's exclusive lock, holding its pid;
//! - `MANIFEST`: names the live snapshot and the first log segment after it;
//! - `wal/NNNNNNNNNNNNNNNNNNNN.log`: log segments, one framed record per commit;
//! - `snapshots/NNNNNNNNNNNNNNNNNNNN.snap`: the snapshot named by the manifest.
//!
//! Invariant: the state after recovery equals the state after some prefix of the
//! commits that were appended, and that prefix holds every commit acknowledged as
//! durable (design.md, "The crash-safety claim").

pub mod config;
pub mod log_writer;
pub mod recovery;
pub mod snapshot;
pub mod state_codec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::commit::{CommitLog, MemoryLog};
use crate::engine::{Durability, Engine};
use crate::error::{Error, Result};
use crate::model::DbState;
use crate::retention::Retention;
use crate::session::Session;
use crate::storage::{DirectoryLock, FsStorage, Storage};

pub use config::Config;
pub use recovery::RecoveryReport;

/// The log folder inside a database directory.
pub const WAL_DIRECTORY: &str = "wal";
/// The snapshot folder inside a database directory.
pub const SNAPSHOT_DIRECTORY: &str = "snapshots";
/// The lock file inside a database directory.
pub const LOCK_FILE: &str = "LOCK";
/// Closing compacts first when the log holds at least this much (and a quarter of the
/// snapshot's size).
pub const CLOSE_COMPACT_LOG_BYTES: u64 = 256 * 1024;
/// Log segments roll at this size by default.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// How to open a database directory.
#[derive(Clone)]
pub struct OpenOptions {
    /// Overrides `strata.toml`'s durability for this process.
    pub durability: Option<Durability>,
    /// Open without writing anything; writes raise `AccessDenied`.
    pub read_only: bool,
    /// Where the files live (the real file system unless a test says otherwise).
    pub storage: Arc<dyn Storage>,
    /// Segment roll size (tests use small ones).
    pub segment_bytes: u64,
    /// Overrides `strata.toml`'s `[retention]` for this process.
    pub retention: Option<Retention>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { durability: None, read_only: false, storage: Arc::new(FsStorage), segment_bytes: SEGMENT_BYTES_DEFAULT, retention: None }
    }
}

/// The durable parts of an engine.
pub struct Durable {
    storage: Arc<dyn Storage>,
    directory: PathBuf,
    writer: Option<log_writer::LogWriter>,
    read_only_log: MemoryLog,
    config: Config,
    lock: Mutex<Option<Box<dyn DirectoryLock>>>,
    report: RecoveryReport,
    compaction: Mutex<()>,
    compaction_error: Mutex<Option<String>>,
    next_compaction_at: AtomicU64,
    /// Size of the live snapshot file: the log is compacted only once it outgrows it
    /// too, so a large database is not rewritten for a small log.
    snapshot_bytes: AtomicU64,
}

impl Durable {
    pub(crate) fn log(&self) -> &dyn CommitLog {
        match &self.writer {
            Some(writer) => writer,
            None => &self.read_only_log,
        }
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }
    /// Bytes of log since the last snapshot.
    pub fn log_bytes(&self) -> u64 {
        self.writer.as_ref().map_or(0, log_writer::LogWriter::log_bytes)
    }
    /// fsyncs of the log since open.
    pub fn log_fsyncs(&self) -> u64 {
        self.writer.as_ref().map_or(0, log_writer::LogWriter::fsyncs)
    }
    /// Why writes stopped, if they did.
    pub fn poisoned(&self) -> Option<String> {
        self.writer.as_ref().and_then(log_writer::LogWriter::poisoned)
    }

    /// True when the log has grown past the point where a background compaction
    /// should run (the threshold, pushed further out after each failure).
    pub(crate) fn wants_compaction(&self) -> bool {
        let log = self.log_bytes();
        log > self.next_compaction_at.load(Ordering::Relaxed) && log > self.snapshot_bytes.load(Ordering::Relaxed)
    }

    /// True when closing should compact first, so that the next open loads a snapshot
    /// instead of replaying the log (as SQLite checkpoints its WAL when the last
    /// connection closes): the log holds at least [`CLOSE_COMPACT_LOG_BYTES`] and at
    /// least a quarter of the snapshot's size.
    pub(crate) fn wants_compaction_at_close(&self) -> bool {
        let log = self.log_bytes();
        self.config.compact_on_close
            && self.writer.is_some()
            && self.poisoned().is_none()
            && log >= CLOSE_COMPACT_LOG_BYTES
            && log.saturating_mul(4) >= self.snapshot_bytes.load(Ordering::Relaxed)
    }

    /// Why the last background compaction failed, if it did (cleared by a success).
    pub fn compaction_error(&self) -> Option<String> {
        self.compaction_error.lock().clone()
    }

    /// Serializes compactions, and closing against a running compaction.
    pub(crate) fn compaction_guard(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.compaction.lock()
    }

    /// Records the outcome of a compaction: a failure is kept for `info()` and the
    /// next automatic attempt waits until the log grows by another threshold, so a
    /// failing disk does not turn every commit into a segment roll.
    pub(crate) fn note_compaction(&self, result: &Result<()>) {
        let threshold = self.config.auto_compact_log_bytes;
        match result {
            Ok(()) => {
                *self.compaction_error.lock() = None;
                self.next_compaction_at.store(threshold, Ordering::Relaxed);
            }
            Err(error) => {
                *self.compaction_error.lock() = Some(error.message().to_owned());
                self.next_compaction_at.store(self.log_bytes().saturating_add(threshold), Ordering::Relaxed);
            }
        }
    }

    /// Compacts: `seal` runs under the engine's writer lock, rolls the log (through the
    /// function it is given) and returns the state at that point with the new first
    /// segment; the snapshot, the manifest switch and the cleanup follow without it.
    /// The caller holds [`Durable::compaction_guard`].
    pub(crate) fn compact(
        &self,
        seal: impl FnOnce(&dyn Fn() -> Result<u64>) -> Result<(Arc<DbState>, u64)>,
    ) -> Result<()> {
        let writer = self
            .writer
            .as_ref()
            .ok_or_else(|| Error::access_denied("the database was opened read-only; compact() writes files"))?;
        // Read under the writer lock, right after the roll: exactly the log bytes the
        // snapshot will cover.
        let covered = std::cell::Cell::new(0u64);
        let (state, first_segment) = seal(&|| {
            let sequence = writer.roll()?;
            covered.set(writer.log_bytes());
            Ok(sequence)
        })?;
        let covered_bytes = covered.get();
        let storage = self.storage.as_ref();
        let snapshots = self.directory.join(SNAPSHOT_DIRECTORY);
        storage.create_dir_all(&snapshots).map_err(|e| log_writer::io_error("create", &snapshots, e))?;
        storage.sync_directory(&self.directory).map_err(|e| log_writer::io_error("fsync", &self.directory, e))?;
        let generation = snapshot::read_manifest(storage, &self.directory)?.map_or(0, |m| m.generation) + 1;
        let (reference, snapshot_bytes) = snapshot::write(storage, &snapshots, &state, generation)?;
        let manifest = snapshot::Manifest { generation, snapshot: Some(reference), first_segment };
        snapshot::write_manifest(storage, &self.directory, &manifest)?;
        let snapshot_file = snapshot::snapshot_file_name(reference.id);
        // The manifest now points past these; removing them is cleanup only.
        let wal = self.directory.join(WAL_DIRECTORY);
        let names = storage.list(&wal).map_err(|e| log_writer::io_error("list", &wal, e))?;
        for sequence in names.iter().filter_map(|n| log_writer::parse_segment_file_name(n)).filter(|&s| s < first_segment) {
            let path = wal.join(log_writer::segment_file_name(sequence));
            storage.remove(&path).map_err(|e| log_writer::io_error("remove", &path, e))?;
        }
        storage.sync_directory(&wal).map_err(|e| log_writer::io_error("fsync", &wal, e))?;
        let names = storage.list(&snapshots).map_err(|e| log_writer::io_error("list", &snapshots, e))?;
        for name in names.iter().filter(|n| snapshot::is_snapshot_file_name(n) && **n != snapshot_file) {
            let path = snapshots.join(name);
            storage.remove(&path).map_err(|e| log_writer::io_error("remove", &path, e))?;
        }
        storage.sync_directory(&snapshots).map_err(|e| log_writer::io_error("fsync", &snapshots, e))?;
        writer.forget_log_bytes(covered_bytes);
        self.snapshot_bytes.store(snapshot_bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Final fsync, flusher stopped, lock released.
    pub(crate) fn close(&self) -> Result<()> {
        let result = match &self.writer {
            Some(writer) => writer.close(),
            None => Ok(()),
        };
        self.lock.lock().take();
        result
    }
}

/// Engines open in this process, by canonical directory, so that opening the same
/// path twice shares one engine (and one writer).
fn open_engines() -> &'static Mutex<HashMap<PathBuf, Weak<Engine>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Engine>>>> = OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Session {
    /// Opens (or creates) the database in `path`. A second open of the same directory
    /// in this process returns a handle on the same engine.
    pub fn open(path: &Path, options: OpenOptions) -> Result<Session> {
        let storage = Arc::clone(&options.storage);
        if path.as_os_str().is_empty() {
            return Err(Error::validation("the database path must not be empty"));
        }
        if !storage.exists(path) {
            if options.read_only {
                return Err(Error::not_found(format!("no database at {} (read-only open creates nothing)", path.display())));
            }
            storage.create_dir_all(path).map_err(|e| log_writer::io_error("create the database directory", path, e))?;
        }
        if !storage.is_directory(path) {
            return Err(Error::io(format!("{} is not a directory, so it cannot hold a database", path.display())));
        }
        if options.read_only && !storage.exists(&path.join(snapshot::MANIFEST_FILE)) && !storage.exists(&path.join(WAL_DIRECTORY)) {
            return Err(Error::not_found(format!(
                "no database at {} (read-only open creates nothing)",
                path.display()
            )));
        }
        let directory = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut engines = open_engines().lock();
        if let Some(engine) = engines.get(&directory).and_then(Weak::upgrade).filter(|e| !e.is_closed()) {
            if engine.read_only() && !options.read_only {
                return Err(Error::io(format!(
                    "{} is already open read-only in this process; close it before opening it for writing",
                    directory.display()
                )));
            }
            if let Some(durability) = options.durability.filter(|d| *d != engine.durability()) {
                return Err(Error::state(format!(
                    "{} is already open in this process with durability {:?}; it cannot also be open with {:?}",
                    directory.display(),
                    engine.durability().as_str(),
                    durability.as_str()
                )));
            }
            if let Some(retention) = options.retention.filter(|r| *r != engine.retention()) {
                return Err(Error::state(format!(
                    "{} is already open in this process with retention {:?}; it cannot also be open with {retention:?}",
                    directory.display(),
                    engine.retention()
                )));
            }
            return Ok(Session::attach_with(engine, options.read_only));
        }
        let engine = open_engine(&directory, &options)?;
        engines.retain(|_, weak| weak.strong_count() > 0);
        engines.insert(directory, Arc::downgrade(&engine));
        Ok(Session::attach_with(engine, options.read_only))
    }
}

fn open_engine(directory: &Path, options: &OpenOptions) -> Result<Arc<Engine>> {
    let storage = Arc::clone(&options.storage);
    let read_only = options.read_only;
    if !read_only {
        // Also when the directory exists: a process that created it may have died
        // before this fsync, leaving the entry only in the OS's cache, and commits
        // acknowledged in it would vanish with it on a power loss. (A second handle on
        // an engine already open here needs none: the first open did it.)
        if let Some(parent) = directory.parent().filter(|p| !p.as_os_str().is_empty()) {
            storage.sync_directory(parent).map_err(|e| log_writer::io_error("fsync", parent, e))?;
        }
    }
    let lock = if read_only {
        None
    } else {
        let lock_path = directory.join(LOCK_FILE);
        Some(storage.lock(&lock_path).map_err(|error| Error::io(format!("cannot open {}: {error}", directory.display())))?)
    };
    let config = Config::load_or_create(storage.as_ref(), directory, read_only)?;
    let durability = options.durability.unwrap_or(config.durability);
    if !read_only {
        let wal = directory.join(WAL_DIRECTORY);
        if !storage.exists(&wal) {
            storage.create_dir_all(&wal).map_err(|e| log_writer::io_error("create", &wal, e))?;
            storage.sync_directory(directory).map_err(|e| log_writer::io_error("fsync", directory, e))?;
        }
    }
    let recovered = recovery::recover(storage.as_ref(), directory, read_only)?;
    let writer = recovered.active.map(|segment| {
        log_writer::LogWriter::new(
            Arc::clone(&storage),
            directory.join(WAL_DIRECTORY),
            durability,
            options.segment_bytes,
            segment,
            recovered.log_bytes,
        )
    });
    let config_threshold = config.auto_compact_log_bytes;
    let durable = Durable {
        storage,
        directory: directory.to_path_buf(),
        writer,
        read_only_log: MemoryLog,
        config,
        lock: Mutex::new(lock),
        report: recovered.report,
        compaction: Mutex::new(()),
        compaction_error: Mutex::new(None),
        next_compaction_at: AtomicU64::new(config_threshold),
        snapshot_bytes: AtomicU64::new(recovered.snapshot_bytes),
    };
    let retention = options.retention.unwrap_or(durable.config.retention);
    let engine = Engine::durable(recovered.state, durable, durability, read_only);
    engine.set_retention(retention);
    Ok(engine)
}
