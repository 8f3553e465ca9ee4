//! Log frames: the byte layout of one log record, its checks, and the rules that
//! tell a torn tail (a crash artefact, to be truncated) from corruption (to refuse).
//!
//! Layout (32-byte header, then the payload; see FORMAT.md for the table):
//! `header_checksum u32 | payload_length u32 | record_type u8 | flags u8 |
//! reserved u16 | synced_through u32 | version u64 | previous_checksum u32 |
//! payload_checksum u32 | payload`.
//!
//! Invariants:
//! - `header_checksum` is CRC-32 over the segment salt (8 bytes, little-endian)
//!   followed by header bytes 4..32. The header holds the payload's checksum and the
//!   previous frame's `header_checksum` (the first frame holds the segment header's
//!   checksum), so one `header_checksum` transitively covers the salt, the whole
//!   frame and the chain. It is "the frame's checksum" that the next frame chains to.
//! - A frame *self-validates* when its header checksum matches with this segment's
//!   salt. Frames of another segment (another salt) never self-validate, except by a
//!   2^-32 accident on top of the structural filters below.
//! - `synced_through` is the writer's durable watermark: every byte of the segment
//!   before that offset had been made durable (fsync) before this frame was written.
//!   It is never greater than the frame's own offset.
//! - Tag 0 is never a record type, so a zeroed header can never be a frame.
//! - Decoding never panics, never allocates (payloads are slices of the input), and
//!   scanning after a defect costs at most one CRC of 36 bytes per byte scanned.

use crate::bytes::{all_zero, to_u64, u16_at, u32_at, u64_at, u8_at};
use crate::checksum::crc32;
use crate::error::UnknownTag;
use crate::limits::FRAME_PAYLOAD_BYTES_MAX;

/// Size of a frame header in bytes.
pub const FRAME_HEADER_BYTES: usize = 4 + 4 + 1 + 1 + 2 + 4 + 8 + 4 + 4;
const _: () = assert!(FRAME_HEADER_BYTES == 32);

// Field offsets inside the frame header.
const HEADER_CHECKSUM_AT: usize = 0;
const PAYLOAD_LENGTH_AT: usize = 4;
const RECORD_TYPE_AT: usize = 8;
const FLAGS_AT: usize = 9;
const RESERVED_AT: usize = 10;
const SYNCED_THROUGH_AT: usize = 12;
const VERSION_AT: usize = 16;
const PREVIOUS_CHECKSUM_AT: usize = 24;
const PAYLOAD_CHECKSUM_AT: usize = 28;
/// The header checksum covers the header from here on.
const CHECKED_FROM: usize = PAYLOAD_LENGTH_AT;

/// The type of a log record, stored as the frame's record-type byte.
///
/// Only ever append variants; never renumber. Value 0 is reserved as invalid so that
/// zero-filled space never decodes as a record. A new variant is a format change: a
/// reader that does not know it reports the frame as corrupt rather than truncating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// One committed write set (a put, a transaction, a merge), applied whole.
    Commit = 1,
    /// No data: written after an fsync (at close), its watermark vouches that every
    /// byte before it is durable, so later damage there is refused, not truncated.
    /// Its version is the version of the last commit before it; its payload is empty.
    SyncMarker = 2,
}

impl TryFrom<u8> for RecordType {
    type Error = UnknownTag;

    fn try_from(tag: u8) -> Result<Self, Self::Error> {
        match tag {
            1 => Ok(RecordType::Commit),
            2 => Ok(RecordType::SyncMarker),
            _ => Err(UnknownTag {
                what: "record type",
                tag,
            }),
        }
    }
}

/// One decoded, fully verified log frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Offset of the frame's first byte in the segment.
    pub offset: u64,
    /// The record type.
    pub record_type: RecordType,
    /// The commit version the writer gave the record.
    pub version: u64,
    /// The opaque payload (the engine's postcard bytes), borrowed from the input.
    pub payload: &'a [u8],
}

