//! Recovery on open: load the manifest's snapshot, replay the log after it, and decide
//! for every defect whether it is a crash leftover (repair) or damage (refuse).
//!
//! The decision table lives in docs/recovery.md and is mirrored by tests. In short: a
//! torn or unwritten tail of the LAST segment is what a crash leaves, so it is cut off
//! (and reported in `info()`); anything else — damage inside a sealed segment, a
//! checksum failure followed by valid frames, a missing segment, a gap in versions, a
//! damaged snapshot or manifest, a file from a newer format — refuses to open with an
//! `IoError` that names the file and the offset. Read-only opens never repair: they
//! ignore a torn tail in memory and leave the files as they are.

use std::path::{Path, PathBuf};

use wal_format::{FrameOutcome, RecordType, SegmentDecoder, SegmentOpen};

use crate::commit::{apply_in_place, Commit};
use crate::durability::log_writer::{create_segment, io_error, parse_segment_file_name, ActiveSegment};
use crate::durability::snapshot;
use crate::engine::now_micros;
use crate::error::{Error, Result};
use crate::model::DbState;
use crate::storage::Storage;

/// What recovery found and did, reported by `info()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecoveryReport {
    /// The version the loaded snapshot covers, if there was one.
    pub snapshot_version: Option<u64>,
    /// Log records replayed after the snapshot.
    pub commits_replayed: u64,
    /// Segments read.
    pub segments_replayed: u64,
    /// A torn tail cut off the last segment: "file at offset N (M bytes)".
    pub truncated_tail: Option<String>,
    /// Leftover files removed (temporary files, segments a compaction had covered,
    /// a segment whose creation a crash interrupted).
    pub removed_files: Vec<String>,
}

/// The state rebuilt from disk, and where the log continues.
pub struct Recovered {
    pub state: DbState,
    /// The segment to append to (`None` when read-only).
    pub active: Option<ActiveSegment>,
    /// Bytes of log after the snapshot.
    pub log_bytes: u64,
    /// Size of the snapshot file loaded (0 without one).
    pub snapshot_bytes: u64,
    pub report: RecoveryReport,
}

/// Frames travel from the decoding thread to the applying one in batches of this many.
const REPLAY_BATCH: usize = 1024;

/// A frame as the decoding thread hands it over: the outcome, and for a commit frame
/// its decoded commit.
type DecodedFrame<'a> = (FrameOutcome<'a>, Option<std::result::Result<Commit, postcard::Error>>);

/// The segment being replayed.
struct Segment<'a> {
    storage: &'a dyn Storage,
    path: &'a Path,
    bytes: &'a [u8],
    /// The newest segment, the only one whose torn tail is a crash leftover.
    last: bool,
    read_only: bool,
}

/// Replays one segment into `state`. A second thread checks and decodes the frames
/// (checksums, postcard) while this one applies them, in order; the first problem
/// stops both. Returns the decoder (at the end of the valid frames) and whether the
/// last frame was a commit.
fn replay_segment<'a>(
    decoder: SegmentDecoder<'a>,
    segment: &Segment<'_>,
    state: &mut DbState,
    report: &mut RecoveryReport,
) -> Result<(SegmentDecoder<'a>, bool)> {
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<DecodedFrame<'a>>>(8);
        let producer = scope.spawn(move || {
            let mut decoder = decoder;
            let mut batch = Vec::with_capacity(REPLAY_BATCH);
            loop {
                let outcome = decoder.next_frame();
                let commit = match &outcome {
                    FrameOutcome::Frame(frame) if frame.record_type == RecordType::Commit => {
                        Some(postcard::from_bytes::<Commit>(frame.payload))
                    }
                    _ => None,
                };
                let terminal = !matches!(outcome, FrameOutcome::Frame(_));
                batch.push((outcome, commit));
                if terminal || batch.len() == REPLAY_BATCH {
                    // A closed channel means the applier stopped at a problem.
                    if sender.send(std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH))).is_err() || terminal {
                        break;
                    }
                }
            }
            decoder
        });
        // `apply_frames` owns the receiver, so an early error closes the channel and
        // the producer stops instead of waiting to send.
        let applied = apply_frames(receiver, segment, state, report);
        let decoder = producer
            .join()
            .map_err(|_| Error::io(format!("{}: internal error: the log decoding thread panicked", segment.path.display())))?;
        Ok((decoder, applied?))
    })
}

