//! Log segments: the segment header, the frame encoder and the incremental decoder.
//!
//! A segment is a 40-byte header followed by frames (see `frame.rs` and FORMAT.md).
//!
//! Invariants:
//! - The first frame chains to the segment header's checksum; every later frame chains
//!   to the previous frame's header checksum; every frame checksum includes the
//!   segment's random salt. So a frame from another segment, a stale frame from an
//!   earlier use of the file, or zero-filled space never decodes as a frame.
//! - The decoder reports exactly one of `Frame`, `CleanEnd`, `TornTail` and `Corrupt`
//!   for each position, deterministically, and never moves past a defect; after a
//!   `TornTail` or `Corrupt` it keeps returning the same outcome.
//! - `TornTail` is returned only for defects that a crash can leave, when no later
//!   self-validating frame's durable watermark covers the defect (FORMAT.md, decision
//!   table). Everything else is `Corrupt`.
//! - The encoder never produces a segment longer than [`SEGMENT_BYTES_MAX`] or a
//!   watermark past the bytes it has encoded.
//!
//! Fault model assumed (FORMAT.md, "Assumptions about the disk"): a crash may lose,
//! zero-fill or tear any write that was not followed by a completed fsync, in any
//! order at sector granularity; synced bytes stay as written unless the medium
//! corrupts them.

use std::ops::Range;

use crate::bytes::{all_zero, to_u64, u64_at};
use crate::checksum::crc32;
use crate::error::FormatError;
use crate::frame::{
    encode_frame, find_durability_proof, inspect, FrameFields, FrameOutcome, RecordType,
};
use crate::limits::{FRAME_PAYLOAD_BYTES_MAX, SEGMENT_BYTES_MAX};
use crate::preamble::{check_fixed_header, encode_preamble, FileKind, PREAMBLE_BYTES};

/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_BYTES: usize = PREAMBLE_BYTES + 8 + 8 + 8 + 4;
const _: () = assert!(SEGMENT_HEADER_BYTES == 40);

const SEQUENCE_AT: usize = 12;
const SALT_AT: usize = 20;
const PREVIOUS_VERSION_AT: usize = 28;
const CHECKSUM_AT: usize = 36;

/// The header of a log segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentHeader {
    /// The segment's sequence number; consecutive segments have consecutive numbers.
    pub sequence: u64,
    /// A random value chosen by the engine when it creates the segment; it is mixed
    /// into every frame checksum so frames of other segments never validate here.
    pub salt: u64,
    /// The commit version of the last record written before this segment (0 for the
    /// first segment of a database). Every frame in the segment has a later version;
    /// the engine checks that the previous segment ends with this version, which
    /// detects a sealed segment that lost frames at a frame boundary.
    pub previous_version: u64,
}

impl SegmentHeader {
    /// Encodes the header into its 40 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SEGMENT_HEADER_BYTES);
        encode_preamble(FileKind::Segment, &mut out);
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.salt.to_le_bytes());
        out.extend_from_slice(&self.previous_version.to_le_bytes());
        let checksum = crc32(&[&out]);
        out.extend_from_slice(&checksum.to_le_bytes());
        debug_assert_eq!(out.len(), SEGMENT_HEADER_BYTES);
        out
    }

    /// Decodes a header from the first 40 bytes of `bytes` (later bytes are ignored).
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, FormatError> {
        decode_header(bytes).map(|(header, _)| header)
    }
}

/// Decodes the header and returns it with its checksum (the first frame's chain value).
fn decode_header(bytes: &[u8]) -> Result<(SegmentHeader, u32), FormatError> {
    let stored = check_fixed_header(FileKind::Segment, bytes, SEGMENT_HEADER_BYTES, CHECKSUM_AT)?;
    let truncated = || FormatError::Truncated {
        what: FileKind::Segment.header_name(),
        offset: 0,
        needed: to_u64(SEGMENT_HEADER_BYTES),
        available: to_u64(bytes.len()),
    };
    let header = SegmentHeader {
        sequence: u64_at(bytes, SEQUENCE_AT).ok_or_else(truncated)?,
        salt: u64_at(bytes, SALT_AT).ok_or_else(truncated)?,
        previous_version: u64_at(bytes, PREVIOUS_VERSION_AT).ok_or_else(truncated)?,
    };
    Ok((header, stored))
}

/// Encodes frames of one segment, keeping the chain, the offset and the durable
/// watermark. It does no I/O: it appends bytes to a buffer the engine writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEncoder {
    salt: u64,
    chain: u32,
    end: u64,
    synced_through: u32,
}

