//! Bundle files (branch exports): a 32-byte fixed header, a variable header section
//! (branch name and opaque metadata), then a block stream (`block.rs`) of opaque
//! records closed by an end chunk holding the record count and a checksum over every
//! byte before it.
//!
//! Invariants:
//! - The fixed header's checksum covers the lengths of the variable section, which are
//!   checked against [`BRANCH_NAME_BYTES_MAX`] and [`BUNDLE_METADATA_BYTES_MAX`] before
//!   the section is read; the section has its own checksum, and the branch name must
//!   be UTF-8.
//! - The salt is mixed into every chunk header checksum, so blocks of another bundle or
//!   of a snapshot never validate here; the magic differs from a snapshot's.
//! - Like snapshots, bundles have no torn-tail leniency: any damage is an error (or,
//!   from [`validate_bundle`], a reported problem).

use crate::block::{
    decode_all_chunks, validate_chunks, Block, BlockStreamDecoder, BlockStreamEncoder, StreamNames,
    StreamSummary, ValidationReport,
};
use crate::bytes::{to_u64, u16_at, u32_at, u64_at, u8_at};
use crate::checksum::crc32;
use crate::error::FormatError;
use crate::limits::{BRANCH_NAME_BYTES_MAX, BUNDLE_METADATA_BYTES_MAX};
use crate::preamble::{check_preamble, encode_preamble, FileKind, PREAMBLE_BYTES, RESERVED_AT};

/// Size of the fixed part of the bundle header in bytes.
pub const BUNDLE_FIXED_HEADER_BYTES: usize = PREAMBLE_BYTES + 8 + 2 + 2 + 4 + 4;
const _: () = assert!(BUNDLE_FIXED_HEADER_BYTES == 32);

const SALT_AT: usize = 12;
const NAME_LENGTH_AT: usize = 20;
const RESERVED_WIDE_AT: usize = 22;
const METADATA_LENGTH_AT: usize = 24;
const CHECKSUM_AT: usize = 28;
/// Size of the checksum that closes the variable section.
const SECTION_CHECKSUM_BYTES: usize = 4;

const NAMES: StreamNames = StreamNames {
    chunk_header: "bundle chunk header",
    chunk_body: "bundle chunk body",
    file: "bundle",
};

/// The header of a bundle: which branch it exports, and opaque engine metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BundleHeader {
    /// A random value chosen by the engine for this bundle file.
    pub salt: u64,
    /// The exported branch's name (at most [`BRANCH_NAME_BYTES_MAX`] UTF-8 bytes).
    pub branch_name: String,
    /// Opaque metadata (at most [`BUNDLE_METADATA_BYTES_MAX`] bytes).
    pub metadata: Vec<u8>,
}

