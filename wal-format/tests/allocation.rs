//! Decoders never allocate more than the input justifies: a length field claiming
//! gigabytes in a short input is an error before any allocation.
//!
//! This test binary installs a counting global allocator (`counting_allocator`) that
//! records the largest single allocation.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;
mod counting_allocator;

use common::{craft_chunk_header, craft_frame, crc, reseal, Crafted, CraftedChunk, SALT};
use wal_format::limits::{
    BLOCK_UNCOMPRESSED_BYTES_MAX, BUNDLE_METADATA_BYTES_MAX, FRAME_PAYLOAD_BYTES_MAX,
};
use counting_allocator::largest_allocation;
use wal_format::{
    decode_bundle, decode_snapshot, validate_bundle, validate_snapshot, BundleHeader, FrameOutcome,
    SegmentDecoder, SegmentHeader, SegmentOpen, SnapshotHeader,
};

/// Every allocation a decoder makes for these ~100-byte inputs must stay tiny.
const SMALL: usize = 4096;

// One test function only, so no other test thread allocates while we measure.
#[test]
fn decoders_never_allocate_for_huge_length_claims() {
    // Snapshot: a checksum-valid chunk header claiming 4 GiB, then the block maximum
    // with a 60-byte lz4 body, then a block whose body checksum fails.
    let snapshot_header = SnapshotHeader {
        covered_version: 1,
        salt: SALT,
    };
    let body = [0x1Fu8; 60];
    let claims = [
        (1u8, u32::MAX, 60u32, crc(&[&body])),
        (1, BLOCK_UNCOMPRESSED_BYTES_MAX, 60, crc(&[&body])),
        (1, 60 * 256, 60, crc(&[&body]) ^ 1),
        (0, 2_000_000_000, 2_000_000_000, crc(&[&body])),
    ];
    for (compression, uncompressed, stored, body_checksum) in claims {
        let mut file = snapshot_header.encode();
        file.extend_from_slice(&craft_chunk_header(&CraftedChunk {
            salt: SALT,
            kind: 1,
            compression,
            reserved: 0,
            stored,
            uncompressed,
            records: 1,
            index: 0,
            body_checksum,
        }));
        file.extend_from_slice(&body);
        let largest = largest_allocation(|| {
            assert!(decode_snapshot(&file).is_err());
            assert!(!validate_snapshot(&file).is_valid());
        });
        assert!(
            largest < SMALL,
            "snapshot claim {uncompressed}: allocated {largest} bytes"
        );
    }

    // Bundle: a checksum-valid fixed header claiming the maximum metadata in a tiny file.
    let mut bundle = BundleHeader {
        salt: SALT,
        branch_name: "b".into(),
        metadata: vec![],
    }
    .encode()
    .unwrap();
    bundle[24..28].copy_from_slice(&BUNDLE_METADATA_BYTES_MAX.to_le_bytes());
    reseal(&mut bundle, 28);
    let largest = largest_allocation(|| {
        assert!(decode_bundle(&bundle).is_err());
        assert!(!validate_bundle(&bundle).is_valid());
    });
    assert!(
        largest < SMALL,
        "bundle metadata claim: allocated {largest} bytes"
    );

    // Segment: a checksum-valid frame claiming the maximum payload.
    let mut segment = SegmentHeader {
        sequence: 0,
        salt: SALT,
        previous_version: 0,
    }
    .encode();
    let chain = u32::from_le_bytes(segment[36..40].try_into().unwrap());
    let (frame, _) = craft_frame(&Crafted {
        salt: SALT,
        payload_length: FRAME_PAYLOAD_BYTES_MAX,
        record_type: 1,
        flags: 0,
        reserved: 0,
        synced_through: 0,
        version: 1,
        previous_checksum: chain,
        payload: &[],
    });
    segment.extend_from_slice(&frame);
    segment.extend_from_slice(&[0xEE; 60]);
    let largest = largest_allocation(|| {
        let Ok(SegmentOpen::Ready(mut decoder)) = SegmentDecoder::open(&segment) else {
            panic!("the segment header is valid");
        };
        assert!(matches!(
            decoder.next_frame(),
            FrameOutcome::TornTail { .. }
        ));
    });
    assert!(
        largest < SMALL,
        "segment frame claim: allocated {largest} bytes"
    );
}