impl SegmentEncoder {
    /// Starts a new segment: appends the 40-byte header to `out`.
    ///
    /// `header.salt` must be random (fresh for every segment file).
    pub fn new(header: &SegmentHeader, out: &mut Vec<u8>) -> SegmentEncoder {
        let bytes = header.encode();
        let chain = crc32(&[bytes.get(..CHECKSUM_AT).unwrap_or_default()]);
        out.extend_from_slice(&bytes);
        SegmentEncoder {
            salt: header.salt,
            chain,
            end: to_u64(SEGMENT_HEADER_BYTES),
            synced_through: 0,
        }
    }

    /// Appends one frame to `out` and returns the byte range it occupies in the segment.
    ///
    /// Fails, changing nothing, when the payload is over [`FRAME_PAYLOAD_BYTES_MAX`] or
    /// the frame would take the segment past [`SEGMENT_BYTES_MAX`] (roll to a new
    /// segment first).
    pub fn append(
        &mut self,
        record_type: RecordType,
        version: u64,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Range<u64>, FormatError> {
        let too_large = FormatError::LimitExceeded {
            what: "frame payload bytes (FRAME_PAYLOAD_BYTES_MAX)",
            offset: self.end,
            value: to_u64(payload.len()),
            max: u64::from(FRAME_PAYLOAD_BYTES_MAX),
        };
        let payload_length = u32::try_from(payload.len()).map_err(|_| too_large.clone())?;
        if payload_length > FRAME_PAYLOAD_BYTES_MAX {
            return Err(too_large);
        }
        let start = self.end;
        let end = start + to_u64(crate::frame::FRAME_HEADER_BYTES) + u64::from(payload_length);
        if end > SEGMENT_BYTES_MAX {
            return Err(FormatError::LimitExceeded {
                what: "segment bytes (SEGMENT_BYTES_MAX)",
                offset: start,
                value: end,
                max: SEGMENT_BYTES_MAX,
            });
        }
        let fields = FrameFields {
            salt: self.salt,
            previous_checksum: self.chain,
            synced_through: self.synced_through,
            record_type,
            version,
            payload,
            payload_length,
        };
        self.chain = encode_frame(&fields, out);
        self.end = end;
        Ok(start..end)
    }

    /// Records that every byte of the segment before `through` is durable (the engine
    /// wrote it and a later fsync of the segment file completed). Frames appended
    /// afterwards carry this watermark, which lets recovery tell a torn unsynced tail
    /// from damage to synced data. Call it only after the fsync succeeded; a smaller
    /// value than before is ignored. `through` must be a frame boundary (or the header
    /// end) no later than [`SegmentEncoder::end_offset`].
    pub fn mark_synced(&mut self, through: u64) -> Result<(), FormatError> {
        if through > self.end {
            return Err(FormatError::InvalidArgument {
                what: "SegmentEncoder::mark_synced",
                detail: format!(
                    "offset {through} is past the {} bytes encoded so far",
                    self.end
                ),
            });
        }
        let through = u32::try_from(through).map_err(|_| FormatError::InvalidArgument {
            what: "SegmentEncoder::mark_synced",
            detail: format!("offset {through} is past SEGMENT_BYTES_MAX"),
        })?;
        self.synced_through = self.synced_through.max(through);
        Ok(())
    }

    /// Records that everything encoded so far is durable; the same as
    /// `mark_synced(self.end_offset())`.
    pub fn mark_all_synced(&mut self) {
        // `end` never exceeds SEGMENT_BYTES_MAX == u32::MAX, so this cannot saturate.
        self.synced_through = u32::try_from(self.end).unwrap_or(u32::MAX);
    }

    /// The segment length after everything encoded so far (header included).
    pub fn end_offset(&self) -> u64 {
        self.end
    }

    /// The durable watermark the next frame will carry.
    pub fn synced_through(&self) -> u64 {
        u64::from(self.synced_through)
    }
}

/// What [`SegmentDecoder::open`] found at the start of a segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentOpen<'a> {
    /// The header is valid; decode frames with the decoder.
    Ready(SegmentDecoder<'a>),
    /// The header is missing, short, zero-filled or fails its checksum, and no byte
    /// after the header's 40 bytes is non-zero: a segment whose creation a crash
    /// interrupted. If it is the last segment, the engine may delete it (the engine
    /// makes a segment header durable before writing any frame to it). Anywhere else
    /// it is corruption.
    Unwritten {
        /// What decoding the header reported.
        cause: FormatError,
    },
}

/// Decodes the frames of one segment held in memory, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDecoder<'a> {
    segment: &'a [u8],
    header: SegmentHeader,
    position: usize,
    chain: u32,
    synced_through: u32,
    terminal: Option<FrameOutcome<'a>>,
}