/// Why the bytes at some offset are not the next frame.
///
/// Variants for which [`FrameDefect::is_possible_crash_artefact`] is true can be left by
/// a crash that lost or tore unsynced writes; the others cannot (they need a frame whose
/// checksum matched, so its bytes are exactly what some writer wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameDefect {
    /// Every byte from the offset to the end of the segment is zero (the file was
    /// extended or preallocated but the data never reached the disk).
    #[error("every byte from here to the end of the segment is zero")]
    ZeroFilled,
    /// The 32 header bytes are all zero, but non-zero bytes follow later.
    #[error("the frame header is all zero bytes")]
    ZeroedHeader,
    /// Fewer bytes than a frame header remain.
    #[error("only {available} bytes remain, fewer than a 32-byte frame header")]
    HeaderTruncated {
        /// Bytes remaining from the offset.
        available: u64,
    },
    /// The header checksum does not match (with this segment's salt).
    #[error("frame header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    HeaderChecksumMismatch {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the header as found.
        computed: u32,
    },
    /// The header is intact but chains to a different previous frame.
    #[error("frame chains to checksum {found:#010x}, but the previous frame's checksum is {expected:#010x}")]
    ChainMismatch {
        /// The previous frame's checksum.
        expected: u32,
        /// The chain value stored in this frame.
        found: u32,
    },
    /// The header is intact but the payload runs past the end of the segment.
    #[error("the payload of {length} bytes runs past the end of the segment ({available} bytes present)")]
    PayloadTruncated {
        /// Declared payload length.
        length: u32,
        /// Payload bytes present.
        available: u64,
    },
    /// The header is intact but the payload does not match its checksum.
    #[error("payload checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    PayloadChecksumMismatch {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the payload as found.
        computed: u32,
    },
    /// An intact header names a record type this build does not know (written by a
    /// newer version, or a bug); never truncated.
    #[error("unknown record type {tag} in a frame whose checksum matches")]
    UnknownRecordType {
        /// The record-type byte.
        tag: u8,
    },
    /// An intact header has non-zero flags or reserved bytes.
    #[error("non-zero flags or reserved bytes in a frame whose checksum matches")]
    ReservedNotZero,
    /// An intact header declares a payload over [`FRAME_PAYLOAD_BYTES_MAX`].
    #[error(
        "payload length {length} is over FRAME_PAYLOAD_BYTES_MAX in a frame whose checksum matches"
    )]
    PayloadTooLarge {
        /// Declared payload length.
        length: u32,
    },
    /// An intact header claims durability of bytes at or after its own offset.
    #[error("durable watermark {synced_through} is past the frame's own offset")]
    SyncedThroughAhead {
        /// The watermark stored in the frame.
        synced_through: u32,
    },
}

impl FrameDefect {
    /// True when a crash that lost or tore unsynced writes can leave this defect.
    ///
    /// Such a defect is a torn tail unless a later self-validating frame proves that
    /// the damaged bytes had been made durable (see FORMAT.md, decision table).
    pub fn is_possible_crash_artefact(&self) -> bool {
        matches!(
            self,
            FrameDefect::ZeroFilled
                | FrameDefect::ZeroedHeader
                | FrameDefect::HeaderTruncated { .. }
                | FrameDefect::HeaderChecksumMismatch { .. }
                | FrameDefect::ChainMismatch { .. }
                | FrameDefect::PayloadTruncated { .. }
                | FrameDefect::PayloadChecksumMismatch { .. }
        )
    }
}

/// The result of asking a segment decoder for the next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome<'a> {
    /// A verified frame; the decoder has moved past it.
    Frame(Frame<'a>),
    /// The segment ends exactly after the last frame (or after the header).
    CleanEnd,
    /// The segment ends in bytes that a crash can leave behind and that nothing proves
    /// durable: truncate the segment to `offset` (in the last segment only; in any
    /// other segment the engine must treat this as corruption).
    TornTail {
        /// Where the valid prefix ends; the first byte to truncate.
        offset: u64,
        /// What is wrong with the bytes at `offset`.
        reason: FrameDefect,
    },
    /// Damage that must not be truncated: refuse to open, naming file and `offset`.
    Corrupt {
        /// Where the valid prefix ends; the first damaged frame.
        offset: u64,
        /// What is wrong with the bytes at `offset`.
        reason: FrameDefect,
        /// For a defect that a crash could leave: the offset of a later frame whose
        /// durable watermark covers `offset`, proving the damaged bytes had been
        /// synced. `None` when the defect itself can only be corruption.
        proven_by: Option<u64>,
    },
}

/// The fields of a frame header, not yet verified.
#[derive(Debug, Clone, Copy)]
struct RawHeader {
    header_checksum: u32,
    payload_length: u32,
    record_type: u8,
    flags: u8,
    reserved: u16,
    synced_through: u32,
    version: u64,
    previous_checksum: u32,
    payload_checksum: u32,
}

impl RawHeader {
    fn parse(header: &[u8]) -> Option<RawHeader> {
        Some(RawHeader {
            header_checksum: u32_at(header, HEADER_CHECKSUM_AT)?,
            payload_length: u32_at(header, PAYLOAD_LENGTH_AT)?,
            record_type: u8_at(header, RECORD_TYPE_AT)?,
            flags: u8_at(header, FLAGS_AT)?,
            reserved: u16_at(header, RESERVED_AT)?,
            synced_through: u32_at(header, SYNCED_THROUGH_AT)?,
            version: u64_at(header, VERSION_AT)?,
            previous_checksum: u32_at(header, PREVIOUS_CHECKSUM_AT)?,
            payload_checksum: u32_at(header, PAYLOAD_CHECKSUM_AT)?,
        })
    }
}