/// The applying side of [`replay_segment`]: returns whether the last frame was a commit.
fn apply_frames(
    receiver: std::sync::mpsc::Receiver<Vec<DecodedFrame<'_>>>,
    segment: &Segment<'_>,
    state: &mut DbState,
    report: &mut RecoveryReport,
) -> Result<bool> {
    let path = segment.path;
    let mut ends_with_commit = false;
    for batch in receiver {
        for (outcome, commit) in batch {
            match outcome {
                FrameOutcome::Frame(frame) if frame.record_type == RecordType::SyncMarker => {
                    ends_with_commit = false;
                    if frame.version != state.last_version {
                        return Err(Error::io(format!(
                            "{} at offset {}: a sync marker for version {} follows version {}",
                            path.display(),
                            frame.offset,
                            frame.version,
                            state.last_version
                        )));
                    }
                }
                FrameOutcome::Frame(frame) => {
                    let commit = commit
                        .unwrap_or_else(|| Err(postcard::Error::DeserializeUnexpectedEnd))
                        .map_err(|error| {
                            Error::io(format!("{} at offset {}: undecodable log record: {error}", path.display(), frame.offset))
                        })?;
                    // The engine's rule: the next version, or further on for an import.
                    let expected = (state.last_version + 1).max(commit.body.minimum_version());
                    if commit.version != frame.version || commit.version != expected {
                        return Err(Error::io(format!(
                            "{} at offset {}: log record has version {} where version {expected} was expected",
                            path.display(),
                            frame.offset,
                            commit.version,
                        )));
                    }
                    let version = commit.version;
                    apply_in_place(state, commit).map_err(|error| {
                        Error::io(format!(
                            "{} at offset {}: log record {} does not apply: {}",
                            path.display(),
                            frame.offset,
                            version,
                            error.message()
                        ))
                    })?;
                    report.commits_replayed += 1;
                    ends_with_commit = true;
                }
                FrameOutcome::CleanEnd => return Ok(ends_with_commit),
                FrameOutcome::TornTail { offset, reason } if segment.last => {
                    let dropped = segment.bytes.len() as u64 - offset;
                    report.truncated_tail =
                        Some(format!("{} at offset {offset}: {dropped} bytes cut off ({reason})", path.display()));
                    if !segment.read_only {
                        let file = segment.storage.open_append(path).map_err(|e| io_error("open", path, e))?;
                        file.set_len(offset).map_err(|e| io_error("truncate", path, e))?;
                        file.sync_data().map_err(|e| io_error("fsync", path, e))?;
                    }
                    return Ok(ends_with_commit);
                }
                FrameOutcome::TornTail { offset, reason } => {
                    return Err(Error::io(format!(
                        "{} at offset {offset}: a sealed segment ends in a damaged record ({reason})",
                        path.display()
                    )));
                }
                FrameOutcome::Corrupt { offset, reason, proven_by } => {
                    let proof = proven_by
                        .map(|later| format!("; the record at offset {later} proves the damaged bytes had been synced"))
                        .unwrap_or_default();
                    return Err(Error::io(format!("{} at offset {offset}: corrupt log record ({reason}){proof}", path.display())));
                }
            }
        }
    }
    Err(Error::io(format!("{}: internal error: the log decoding thread stopped early", path.display())))
}

/// How many times a read-only open starts over because a writer replaced the
/// manifest while it was reading (each time means a compaction completed meanwhile).
const READ_ONLY_ATTEMPTS: usize = 16;

