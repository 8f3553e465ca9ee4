//! Decoders never allocate more than the input justifies: a length field claiming
//! gigabytes in a short input is an error before any allocation.
//!
//! This test binary installs a counting global allocator that records the largest
//! single allocation. It is the only `unsafe` code in the crate, confined to this test
//! file: a `GlobalAlloc` implementation cannot be written without it.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{craft_chunk_header, craft_frame, crc, reseal, Crafted, CraftedChunk, SALT};
use wal_format::limits::{
    BLOCK_UNCOMPRESSED_BYTES_MAX, BUNDLE_METADATA_BYTES_MAX, FRAME_PAYLOAD_BYTES_MAX,
};
use wal_format::{
    decode_bundle, decode_snapshot, validate_bundle, validate_snapshot, BundleHeader, FrameOutcome,
    SegmentDecoder, SegmentHeader, SegmentOpen, SnapshotHeader,
};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `Counting` upholds exactly the contract `System` does; the only addition is an
// atomic update of a counter, which cannot allocate or unwind.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The largest single allocation made while running `f`.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::SeqCst);
    f();
    LARGEST.load(Ordering::SeqCst)
}

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
