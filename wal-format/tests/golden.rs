//! Golden files: the committed bytes in `tests/golden/` pin every layout of format
//! version 1.
//!
//! Each test (1) encodes known values and compares the result with the committed file
//! byte for byte, and (2) decodes the committed file and compares the result with the
//! known values. (2) is the compatibility promise: it must keep passing for as long as
//! version 1 files are readable. (1) catches accidental layout changes.
//!
//! To regenerate the files deliberately (after a format-version bump, adding new files
//! rather than overwriting old versions' files):
//!
//! ```text
//! WAL_FORMAT_BLESS=1 cargo test -p wal-format --test golden
//! ```
//!
//! Snapshot and bundle files contain LZ4-compressed blocks. LZ4 compressors may emit
//! different (equally valid) bytes across `lz4_flex` releases, so after a dependency
//! update (1) may fail while (2) passes: that is not a format change, and re-blessing
//! is fine only if (2) passed against the old files first.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use std::path::PathBuf;

use wal_format::{
    decode_bundle, decode_snapshot, BundleHeader, Frame, FrameDefect, FrameOutcome, Manifest,
    RecordType, SegmentDecoder, SegmentEncoder, SegmentHeader, SegmentOpen, SnapshotHeader,
    SnapshotRef, StreamSummary,
};

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name)
}

/// Writes `encoded` when blessing; then returns the committed bytes after checking
/// that they equal `encoded`.
fn check_golden(name: &str, encoded: &[u8]) -> Vec<u8> {
    let path = golden_path(name);
    if std::env::var_os("WAL_FORMAT_BLESS").is_some() {
        std::fs::write(&path, encoded).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read golden file {}: {error}; create it with WAL_FORMAT_BLESS=1",
            path.display()
        )
    });
    assert!(
        committed == encoded,
        "the encoding of {name} no longer matches the committed golden file. A layout \
         change needs a format-version bump (FORMAT.md, \"Version history\"); see \
         tests/golden.rs for when re-blessing is legitimate.\ncommitted: {committed:02x?}\nencoded:   {encoded:02x?}"
    );
    committed
}

fn committed(name: &str) -> Vec<u8> {
    std::fs::read(golden_path(name)).unwrap()
}

const SEGMENT_HEADER: SegmentHeader = SegmentHeader {
    sequence: 3,
    salt: 0x0123_4567_89AB_CDEF,
    previous_version: 100,
};
const SEGMENT_PAYLOADS: [&[u8]; 3] = [b"hello, strata", b"", &[0x00, 0xFF, 0x80, 0x7F]];

fn encode_segment() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = SegmentEncoder::new(&SEGMENT_HEADER, &mut out);
    encoder.mark_all_synced();
    encoder
        .append(RecordType::Commit, 101, SEGMENT_PAYLOADS[0], &mut out)
        .unwrap();
    encoder.mark_all_synced();
    encoder
        .append(RecordType::Commit, 102, SEGMENT_PAYLOADS[1], &mut out)
        .unwrap();
    // Not synced before the third frame: its watermark stays at the second frame.
    encoder
        .append(RecordType::Commit, 103, SEGMENT_PAYLOADS[2], &mut out)
        .unwrap();
    out
}

/// Offset, version and payload of each decoded frame.
type Frames = Vec<(u64, u64, Vec<u8>)>;

fn decode_segment(bytes: &[u8]) -> (SegmentHeader, Frames, FrameOutcome<'_>) {
    let SegmentOpen::Ready(mut decoder) = SegmentDecoder::open(bytes).unwrap() else {
        panic!("the golden segment must open");
    };
    let header = *decoder.header();
    let mut frames = Vec::new();
    loop {
        match decoder.next_frame() {
            FrameOutcome::Frame(Frame {
                offset,
                record_type,
                version,
                payload,
            }) => {
                assert_eq!(record_type, RecordType::Commit);
                frames.push((offset, version, payload.to_vec()));
            }
            outcome => return (header, frames, outcome),
        }
    }
}

#[test]
fn golden_segment_v1_encodes_and_decodes_byte_for_byte() {
    let bytes = check_golden("segment-v1.bin", &encode_segment());
    let (header, frames, outcome) = decode_segment(&bytes);
    assert_eq!(header, SEGMENT_HEADER);
    assert_eq!(
        frames,
        vec![
            (40, 101, SEGMENT_PAYLOADS[0].to_vec()),
            (85, 102, SEGMENT_PAYLOADS[1].to_vec()),
            (117, 103, SEGMENT_PAYLOADS[2].to_vec()),
        ]
    );
    assert_eq!(outcome, FrameOutcome::CleanEnd);
    assert_eq!(bytes.len(), 153);
}

#[test]
fn golden_segment_v1_torn_tail_fixture_is_truncated_at_the_last_frame() {
    // segment-v1.bin with its last frame cut after 10 bytes and 100 zero bytes after
    // (file extended, data lost).
    let mut torn = encode_segment()[..127].to_vec();
    torn.resize(227, 0);
    let bytes = check_golden("segment-v1-torn-tail.bin", &torn);
    let (_, frames, outcome) = decode_segment(&bytes);
    assert_eq!(frames.len(), 2);
    // The 10 surviving header bytes followed by zeros no longer match their checksum,
    // and nothing after them validates: a torn tail at the third frame.
    assert!(
        matches!(
            outcome,
            FrameOutcome::TornTail {
                offset: 117,
                reason: FrameDefect::HeaderChecksumMismatch { .. }
            }
        ),
        "{outcome:?}"
    );
    // The same file cut right after the partial header is a short header.
    let (_, _, outcome) = decode_segment(&bytes[..127]);
    assert_eq!(
        outcome,
        FrameOutcome::TornTail {
            offset: 117,
            reason: FrameDefect::HeaderTruncated { available: 10 }
        }
    );
}