/// Rebuilds the state of the database in `directory`.
///
/// A read-only open takes no lock, so a writer process may compact the database while
/// it reads: the writer makes its new snapshot and first segment durable, replaces the
/// `MANIFEST`, and only then removes the snapshot and segments the old manifest named
/// (docs/recovery.md). A read that began with the old manifest then finds a file it
/// needs gone ("log segment N is missing", or a failed read of the old snapshot or of
/// a covered segment); while a database is being created it may also find a snapshot
/// beside no manifest. Each of these comes with a changed `MANIFEST`, since the writer
/// removes nothing before the new one is in place, and the new one is consistent
/// again: start over from it. A failure while the `MANIFEST` stayed the same is the
/// state of the directory and is reported, so a read-only open still refuses exactly
/// what a writable one refuses.
pub fn recover(storage: &dyn Storage, directory: &Path, read_only: bool) -> Result<Recovered> {
    if !read_only {
        return recover_once(storage, directory, false);
    }
    let manifest_path = directory.join(snapshot::MANIFEST_FILE);
    // Missing and unreadable read the same: only a change matters.
    let manifest_bytes = || storage.read(&manifest_path).ok();
    let mut attempt = 1;
    loop {
        let before = manifest_bytes();
        match recover_once(storage, directory, true) {
            Err(_) if attempt < READ_ONLY_ATTEMPTS && manifest_bytes() != before => attempt += 1,
            result => return result,
        }
    }
}

