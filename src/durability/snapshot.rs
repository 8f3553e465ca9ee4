//! Snapshots and the manifest: the engine side of compaction.
//!
//! A snapshot holds the whole state (every branch, space, primitive and the version
//! history) at one version, as a wal-format snapshot file of `state_codec` records. It
//! is written to a temporary file, fsynced, renamed into place, and the directory
//! fsynced; only then does the manifest switch to it (the same way), and only after
//! that are the log segments it covers removed. A crash at any point leaves either the
//! old manifest with all its segments or the new manifest (whose covered leftovers
//! recovery removes).

use std::path::Path;

pub use wal_format::{Manifest, SnapshotRef};
use wal_format::SnapshotHeader;

use crate::durability::log_writer::{io_error, random_salt};
use crate::durability::state_codec::{self, StateBuilder, StreamError};
use crate::error::{Error, Result};
use crate::model::DbState;
use crate::storage::{self, Storage};

/// The manifest's file name in the database directory.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// Bytes buffered before a snapshot writer hands them to the OS.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// The file name of the snapshot with id `id` (the manifest generation that named it).
pub fn snapshot_file_name(id: u64) -> String {
    format!("{id:020}.snap")
}

/// Whether `name` looks like a snapshot file.
pub fn is_snapshot_file_name(name: &str) -> bool {
    name.strip_suffix(".snap").is_some_and(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads the manifest, if the directory has one.
pub fn read_manifest(storage: &dyn Storage, directory: &Path) -> Result<Option<Manifest>> {
    let path = directory.join(MANIFEST_FILE);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = storage.read(&path).map_err(|e| io_error("read", &path, e))?;
    Manifest::decode(&bytes).map(Some).map_err(|error| Error::io(format!("{}: {error}", path.display())))
}

/// Replaces the manifest atomically (temporary file, fsync, rename, directory fsync).
pub fn write_manifest(storage: &dyn Storage, directory: &Path, manifest: &Manifest) -> Result<()> {
    let path = directory.join(MANIFEST_FILE);
    storage::write_atomically(storage, &path, &manifest.encode()).map_err(|e| io_error("write", &path, e))
}

/// Writes a snapshot of `state` into `directory` (the `snapshots/` folder); returns the
/// reference the manifest should hold and the file's size. The file is complete and durable under its final
/// name when this returns.
/// `id` must be fresh (the engine uses the new manifest generation), so that writing a
/// snapshot never overwrites the live one, even when the version has not moved.
pub fn write(storage: &dyn Storage, directory: &Path, state: &DbState, id: u64) -> Result<(SnapshotRef, u64)> {
    let reference = SnapshotRef { id, covered_version: state.last_version, salt: random_salt() };
    let name = snapshot_file_name(reference.id);
    let path = directory.join(&name);
    let temporary = storage::temporary_path(&path);
    let file = storage.create(&temporary).map_err(|e| io_error("create", &temporary, e))?;
    let header = SnapshotHeader { covered_version: reference.covered_version, salt: reference.salt };
    let mut out = Vec::with_capacity(WRITE_BUFFER_BYTES * 2);
    let mut encoder = header.begin_encode(&mut out);
    let mut written = 0u64;
    state_codec::write_state(state, &mut |record| {
        let bytes = state_codec::encode(record)?;
        encoder
            .push_record(&bytes, &mut out)
            .map_err(|error| Error::io(format!("cannot add a record to snapshot {}: {error}", path.display())))?;
        if out.len() >= WRITE_BUFFER_BYTES {
            file.append(&out).map_err(|e| io_error("write", &temporary, e))?;
            written += out.len() as u64;
            out.clear();
        }
        Ok(())
    })?;
    encoder.finish(&mut out);
    file.append(&out).map_err(|e| io_error("write", &temporary, e))?;
    written += out.len() as u64;
    file.sync_data().map_err(|e| io_error("fsync", &temporary, e))?;
    drop(file);
    storage.rename(&temporary, &path).map_err(|e| io_error("rename into place", &temporary, e))?;
    storage.sync_directory(directory).map_err(|e| io_error("fsync", directory, e))?;
    Ok((reference, written))
}

/// Loads and verifies the snapshot the manifest names, from `directory`; returns the
/// state and the file's size.
pub fn load(storage: &dyn Storage, directory: &Path, reference: &SnapshotRef) -> Result<(DbState, u64)> {
    let path = &directory.join(snapshot_file_name(reference.id));
    let expected_version = reference.covered_version;
    let bytes = storage.read(path).map_err(|e| io_error("read the snapshot", path, e))?;
    let (header, decoder) =
        SnapshotHeader::begin_decode(&bytes).map_err(|error| Error::io(format!("{}: {error}", path.display())))?;
    if header.covered_version != expected_version || header.salt != reference.salt {
        return Err(Error::io(format!(
            "{} at offset 0: the snapshot (version {}, salt {:#x}) is not the one the manifest names (version {expected_version}, salt {:#x})",
            path.display(),
            header.covered_version,
            header.salt,
            reference.salt
        )));
    }
    let mut builder = StateBuilder::new();
    state_codec::read_records(decoder, &bytes, "snapshot", |record| builder.push(record)).map_err(|error| match error {
        StreamError::Format(error) => Error::io(format!("{}: {error}", path.display())),
        StreamError::Record { index, message } => Error::io(format!("{}: record {index}: {message}", path.display())),
    })?;
    let state = builder.finish().map_err(|error| Error::io(format!("{}: {}", path.display(), error.message())))?;
    if state.last_version != expected_version {
        return Err(Error::io(format!(
            "{}: the snapshot's records end at version {}, its header says {expected_version}",
            path.display(),
            state.last_version
        )));
    }
    Ok((state, bytes.len() as u64))
}
