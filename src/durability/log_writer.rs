//! The write-ahead log writer: one framed record per commit, segment files that roll at
//! a size limit, the three durability modes, group commit, and fail-stop poisoning.
//!
//! Protocol (docs/durability.md gives every fsync and why):
//! - `append` runs under the engine's writer lock, so records reach the segment in
//!   version order. It encodes the commit, frames it (wal-format), and writes it to the
//!   OS with one `write`. In `"standard"` and `"none"` mode the commit is acknowledged
//!   then; a process crash keeps it (the OS has it), a power loss may not.
//! - In `"always"` mode the committer then waits in `await_durable`: a waiter becomes
//!   the leader and fsyncs the active segment for everyone written so far; the others
//!   wait for it (group commit). When the last fsync served several committers, the
//!   next one waits (briefly) for as many commits, and the committer whose commit
//!   completes that group leads it, so that no wake-up stands between its write and
//!   the fsync. An fsync error wakes every waiter with it.
//! - A segment is sealed by an fsync before the next one is created; the new segment's
//!   header is fsynced, then its directory, before any record goes into it.
//! - After a failed write or fsync the log is poisoned: nothing more is appended and
//!   every later write fails with an `IoError` saying why, until the database is
//!   reopened (recovery then decides from what is on disk).

use std::path::{Path, PathBuf};
// `log_bytes` and `fsyncs` only report; they take no part in any protocol.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_format::{RecordType, SegmentEncoder, SegmentHeader};

use crate::blocking::blocking;
use crate::commit::{Commit, CommitLog};
use crate::engine::Durability;
use crate::error::{Error, Result};
use crate::storage::{Storage, StorageFile};
// Every lock, condition variable, flag and thread of the protocols below: loom-checked
// in `--cfg loom` builds (tests/loom.rs).
use crate::sync::{AtomicBool, Condvar, JoinHandle, Mutex, MutexGuard, ThreadBuilder};

/// How often the `"standard"` mode flusher fsyncs, at the latest.
pub const FLUSH_INTERVAL_MS: u64 = 100;

/// The file name of segment `sequence`.
pub fn segment_file_name(sequence: u64) -> String {
    format!("{sequence:020}.log")
}

/// The sequence number in a segment file name, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A random 64-bit salt for a new segment (no cryptographic strength needed: it only
/// has to differ between files).
pub fn random_salt() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(crate::engine::now_micros());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Where appends go: the open segment.
pub struct ActiveSegment {
    pub file: Arc<dyn StorageFile>,
    pub sequence: u64,
    pub encoder: SegmentEncoder,
    /// Version of the last record in the log (or before it, for a new segment).
    pub last_version: u64,
    /// True when commits follow the last sync marker (close then writes one).
    pub needs_sync_marker: bool,
}

struct Active {
    segment: ActiveSegment,
    buffer: Vec<u8>,
}

#[derive(Default)]
struct SyncState {
    written_version: u64,
    durable_version: u64,
    syncing: bool,
    poisoned: Option<String>,
    /// Committers waiting for durability right now (the leader included), the most
    /// seen during the current fsync, and during the last one with its duration: if the
    /// last fsync had company, the next one waits a moment for as many commits.
    waiting: u64,
    peak_waiting: u64,
    last_group: u64,
    last_fsync: Duration,
    /// Until when the forming group waits for its last commits (set by its first
    /// waiter, cleared when its fsync starts).
    gather_deadline: Option<Instant>,
}

impl SyncState {
    /// Adaptive group commit: if the last fsync served several committers, they are
    /// likely on their way back with their next commits, so the next fsync waits (at
    /// most half an fsync, at most 2 ms) until as many have been written. Returns the
    /// deadline while that group is still short of commits, `None` when an fsync should
    /// start now. A lone writer never waits.
    fn group_deadline(&mut self) -> Option<Instant> {
        if self.last_group <= 1 || self.written_version >= self.durable_version + self.last_group {
            return None;
        }
        let wait = (self.last_fsync / 2).min(Duration::from_millis(2));
        Some(*self.gather_deadline.get_or_insert_with(|| Instant::now() + wait))
    }
}