/// One pass of [`recover`].
fn recover_once(storage: &dyn Storage, directory: &Path, read_only: bool) -> Result<Recovered> {
    let wal = directory.join(super::WAL_DIRECTORY);
    let snapshots = directory.join(super::SNAPSHOT_DIRECTORY);
    let mut report = RecoveryReport::default();
    if !read_only {
        // What the listings below show may be entries a crashed process created or
        // renamed without fsyncing their directory yet (a new segment, a renamed
        // MANIFEST): in the OS's cache, not on disk. Recovery builds on them (appends to
        // that segment, removes the snapshot the old manifest named), so make them
        // durable first.
        for folder in [directory, wal.as_path(), snapshots.as_path()] {
            if storage.exists(folder) {
                storage.sync_directory(folder).map_err(|e| io_error("fsync", folder, e))?;
            }
        }
    }
    // Leftovers are only listed here and removed at the very end, after every check
    // passed: an open that is refused changes no file.
    let mut leftovers: Vec<PathBuf> = Vec::new();
    for folder in [directory, wal.as_path(), snapshots.as_path()] {
        leftovers.extend(temporary_files(storage, folder)?);
    }

    let manifest = snapshot::read_manifest(storage, directory)?;
    let live_snapshot = manifest.as_ref().and_then(|m| m.snapshot);
    let (mut state, snapshot_bytes) = match &live_snapshot {
        Some(reference) => {
            report.snapshot_version = Some(reference.covered_version);
            snapshot::load(storage, &snapshots, reference)?
        }
        None => (DbState::new(now_micros()), 0),
    };
    let first_segment = manifest.as_ref().map_or(1, |m| m.first_segment);
    if manifest.is_some() {
        // Without a manifest no snapshot is known to be stale: leave them all.
        let live_name = live_snapshot.map(|reference| snapshot::snapshot_file_name(reference.id));
        leftovers.extend(stale_snapshots(storage, &snapshots, live_name.as_deref())?);
    }

    let mut sequences = list_segments(storage, &wal)?;
    sequences.sort_unstable();
    // Segments before the manifest's first one were covered by its snapshot; a crash
    // interrupted their removal.
    let (covered, live): (Vec<u64>, Vec<u64>) = sequences.into_iter().partition(|&s| s < first_segment);
    leftovers.extend(covered.iter().map(|&sequence| wal.join(super::log_writer::segment_file_name(sequence))));
    if manifest.is_none() && live.is_empty() {
        // No manifest and no log: a new database whose creation a crash interrupted
        // (the first snapshot is written before the manifest, the first segment after
        // it). Nothing was ever committed; start over.
        leftovers.extend(snapshot_files(storage, &snapshots)?);
    } else if manifest.is_none() && !snapshot_files(storage, &snapshots)?.is_empty() {
        return Err(Error::io(format!(
            "{} is missing, but {} holds snapshots: the database was compacted and cannot be opened without its manifest",
            directory.join(snapshot::MANIFEST_FILE).display(),
            snapshots.display()
        )));
    }
    if let Some(&first) = live.first() {
        if first != first_segment {
            return Err(Error::io(format!(
                "log segment {} is missing from {} (the log must continue from segment {first_segment}; found {first})",
                super::log_writer::segment_file_name(first_segment),
                wal.display()
            )));
        }
    }
    for pair in live.windows(2) {
        if pair[1] != pair[0] + 1 {
            return Err(Error::io(format!(
                "log segment {} is missing from {}",
                super::log_writer::segment_file_name(pair[0] + 1),
                wal.display()
            )));
        }
    }

    let mut active = None;
    let mut log_bytes = 0u64;
    for (index, &sequence) in live.iter().enumerate() {
        let last = index + 1 == live.len();
        let path = wal.join(super::log_writer::segment_file_name(sequence));
        let bytes = storage.read(&path).map_err(|e| io_error("read", &path, e))?;
        let decoder = match SegmentDecoder::open(&bytes) {
            Ok(SegmentOpen::Ready(decoder)) => decoder,
            Ok(SegmentOpen::Unwritten { cause }) if last => {
                // A crash interrupted the creation of the newest segment: nothing in it
                // was ever acknowledged. Remove it; a fresh one is created below.
                if !read_only {
                    storage.remove(&path).map_err(|e| io_error("remove the unfinished segment", &path, e))?;
                    storage.sync_directory(&wal).map_err(|e| io_error("fsync", &wal, e))?;
                    report.removed_files.push(format!("{} ({cause})", path.display()));
                }
                break;
            }
            Ok(SegmentOpen::Unwritten { cause }) => {
                return Err(Error::io(format!("{} at offset 0: damaged segment header ({cause})", path.display())));
            }
            Err(cause) => return Err(Error::io(format!("{}: {cause}", path.display()))),
        };
        let header = *decoder.header();
        if header.sequence != sequence {
            return Err(Error::io(format!(
                "{} at offset 0: the header says segment {}, the file name says {sequence}",
                path.display(),
                header.sequence
            )));
        }
        if header.previous_version != state.last_version {
            return Err(Error::io(format!(
                "{} at offset 0: the segment continues from version {}, but the log before it ends at version {}",
                path.display(),
                header.previous_version,
                state.last_version
            )));
        }
        report.segments_replayed += 1;
        let segment = Segment { storage, path: &path, bytes: &bytes, last, read_only };
        let (decoder, ends_with_commit) = replay_segment(decoder, &segment, &mut state, &mut report)?;
        log_bytes += decoder.position();
        if last && !read_only {
            let file = storage.open_append(&path).map_err(|e| io_error("open", &path, e))?;
            // Everything recovered is made durable before anything is appended, so
            // the frames written from now on vouch for it: damage to it later is
            // refused as corruption instead of being cut off as a torn tail. The bytes
            // no frame vouches for as synced are written again first: if an fsync
            // failed before the crash, the kernel may have dropped them while reads
            // still return them from its cache, and an fsync would then carry nothing.
            // From the watermark itself: when no frame vouches for anything, the header
            // is rewritten too (its creation fsync may be the one that failed).
            let vouched = decoder.resume_encoder().synced_through();
            let end = decoder.position();
            if let Some(unsynced) = usize::try_from(vouched).ok().zip(usize::try_from(end).ok()).and_then(|(a, b)| bytes.get(a..b)) {
                if !unsynced.is_empty() {
                    file.write_at(vouched, unsynced).map_err(|e| io_error("rewrite the unsynced tail of", &path, e))?;
                }
            }
            file.sync_data().map_err(|e| io_error("fsync", &path, e))?;
            let mut encoder = decoder.resume_encoder();
            encoder.mark_all_synced();
            active = Some(ActiveSegment {
                file: std::sync::Arc::from(file),
                sequence,
                encoder,
                last_version: state.last_version,
                needs_sync_marker: ends_with_commit,
            });
        }
    }

    if !read_only {
        for path in &leftovers {
            storage.remove(path).map_err(|e| io_error("remove the leftover", path, e))?;
            report.removed_files.push(path.display().to_string());
        }
        if !leftovers.is_empty() {
            for folder in [directory, wal.as_path(), snapshots.as_path()] {
                if storage.exists(folder) {
                    storage.sync_directory(folder).map_err(|e| io_error("fsync", folder, e))?;
                }
            }
        }
    }
    if manifest.is_none() && live.is_empty() && !read_only {
        // A new database: a first snapshot and manifest record the default branch's
        // creation (no commit does), so it reads the same after every reopen.
        storage.create_dir_all(&snapshots).map_err(|e| io_error("create", &snapshots, e))?;
        storage.sync_directory(directory).map_err(|e| io_error("fsync", directory, e))?;
        let generation = 1;
        let (reference, _) = snapshot::write(storage, &snapshots, &state, generation)?;
        let first = snapshot::Manifest { generation, snapshot: Some(reference), first_segment };
        snapshot::write_manifest(storage, directory, &first)?;
        report.snapshot_version = Some(state.last_version);
    }
    if active.is_none() && !read_only {
        // No segment to continue (new database, or the newest one was unfinished).
        // The newest segment was unfinished and removed: reuse its number.
        let next = live.last().copied().unwrap_or(first_segment);
        storage.create_dir_all(&wal).map_err(|e| io_error("create", &wal, e))?;
        active = Some(create_segment(storage, &wal, next, state.last_version)?);
    }
    Ok(Recovered { state, active, log_bytes, snapshot_bytes, report })
}

