//! Checksums: the checksum-type registry and the CRC helper every layout uses.
//!
//! Invariants: version 1 files use only [`ChecksumType::Crc32`] (CRC-32 with the IEEE
//! 802.3 polynomial, reflected, initial value and final XOR `0xFFFF_FFFF`, as computed
//! by `crc32fast`; the check value of `"123456789"` is `0xCBF4_3926`). A checksum is
//! always stored as a little-endian `u32`. Value 0 of the type byte is never valid, so
//! a zero-filled preamble can never name a checksum.

use crate::error::UnknownTag;

/// The checksum algorithm a file declares in its preamble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChecksumType {
    /// CRC-32 (IEEE 802.3 polynomial `0x04C11DB7`, reflected), via `crc32fast`.
    Crc32 = 1,
}

impl TryFrom<u8> for ChecksumType {
    type Error = UnknownTag;

    fn try_from(tag: u8) -> Result<Self, Self::Error> {
        match tag {
            1 => Ok(ChecksumType::Crc32),
            _ => Err(UnknownTag {
                what: "checksum type",
                tag,
            }),
        }
    }
}

/// CRC-32 of the concatenation of `parts`.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_crc32_matches_the_published_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    #[test]
    fn checksum_type_tags_round_trip_and_reject_unknown_values() {
        assert_eq!(ChecksumType::try_from(1), Ok(ChecksumType::Crc32));
        for tag in [0u8, 2, 255] {
            assert_eq!(
                ChecksumType::try_from(tag),
                Err(UnknownTag {
                    what: "checksum type",
                    tag
                })
            );
        }
    }
}