/// The checksum of a frame header: CRC-32 of the salt then header bytes 4..32.
fn header_checksum(salt: u64, header: &[u8]) -> u32 {
    crc32(&[
        &salt.to_le_bytes(),
        header.get(CHECKED_FROM..).unwrap_or_default(),
    ])
}

/// The fields an encoder puts into one frame.
pub(crate) struct FrameFields<'p> {
    pub(crate) salt: u64,
    pub(crate) previous_checksum: u32,
    pub(crate) synced_through: u32,
    pub(crate) record_type: RecordType,
    pub(crate) version: u64,
    pub(crate) payload: &'p [u8],
    pub(crate) payload_length: u32,
}

/// Appends one frame to `out` and returns its header checksum (the next chain value).
pub(crate) fn encode_frame(fields: &FrameFields<'_>, out: &mut Vec<u8>) -> u32 {
    let mut header = Vec::with_capacity(FRAME_HEADER_BYTES);
    header.extend_from_slice(&[0; 4]);
    header.extend_from_slice(&fields.payload_length.to_le_bytes());
    header.push(fields.record_type as u8);
    header.push(0);
    header.extend_from_slice(&0u16.to_le_bytes());
    header.extend_from_slice(&fields.synced_through.to_le_bytes());
    header.extend_from_slice(&fields.version.to_le_bytes());
    header.extend_from_slice(&fields.previous_checksum.to_le_bytes());
    header.extend_from_slice(&crc32(&[fields.payload]).to_le_bytes());
    debug_assert_eq!(header.len(), FRAME_HEADER_BYTES);
    let checksum = header_checksum(fields.salt, &header);
    out.extend_from_slice(&checksum.to_le_bytes());
    out.extend_from_slice(header.get(4..).unwrap_or_default());
    out.extend_from_slice(fields.payload);
    checksum
}

/// A frame that passed every check at its position.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerifiedFrame<'a> {
    pub(crate) frame: Frame<'a>,
    pub(crate) checksum: u32,
    pub(crate) synced_through: u32,
    pub(crate) end: usize,
}

/// Checks the frame that should start at `position` (which must be before the end),
/// expecting it to chain to `expected_chain`.
pub(crate) fn inspect(
    segment: &[u8],
    position: usize,
    salt: u64,
    expected_chain: u32,
) -> Result<VerifiedFrame<'_>, FrameDefect> {
    let rest = segment.get(position..).unwrap_or_default();
    if all_zero(rest) {
        return Err(FrameDefect::ZeroFilled);
    }
    let truncated = FrameDefect::HeaderTruncated {
        available: to_u64(rest.len()),
    };
    let header = rest.get(..FRAME_HEADER_BYTES).ok_or(truncated)?;
    if all_zero(header) {
        return Err(FrameDefect::ZeroedHeader);
    }
    let raw = RawHeader::parse(header).ok_or(truncated)?;
    let computed = header_checksum(salt, header);
    if computed != raw.header_checksum {
        return Err(FrameDefect::HeaderChecksumMismatch {
            stored: raw.header_checksum,
            computed,
        });
    }
    let record_type = RecordType::try_from(raw.record_type)
        .map_err(|unknown| FrameDefect::UnknownRecordType { tag: unknown.tag })?;
    if raw.flags != 0 || raw.reserved != 0 {
        return Err(FrameDefect::ReservedNotZero);
    }
    if raw.payload_length > FRAME_PAYLOAD_BYTES_MAX {
        return Err(FrameDefect::PayloadTooLarge {
            length: raw.payload_length,
        });
    }
    if u64::from(raw.synced_through) > to_u64(position) {
        return Err(FrameDefect::SyncedThroughAhead {
            synced_through: raw.synced_through,
        });
    }
    if raw.previous_checksum != expected_chain {
        return Err(FrameDefect::ChainMismatch {
            expected: expected_chain,
            found: raw.previous_checksum,
        });
    }
    let body = rest.get(FRAME_HEADER_BYTES..).unwrap_or_default();
    let payload_truncated = FrameDefect::PayloadTruncated {
        length: raw.payload_length,
        available: to_u64(body.len()),
    };
    let length = usize::try_from(raw.payload_length).map_err(|_| payload_truncated)?;
    let payload = body.get(..length).ok_or(payload_truncated)?;
    let computed = crc32(&[payload]);
    if computed != raw.payload_checksum {
        return Err(FrameDefect::PayloadChecksumMismatch {
            stored: raw.payload_checksum,
            computed,
        });
    }
    Ok(VerifiedFrame {
        frame: Frame {
            offset: to_u64(position),
            record_type,
            version: raw.version,
            payload,
        },
        checksum: raw.header_checksum,
        synced_through: raw.synced_through,
        end: position + FRAME_HEADER_BYTES + length,
    })
}

