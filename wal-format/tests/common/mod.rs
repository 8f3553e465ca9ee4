//! Helpers shared by the integration tests. The `craft_*` functions re-derive the byte
//! layouts from FORMAT.md independently of the library, so that tests can build inputs
//! the encoders would refuse to produce (unknown tags, oversized lengths, ...) with
//! valid checksums.
#![allow(dead_code, clippy::unwrap_used)]

use wal_format::{RecordType, SegmentEncoder, SegmentHeader};

pub const SALT: u64 = 0x005E_ED0F_5A17_0001;

pub fn crc(parts: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize()
}

/// How the writer of a test segment syncs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sync {
    /// Marks everything durable before every frame ("always" mode).
    EveryFrame,
    /// Never marks anything durable (a crash before the first fsync).
    Never,
}

/// A segment with `payloads.len()` commit frames (versions 1, 2, ...), and the start
/// offset of each frame.
pub fn segment(payloads: &[&[u8]], sync: Sync) -> (Vec<u8>, Vec<u64>) {
    let header = SegmentHeader {
        sequence: 7,
        salt: SALT,
        previous_version: 0,
    };
    let mut out = Vec::new();
    let mut encoder = SegmentEncoder::new(&header, &mut out);
    let mut starts = Vec::new();
    for (index, payload) in payloads.iter().enumerate() {
        if sync == Sync::EveryFrame {
            encoder.mark_all_synced();
        }
        let range = encoder
            .append(RecordType::Commit, index as u64 + 1, payload, &mut out)
            .unwrap();
        starts.push(range.start);
    }
    (out, starts)
}

/// Fields of a hand-crafted frame.
#[derive(Clone, Copy, Debug)]
pub struct Crafted<'a> {
    pub salt: u64,
    pub payload_length: u32,
    pub record_type: u8,
    pub flags: u8,
    pub reserved: u16,
    pub synced_through: u32,
    pub version: u64,
    pub previous_checksum: u32,
    pub payload: &'a [u8],
}

/// The bytes of a frame with a correct header checksum for whatever fields are given.
/// Returns the bytes and the header checksum.
pub fn craft_frame(fields: &Crafted<'_>) -> (Vec<u8>, u32) {
    let mut header = Vec::new();
    header.extend_from_slice(&fields.payload_length.to_le_bytes());
    header.push(fields.record_type);
    header.push(fields.flags);
    header.extend_from_slice(&fields.reserved.to_le_bytes());
    header.extend_from_slice(&fields.synced_through.to_le_bytes());
    header.extend_from_slice(&fields.version.to_le_bytes());
    header.extend_from_slice(&fields.previous_checksum.to_le_bytes());
    header.extend_from_slice(&crc(&[fields.payload]).to_le_bytes());
    let checksum = crc(&[&fields.salt.to_le_bytes(), &header]);
    let mut out = checksum.to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(fields.payload);
    (out, checksum)
}

/// The header checksum (chain value) of the frame starting at `offset`.
pub fn frame_checksum(segment: &[u8], offset: u64) -> u32 {
    let at = offset as usize;
    u32::from_le_bytes(segment[at..at + 4].try_into().unwrap())
}

/// Fields of a hand-crafted chunk header.
#[derive(Clone, Copy, Debug)]
pub struct CraftedChunk {
    pub salt: u64,
    pub kind: u8,
    pub compression: u8,
    pub reserved: u16,
    pub stored: u32,
    pub uncompressed: u32,
    pub records: u32,
    pub index: u64,
    pub body_checksum: u32,
}

/// The 32 bytes of a chunk header with a correct header checksum.
pub fn craft_chunk_header(fields: &CraftedChunk) -> Vec<u8> {
    let mut header = vec![fields.kind, fields.compression];
    header.extend_from_slice(&fields.reserved.to_le_bytes());
    header.extend_from_slice(&fields.stored.to_le_bytes());
    header.extend_from_slice(&fields.uncompressed.to_le_bytes());
    header.extend_from_slice(&fields.records.to_le_bytes());
    header.extend_from_slice(&fields.index.to_le_bytes());
    header.extend_from_slice(&fields.body_checksum.to_le_bytes());
    let checksum = crc(&[&fields.salt.to_le_bytes(), &header]);
    header.extend_from_slice(&checksum.to_le_bytes());
    header
}

/// Rewrites the CRC-32 stored at `checksum_at` to cover `bytes[..checksum_at]`, for
/// headers whose checksum covers everything before it (segment, snapshot, manifest,
/// bundle fixed header).
pub fn reseal(bytes: &mut [u8], checksum_at: usize) {
    let checksum = crc(&[&bytes[..checksum_at]]);
    bytes[checksum_at..checksum_at + 4].copy_from_slice(&checksum.to_le_bytes());
}

/// Records of assorted sizes and compressibility.
pub fn sample_records() -> Vec<Vec<u8>> {
    let mut records: Vec<Vec<u8>> = vec![
        b"alpha".to_vec(),
        Vec::new(),
        b"the quick brown fox jumps over the lazy dog ".repeat(20),
        (0..=255u8).collect(),
    ];
    // Incompressible bytes from a fixed linear congruential generator.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let noise: Vec<u8> = (0..700)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    records.push(noise);
    records.push(vec![0u8; 3000]);
    records
}
