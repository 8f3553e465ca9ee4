//! The manifest: the small file that names the live snapshot and the first log
//! segment after it.
//!
//! Invariants: the manifest is exactly [`MANIFEST_BYTES`] long and covered by one
//! checksum; any damage is an error (the engine writes it to a temporary file, fsyncs
//! it, renames it into place and fsyncs the directory, so a torn manifest is never the
//! live one). When no snapshot is named, the snapshot fields are zero.

use crate::bytes::{all_zero, to_u64, u64_at, u8_at};
use crate::checksum::crc32;
use crate::error::{FormatError, UnknownTag};
use crate::preamble::{check_fixed_header, encode_preamble, FileKind, PREAMBLE_BYTES};

/// Size of a manifest file in bytes.
pub const MANIFEST_BYTES: usize = PREAMBLE_BYTES + 8 + 1 + 3 + 8 + 8 + 8 + 8 + 4;
const _: () = assert!(MANIFEST_BYTES == 60);

const GENERATION_AT: usize = 12;
const SNAPSHOT_SLOT_AT: usize = 20;
const RESERVED_WIDE_AT: usize = 21;
const SNAPSHOT_ID_AT: usize = 24;
const SNAPSHOT_VERSION_AT: usize = 32;
const SNAPSHOT_SALT_AT: usize = 40;
const FIRST_SEGMENT_AT: usize = 48;
const CHECKSUM_AT: usize = 56;

/// Whether the manifest names a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum SnapshotSlot {
    Absent = 0,
    Present = 1,
}

impl TryFrom<u8> for SnapshotSlot {
    type Error = UnknownTag;

    fn try_from(tag: u8) -> Result<Self, Self::Error> {
        match tag {
            0 => Ok(SnapshotSlot::Absent),
            1 => Ok(SnapshotSlot::Present),
            _ => Err(UnknownTag {
                what: "manifest snapshot slot",
                tag,
            }),
        }
    }
}

/// The live snapshot, as named by the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnapshotRef {
    /// The snapshot's id; the engine derives the file name from it.
    pub id: u64,
    /// The commit version the snapshot covers (equal to its header's `covered_version`).
    pub covered_version: u64,
    /// The snapshot file's salt (equal to its header's `salt`), so that a stale file
    /// with the same name is never taken for the live snapshot.
    pub salt: u64,
}

/// The content of the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Manifest {
    /// Incremented by the engine on every manifest it writes.
    pub generation: u64,
    /// The live snapshot, if any (a new database has none).
    pub snapshot: Option<SnapshotRef>,
    /// Sequence number of the first log segment to replay after the snapshot; segments
    /// with lower numbers are covered by the snapshot and may be deleted.
    pub first_segment: u64,
}

impl Manifest {
    /// Encodes the manifest into its [`MANIFEST_BYTES`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_BYTES);
        encode_preamble(FileKind::Manifest, &mut out);
        out.extend_from_slice(&self.generation.to_le_bytes());
        let (slot, snapshot) = match self.snapshot {
            Some(snapshot) => (SnapshotSlot::Present, snapshot),
            None => (
                SnapshotSlot::Absent,
                SnapshotRef {
                    id: 0,
                    covered_version: 0,
                    salt: 0,
                },
            ),
        };
        out.push(slot as u8);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&snapshot.id.to_le_bytes());
        out.extend_from_slice(&snapshot.covered_version.to_le_bytes());
        out.extend_from_slice(&snapshot.salt.to_le_bytes());
        out.extend_from_slice(&self.first_segment.to_le_bytes());
        let checksum = crc32(&[&out]);
        out.extend_from_slice(&checksum.to_le_bytes());
        debug_assert_eq!(out.len(), MANIFEST_BYTES);
        out
    }

    /// Decodes a manifest; `bytes` must be the whole file.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, FormatError> {
        let kind = FileKind::Manifest;
        let what = kind.header_name();
        check_fixed_header(kind, bytes, MANIFEST_BYTES, CHECKSUM_AT)?;
        if bytes.len() > MANIFEST_BYTES {
            return Err(FormatError::TrailingBytes {
                what,
                offset: to_u64(MANIFEST_BYTES),
                count: to_u64(bytes.len() - MANIFEST_BYTES),
            });
        }
        let truncated = || FormatError::Truncated {
            what,
            offset: 0,
            needed: to_u64(MANIFEST_BYTES),
            available: to_u64(bytes.len()),
        };
        let reserved = bytes
            .get(RESERVED_WIDE_AT..SNAPSHOT_ID_AT)
            .ok_or_else(truncated)?;
        if !all_zero(reserved) {
            return Err(FormatError::ReservedNotZero { what, offset: 0 });
        }
        let slot_tag = u8_at(bytes, SNAPSHOT_SLOT_AT).ok_or_else(truncated)?;
        let slot = SnapshotSlot::try_from(slot_tag)
            .map_err(|unknown| unknown.at(to_u64(SNAPSHOT_SLOT_AT)))?;
        let snapshot = SnapshotRef {
            id: u64_at(bytes, SNAPSHOT_ID_AT).ok_or_else(truncated)?,
            covered_version: u64_at(bytes, SNAPSHOT_VERSION_AT).ok_or_else(truncated)?,
            salt: u64_at(bytes, SNAPSHOT_SALT_AT).ok_or_else(truncated)?,
        };
        let snapshot = match slot {
            SnapshotSlot::Present => Some(snapshot),
            SnapshotSlot::Absent
                if snapshot
                    == (SnapshotRef {
                        id: 0,
                        covered_version: 0,
                        salt: 0,
                    }) =>
            {
                None
            }
            SnapshotSlot::Absent => {
                return Err(FormatError::Inconsistent {
                    what,
                    offset: to_u64(SNAPSHOT_ID_AT),
                    detail: "no snapshot is named, but the snapshot fields are not zero".into(),
                })
            }
        };
        Ok(Manifest {
            generation: u64_at(bytes, GENERATION_AT).ok_or_else(truncated)?,
            snapshot,
            first_segment: u64_at(bytes, FIRST_SEGMENT_AT).ok_or_else(truncated)?,
        })
    }
}