struct Shared {
    storage: Arc<dyn Storage>,
    directory: PathBuf,
    durability: Durability,
    segment_bytes_target: u64,
    active: Mutex<Active>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    /// Bytes in the log since the last snapshot (drives automatic compaction).
    log_bytes: AtomicU64,
    /// fsyncs of the log since open (group commit shows as commits per fsync).
    fsyncs: AtomicU64,
    stop: AtomicBool,
    /// Set once `close` has made everything durable and sealed the log.
    closed: AtomicBool,
    stop_signal: Condvar,
    stop_lock: Mutex<()>,
}

/// The durable [`CommitLog`].
pub struct LogWriter {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl LogWriter {
    /// A writer appending to `segment` in `directory` (the `wal/` folder).
    pub fn new(
        storage: Arc<dyn Storage>,
        directory: PathBuf,
        durability: Durability,
        segment_bytes_target: u64,
        segment: ActiveSegment,
        log_bytes: u64,
    ) -> LogWriter {
        let last_version = segment.last_version;
        let shared = Arc::new(Shared {
            storage,
            directory,
            durability,
            segment_bytes_target,
            active: Mutex::new(Active { segment, buffer: Vec::new() }),
            sync: Mutex::new(SyncState { written_version: last_version, durable_version: last_version, ..SyncState::default() }),
            synced: Condvar::new(),
            log_bytes: AtomicU64::new(log_bytes),
            fsyncs: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stop_signal: Condvar::new(),
            stop_lock: Mutex::new(()),
        });
        let flusher = (durability == Durability::Standard).then(|| {
            let shared = Arc::clone(&shared);
            ThreadBuilder::new()
                .name("stratadb-flusher".into())
                .spawn(move || shared.run_flusher())
                .ok()
        });
        LogWriter { shared, flusher: Mutex::new(flusher.flatten()) }
    }

    /// Bytes appended since the last snapshot.
    pub fn log_bytes(&self) -> u64 {
        self.shared.log_bytes.load(Ordering::Relaxed)
    }

    /// fsyncs of the log since open.
    pub fn fsyncs(&self) -> u64 {
        self.shared.fsyncs.load(Ordering::Relaxed)
    }

    /// Why the log stopped accepting writes, if it did.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.sync.lock().poisoned.clone()
    }

    /// Seals the active segment and starts the next one; returns the new segment's
    /// sequence number. Everything before it is durable when this returns. Called
    /// under the engine's writer lock (compaction).
    pub fn roll(&self) -> Result<u64> {
        self.shared.check_poisoned()?;
        let mut active = self.shared.active.lock();
        let result = self.shared.roll(&mut active);
        if let Err(error) = &result {
            self.shared.poison(error.message());
        }
        result
    }

    /// Notes that a snapshot now covers `bytes` of the log (what was written before
    /// the roll that preceded it); later bytes still count.
    pub fn forget_log_bytes(&self, bytes: u64) {
        let _ = self.shared.log_bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(bytes)));
    }

    /// Stops the flusher and makes everything durable. Idempotent.
    pub fn close(&self) -> Result<()> {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self.shared.stop_lock.lock();
            self.shared.stop_signal.notify_all();
        }
        if let Some(handle) = self.flusher.lock().take() {
            let _ = handle.join();
        }
        if self.shared.sync.lock().poisoned.is_some() || self.shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.shared.sync_now()?;
        self.shared.append_sync_marker()
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // Normally the engine closed the log already (then this does nothing).
        let _ = self.close();
    }
}

impl Shared {
    fn check_poisoned(&self) -> Result<()> {
        match &self.sync.lock().poisoned {
            Some(reason) => Err(poisoned_error(reason)),
            None => Ok(()),
        }
    }

    fn poison(&self, reason: &str) {
        let mut sync = self.sync.lock();
        if sync.poisoned.is_none() {
            sync.poisoned = Some(reason.to_owned());
        }
        self.synced.notify_all();
    }

    fn segment_path(&self, sequence: u64) -> PathBuf {
        self.directory.join(segment_file_name(sequence))
    }