impl<'a> SegmentDecoder<'a> {
    /// Opens the segment whose complete bytes are `segment`.
    ///
    /// Errors: the header is damaged while later bytes are not all zero (corruption),
    /// the segment is longer than [`SEGMENT_BYTES_MAX`], or the file was written by a
    /// newer format version or with an unknown checksum type (never deletable).
    pub fn open(segment: &'a [u8]) -> Result<SegmentOpen<'a>, FormatError> {
        if to_u64(segment.len()) > SEGMENT_BYTES_MAX {
            return Err(FormatError::LimitExceeded {
                what: "segment bytes (SEGMENT_BYTES_MAX)",
                offset: 0,
                value: to_u64(segment.len()),
                max: SEGMENT_BYTES_MAX,
            });
        }
        match decode_header(segment) {
            Ok((header, chain)) => Ok(SegmentOpen::Ready(SegmentDecoder {
                segment,
                header,
                position: SEGMENT_HEADER_BYTES,
                chain,
                synced_through: 0,
                terminal: None,
            })),
            Err(cause) => {
                let after_header = segment.get(SEGMENT_HEADER_BYTES..).unwrap_or_default();
                if could_be_unfinished_creation(&cause) && all_zero(after_header) {
                    Ok(SegmentOpen::Unwritten { cause })
                } else {
                    Err(cause)
                }
            }
        }
    }

    /// The segment's header.
    pub fn header(&self) -> &SegmentHeader {
        &self.header
    }

    /// Offset of the next undecoded byte: the length of the verified prefix, and the
    /// length to truncate the segment to after a `TornTail`.
    pub fn position(&self) -> u64 {
        to_u64(self.position)
    }

    /// Decodes the next frame. See [`FrameOutcome`] and FORMAT.md's decision table.
    pub fn next_frame(&mut self) -> FrameOutcome<'a> {
        if let Some(terminal) = self.terminal {
            return terminal;
        }
        if self.position >= self.segment.len() {
            return FrameOutcome::CleanEnd;
        }
        match inspect(self.segment, self.position, self.header.salt, self.chain) {
            Ok(verified) => {
                self.position = verified.end;
                self.chain = verified.checksum;
                self.synced_through = self.synced_through.max(verified.synced_through);
                FrameOutcome::Frame(verified.frame)
            }
            Err(reason) => {
                let offset = to_u64(self.position);
                let outcome = if reason.is_possible_crash_artefact() {
                    let proof = find_durability_proof(
                        self.segment,
                        self.header.salt,
                        self.position + 1,
                        offset,
                    );
                    match proof {
                        Some(proven_by) => FrameOutcome::Corrupt {
                            offset,
                            reason,
                            proven_by: Some(proven_by),
                        },
                        None => FrameOutcome::TornTail { offset, reason },
                    }
                } else {
                    FrameOutcome::Corrupt {
                        offset,
                        reason,
                        proven_by: None,
                    }
                };
                self.terminal = Some(outcome);
                outcome
            }
        }
    }

    /// An encoder that appends to this segment after its verified prefix, continuing
    /// the chain and the durable watermark.
    ///
    /// Use it only after `CleanEnd`, or after `TornTail` once the engine has truncated
    /// the file to [`SegmentDecoder::position`] and made the truncation durable (fsync)
    /// — never after `Corrupt`.
    pub fn resume_encoder(&self) -> SegmentEncoder {
        SegmentEncoder {
            salt: self.header.salt,
            chain: self.chain,
            end: to_u64(self.position),
            synced_through: self.synced_through,
        }
    }
}

/// True for header errors that an interrupted segment creation can produce: missing,
/// short, zero-filled or torn bytes. A newer version or checksum type is never one.
fn could_be_unfinished_creation(cause: &FormatError) -> bool {
    match cause {
        FormatError::Truncated { .. }
        | FormatError::BadMagic { .. }
        | FormatError::ChecksumMismatch { .. } => true,
        FormatError::UnsupportedVersion { found, .. } => *found == 0,
        FormatError::UnsupportedChecksumType { found, .. } => *found == 0,
        _ => false,
    }
}