#[test]
fn golden_segment_v1_corrupt_fixture_is_refused_with_its_offset() {
    // segment-v1.bin with one payload byte of the first frame flipped: the second
    // frame's watermark (85) proves the first frame (at 40) was synced.
    let mut corrupt = encode_segment();
    corrupt[72] ^= 0x01;
    let bytes = check_golden("segment-v1-corrupt.bin", &corrupt);
    let (_, frames, outcome) = decode_segment(&bytes);
    assert!(frames.is_empty());
    assert!(
        matches!(
            outcome,
            FrameOutcome::Corrupt {
                offset: 40,
                reason: FrameDefect::PayloadChecksumMismatch { .. },
                proven_by: Some(85),
            }
        ),
        "{outcome:?}"
    );
}

const SNAPSHOT_HEADER: SnapshotHeader = SnapshotHeader {
    covered_version: 103,
    salt: 0xFEDC_BA98_7654_3210,
};

fn snapshot_records() -> Vec<Vec<u8>> {
    vec![
        b"key=a".to_vec(),
        Vec::new(),
        b"abc".repeat(40),
        (0..50u8).map(|i| i.wrapping_mul(97) ^ 0x5A).collect(),
    ]
}

#[test]
fn golden_snapshot_v1_encodes_and_decodes_byte_for_byte() {
    let mut out = Vec::new();
    let mut encoder = SNAPSHOT_HEADER
        .begin_encode(&mut out)
        .with_block_bytes_target(64)
        .unwrap();
    for record in snapshot_records() {
        encoder.push_record(&record, &mut out).unwrap();
    }
    let summary = encoder.finish(&mut out);
    let expected_summary = StreamSummary {
        block_count: 3,
        record_count: 4,
        uncompressed_bytes: 191,
    };
    assert_eq!(summary, expected_summary);
    let bytes = check_golden("snapshot-v1.bin", &out);
    let decoded = decode_snapshot(&bytes).unwrap();
    assert_eq!(decoded.header, SNAPSHOT_HEADER);
    assert_eq!(decoded.summary, expected_summary);
    assert_eq!(
        decoded.records().map(<[u8]>::to_vec).collect::<Vec<_>>(),
        snapshot_records()
    );
    let per_block: Vec<u32> = decoded.blocks.iter().map(|b| b.record_count()).collect();
    assert_eq!(per_block, vec![2, 1, 1]);
    // Block 1 ("abc" x 40) is lz4-compressed; blocks 0 and 2 are stored raw.
    assert_eq!(bytes[32 + 32 + 13 + 1], 1, "block 1 compression byte");
}

const MANIFEST: Manifest = Manifest {
    generation: 7,
    snapshot: Some(SnapshotRef {
        id: 2,
        covered_version: 103,
        salt: 0xFEDC_BA98_7654_3210,
    }),
    first_segment: 4,
};

#[test]
fn golden_manifest_v1_encodes_and_decodes_byte_for_byte() {
    let bytes = check_golden("manifest-v1.bin", &MANIFEST.encode());
    assert_eq!(Manifest::decode(&bytes), Ok(MANIFEST));
    let empty = Manifest {
        generation: 1,
        snapshot: None,
        first_segment: 0,
    };
    let bytes = check_golden("manifest-v1-no-snapshot.bin", &empty.encode());
    assert_eq!(Manifest::decode(&bytes), Ok(empty));
}

fn bundle_header() -> BundleHeader {
    BundleHeader {
        salt: 0x0B0B_1E5A_17ED_0001,
        branch_name: "feature/golden".to_string(),
        metadata: b"{\"source\":\"main\"}".to_vec(),
    }
}

fn bundle_records() -> Vec<Vec<u8>> {
    vec![
        b"entry-1".to_vec(),
        b"entry-2 ".repeat(12),
        b"entry-3".to_vec(),
    ]
}

#[test]
fn golden_bundle_v1_encodes_and_decodes_byte_for_byte() {
    let mut out = Vec::new();
    let mut encoder = bundle_header()
        .begin_encode(&mut out)
        .unwrap()
        .with_block_bytes_target(64)
        .unwrap();
    for record in bundle_records() {
        encoder.push_record(&record, &mut out).unwrap();
    }
    encoder.finish(&mut out);
    let bytes = check_golden("bundle-v1.bin", &out);
    let decoded = decode_bundle(&bytes).unwrap();
    assert_eq!(decoded.header, bundle_header());
    assert_eq!(decoded.summary.record_count, 3);
    assert_eq!(
        decoded.records().map(<[u8]>::to_vec).collect::<Vec<_>>(),
        bundle_records()
    );
}

#[test]
fn golden_files_all_start_with_their_magic() {
    for (name, magic) in [
        ("segment-v1.bin", b"\x89SLG\r\n\x1a\n"),
        ("snapshot-v1.bin", b"\x89SSN\r\n\x1a\n"),
        ("manifest-v1.bin", b"\x89SMF\r\n\x1a\n"),
        ("bundle-v1.bin", b"\x89SBN\r\n\x1a\n"),
    ] {
        let bytes = committed(name);
        assert_eq!(&bytes[..8], magic, "{name}");
        assert_eq!(&bytes[8..11], &[1, 0, 1], "{name}: version 1, CRC-32");
    }
}