    /// Seals the active segment (fsync) and creates the next one, durable before use.
    fn roll(&self, active: &mut Active) -> Result<u64> {
        let old = &active.segment;
        old.file.sync_data().map_err(|error| io_error("fsync of the log segment before rolling", &self.segment_path(old.sequence), error))?;
        let sealed_version = old.last_version;
        let sequence = old.sequence + 1;
        let segment = create_segment(self.storage.as_ref(), &self.directory, sequence, sealed_version)?;
        active.segment = segment;
        let mut sync = self.sync.lock();
        sync.durable_version = sync.durable_version.max(sealed_version);
        self.synced.notify_all();
        Ok(sequence)
    }

    /// fsyncs the active segment; returns the version now durable.
    fn sync_now(&self) -> Result<u64> {
        let (file, sequence, end, target) = {
            let active = self.active.lock();
            let target = self.sync.lock().written_version;
            (Arc::clone(&active.segment.file), active.segment.sequence, active.segment.encoder.end_offset(), target)
        };
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = file.sync_data() {
            let error = io_error("fsync of the log", &self.segment_path(sequence), error);
            self.poison(error.message());
            return Err(error);
        }
        {
            let mut active = self.active.lock();
            if active.segment.sequence == sequence {
                // `end` is a frame boundary no later than the encoder's end.
                let _ = active.segment.encoder.mark_synced(end);
            }
        }
        let mut sync = self.sync.lock();
        sync.durable_version = sync.durable_version.max(target);
        self.synced.notify_all();
        Ok(target)
    }

    /// After a final fsync: appends an empty sync-marker frame whose watermark vouches
    /// for every byte before it, and fsyncs it. Recovery then refuses (instead of
    /// truncating) damage to any frame before the marker.
    fn append_sync_marker(&self) -> Result<()> {
        let mut guard = self.active.lock();
        let active = &mut *guard;
        if !active.segment.needs_sync_marker {
            return Ok(());
        }
        active.segment.encoder.mark_all_synced();
        active.buffer.clear();
        let version = active.segment.last_version;
        active
            .segment
            .encoder
            .append(RecordType::SyncMarker, version, &[], &mut active.buffer)
            .map_err(|error| Error::io(format!("cannot frame the sync marker: {error}")))?;
        let path = self.segment_path(active.segment.sequence);
        let written = active.segment.file.append(&active.buffer).and_then(|()| active.segment.file.sync_data());
        if let Err(error) = written {
            let error = io_error("write the closing sync marker to", &path, error);
            self.poison(error.message());
            return Err(error);
        }
        active.segment.encoder.mark_all_synced();
        active.segment.needs_sync_marker = false;
        Ok(())
    }

    /// Waits until `version` is durable, leading an fsync if nobody else is.
    fn wait_for(&self, version: u64) -> Result<()> {
        let mut sync = self.sync.lock();
        sync.waiting += 1;
        sync.peak_waiting = sync.peak_waiting.max(sync.waiting);
        let result = self.wait_in_group(&mut sync, version);
        sync.waiting -= 1;
        result
    }

    fn wait_in_group(&self, sync: &mut MutexGuard<'_, SyncState>, version: u64) -> Result<()> {
        loop {
            if sync.durable_version >= version {
                return Ok(());
            }
            if let Some(reason) = &sync.poisoned {
                return Err(poisoned_error(reason));
            }
            if sync.syncing {
                self.synced.wait(sync);
                continue;
            }
            if let Some(deadline) = sync.group_deadline() {
                // The group is still forming: the committer that completes it leads its
                // fsync. If it is late, whoever wakes at the deadline leads instead.
                if !self.synced.wait_until(sync, deadline).timed_out() {
                    continue;
                }
                if sync.syncing || sync.durable_version >= version || sync.poisoned.is_some() {
                    continue;
                }
            }
            sync.syncing = true;
            sync.gather_deadline = None;
            sync.peak_waiting = sync.waiting;
            let started = Instant::now();
            let result = MutexGuard::unlocked(sync, || self.sync_now());
            sync.syncing = false;
            sync.last_group = sync.peak_waiting;
            sync.last_fsync = started.elapsed();
            self.synced.notify_all();
            result?;
        }
    }