fn list_segments(storage: &dyn Storage, wal: &Path) -> Result<Vec<u64>> {
    if !storage.exists(wal) {
        return Ok(Vec::new());
    }
    let names = storage.list(wal).map_err(|e| io_error("list", wal, e))?;
    Ok(names.iter().filter_map(|name| parse_segment_file_name(name)).collect())
}

/// Temporary files an interrupted atomic write left in `folder`.
fn temporary_files(storage: &dyn Storage, folder: &Path) -> Result<Vec<PathBuf>> {
    if !storage.exists(folder) {
        return Ok(Vec::new());
    }
    let names = storage.list(folder).map_err(|e| io_error("list", folder, e))?;
    Ok(names.iter().filter(|n| n.ends_with(".tmp")).map(|name| folder.join(name)).collect())
}

/// Every snapshot file in `snapshots`.
fn snapshot_files(storage: &dyn Storage, snapshots: &Path) -> Result<Vec<PathBuf>> {
    stale_snapshots(storage, snapshots, None)
}

/// Snapshot files other than the live one: a compaction wrote them but a crash kept
/// the manifest from switching, or the switch happened and their removal did not.
fn stale_snapshots(storage: &dyn Storage, snapshots: &Path, live: Option<&str>) -> Result<Vec<PathBuf>> {
    if !storage.exists(snapshots) {
        return Ok(Vec::new());
    }
    let names = storage.list(snapshots).map_err(|e| io_error("list", snapshots, e))?;
    Ok(names
        .iter()
        .filter(|n| Some(n.as_str()) != live && snapshot::is_snapshot_file_name(n))
        .map(|name| snapshots.join(name))
        .collect())
}
