//! The one error type of the crate.
//!
//! Invariants: every decoder failure is a [`FormatError`] value (never a panic); every
//! variant that concerns bytes on disk carries the byte `offset` (from the start of
//! the file) where the problem was found, so the engine can report file and offset;
//! `code()` is stable across releases and safe to match on from other languages.

/// What went wrong while encoding or decoding a StrataDB file.
///
/// `what` fields name the structure concerned (for example `"segment header"` or
/// `"snapshot block"`); offsets count bytes from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input ends before the structure does.
    #[error("{what} at offset {offset} is truncated: it needs {needed} bytes but only {available} are present")]
    Truncated {
        /// The structure that is cut short.
        what: &'static str,
        /// Where the structure starts.
        offset: u64,
        /// Bytes the structure needs from `offset`.
        needed: u64,
        /// Bytes actually present from `offset`.
        available: u64,
    },
    /// The file does not start with the magic bytes of the expected file kind.
    #[error("{what} does not start with its magic bytes {expected:02x?}: found {found:02x?}")]
    BadMagic {
        /// The file kind that was expected.
        what: &'static str,
        /// The magic bytes of that kind.
        expected: [u8; 8],
        /// The bytes found instead (at most 8).
        found: Vec<u8>,
    },
    /// The file was written in a format version this build cannot read.
    #[error(
        "{what} has format version {found}, but this build reads only format version {supported}"
    )]
    UnsupportedVersion {
        /// The file kind.
        what: &'static str,
        /// The version stored in the file.
        found: u16,
        /// The only version this build reads.
        supported: u16,
    },
    /// The file declares a checksum algorithm this build does not implement.
    #[error(
        "{what} declares checksum type {found}, but this build knows only checksum type 1 (CRC-32)"
    )]
    UnsupportedChecksumType {
        /// The file kind.
        what: &'static str,
        /// The checksum-type byte stored in the file.
        found: u8,
    },
    /// A stored checksum does not match the bytes it covers.
    #[error("checksum mismatch in {what} at offset {offset}: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The structure whose checksum failed.
        what: &'static str,
        /// Where the structure starts.
        offset: u64,
        /// The checksum stored in the file.
        stored: u32,
        /// The checksum of the bytes as found.
        computed: u32,
    },
    /// A tag byte (record type, chunk kind, compression, ...) has no known meaning.
    #[error("unknown {what} tag {tag} at offset {offset}")]
    UnknownTag {
        /// Which tag space the byte belongs to.
        what: &'static str,
        /// Where the tag byte is.
        offset: u64,
        /// The unknown value.
        tag: u8,
    },
    /// Bytes that version 1 reserves (and always writes as zero) are not zero.
    #[error("reserved bytes of {what} at offset {offset} are not zero")]
    ReservedNotZero {
        /// The structure concerned.
        what: &'static str,
        /// Where the structure starts.
        offset: u64,
    },
    /// A length or count is over one of the limits in [`crate::limits`].
    #[error("{what} at offset {offset} is {value}, over the limit {max}")]
    LimitExceeded {
        /// The quantity and the limit it broke (for example `"frame payload bytes (FRAME_PAYLOAD_BYTES_MAX)"`).
        what: &'static str,
        /// Where the length field is (for encoders: where the data would have gone).
        offset: u64,
        /// The offending value.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// Text that must be UTF-8 is not.
    #[error("{what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field concerned.
        what: &'static str,
        /// Where the field starts.
        offset: u64,
    },
    /// Fields that checksum correctly contradict each other or the rules of the format
    /// (a block out of order, a count that does not add up, a record overrunning its block).
    #[error("{what} at offset {offset} is inconsistent: {detail}")]
    Inconsistent {
        /// The structure concerned.
        what: &'static str,
        /// Where the structure starts.
        offset: u64,
        /// Which rule is broken, naming the values.
        detail: String,
    },
    /// LZ4 data whose checksum matched did not decompress to the declared length.
    #[error("the lz4 body of {what} at offset {offset} does not decompress: {detail}")]
    Decompress {
        /// The structure concerned.
        what: &'static str,
        /// Where the structure starts.
        offset: u64,
        /// The decompressor's complaint.
        detail: String,
    },
    /// Bytes follow the end of a file that must end there.
    #[error("{count} unexpected bytes follow the end of {what} at offset {offset}")]
    TrailingBytes {
        /// The file kind.
        what: &'static str,
        /// Where the unexpected bytes start.
        offset: u64,
        /// How many there are.
        count: u64,
    },
    /// The caller broke a rule of the encoding API (for example marking bytes durable
    /// that were never encoded).
    #[error("invalid use of {what}: {detail}")]
    InvalidArgument {
        /// The API concerned.
        what: &'static str,
        /// Which rule was broken.
        detail: String,
    },
}

impl FormatError {
    /// A stable, machine-readable name of the variant (never changes once released).
    pub fn code(&self) -> &'static str {
        match self {
            FormatError::Truncated { .. } => "truncated",
            FormatError::BadMagic { .. } => "bad_magic",
            FormatError::UnsupportedVersion { .. } => "unsupported_version",
            FormatError::UnsupportedChecksumType { .. } => "unsupported_checksum_type",
            FormatError::ChecksumMismatch { .. } => "checksum_mismatch",
            FormatError::UnknownTag { .. } => "unknown_tag",
            FormatError::ReservedNotZero { .. } => "reserved_not_zero",
            FormatError::LimitExceeded { .. } => "limit_exceeded",
            FormatError::InvalidUtf8 { .. } => "invalid_utf8",
            FormatError::Inconsistent { .. } => "inconsistent",
            FormatError::Decompress { .. } => "decompress",
            FormatError::TrailingBytes { .. } => "trailing_bytes",
            FormatError::InvalidArgument { .. } => "invalid_argument",
        }
    }
}

/// A tag byte that a `TryFrom<u8>` conversion does not recognise.
///
/// Decoders turn it into [`FormatError::UnknownTag`] with the offset of the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} tag {tag}")]
pub struct UnknownTag {
    /// Which tag space the byte belongs to.
    pub what: &'static str,
    /// The unknown value.
    pub tag: u8,
}

impl UnknownTag {
    /// Attaches the file offset of the tag byte.
    pub(crate) fn at(self, offset: u64) -> FormatError {
        FormatError::UnknownTag {
            what: self.what,
            offset,
            tag: self.tag,
        }
    }
}
