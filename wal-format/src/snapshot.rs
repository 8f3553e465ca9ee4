//! Snapshot files: a 32-byte header, then a block stream (`block.rs`) of the engine's
//! records, closed by an end chunk.
//!
//! Invariants:
//! - The header names the commit version the snapshot covers and a random salt; the
//!   salt is mixed into every chunk header checksum, so blocks of another snapshot
//!   never validate here.
//! - A snapshot is valid only if every block and the end chunk verify and nothing
//!   follows the end chunk; there is no torn-tail leniency (the engine fsyncs a
//!   snapshot before renaming it into place, so any damage is corruption).
//! - Records are opaque to this crate; their order is preserved.

use crate::block::{
    decode_all_chunks, validate_chunks, Block, BlockStreamDecoder, BlockStreamEncoder, StreamNames,
    StreamSummary, ValidationReport,
};
use crate::bytes::{to_u64, u64_at};
use crate::checksum::crc32;
use crate::error::FormatError;
use crate::preamble::{check_fixed_header, encode_preamble, FileKind, PREAMBLE_BYTES};

/// Size of the snapshot header in bytes.
pub const SNAPSHOT_HEADER_BYTES: usize = PREAMBLE_BYTES + 8 + 8 + 4;
const _: () = assert!(SNAPSHOT_HEADER_BYTES == 32);

const COVERED_VERSION_AT: usize = 12;
const SALT_AT: usize = 20;
const CHECKSUM_AT: usize = 28;

const NAMES: StreamNames = StreamNames {
    chunk_header: "snapshot chunk header",
    chunk_body: "snapshot chunk body",
    file: "snapshot",
};

/// The header of a snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnapshotHeader {
    /// The commit version whose state the snapshot holds (every commit up to and
    /// including it); recovery replays log records after it.
    pub covered_version: u64,
    /// A random value chosen by the engine for this snapshot file.
    pub salt: u64,
}

impl SnapshotHeader {
    /// Encodes the header into its 32 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SNAPSHOT_HEADER_BYTES);
        encode_preamble(FileKind::Snapshot, &mut out);
        out.extend_from_slice(&self.covered_version.to_le_bytes());
        out.extend_from_slice(&self.salt.to_le_bytes());
        let checksum = crc32(&[&out]);
        out.extend_from_slice(&checksum.to_le_bytes());
        debug_assert_eq!(out.len(), SNAPSHOT_HEADER_BYTES);
        out
    }

    /// Decodes a header from the first [`SNAPSHOT_HEADER_BYTES`] of `bytes` (later bytes
    /// are ignored).
    pub fn decode(bytes: &[u8]) -> Result<SnapshotHeader, FormatError> {
        check_fixed_header(FileKind::Snapshot, bytes, SNAPSHOT_HEADER_BYTES, CHECKSUM_AT)?;
        let truncated = || FormatError::Truncated {
            what: FileKind::Snapshot.header_name(),
            offset: 0,
            needed: to_u64(SNAPSHOT_HEADER_BYTES),
            available: to_u64(bytes.len()),
        };
        Ok(SnapshotHeader {
            covered_version: u64_at(bytes, COVERED_VERSION_AT).ok_or_else(truncated)?,
            salt: u64_at(bytes, SALT_AT).ok_or_else(truncated)?,
        })
    }

    /// Starts writing a snapshot: appends the header to `out` and returns the encoder
    /// to push records into.
    pub fn begin_encode(&self, out: &mut Vec<u8>) -> BlockStreamEncoder {
        BlockStreamEncoder::new(self.salt, &self.encode(), out)
    }

    /// Starts reading a snapshot from its first [`SNAPSHOT_HEADER_BYTES`] bytes (later
    /// bytes are ignored); the decoder then takes chunk headers and bodies in turn.
    pub fn begin_decode(
        prefix: &[u8],
    ) -> Result<(SnapshotHeader, BlockStreamDecoder), FormatError> {
        let header = SnapshotHeader::decode(prefix)?;
        let header_bytes = prefix.get(..SNAPSHOT_HEADER_BYTES).unwrap_or_default();
        Ok((
            header,
            BlockStreamDecoder::new(header.salt, NAMES, header_bytes),
        ))
    }
}

/// A whole snapshot decoded from memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedSnapshot {
    /// The header.
    pub header: SnapshotHeader,
    /// The verified totals from the end chunk.
    pub summary: StreamSummary,
    /// The decompressed blocks, in order.
    pub blocks: Vec<Block>,
}

impl DecodedSnapshot {
    /// Every record payload, in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.blocks.iter().flat_map(Block::records)
    }
}

/// Decodes and verifies a complete snapshot file held in memory; the first problem
/// found is the error. Memory use is the decompressed size of the snapshot; use
/// [`SnapshotHeader::begin_decode`] to stream instead.
pub fn decode_snapshot(file: &[u8]) -> Result<DecodedSnapshot, FormatError> {
    let (header, decoder) = SnapshotHeader::begin_decode(file)?;
    let (blocks, summary) = decode_all_chunks(decoder, file)?;
    Ok(DecodedSnapshot {
        header,
        summary,
        blocks,
    })
}

/// Checks every checksum of a snapshot file held in memory and reports every problem
/// found, instead of stopping at the first.
pub fn validate_snapshot(file: &[u8]) -> ValidationReport<SnapshotHeader> {
    match SnapshotHeader::begin_decode(file) {
        Ok((header, decoder)) => validate_chunks(decoder, file, header),
        Err(problem) => ValidationReport::header_failed(problem),
    }
}
