//! Every on-disk byte layout of StrataDB: log segments and their frames, snapshots,
//! the manifest and bundles (branch exports). The layouts are specified byte by byte
//! in `FORMAT.md` next to this crate, and pinned by golden files in `tests/golden/`.
//!
//! This crate does no I/O: encoders append bytes to a caller's buffer, decoders read
//! from byte slices. The engine does the reading, writing and fsync, in the order
//! FORMAT.md prescribes.
//!
//! Invariants, for every file kind:
//! - The file starts with 8 magic bytes (non-ASCII first byte, distinct per kind), a
//!   little-endian `u16` format version and a checksum-type byte; all integers are
//!   little-endian and no `usize` is ever persisted.
//! - Every byte is covered by a CRC-32 checksum; tags decode through `TryFrom<u8>`,
//!   and an unknown tag is an error value.
//! - Decoders never panic on any input and never allocate more than the input
//!   justifies: every length field is checked against a limit in [`limits`] (and,
//!   for compressed data, against its verified checksum and the LZ4 expansion bound)
//!   before anything is allocated or sliced.
//! - Log segments distinguish a torn tail (a crash artefact, truncated) from
//!   corruption (refused) with the decision table in FORMAT.md; snapshots, bundles
//!   and the manifest tolerate no damage at all.

mod block;
mod bundle;
mod bytes;
mod checksum;
mod error;
mod frame;
pub mod fuzzing;
pub mod limits;
mod manifest;
mod preamble;
mod segment;
mod snapshot;

pub use block::{
    Block, BlockStreamDecoder, BlockStreamEncoder, Chunk, ChunkHeader, Records, StreamSummary,
    ValidationReport, CHUNK_HEADER_BYTES, END_BODY_BYTES,
};
pub use bundle::{
    decode_bundle, validate_bundle, BundleHeader, BundlePrefix, DecodedBundle,
    BUNDLE_FIXED_HEADER_BYTES,
};
pub use checksum::ChecksumType;
pub use error::{FormatError, UnknownTag};
pub use frame::{Frame, FrameDefect, FrameOutcome, RecordType, FRAME_HEADER_BYTES};
pub use manifest::{Manifest, SnapshotRef, MANIFEST_BYTES};
pub use preamble::FORMAT_VERSION;
pub use segment::{
    SegmentDecoder, SegmentEncoder, SegmentHeader, SegmentOpen, SEGMENT_HEADER_BYTES,
};
pub use snapshot::{
    decode_snapshot, validate_snapshot, DecodedSnapshot, SnapshotHeader, SNAPSHOT_HEADER_BYTES,
};
