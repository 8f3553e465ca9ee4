//! Bundle tests: round trips, streaming read, every truncation point, every bit flip,
//! header limits, and the validate pass.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use common::{crc, reseal, sample_records};
use wal_format::limits::{BRANCH_NAME_BYTES_MAX, BUNDLE_METADATA_BYTES_MAX};
use wal_format::{
    decode_bundle, decode_snapshot, validate_bundle, BundleHeader, Chunk, FormatError,
    SnapshotHeader, BUNDLE_FIXED_HEADER_BYTES, CHUNK_HEADER_BYTES,
};

fn header() -> BundleHeader {
    BundleHeader {
        salt: 0xB0B0_0001,
        branch_name: "experiment/ünïcode-branch".to_string(),
        metadata: b"{\"forked_from\":\"main\",\"version\":17}".to_vec(),
    }
}

fn encode(header: &BundleHeader, records: &[Vec<u8>], target: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = header
        .begin_encode(&mut out)
        .unwrap()
        .with_block_bytes_target(target)
        .unwrap();
    for record in records {
        encoder.push_record(record, &mut out).unwrap();
    }
    encoder.finish(&mut out);
    out
}

/// Streams the bundle the way the engine reads a file: fixed header, variable section,
/// then chunk header / body pairs.
fn decode_streaming(file: &[u8]) -> Result<(BundleHeader, Vec<Vec<u8>>, u64), FormatError> {
    let take =
        |from: usize, length: usize| &file[from.min(file.len())..(from + length).min(file.len())];
    let prefix = BundleHeader::begin_decode(take(0, BUNDLE_FIXED_HEADER_BYTES))?;
    let variable = prefix.variable_bytes();
    let (header, mut decoder) = prefix.finish(take(BUNDLE_FIXED_HEADER_BYTES, variable))?;
    let mut position = BUNDLE_FIXED_HEADER_BYTES + variable;
    let mut records = Vec::new();
    loop {
        let chunk = decoder.decode_chunk_header(take(position, CHUNK_HEADER_BYTES))?;
        position += CHUNK_HEADER_BYTES;
        let body = take(position, chunk.body_bytes());
        position += chunk.body_bytes();
        match decoder.decode_chunk_body(&chunk, body)? {
            Chunk::Block(block) => records.extend(block.records().map(<[u8]>::to_vec)),
            Chunk::End(summary) => {
                if position != file.len() {
                    return Err(FormatError::TrailingBytes {
                        what: "bundle",
                        offset: position as u64,
                        count: 1,
                    });
                }
                return Ok((header, records, summary.record_count));
            }
        }
    }
}

#[test]
fn bundle_round_trip_through_slice_and_streaming_decoders() {
    let records = sample_records();
    for target in [1, 100, 256 * 1024] {
        let file = encode(&header(), &records, target);
        let decoded = decode_bundle(&file).unwrap();
        assert_eq!(decoded.header, header());
        assert_eq!(decoded.summary.record_count, records.len() as u64);
        assert_eq!(
            decoded.records().map(<[u8]>::to_vec).collect::<Vec<_>>(),
            records
        );
        let (streamed_header, streamed, count) = decode_streaming(&file).unwrap();
        assert_eq!(
            (streamed_header, streamed, count),
            (header(), records.clone(), records.len() as u64)
        );
        let report = validate_bundle(&file);
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.records_verified, records.len() as u64);
    }
}

#[test]
fn bundle_with_empty_name_metadata_and_records_round_trips() {
    let empty = BundleHeader {
        salt: 0,
        branch_name: String::new(),
        metadata: Vec::new(),
    };
    let file = encode(&empty, &[], 10);
    let decoded = decode_bundle(&file).unwrap();
    assert_eq!(decoded.header, empty);
    assert_eq!(decoded.records().count(), 0);
}

#[test]
fn bundle_is_not_a_snapshot_and_a_snapshot_is_not_a_bundle() {
    let file = encode(&header(), &sample_records(), 100);
    assert_eq!(decode_snapshot(&file).unwrap_err().code(), "bad_magic");
    let mut snapshot = Vec::new();
    SnapshotHeader {
        covered_version: 1,
        salt: 2,
    }
    .begin_encode(&mut snapshot)
    .finish(&mut snapshot);
    assert_eq!(decode_bundle(&snapshot).unwrap_err().code(), "bad_magic");
}

#[test]
fn bundle_every_truncation_point_is_an_error() {
    let file = encode(&header(), &sample_records(), 300);
    for cut in 0..file.len() {
        let prefix = &file[..cut];
        assert_eq!(
            decode_bundle(prefix).unwrap_err().code(),
            "truncated",
            "cut at {cut}"
        );
        assert!(decode_streaming(prefix).is_err(), "cut at {cut}");
        assert!(!validate_bundle(prefix).is_valid(), "cut at {cut}");
    }
}