    fn run_flusher(&self) {
        let interval = Duration::from_millis(FLUSH_INTERVAL_MS);
        loop {
            {
                let mut guard = self.stop_lock.lock();
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                self.stop_signal.wait_for(&mut guard, interval);
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let behind = {
                let sync = self.sync.lock();
                sync.poisoned.is_none() && sync.written_version > sync.durable_version && !sync.syncing
            };
            if behind {
                let target = self.sync.lock().written_version;
                // A failure poisons the log; the next write reports it.
                let _ = self.wait_for(target);
            }
        }
    }
}

impl CommitLog for LogWriter {
    fn encode(&self, commit: &Commit, into: &mut Vec<u8>) -> Result<()> {
        // Room for the whole commit up front, so encoding rarely grows the buffer.
        let mut buffer = std::mem::take(into);
        buffer.clear();
        buffer.reserve(commit.encoded_size_hint());
        *into = postcard::to_extend(commit, buffer).map_err(|error| Error::io(format!("cannot encode commit {}: {error}", commit.version)))?;
        Ok(())
    }

    fn append(&self, version: u64, payload: &[u8]) -> Result<()> {
        let shared = &self.shared;
        shared.check_poisoned()?;
        let mut guard = shared.active.lock();
        let active = &mut *guard;
        let frame_bytes = (wal_format::FRAME_HEADER_BYTES + payload.len()) as u64;
        let header_end = wal_format::SEGMENT_HEADER_BYTES as u64;
        if active.segment.encoder.end_offset() > header_end
            && active.segment.encoder.end_offset() + frame_bytes > shared.segment_bytes_target
        {
            // A new segment costs fsyncs of its header and directory.
            if let Err(error) = blocking(|| shared.roll(active)) {
                shared.poison(error.message());
                return Err(error);
            }
        }
        active.buffer.clear();
        if let Err(error) = active.segment.encoder.append(RecordType::Commit, version, payload, &mut active.buffer) {
            return Err(Error::validation(format!("commit {version} cannot be logged: {error}")));
        }
        if let Err(error) = active.segment.file.append(&active.buffer) {
            let error = io_error("write to the log", &shared.segment_path(active.segment.sequence), error);
            shared.poison(error.message());
            return Err(error);
        }
        active.segment.last_version = version;
        active.segment.needs_sync_marker = true;
        shared.log_bytes.fetch_add(active.buffer.len() as u64, Ordering::Relaxed);
        shared.sync.lock().written_version = version;
        Ok(())
    }

    fn await_durable(&self, version: u64) -> Result<()> {
        if self.shared.durability != Durability::Always {
            return Ok(());
        }
        blocking(|| self.shared.wait_for(version))
    }

    fn flush(&self) -> Result<()> {
        self.shared.check_poisoned()?;
        let target = self.shared.sync.lock().written_version;
        blocking(|| self.shared.wait_for(target))
    }
}

/// Creates segment `sequence` whose first record follows `previous_version`: writes
/// and fsyncs its header, then fsyncs the directory so the file itself survives.
pub fn create_segment(storage: &dyn Storage, directory: &Path, sequence: u64, previous_version: u64) -> Result<ActiveSegment> {
    let path = directory.join(segment_file_name(sequence));
    let header = SegmentHeader { sequence, salt: random_salt(), previous_version };
    let mut bytes = Vec::with_capacity(wal_format::SEGMENT_HEADER_BYTES);
    let encoder = SegmentEncoder::new(&header, &mut bytes);
    let file: Arc<dyn StorageFile> = Arc::from(storage.create(&path).map_err(|e| io_error("create", &path, e))?);
    file.append(&bytes).map_err(|e| io_error("write the header of", &path, e))?;
    file.sync_data().map_err(|e| io_error("fsync", &path, e))?;
    storage.sync_directory(directory).map_err(|e| io_error("fsync the directory of", &path, e))?;
    Ok(ActiveSegment { file, sequence, encoder, last_version: previous_version, needs_sync_marker: false })
}

/// An `IoError` that says what failed on which file.
pub fn io_error(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::io(format!("{what} {} failed: {error}", path.display()))
}

fn poisoned_error(reason: &str) -> Error {
    Error::io(format!(
        "the database stopped accepting writes after a storage failure ({reason}); reopen it to recover from what is on disk"
    ))
}