impl BundleHeader {
    /// Encodes the fixed header and the variable section.
    ///
    /// Fails when the branch name or the metadata is over its limit.
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        let name_length = u16::try_from(self.branch_name.len())
            .ok()
            .filter(|&length| length <= BRANCH_NAME_BYTES_MAX)
            .ok_or(FormatError::LimitExceeded {
                what: "branch name bytes (BRANCH_NAME_BYTES_MAX)",
                offset: to_u64(BUNDLE_FIXED_HEADER_BYTES),
                value: to_u64(self.branch_name.len()),
                max: u64::from(BRANCH_NAME_BYTES_MAX),
            })?;
        let metadata_length = u32::try_from(self.metadata.len())
            .ok()
            .filter(|&length| length <= BUNDLE_METADATA_BYTES_MAX)
            .ok_or(FormatError::LimitExceeded {
                what: "bundle metadata bytes (BUNDLE_METADATA_BYTES_MAX)",
                offset: to_u64(BUNDLE_FIXED_HEADER_BYTES + self.branch_name.len()),
                value: to_u64(self.metadata.len()),
                max: u64::from(BUNDLE_METADATA_BYTES_MAX),
            })?;
        let mut out = Vec::with_capacity(
            BUNDLE_FIXED_HEADER_BYTES
                + self.branch_name.len()
                + self.metadata.len()
                + SECTION_CHECKSUM_BYTES,
        );
        encode_preamble(FileKind::Bundle, &mut out);
        out.extend_from_slice(&self.salt.to_le_bytes());
        out.extend_from_slice(&name_length.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&metadata_length.to_le_bytes());
        let checksum = crc32(&[&out]);
        out.extend_from_slice(&checksum.to_le_bytes());
        debug_assert_eq!(out.len(), BUNDLE_FIXED_HEADER_BYTES);
        out.extend_from_slice(self.branch_name.as_bytes());
        out.extend_from_slice(&self.metadata);
        let section = crc32(&[self.branch_name.as_bytes(), &self.metadata]);
        out.extend_from_slice(&section.to_le_bytes());
        Ok(out)
    }

    /// Starts writing a bundle: appends the header to `out` and returns the encoder to
    /// push records into.
    pub fn begin_encode(&self, out: &mut Vec<u8>) -> Result<BlockStreamEncoder, FormatError> {
        let header = self.encode()?;
        Ok(BlockStreamEncoder::new(self.salt, &header, out))
    }

    /// Starts reading a bundle from its first [`BUNDLE_FIXED_HEADER_BYTES`] bytes
    /// (later bytes are ignored). Then read [`BundlePrefix::variable_bytes`] more bytes
    /// and pass them to [`BundlePrefix::finish`].
    pub fn begin_decode(fixed: &[u8]) -> Result<BundlePrefix, FormatError> {
        let kind = FileKind::Bundle;
        let what = kind.header_name();
        check_preamble(kind, fixed, BUNDLE_FIXED_HEADER_BYTES)?;
        let truncated = || FormatError::Truncated {
            what,
            offset: 0,
            needed: to_u64(BUNDLE_FIXED_HEADER_BYTES),
            available: to_u64(fixed.len()),
        };
        let raw: [u8; BUNDLE_FIXED_HEADER_BYTES] = fixed
            .get(..BUNDLE_FIXED_HEADER_BYTES)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(truncated)?;
        let stored = u32_at(&raw, CHECKSUM_AT).ok_or_else(truncated)?;
        let computed = crc32(&[raw.get(..CHECKSUM_AT).unwrap_or_default()]);
        if stored != computed {
            return Err(FormatError::ChecksumMismatch {
                what,
                offset: 0,
                stored,
                computed,
            });
        }
        if u8_at(&raw, RESERVED_AT) != Some(0) || u16_at(&raw, RESERVED_WIDE_AT) != Some(0) {
            return Err(FormatError::ReservedNotZero { what, offset: 0 });
        }
        let name_length = u16_at(&raw, NAME_LENGTH_AT).ok_or_else(truncated)?;
        if name_length > BRANCH_NAME_BYTES_MAX {
            return Err(FormatError::LimitExceeded {
                what: "branch name bytes (BRANCH_NAME_BYTES_MAX)",
                offset: to_u64(NAME_LENGTH_AT),
                value: u64::from(name_length),
                max: u64::from(BRANCH_NAME_BYTES_MAX),
            });
        }
        let metadata_length = u32_at(&raw, METADATA_LENGTH_AT).ok_or_else(truncated)?;
        if metadata_length > BUNDLE_METADATA_BYTES_MAX {
            return Err(FormatError::LimitExceeded {
                what: "bundle metadata bytes (BUNDLE_METADATA_BYTES_MAX)",
                offset: to_u64(METADATA_LENGTH_AT),
                value: u64::from(metadata_length),
                max: u64::from(BUNDLE_METADATA_BYTES_MAX),
            });
        }
        Ok(BundlePrefix {
            salt: u64_at(&raw, SALT_AT).ok_or_else(truncated)?,
            name_length,
            metadata_length,
            fixed: raw,
        })
    }
}

