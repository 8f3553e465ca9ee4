//! Branch bundles: one branch (every space, primitive and version of its history) in a
//! self-checking file another database can import.
//!
//! The file is a wal-format bundle (FORMAT.md, "Bundles"): a header naming the branch
//! with [`BundleMetadata`] in its opaque section, then `state_codec` records in LZ4
//! blocks, each checksummed, closed by an end chunk. Export streams the records into a
//! temporary file next to the target (memory stays at about one block whatever the
//! branch's size), fsyncs it and renames it into place, so a crash never leaves a half
//! bundle under the name. Import reads the file (refusing anything that is not a
//! regular file or is larger than one log record may be), rebuilds the branch checking
//! every rule a hostile file could break (`StateBuilder::for_branches`), and commits it
//! as one commit whose log record holds the bundle's bytes.
//!
//! Versions: the imported history keeps the exporting database's versions and times,
//! so the import commit takes a version newer than all of them (the database's counter
//! may jump forward; it never goes back).

use std::path::Path;

use serde::{Deserialize, Serialize};
use wal_format::{BlockStreamDecoder, BundleHeader, BUNDLE_FIXED_HEADER_BYTES};

use crate::durability::log_writer::random_salt;
use crate::durability::state_codec::{self, StateBuilder, StateRecord, StreamError};
use crate::error::{Error, Result};
use crate::model::{BranchInfo, BranchState, DbState, Name};
use crate::storage::{self, Storage};

/// Largest bundle `branch_import` reads: the import commit's log record holds it whole.
pub const BUNDLE_BYTES_MAX: u64 = wal_format::limits::FRAME_PAYLOAD_BYTES_MAX as u64 - 64 * 1024;

/// Bytes buffered before an export hands them to the OS.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Versions at or past this are refused in a bundle (the counter must stay far from
/// overflow after an import).
const VERSION_CEILING: u64 = 1 << 62;

/// The engine's metadata in a bundle header (postcard; only ever append fields at the
/// end, as a new struct version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleMetadata {
    /// The version of the package that wrote the bundle.
    pub writer: String,
    /// When the export ran (µs since the epoch).
    pub exported_at: u64,
    /// The newest version anywhere in the exported branch's history.
    pub newest_version: u64,
}

/// What `branch_export` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportReport {
    pub branch: String,
    pub path: String,
    /// Records in the bundle (one per branch, space, record history, event, collection).
    pub entry_count: u64,
    pub bundle_size: u64,
}

/// What `branch_import` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    pub branch: String,
    /// Commits the import made (always 1: it is all or nothing).
    pub transactions_applied: u64,
    /// Live records of the imported branch.
    pub keys_written: u64,
}

/// What `branch_validate_bundle` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidateReport {
    pub branch: String,
    pub format_version: u16,
    pub entry_count: u64,
    pub checksums_valid: bool,
    /// The problems found, in file order (empty when valid).
    pub problems: Vec<String>,
}

/// Writes branch `name` of `state` to `path` (replacing a file there).
pub fn export(storage: &dyn Storage, state: &DbState, name: &str, path: &Path, writer: &str, now: u64) -> Result<ExportReport> {
    let branch = state.branch(name).ok_or_else(|| Error::not_found(format!("branch '{name}' does not exist")))?;
    if path.as_os_str().is_empty() {
        return Err(Error::validation("the bundle path must not be empty"));
    }
    if storage.is_directory(path) {
        return Err(Error::io(format!("cannot write the bundle to {}: it is a directory", path.display())));
    }
    let directory = storage::parent(path);
    if !storage.exists(directory) {
        storage.create_dir_all(directory).map_err(|e| io_error("create the directory of", path, &e))?;
    }
    let metadata = BundleMetadata { writer: writer.to_owned(), exported_at: now, newest_version: newest_version_of(branch) };
    let header = BundleHeader {
        salt: random_salt(),
        branch_name: name.to_owned(),
        metadata: postcard::to_allocvec(&metadata).map_err(|e| Error::io(format!("cannot encode bundle metadata: {e}")))?,
    };
    let temporary = storage::temporary_path(path);
    let result = write_bundle(storage, branch, name, &header, &temporary);
    let (entry_count, bundle_size) = match result {
        Ok(totals) => totals,
        Err(error) => {
            let _ = storage.remove(&temporary);
            return Err(error);
        }
    };
    storage.rename(&temporary, path).map_err(|e| io_error("rename into place", &temporary, &e))?;
    storage.sync_directory(directory).map_err(|e| io_error("fsync the directory of", path, &e))?;
    Ok(ExportReport { branch: name.to_owned(), path: path.display().to_string(), entry_count, bundle_size })
}

