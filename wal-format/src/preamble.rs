//! The 12-byte preamble every StrataDB file starts with.
//!
//! Invariants: the 8 magic bytes start with the non-ASCII byte `0x89` and end with
//! `\r\n\x1a\n` (as PNG does), so 7-bit transfers, newline conversion and text-mode
//! truncation all break the magic; the four file kinds have distinct magic bytes;
//! the format version is a little-endian `u16` and the checksum type a `u8`; the byte
//! after them is reserved (zero) and is checked by each file's decoder *after* its
//! checksum, so that random damage is reported as a checksum mismatch.
//!
//! The decoder checks in this order: magic, version, checksum type. The version comes
//! before any length or checksum check because a newer version may have a different
//! length or checksum; "this build cannot read version N" is the precise error then.

use crate::bytes::{to_u64, u16_at, u32_at, u8_at};
use crate::checksum::crc32;
use crate::checksum::ChecksumType;
use crate::error::FormatError;

/// The on-disk format version this build writes and reads (version 1 for every file kind).
///
/// Each file kind carries its own version field, so kinds may diverge in later
/// versions; see FORMAT.md, "Version history".
pub const FORMAT_VERSION: u16 = 1;

/// Length of the magic bytes.
pub(crate) const MAGIC_BYTES: usize = 8;
/// Length of the preamble: magic (8), version (2), checksum type (1), reserved (1).
pub(crate) const PREAMBLE_BYTES: usize = MAGIC_BYTES + 2 + 1 + 1;
const _: () = assert!(PREAMBLE_BYTES == 12);

/// Offset of the version field.
const VERSION_AT: usize = 8;
/// Offset of the checksum-type byte.
const CHECKSUM_TYPE_AT: usize = 10;
/// Offset of the reserved byte.
pub(crate) const RESERVED_AT: usize = 11;

/// The kinds of file this crate lays out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A write-ahead log segment.
    Segment,
    /// A snapshot of the whole state at one commit version.
    Snapshot,
    /// The manifest naming the live snapshot and the first segment after it.
    Manifest,
    /// A branch export.
    Bundle,
}

impl FileKind {
    /// The magic bytes of this kind.
    pub(crate) const fn magic(self) -> [u8; MAGIC_BYTES] {
        let letters = match self {
            FileKind::Segment => *b"SLG",
            FileKind::Snapshot => *b"SSN",
            FileKind::Manifest => *b"SMF",
            FileKind::Bundle => *b"SBN",
        };
        [
            0x89, letters[0], letters[1], letters[2], b'\r', b'\n', 0x1A, b'\n',
        ]
    }

    /// The name used in error messages for this kind's header.
    pub(crate) const fn header_name(self) -> &'static str {
        match self {
            FileKind::Segment => "segment header",
            FileKind::Snapshot => "snapshot header",
            FileKind::Manifest => "manifest",
            FileKind::Bundle => "bundle header",
        }
    }
}

/// Appends the preamble of `kind` to `out`.
pub(crate) fn encode_preamble(kind: FileKind, out: &mut Vec<u8>) {
    out.extend_from_slice(&kind.magic());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(ChecksumType::Crc32 as u8);
    out.push(0);
}

/// Checks the magic, version and checksum type at the start of `bytes`.
///
/// `header_bytes` is the full size of the kind's header, used for the `Truncated`
/// error when even the preamble is incomplete. The reserved byte is not checked here.
pub(crate) fn check_preamble(
    kind: FileKind,
    bytes: &[u8],
    header_bytes: usize,
) -> Result<(), FormatError> {
    let what = kind.header_name();
    let magic = kind.magic();
    let present = bytes.len().min(MAGIC_BYTES);
    let found = bytes.get(..present).unwrap_or_default();
    if magic.get(..present) != Some(found) {
        return Err(FormatError::BadMagic {
            what,
            expected: magic,
            found: found.to_vec(),
        });
    }
    let truncated = || FormatError::Truncated {
        what,
        offset: 0,
        needed: to_u64(header_bytes),
        available: to_u64(bytes.len()),
    };
    let version = u16_at(bytes, VERSION_AT).ok_or_else(truncated)?;
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what,
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let checksum_type = u8_at(bytes, CHECKSUM_TYPE_AT).ok_or_else(truncated)?;
    if ChecksumType::try_from(checksum_type).is_err() {
        return Err(FormatError::UnsupportedChecksumType {
            what,
            found: checksum_type,
        });
    }
    if bytes.len() < header_bytes {
        return Err(truncated());
    }
    Ok(())
}

/// Checks a fixed-size header of `kind`: the preamble, then the CRC-32 stored at
/// `checksum_at` over every byte before it, then the reserved byte (after the checksum,
/// so that random damage reads as a checksum mismatch). Returns the stored checksum.
pub(crate) fn check_fixed_header(
    kind: FileKind,
    bytes: &[u8],
    header_bytes: usize,
    checksum_at: usize,
) -> Result<u32, FormatError> {
    let what = kind.header_name();
    check_preamble(kind, bytes, header_bytes)?;
    let truncated = || FormatError::Truncated {
        what,
        offset: 0,
        needed: to_u64(header_bytes),
        available: to_u64(bytes.len()),
    };
    let stored = u32_at(bytes, checksum_at).ok_or_else(truncated)?;
    let computed = crc32(&[bytes.get(..checksum_at).ok_or_else(truncated)?]);
    if stored != computed {
        return Err(FormatError::ChecksumMismatch {
            what,
            offset: 0,
            stored,
            computed,
        });
    }
    if u8_at(bytes, RESERVED_AT) != Some(0) {
        return Err(FormatError::ReservedNotZero { what, offset: 0 });
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_magic_bytes_are_distinct_and_non_ascii() {
        let kinds = [
            FileKind::Segment,
            FileKind::Snapshot,
            FileKind::Manifest,
            FileKind::Bundle,
        ];
        for (i, a) in kinds.iter().enumerate() {
            assert!(!a.magic()[0].is_ascii());
            for b in kinds.iter().skip(i + 1) {
                assert_ne!(a.magic(), b.magic());
            }
        }
    }

    #[test]
    fn preamble_rejects_an_unknown_version_naming_it() {
        let mut bytes = Vec::new();
        encode_preamble(FileKind::Segment, &mut bytes);
        bytes[VERSION_AT] = 7;
        let error = check_preamble(FileKind::Segment, &bytes, 40).unwrap_err();
        assert_eq!(
            error,
            FormatError::UnsupportedVersion {
                what: "segment header",
                found: 7,
                supported: 1
            }
        );
        assert!(error.to_string().contains("format version 7"));
    }
}
