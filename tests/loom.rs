//! Loom models of the commit path's concurrency protocols, run on the real code.
//!
//! Build and run (docs/testing.md, "Loom"):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=/tmp/target-loom \
//!     cargo test --release -p stratadb --test loom -- --test-threads=1 --nocapture
//! ```
//!
//! Under `--cfg loom` the engine's locks, condition variables, flags, threads and its
//! published state go through `src/sync.rs` on loom's types, so each model below runs
//! the production `LogWriter` (group commit, poisoning, the `"standard"` flusher,
//! `close`) and the production `Engine::commit`, in every interleaving loom explores
//! (up to `LOOM_MAX_PREEMPTIONS` preemptions, 3 by default here), over [`MemStorage`],
//! an in-memory disk whose log fsyncs and writes can be scripted to fail.
//!
//! What the models assert (each is an invariant of docs/durability.md):
//!
//! - `group_commit_acknowledges_only_synced_commits`: in `"always"` mode a commit is
//!   acknowledged (`await_durable` returns `Ok`) only once an fsync that began after its
//!   frame was written has succeeded; nobody waits forever; `close` leaves everything
//!   durable.
//! - `group_commit_fsync_error_reaches_every_waiter`: when the log's fsync fails, every
//!   committer waiting for it, or arriving later, gets an error (none is acknowledged),
//!   the fsync is never retried, and `close` does no I/O on the poisoned log.
//! - `poison_refuses_every_later_write` (a failed write, a failed fsync): once a call
//!   has returned the failure, every later append, flush and durable wait fails and
//!   writes nothing to the log.
//! - `flusher_against_commit_and_close`: the `"standard"` flusher thread, committers and
//!   `close` in any order: `close` stops the flusher without waiting for a lost wakeup,
//!   and every commit written before `close` is durable after it; with a failing fsync
//!   (whoever hits it), the log is poisoned and `close` then succeeds without I/O.
//! - `publish_after_append_read_your_writes`: through `Engine::commit`, a reader that
//!   sees a published version sees exactly the commits up to it, each already written
//!   to the log; a writer sees its own commit as soon as its call returns.
#![cfg(loom)]

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as StdOrdering};
use std::sync::{Arc, Mutex as StdMutex};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Mutex;

use stratadb::commit::CommitLog;
use stratadb::durability::log_writer::{create_segment, LogWriter};
use stratadb::storage::{DirectoryLock, Storage, StorageFile};
use stratadb::{Durability, OpenOptions, Session, Value};

// ----- the scripted in-memory disk -------------------------------------------------

/// Which calls on log segments (files under `wal/`) fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// The first `sync_data` of a log segment fails (and every one after it would
    /// succeed: the log writer must not try).
    FirstLogSync,
    /// The first `append` of a commit frame to a log segment fails.
    FirstLogAppend,
}

/// One file: its bytes, how many of them a successful fsync made durable, and a record
/// of the calls. Plain `std` locks: no loom operation happens while one is held, so
/// every call is atomic in the model (an fsync covers what was written before it).
#[derive(Default)]
struct FileData {
    bytes: Vec<u8>,
    durable: usize,
    syncs: usize,
    appends: usize,
    failed: bool,
}

struct MemFile {
    data: StdMutex<FileData>,
    log: bool,
    faults: Arc<Faults>,
}

struct Faults {
    fault: Fault,
    /// Faults fire only once the model's setup is done.
    armed: std::sync::atomic::AtomicBool,
    /// The scripted fault has fired.
    fired: std::sync::atomic::AtomicBool,
}

impl Faults {
    fn fire(&self, kind: Fault, log: bool) -> bool {
        log && self.fault == kind && self.armed.load(StdOrdering::SeqCst) && !self.fired.swap(true, StdOrdering::SeqCst)
    }
    fn fired(&self) -> bool {
        self.fired.load(StdOrdering::SeqCst)
    }
}