fn write_bundle(
    storage: &dyn Storage,
    branch: &BranchState,
    name: &str,
    header: &BundleHeader,
    temporary: &Path,
) -> Result<(u64, u64)> {
    let file = storage.create(temporary).map_err(|e| io_error("create", temporary, &e))?;
    let mut out = Vec::with_capacity(WRITE_BUFFER_BYTES * 2);
    let mut encoder = header.begin_encode(&mut out).map_err(|e| Error::validation(format!("cannot export branch '{name}': {e}")))?;
    let mut written = 0u64;
    let mut scratch = Vec::new();
    state_codec::write_branch(name, branch, &mut |record| {
        scratch.clear();
        let bytes = postcard::to_extend(record, std::mem::take(&mut scratch))
            .map_err(|e| Error::io(format!("cannot encode a bundle record: {e}")))?;
        encoder
            .push_record(&bytes, &mut out)
            .map_err(|e| Error::validation(format!("cannot export branch '{name}': {e}")))?;
        scratch = bytes;
        if out.len() >= WRITE_BUFFER_BYTES {
            file.append(&out).map_err(|e| io_error("write", temporary, &e))?;
            written += out.len() as u64;
            out.clear();
        }
        Ok(())
    })?;
    let summary = encoder.finish(&mut out);
    file.append(&out).map_err(|e| io_error("write", temporary, &e))?;
    written += out.len() as u64;
    file.sync_data().map_err(|e| io_error("fsync", temporary, &e))?;
    Ok((summary.record_count, written))
}

/// The newest version anywhere in `branch`.
fn newest_version_of(branch: &BranchState) -> u64 {
    let mut newest = branch.info.updated_version.max(branch.info.created_version).max(branch.spaces_version);
    for space in branch.spaces.values() {
        newest = newest.max(space.updated_version).max(space.created_version);
        for map in [&space.kv, &space.cells, &space.documents] {
            for chain in map.values() {
                newest = newest.max(chain.head().version());
            }
        }
        if let Some(last) = space.events.entries.last() {
            newest = newest.max(last.version);
        }
        for collection in space.collections.values() {
            newest = newest.max(collection.updated_version).max(collection.created_version);
            for chain in collection.records.values() {
                newest = newest.max(chain.head().version());
            }
        }
    }
    newest
}

/// Reads a bundle file whole, refusing what is not a regular file or is too large.
pub fn read(storage: &dyn Storage, path: &Path) -> Result<Vec<u8>> {
    // The size check needs metadata the storage seam does not offer; a bundle lives
    // outside the database directory, so the plain file system is the right place.
    let metadata = std::fs::metadata(path).map_err(|e| io_error("read the bundle", path, &e))?;
    if !metadata.is_file() {
        return Err(Error::io(format!("cannot read the bundle {}: it is not a regular file", path.display())));
    }
    if metadata.len() > BUNDLE_BYTES_MAX {
        return Err(Error::validation(format!(
            "the bundle {} is {} bytes, larger than the import limit of {BUNDLE_BYTES_MAX} bytes",
            path.display(),
            metadata.len()
        )));
    }
    storage.read(path).map_err(|e| io_error("read the bundle", path, &e))
}

/// The header and metadata of a bundle held in memory.
fn header_of(bytes: &[u8], source: &str) -> Result<(BundleHeader, BundleMetadata, BlockStreamDecoder)> {
    let prefix = BundleHeader::begin_decode(bytes).map_err(|e| not_a_bundle(source, &e))?;
    let variable = bytes.get(BUNDLE_FIXED_HEADER_BYTES..).unwrap_or_default();
    let (header, decoder) = prefix.finish(variable).map_err(|e| not_a_bundle(source, &e))?;
    let metadata: BundleMetadata = postcard::from_bytes(&header.metadata)
        .map_err(|e| Error::validation(format!("{source}: the bundle's metadata does not decode: {e}")))?;
    if metadata.newest_version >= VERSION_CEILING {
        return Err(Error::validation(format!(
            "{source}: the bundle claims version {}, beyond the supported range",
            metadata.newest_version
        )));
    }
    Ok((header, metadata, decoder))
}

fn not_a_bundle(source: &str, error: &wal_format::FormatError) -> Error {
    Error::validation(format!("{source} is not a valid bundle: {error}"))
}

/// The newest version in the bundle's history, from its header (`None` if the header
/// does not decode).
pub fn newest_version(bytes: &[u8]) -> Option<u64> {
    header_of(bytes, "bundle").ok().map(|(_, metadata, _)| metadata.newest_version)
}

/// The name of the branch a bundle holds, checked against the branch-name rules.
pub fn branch_name(bytes: &[u8], source: &str) -> Result<String> {
    let (header, _, _) = header_of(bytes, source)?;
    crate::keys::check_name("branch", &header.branch_name)
        .map_err(|e| Error::validation(format!("{source}: the bundle's branch name is invalid: {}", e.message())))?;
    Ok(header.branch_name)
}