/// The verified fixed part of a bundle header, waiting for its variable section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePrefix {
    salt: u64,
    name_length: u16,
    metadata_length: u32,
    fixed: [u8; BUNDLE_FIXED_HEADER_BYTES],
}

impl BundlePrefix {
    /// Length of the variable section that follows the fixed header (branch name,
    /// metadata and their checksum); bounded by the limits, already checked.
    pub fn variable_bytes(&self) -> usize {
        usize::from(self.name_length) + self.metadata_length as usize + SECTION_CHECKSUM_BYTES
    }

    /// Verifies the variable section in the first [`BundlePrefix::variable_bytes`]
    /// bytes of `variable` (later bytes are ignored) and returns the header and the
    /// decoder for the blocks that follow.
    pub fn finish(
        self,
        variable: &[u8],
    ) -> Result<(BundleHeader, BlockStreamDecoder), FormatError> {
        let what = "bundle header section";
        let offset = to_u64(BUNDLE_FIXED_HEADER_BYTES);
        let length = self.variable_bytes();
        let section = variable.get(..length).ok_or(FormatError::Truncated {
            what,
            offset,
            needed: to_u64(length),
            available: to_u64(variable.len()),
        })?;
        let name_end = usize::from(self.name_length);
        let metadata_end = name_end + self.metadata_length as usize;
        let covered = section.get(..metadata_end).unwrap_or_default();
        let stored = u32_at(section, metadata_end).unwrap_or_default();
        let computed = crc32(&[covered]);
        if stored != computed {
            return Err(FormatError::ChecksumMismatch {
                what,
                offset,
                stored,
                computed,
            });
        }
        let name = covered.get(..name_end).unwrap_or_default();
        let branch_name = std::str::from_utf8(name)
            .map_err(|_| FormatError::InvalidUtf8 {
                what: "branch name",
                offset,
            })?
            .to_owned();
        let metadata = covered.get(name_end..).unwrap_or_default().to_vec();
        let mut header_bytes = Vec::with_capacity(BUNDLE_FIXED_HEADER_BYTES + length);
        header_bytes.extend_from_slice(&self.fixed);
        header_bytes.extend_from_slice(section);
        let decoder = BlockStreamDecoder::new(self.salt, NAMES, &header_bytes);
        Ok((
            BundleHeader {
                salt: self.salt,
                branch_name,
                metadata,
            },
            decoder,
        ))
    }
}

/// A whole bundle decoded from memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBundle {
    /// The header.
    pub header: BundleHeader,
    /// The verified totals from the end chunk (`record_count` is the entry count).
    pub summary: StreamSummary,
    /// The decompressed blocks, in order.
    pub blocks: Vec<Block>,
}

impl DecodedBundle {
    /// Every record payload, in order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.blocks.iter().flat_map(Block::records)
    }
}

/// Decodes the fixed header and variable section at the start of `file`.
fn begin_decode_file(file: &[u8]) -> Result<(BundleHeader, BlockStreamDecoder), FormatError> {
    let prefix = BundleHeader::begin_decode(file)?;
    prefix.finish(file.get(BUNDLE_FIXED_HEADER_BYTES..).unwrap_or_default())
}

/// Decodes and verifies a complete bundle held in memory; the first problem found is
/// the error.
pub fn decode_bundle(file: &[u8]) -> Result<DecodedBundle, FormatError> {
    let (header, decoder) = begin_decode_file(file)?;
    let (blocks, summary) = decode_all_chunks(decoder, file)?;
    Ok(DecodedBundle {
        header,
        summary,
        blocks,
    })
}

/// Checks every checksum of a bundle held in memory and reports every problem found,
/// instead of stopping at the first.
pub fn validate_bundle(file: &[u8]) -> ValidationReport<BundleHeader> {
    match begin_decode_file(file) {
        Ok((header, decoder)) => validate_chunks(decoder, file, header),
        Err(problem) => ValidationReport::header_failed(problem),
    }
}