impl MemFile {
    fn lock(&self) -> std::sync::MutexGuard<'_, FileData> {
        self.data.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn len(&self) -> usize {
        self.lock().bytes.len()
    }
    fn durable(&self) -> usize {
        self.lock().durable
    }
    fn syncs(&self) -> usize {
        self.lock().syncs
    }
    fn appends(&self) -> usize {
        self.lock().appends
    }
}

struct Handle(Arc<MemFile>);

impl StorageFile for Handle {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        if self.0.faults.fire(Fault::FirstLogAppend, self.0.log) {
            self.0.lock().failed = true;
            return Err(io::Error::other("scripted EIO on write"));
        }
        let mut file = self.0.lock();
        file.bytes.extend_from_slice(data);
        file.appends += 1;
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        let fail = self.0.faults.fire(Fault::FirstLogSync, self.0.log);
        let mut file = self.0.lock();
        file.syncs += 1;
        if fail {
            file.failed = true;
            return Err(io::Error::other("scripted EIO on fsync"));
        }
        file.durable = file.bytes.len();
        Ok(())
    }
    fn set_len(&self, length: u64) -> io::Result<()> {
        let mut file = self.0.lock();
        file.bytes.resize(length as usize, 0);
        file.durable = file.durable.min(file.bytes.len());
        Ok(())
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut file = self.0.lock();
        let start = offset as usize;
        file.bytes[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// Files and directories in memory; directory fsyncs always succeed.
struct MemStorage {
    files: StdMutex<HashMap<PathBuf, Arc<MemFile>>>,
    directories: StdMutex<HashSet<PathBuf>>,
    faults: Arc<Faults>,
}

struct NoLock;
impl DirectoryLock for NoLock {}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

impl MemStorage {
    fn new(fault: Fault) -> Arc<MemStorage> {
        Arc::new(MemStorage {
            files: StdMutex::default(),
            directories: StdMutex::new([PathBuf::from("/")].into_iter().collect()),
            faults: Arc::new(Faults {
                fault,
                armed: std::sync::atomic::AtomicBool::new(false),
                fired: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<MemFile>>> {
        self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn directories(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.directories.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn file(&self, path: &Path) -> Arc<MemFile> {
        Arc::clone(self.files().get(path).expect("the file exists"))
    }
    /// The newest log segment of the database in `directory`.
    fn last_segment(&self, wal: &Path) -> Arc<MemFile> {
        let files = self.files();
        let path = files.keys().filter(|p| p.parent() == Some(wal)).max().expect("a segment exists");
        Arc::clone(&files[path])
    }
}

impl Storage for MemStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut directories = self.directories();
        for ancestor in path.ancestors() {
            directories.insert(ancestor.to_path_buf());
        }
        Ok(())
    }
    fn list(&self, directory: &Path) -> io::Result<Vec<String>> {
        if !self.directories().contains(directory) {
            return Err(not_found(directory));
        }
        let mut names: Vec<String> = self
            .files()
            .keys()
            .chain(self.directories().iter())
            .filter(|p| p.parent() == Some(directory))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
    fn exists(&self, path: &Path) -> bool {
        self.files().contains_key(path) || self.directories().contains(path)
    }
    fn is_directory(&self, path: &Path) -> bool {
        self.directories().contains(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files().get(path).map(|f| f.lock().bytes.clone()).ok_or_else(|| not_found(path))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let log = path.parent().and_then(Path::file_name).is_some_and(|n| n == "wal");
        let file = Arc::new(MemFile { data: StdMutex::default(), log, faults: Arc::clone(&self.faults) });
        self.files().insert(path.to_path_buf(), Arc::clone(&file));
        Ok(Box::new(Handle(file)))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let file = self.files().get(path).cloned().ok_or_else(|| not_found(path))?;
        Ok(Box::new(Handle(file)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut files = self.files();
        let file = files.remove(from).ok_or_else(|| not_found(from))?;
        files.insert(to.to_path_buf(), file);
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.files().remove(path).map(drop).ok_or_else(|| not_found(path))
    }
    fn sync_directory(&self, _directory: &Path) -> io::Result<()> {
        Ok(())
    }
    fn lock(&self, _path: &Path) -> io::Result<Box<dyn DirectoryLock>> {
        Ok(Box::new(NoLock))
    }
}

// ----- the log writer on that disk ---------------------------------------------------

const WAL: &str = "/db/wal";

/// A log writer on a fresh segment 1, with the engine's side of the commit protocol:
/// the writer lock (the next version, and whether the log was closed under it) and the
/// end offset of every commit's frame.
struct Log {
    storage: Arc<MemStorage>,
    writer: LogWriter,
    file: Arc<MemFile>,
    engine_lock: Mutex<(u64, bool)>,
    ends: StdMutex<HashMap<u64, usize>>,
}

impl Log {
    fn new(durability: Durability, fault: Fault) -> Arc<Log> {
        let storage = MemStorage::new(fault);
        let wal = PathBuf::from(WAL);
        storage.create_dir_all(&wal).expect("mkdir");
        let segment = create_segment(storage.as_ref(), &wal, 1, 0).expect("the first segment");
        let file = storage.file(&wal.join("00000000000000000001.log"));
        let dyn_storage: Arc<dyn Storage> = Arc::clone(&storage) as Arc<dyn Storage>;
        let writer = LogWriter::new(dyn_storage, wal, durability, 1 << 30, segment, 0);
        storage.faults.armed.store(true, StdOrdering::SeqCst);
        Arc::new(Log { storage, writer, file, engine_lock: Mutex::new((0, false)), ends: StdMutex::default() })
    }

    fn end_of(&self, version: u64) -> usize {
        self.ends.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[&version]
    }

    /// What `Engine::commit` does with the log: append under the writer lock (refused
    /// after close), then wait for durability outside it. Returns the version on success.
    fn commit(&self) -> Result<u64, (Option<u64>, stratadb::Error)> {
        let version = {
            let mut lock = self.engine_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if lock.1 {
                return Err((None, stratadb::Error::state("the database is closed")));
            }
            let version = lock.0 + 1;
            let before = self.file.len();
            if let Err(error) = self.writer.append(version, b"one commit's payload") {
                assert_eq!(self.file.len(), before, "a refused append wrote nothing");
                return Err((None, error));
            }
            lock.0 = version;
            self.ends.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(version, self.file.len());
            version
        };
        match self.writer.await_durable(version) {
            Ok(()) => Ok(version),
            Err(error) => Err((Some(version), error)),
        }
    }

    /// What the engine's close does: under the writer lock, close the log.
    fn close(&self) -> stratadb::Result<()> {
        let mut lock = self.engine_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        lock.1 = true;
        self.writer.close()
    }

    fn last_version(&self) -> u64 {
        self.engine_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0
    }
}

fn check(name: &str, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    let started = std::time::Instant::now();
    let iterations = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&iterations);
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        model();
    });
    println!(
        "loom {name}: {} interleavings in {:.1?} (preemption bound {:?})",
        iterations.load(StdOrdering::Relaxed),
        started.elapsed(),
        builder.preemption_bound
    );
}

// ----- group commit --------------------------------------------------------------------

#[test]
fn group_commit_acknowledges_only_synced_commits() {
    check("group_commit_acknowledges_only_synced_commits", || {
        let log = Log::new(Durability::Always, Fault::None);
        // One committer commits twice, so the second round may gather a group.
        let spawned: Vec<_> = [2, 1]
            .into_iter()
            .map(|commits| {
                let log = Arc::clone(&log);
                loom::thread::spawn(move || {
                    for _ in 0..commits {
                        let version = log.commit().map_err(|(_, e)| e).expect("no fault: every commit succeeds");
                        // Read at the instant the commit is acknowledged.
                        assert!(
                            log.file.durable() >= log.end_of(version),
                            "commit {version} acknowledged before an fsync covered its frame"
                        );
                    }
                })
            })
            .collect();
        for thread in spawned {
            thread.join().expect("committer");
        }
        assert!(log.writer.fsyncs() <= 3, "at most one fsync per commit");
        log.close().expect("close");
        assert_eq!(log.file.durable(), log.file.len(), "close leaves the whole log durable");
        assert!(log.file.durable() >= log.end_of(3));
    });
}

#[test]
fn group_commit_fsync_error_reaches_every_waiter() {
    check("group_commit_fsync_error_reaches_every_waiter", || {
        let log = Log::new(Durability::Always, Fault::FirstLogSync);
        let spawned: Vec<_> = (0..2)
            .map(|_| {
                let log = Arc::clone(&log);
                loom::thread::spawn(move || log.commit())
            })
            .collect();
        let results: Vec<_> = spawned.into_iter().map(|t| t.join().expect("committer")).collect();
        // The first fsync failed and none may follow it, so nothing is durable past the
        // header and no commit may be acknowledged: every waiter sees the failure.
        for result in &results {
            match result {
                Ok(version) => panic!("commit {version} acknowledged although the only fsync failed"),
                Err((_, error)) => assert_eq!(error.kind(), stratadb::ErrorKind::Io, "{error}"),
            }
        }
        assert_eq!(log.file.syncs(), 2, "the segment's creation fsync and the failed one; never a retry");
        assert!(log.writer.poisoned().is_some());
        let (length, syncs) = (log.file.len(), log.file.syncs());
        log.close().expect("close of a poisoned log succeeds");
        assert_eq!((log.file.len(), log.file.syncs()), (length, syncs), "close does no I/O on a poisoned log");
    });
}

// ----- poisoning -----------------------------------------------------------------------

fn poison_model(durability: Durability, fault: Fault) {
    let log = Log::new(durability, fault);
    // Set (a loom atomic, so a scheduling point) once a call has returned the failure.
    let reported = Arc::new(AtomicBool::new(false));
    let spawned: Vec<_> = (0..2)
        .map(|thread| {
            let (log, reported) = (Arc::clone(&log), Arc::clone(&reported));
            loom::thread::spawn(move || {
                let after_failure = reported.load(Ordering::SeqCst);
                let length = log.file.len();
                let result = if thread == 0 { log.commit().map(drop).map_err(|(_, e)| e) } else { log.writer.flush() };
                if after_failure {
                    let error = result.as_ref().expect_err("a write after the failure was reported must fail");
                    assert_eq!(error.kind(), stratadb::ErrorKind::Io);
                    if thread == 0 {
                        assert_eq!(log.file.len(), length, "nothing is written after the failure");
                    }
                }
                if result.is_err() {
                    reported.store(true, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for thread in spawned {
        thread.join().expect("writer");
    }
    if log.storage.faults.fired() {
        assert!(log.writer.poisoned().is_some(), "a failed log write or fsync poisons the log");
    }
    if log.writer.poisoned().is_none() {
        // The fault has not fired yet (a flush with nothing to sync does no fsync):
        // close's own fsync hits it, fails, and poisons the log.
        let closed = log.close();
        assert_eq!(closed.is_err(), log.storage.faults.fired(), "close fails exactly when its I/O does");
        if closed.is_ok() {
            return;
        }
    }
    let (length, syncs) = (log.file.len(), log.file.syncs());
    let next = log.last_version() + 1;
    assert!(log.writer.append(next, b"later").is_err(), "append after poisoning");
    assert!(log.writer.flush().is_err(), "flush after poisoning");
    log.close().expect("close of a poisoned log succeeds");
    assert_eq!((log.file.len(), log.file.syncs()), (length, syncs), "no I/O after poisoning");
}

#[test]
fn poison_refuses_every_later_write() {
    check("poison_refuses_every_later_write/failed write", || poison_model(Durability::None, Fault::FirstLogAppend));
    check("poison_refuses_every_later_write/failed fsync", || poison_model(Durability::None, Fault::FirstLogSync));
}

// ----- the "standard" flusher -------------------------------------------------------------

/// Set once some interleaving had the flusher fsync before close (the model reaches it).
static FLUSHER_SYNCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn flusher_model(fault: Fault) {
    let log = Log::new(Durability::Standard, fault);
    let committer = {
        let log = Arc::clone(&log);
        loom::thread::spawn(move || (0..2).map(|_| log.commit().ok()).collect::<Vec<_>>())
    };
    // Close races the committer and the flusher (started by LogWriter::new).
    let closed = log.close();
    let acknowledged: Vec<u64> = committer.join().expect("committer").into_iter().flatten().collect();
    match (&closed, log.writer.poisoned()) {
        (Ok(()), None) => {
            // close fsyncs once through the group-commit path; any other was the flusher's.
            if log.writer.fsyncs() > 1 {
                FLUSHER_SYNCED.store(true, StdOrdering::Relaxed);
            }
            // Every commit written before close is durable after it (with its marker).
            assert_eq!(log.file.durable(), log.file.len(), "close left bytes unsynced");
            for version in &acknowledged {
                assert!(log.file.durable() >= log.end_of(*version), "acknowledged commit {version} lost by close");
            }
        }
        (Ok(()), Some(_)) | (Err(_), Some(_)) => {
            assert!(log.storage.faults.fired(), "poisoned without a failure");
        }
        (Err(error), None) => panic!("close failed without poisoning the log: {error}"),
    }
    if fault == Fault::None {
        assert!(closed.is_ok() && log.writer.poisoned().is_none());
    }
    // Commits after close are refused (by the engine's closed flag), never lost.
    assert!(log.commit().is_err());
}

#[test]
fn flusher_against_commit_and_close() {
    check("flusher_against_commit_and_close", || flusher_model(Fault::None));
    assert!(FLUSHER_SYNCED.load(StdOrdering::Relaxed), "no interleaving had the flusher fsync");
    check("flusher_against_commit_and_close/failed fsync", || flusher_model(Fault::FirstLogSync));
}

// ----- the engine: publish after append, read your writes ----------------------------------

static DATABASES: AtomicU64 = AtomicU64::new(0);

#[test]
fn publish_after_append_read_your_writes() {
    check("publish_after_append_read_your_writes", || {
        let storage = MemStorage::new(Fault::None);
        let path = PathBuf::from(format!("/db-{}", DATABASES.fetch_add(1, StdOrdering::Relaxed)));
        let options = OpenOptions {
            durability: Some(Durability::Always),
            storage: Arc::clone(&storage) as Arc<dyn Storage>,
            ..OpenOptions::default()
        };
        let session = Session::open(&path, options).expect("open");
        let engine = Arc::clone(session.engine());
        let base = engine.snapshot().last_version;
        let segment = storage.last_segment(&path.join("wal"));
        let appends_at_open = segment.appends();
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|key| {
                let engine = Arc::clone(&engine);
                loom::thread::spawn(move || {
                    let handle = Session::attach(engine);
                    let version = handle.kv_put(key, Value::Int(1)).expect("put");
                    // Read your writes: visible the moment the call returns.
                    assert!(handle.engine().snapshot().last_version >= version);
                    assert!(handle.kv_get(key).expect("get").is_some(), "{key} not visible to its writer");
                    handle.close().expect("close the handle");
                })
            })
            .collect();
        // A concurrent reader: a published version holds exactly the commits up to it,
        // and each of them was written to the log before it was published.
        let state = engine.snapshot();
        let published = state.last_version - base;
        let keys: usize = state.branches.values().flat_map(|b| b.spaces.values()).map(|s| s.kv.len()).sum();
        assert_eq!(keys as u64, published, "version {} published with {keys} commits", state.last_version);
        assert!(
            (segment.appends() - appends_at_open) as u64 >= published,
            "version {} published before its frame was written",
            state.last_version
        );
        for writer in writers {
            writer.join().expect("writer");
        }
        // Commits change the newest state in place only when no snapshot shares it.
        let keys_now: usize = state.branches.values().flat_map(|b| b.spaces.values()).map(|s| s.kv.len()).sum();
        assert_eq!(keys_now, keys, "a held snapshot changed under later commits");
        assert_eq!(engine.snapshot().last_version, base + 2);
        session.close().expect("close");
        assert_eq!(segment.durable(), segment.len());
    });
}