/// Rebuilds the branch a bundle holds, as a new branch created by the import commit `(version, timestamp)`. Every checksum is verified and every record
/// checked; any problem is an error and nothing is built.
pub fn build_branch(bytes: &[u8], version: u64, timestamp: u64) -> Result<BranchState> {
    let source = "the bundle";
    let (header, metadata, decoder) = header_of(bytes, source)?;
    if metadata.newest_version >= version {
        return Err(Error::validation(format!(
            "{source}: its history reaches version {}, not older than the import's version {version}",
            metadata.newest_version
        )));
    }
    let mut builder = StateBuilder::for_branches(metadata.newest_version);
    let mut records = 0u64;
    state_codec::read_records(decoder, bytes, "bundle", |record| {
        let first = records == 0;
        records += 1;
        match record {
            StateRecord::Branch { .. } if !first => Err(Error::validation("a second branch record")),
            StateRecord::Database { .. } | StateRecord::HistoryFloor { .. } => {
                Err(Error::validation("a database record does not belong in a bundle"))
            }
            StateRecord::Branch { .. } => builder.push(record),
            _ if first => Err(Error::validation("the first record is not the branch record")),
            _ => builder.push(record),
        }
    })
    .map_err(|error| match error {
        StreamError::Format(error) => damaged(source, &error),
        StreamError::Record { index, message } => Error::validation(format!("{source}: record {index}: {message}")),
    })?;
    let mut branches = builder.finish_branches();
    let exported = Name::from(header.branch_name.as_str());
    let branch = branches
        .remove(&exported)
        .ok_or_else(|| Error::validation(format!("{source}: it holds no records of branch '{}'", header.branch_name)))?;
    if !branch.spaces.contains_key(crate::model::DEFAULT) {
        return Err(Error::validation(format!("{source}: branch '{}' has no default space", header.branch_name)));
    }
    Ok(stamp(branch, version, timestamp))
}

/// Makes a rebuilt branch the one the import commit `(version, timestamp)` creates: a
/// standalone branch here (its parent and merge partners lived in another database).
pub fn stamp(mut branch: BranchState, version: u64, timestamp: u64) -> BranchState {
    branch.info = std::sync::Arc::new(BranchInfo {
        created_version: version,
        created_at: timestamp,
        updated_version: version,
        updated_at: timestamp,
        parent: None,
    });
    branch.merge_bases = imbl::OrdMap::new();
    branch.spaces_version = version;
    branch
}

/// The fuzz driver of the bundle reader (the `bundle_import` target in `fuzz/`, and the
/// corpus replay in tests/bundles.rs): any input either fails with a `Validation`
/// error or rebuilds a branch whose kept record counts match its maps. A panic is a
/// finding.
pub fn fuzz_import(data: &[u8]) {
    match build_branch(data, u64::MAX, 0) {
        Ok(branch) => {
            for space in branch.spaces.values() {
                let mut recounted = space.clone();
                recounted.recount_live_values();
                assert_eq!(recounted.live_values, space.live_values, "a rebuilt space miscounts its records");
            }
        }
        Err(error) => assert_eq!(error.kind(), crate::error::ErrorKind::Validation, "{}", error.message()),
    }
}

fn damaged(source: &str, error: &wal_format::FormatError) -> Error {
    Error::validation(format!("{source} is damaged: {error}"))
}

/// Checks every checksum of the bundle at `path` without importing it. A file that is
/// not a bundle at all (or cannot be read) is an error; a damaged bundle is a report
/// with `checksums_valid: false`.
pub fn validate(storage: &dyn Storage, path: &Path) -> Result<ValidateReport> {
    let bytes = read(storage, path)?;
    let source = path.display().to_string();
    let report = wal_format::validate_bundle(&bytes);
    let Some(header) = report.header.clone() else {
        let problem = report.problems.first().map(ToString::to_string).unwrap_or_default();
        return Err(Error::validation(format!("{source} is not a valid bundle: {problem}")));
    };
    let mut problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    let entry_count = report.records_verified;
    if report.is_valid() {
        // The checksums hold; make sure the content would import too.
        if let Err(error) = build_branch(&bytes, u64::MAX, 0) {
            problems.push(error.message().to_owned());
        }
    }
    Ok(ValidateReport {
        branch: header.branch_name,
        format_version: wal_format::FORMAT_VERSION,
        entry_count,
        checksums_valid: problems.is_empty(),
        problems,
    })
}

fn io_error(action: &str, path: &Path, error: &std::io::Error) -> Error {
    Error::io(format!("cannot {action} {}: {error}", path.display()))
}