/// Looks for proof that the bytes at `damaged_at` had been made durable: the offset of
/// the first frame header at or after `from` that self-validates (with `salt`) and whose
/// durable watermark lies beyond `damaged_at`.
///
/// Cheap structural filters (a known record type, zero flags and reserved bytes, a
/// payload length within the limit, a watermark no later than the header's own offset
/// and past `damaged_at`) run before the CRC, so the scan costs at most one 36-byte
/// CRC per candidate offset and a false positive needs a 2^-32 CRC accident on top of
/// those filters.
pub(crate) fn find_durability_proof(
    segment: &[u8],
    salt: u64,
    from: usize,
    damaged_at: u64,
) -> Option<u64> {
    let tail = segment.get(from..)?;
    for (index, window) in tail.windows(FRAME_HEADER_BYTES).enumerate() {
        // Most garbage fails on the record-type byte or the zero flags and reserved
        // bytes, so look at those before parsing the whole header.
        let tag_known =
            u8_at(window, RECORD_TYPE_AT).is_some_and(|tag| RecordType::try_from(tag).is_ok());
        if !tag_known || window.get(FLAGS_AT..SYNCED_THROUGH_AT) != Some(&[0, 0, 0][..]) {
            continue;
        }
        let offset = to_u64(from + index);
        let Some(raw) = RawHeader::parse(window) else {
            continue;
        };
        let watermark = u64::from(raw.synced_through);
        let plausible = RecordType::try_from(raw.record_type).is_ok()
            && raw.flags == 0
            && raw.reserved == 0
            && raw.payload_length <= FRAME_PAYLOAD_BYTES_MAX
            && watermark > damaged_at
            && watermark <= offset;
        if plausible && header_checksum(salt, window) == raw.header_checksum {
            return Some(offset);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_record_type_tags_round_trip_and_reject_unknown_values() {
        assert_eq!(RecordType::try_from(1), Ok(RecordType::Commit));
        assert_eq!(RecordType::try_from(2), Ok(RecordType::SyncMarker));
        for tag in [0u8, 3, 255] {
            assert_eq!(
                RecordType::try_from(tag),
                Err(UnknownTag {
                    what: "record type",
                    tag
                })
            );
        }
    }

    #[test]
    fn frame_defects_split_into_crash_artefacts_and_corruption() {
        assert!(FrameDefect::ZeroFilled.is_possible_crash_artefact());
        assert!(FrameDefect::ChainMismatch {
            expected: 1,
            found: 2
        }
        .is_possible_crash_artefact());
        assert!(!FrameDefect::UnknownRecordType { tag: 9 }.is_possible_crash_artefact());
        assert!(!FrameDefect::ReservedNotZero.is_possible_crash_artefact());
        assert!(!FrameDefect::PayloadTooLarge { length: 0 }.is_possible_crash_artefact());
        assert!(!FrameDefect::SyncedThroughAhead { synced_through: 0 }.is_possible_crash_artefact());
    }

    #[test]
    fn frame_durability_scan_over_megabytes_of_garbage_finds_nothing_quickly() {
        // Garbage that passes the cheap filters as often as possible: every 32-byte
        // window has a valid tag and zero flags at some alignment.
        let mut garbage = Vec::with_capacity(4 << 20);
        let mut state = 1u32;
        while garbage.len() < 4 << 20 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            garbage.extend_from_slice(&state.to_le_bytes());
            garbage.extend_from_slice(&[1, 0, 0, 0]);
        }
        let started = std::time::Instant::now();
        assert_eq!(find_durability_proof(&garbage, 7, 1, 0), None);
        assert!(started.elapsed().as_secs() < 30);
    }

    #[test]
    fn frame_encoding_is_decoded_by_inspect() {
        let mut segment = vec![0xAAu8; 40];
        let fields = FrameFields {
            salt: 3,
            previous_checksum: 11,
            synced_through: 40,
            record_type: RecordType::Commit,
            version: 9,
            payload: b"payload",
            payload_length: 7,
        };
        let checksum = encode_frame(&fields, &mut segment);
        let verified = inspect(&segment, 40, 3, 11).unwrap();
        assert_eq!(verified.checksum, checksum);
        assert_eq!(verified.frame.payload, b"payload");
        assert_eq!(verified.end, segment.len());
        assert_eq!(
            inspect(&segment, 40, 4, 11).unwrap_err(),
            FrameDefect::HeaderChecksumMismatch {
                stored: checksum,
                computed: header_checksum(4, &segment[40..72]),
            }
        );
    }
}
