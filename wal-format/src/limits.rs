//! Every size limit of the on-disk formats, as named constants (units last).
//!
//! Decoders check these limits against length fields *before* allocating or slicing,
//! so a length field claiming gigabytes in a short input is an error, never an
//! allocation. Encoders refuse to write anything a decoder would reject.
//! Changing a limit is a format change: a lower limit can make old files unreadable,
//! so it needs a format-version bump (see FORMAT.md, "Version history").

/// Largest payload of one log frame (one commit's write set), in bytes.
///
/// The engine's largest single value is 64 MiB (`VALUE_BYTES_MAX`) and a frame holds a
/// whole write set, so the frame limit leaves room for several large values plus keys.
/// Frames are decoded as slices of the segment's bytes, so this limit never turns into
/// an allocation.
pub const FRAME_PAYLOAD_BYTES_MAX: u32 = 256 * 1024 * 1024;

/// Largest log segment file, in bytes, header included.
///
/// Frame headers store the durable watermark (`synced_through`) as a `u32` offset, so
/// a segment can never be longer than `u32::MAX` bytes. The engine rolls segments at
/// a much smaller size; the encoder refuses a frame that would cross this limit.
pub const SEGMENT_BYTES_MAX: u64 = u32::MAX as u64;

/// Largest single record inside a snapshot or bundle block, in bytes.
///
/// Records never span blocks, so this also bounds the uncompressed size of a block.
pub const RECORD_BYTES_MAX: u32 = 128 * 1024 * 1024;

/// Size of the little-endian `u32` length prefix in front of every block record.
pub const RECORD_LENGTH_PREFIX_BYTES: u32 = 4;

/// Largest uncompressed block: one maximal record and its length prefix.
pub const BLOCK_UNCOMPRESSED_BYTES_MAX: u32 = RECORD_BYTES_MAX + RECORD_LENGTH_PREFIX_BYTES;

/// Default target size of an uncompressed block (256 KiB); the encoder closes a block
/// before a record would push it past the target, unless the block is still empty.
pub const BLOCK_BYTES_TARGET_DEFAULT: u32 = 256 * 1024;

/// LZ4 cannot expand data by more than this factor (each extra output byte of a long
/// match costs at least 1/255 of an input byte), so a block whose declared
/// uncompressed length exceeds `stored length * BLOCK_EXPANSION_RATIO_MAX` is rejected
/// before any allocation.
pub const BLOCK_EXPANSION_RATIO_MAX: u64 = 256;

/// Longest branch name in a bundle, in UTF-8 bytes (mirrors the engine's `NAME_BYTES_MAX`).
pub const BRANCH_NAME_BYTES_MAX: u16 = 255;

/// Largest opaque metadata payload in a bundle header, in bytes.
pub const BUNDLE_METADATA_BYTES_MAX: u32 = 16 * 1024 * 1024;

const _: () = assert!(BLOCK_BYTES_TARGET_DEFAULT <= BLOCK_UNCOMPRESSED_BYTES_MAX);
const _: () = assert!((FRAME_PAYLOAD_BYTES_MAX as u64) < SEGMENT_BYTES_MAX);