#[test]
fn bundle_every_single_bit_flip_is_detected() {
    let small = BundleHeader {
        salt: 5,
        branch_name: "b".into(),
        metadata: b"m".to_vec(),
    };
    let records: Vec<Vec<u8>> = vec![b"entry one".to_vec(), b"entry two".to_vec(), vec![3; 50]];
    let file = encode(&small, &records, 30);
    for bit in 0..file.len() * 8 {
        let mut flipped = file.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(decode_bundle(&flipped).is_err(), "bit {bit}");
        assert!(decode_streaming(&flipped).is_err(), "bit {bit}");
        assert!(!validate_bundle(&flipped).is_valid(), "bit {bit}");
    }
}

#[test]
fn bundle_header_limits_are_enforced_on_both_sides() {
    let long_name = BundleHeader {
        branch_name: "n".repeat(usize::from(BRANCH_NAME_BYTES_MAX) + 1),
        ..header()
    };
    assert_eq!(long_name.encode().unwrap_err().code(), "limit_exceeded");
    let big_metadata = BundleHeader {
        metadata: vec![0; BUNDLE_METADATA_BYTES_MAX as usize + 1],
        ..header()
    };
    assert_eq!(big_metadata.encode().unwrap_err().code(), "limit_exceeded");
    let at_limit = BundleHeader {
        branch_name: "n".repeat(usize::from(BRANCH_NAME_BYTES_MAX)),
        ..header()
    };
    assert_eq!(
        decode_bundle(&encode(&at_limit, &[], 10)).unwrap().header,
        at_limit
    );

    // Decoder: a checksum-valid fixed header claiming 4 GiB of metadata in a tiny file.
    let mut file = encode(&header(), &[], 10);
    file[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut file, 28);
    assert!(matches!(
        BundleHeader::begin_decode(&file).unwrap_err(),
        FormatError::LimitExceeded { value, .. } if value == u64::from(u32::MAX)
    ));
    let mut file = encode(&header(), &[], 10);
    file[20..22].copy_from_slice(&(BRANCH_NAME_BYTES_MAX + 1).to_le_bytes());
    reseal(&mut file, 28);
    assert_eq!(decode_bundle(&file).unwrap_err().code(), "limit_exceeded");
}

#[test]
fn bundle_branch_name_must_be_utf8() {
    let plain = BundleHeader {
        salt: 1,
        branch_name: "ab".into(),
        metadata: Vec::new(),
    };
    let mut file = encode(&plain, &[], 10);
    let name_at = BUNDLE_FIXED_HEADER_BYTES;
    file[name_at] = 0xFF;
    let section = crc(&[&file[name_at..name_at + 2]]);
    file[name_at + 2..name_at + 6].copy_from_slice(&section.to_le_bytes());
    // The end chunk's whole-file checksum would also catch it; the header check comes first.
    assert!(matches!(
        decode_bundle(&file).unwrap_err(),
        FormatError::InvalidUtf8 {
            what: "branch name",
            offset: 32
        }
    ));
}

#[test]
fn bundle_header_rejects_an_unknown_version_naming_it() {
    let mut file = encode(&header(), &[], 10);
    file[8..10].copy_from_slice(&2u16.to_le_bytes());
    let error = decode_bundle(&file).unwrap_err();
    assert_eq!(
        error,
        FormatError::UnsupportedVersion {
            what: "bundle header",
            found: 2,
            supported: 1
        }
    );
    assert!(error.to_string().contains("format version 2"));
    let report = validate_bundle(&file);
    assert_eq!(report.problems, vec![error]);
    assert!(report.header.is_none());
}

#[test]
fn bundle_validation_reports_rather_than_errors() {
    let records = sample_records();
    let file = encode(&header(), &records, 100);
    let variable = header().encode().unwrap().len();
    // Damage the body of the first block.
    let mut damaged = file.clone();
    damaged[variable + CHUNK_HEADER_BYTES + 2] ^= 0x40;
    let report = validate_bundle(&damaged);
    assert_eq!(report.header, Some(header()));
    assert!(!report.is_valid());
    assert!(!report.end_verified);
    assert!(report.problems.len() >= 2, "{:?}", report.problems);
    assert!(matches!(
        report.problems[0],
        FormatError::ChecksumMismatch {
            what: "bundle chunk body",
            ..
        }
    ));
    assert!(report.blocks_verified > 0);
    assert!(decode_bundle(&damaged).is_err());
}
