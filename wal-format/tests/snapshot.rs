//! Snapshot tests: round trips through the slice and streaming decoders, every
//! truncation point, every bit flip, reordering and splicing, limits, validation.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use common::{craft_chunk_header, crc, reseal, sample_records, CraftedChunk};
use wal_format::limits::{BLOCK_UNCOMPRESSED_BYTES_MAX, RECORD_BYTES_MAX};
use wal_format::{
    decode_snapshot, validate_snapshot, Chunk, FormatError, SnapshotHeader, StreamSummary,
    CHUNK_HEADER_BYTES, SNAPSHOT_HEADER_BYTES,
};

const HEADER: SnapshotHeader = SnapshotHeader {
    covered_version: 42,
    salt: 0xFEED_BEEF,
};

fn encode(records: &[Vec<u8>], target: u32) -> (Vec<u8>, StreamSummary) {
    let mut out = Vec::new();
    let mut encoder = HEADER
        .begin_encode(&mut out)
        .with_block_bytes_target(target)
        .unwrap();
    for record in records {
        encoder.push_record(record, &mut out).unwrap();
    }
    let summary = encoder.finish(&mut out);
    (out, summary)
}

/// Decodes with the streaming API, reading exactly as the engine would from a file.
fn decode_streaming(file: &[u8]) -> Result<Vec<Vec<u8>>, FormatError> {
    let (header, mut decoder) =
        SnapshotHeader::begin_decode(&file[..SNAPSHOT_HEADER_BYTES.min(file.len())])?;
    assert_eq!(header, HEADER);
    let mut records = Vec::new();
    let mut position = SNAPSHOT_HEADER_BYTES;
    loop {
        let header_bytes =
            &file[position.min(file.len())..(position + CHUNK_HEADER_BYTES).min(file.len())];
        let chunk = decoder.decode_chunk_header(header_bytes)?;
        position += CHUNK_HEADER_BYTES;
        let body = &file[position.min(file.len())..(position + chunk.body_bytes()).min(file.len())];
        position += chunk.body_bytes();
        match decoder.decode_chunk_body(&chunk, body)? {
            Chunk::Block(block) => records.extend(block.records().map(<[u8]>::to_vec)),
            Chunk::End(_) => break,
        }
    }
    assert_eq!(decoder.position(), position as u64);
    if position < file.len() {
        // The engine must check that the file ends here.
        return Err(FormatError::TrailingBytes {
            what: "snapshot",
            offset: position as u64,
            count: 0,
        });
    }
    Ok(records)
}

#[test]
fn snapshot_round_trip_through_slice_and_streaming_decoders() {
    let records = sample_records();
    for target in [1, 64, 1000, 256 * 1024] {
        let (file, summary) = encode(&records, target);
        let decoded = decode_snapshot(&file).unwrap();
        assert_eq!(decoded.header, HEADER);
        assert_eq!(decoded.summary, summary);
        assert_eq!(
            decoded.records().map(<[u8]>::to_vec).collect::<Vec<_>>(),
            records
        );
        assert_eq!(summary.record_count, records.len() as u64);
        assert_eq!(decode_streaming(&file).unwrap(), records);
        assert!(validate_snapshot(&file).is_valid());
    }
}

#[test]
fn snapshot_small_targets_split_blocks_and_never_split_records() {
    let records = sample_records();
    let (file, summary) = encode(&records, 64);
    // Every record but the empty one exceeds 64 bytes or fills a block alone...
    assert!(summary.block_count >= 5, "{summary:?}");
    let decoded = decode_snapshot(&file).unwrap();
    let total: u32 = decoded.blocks.iter().map(|b| b.record_count()).sum();
    assert_eq!(total as usize, records.len());
    for (index, block) in decoded.blocks.iter().enumerate() {
        assert_eq!(block.index(), index as u64);
    }
}

#[test]
fn snapshot_empty_stream_has_only_the_end_chunk() {
    let (file, summary) = encode(&[], 1024);
    assert_eq!(summary, StreamSummary::default());
    assert_eq!(file.len(), SNAPSHOT_HEADER_BYTES + CHUNK_HEADER_BYTES + 32);
    let decoded = decode_snapshot(&file).unwrap();
    assert_eq!(decoded.records().count(), 0);
}

#[test]
fn snapshot_every_truncation_point_is_an_error() {
    let (file, _) = encode(&sample_records(), 512);
    for cut in 0..file.len() {
        let prefix = &file[..cut];
        let error = decode_snapshot(prefix).unwrap_err();
        assert_eq!(error.code(), "truncated", "cut at {cut}: {error}");
        assert!(decode_streaming(prefix).is_err(), "cut at {cut}");
        assert!(!validate_snapshot(prefix).is_valid(), "cut at {cut}");
    }
}

#[test]
fn snapshot_every_single_bit_flip_is_detected() {
    let records: Vec<Vec<u8>> = vec![
        b"one".to_vec(),
        b"two two two two two two".to_vec(),
        vec![7; 100],
    ];
    let (file, _) = encode(&records, 40);
    for bit in 0..file.len() * 8 {
        let mut flipped = file.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(decode_snapshot(&flipped).is_err(), "bit {bit}");
        assert!(decode_streaming(&flipped).is_err(), "bit {bit}");
        let report = validate_snapshot(&flipped);
        assert!(
            !report.is_valid() && !report.problems.is_empty(),
            "bit {bit}"
        );
    }
}

/// Offsets of each chunk (header start) in a snapshot file.
fn chunk_offsets(file: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut position = SNAPSHOT_HEADER_BYTES;
    while position < file.len() {
        offsets.push(position);
        let stored = u32::from_le_bytes(file[position + 4..position + 8].try_into().unwrap());
        position += CHUNK_HEADER_BYTES + stored as usize;
    }
    offsets
}

#[test]
fn snapshot_reordered_blocks_are_rejected() {
    let (file, summary) = encode(&sample_records(), 64);
    assert!(summary.block_count >= 3);
    let offsets = chunk_offsets(&file);
    let mut swapped = file[..offsets[0]].to_vec();
    swapped.extend_from_slice(&file[offsets[1]..offsets[2]]);
    swapped.extend_from_slice(&file[offsets[0]..offsets[1]]);
    swapped.extend_from_slice(&file[offsets[2]..]);
    let error = decode_snapshot(&swapped).unwrap_err();
    assert!(matches!(error, FormatError::Inconsistent { .. }), "{error}");
}

#[test]
fn snapshot_dropped_block_is_rejected() {
    let (file, _) = encode(&sample_records(), 64);
    let offsets = chunk_offsets(&file);
    let mut dropped = file[..offsets[1]].to_vec();
    dropped.extend_from_slice(&file[offsets[2]..]);
    assert!(decode_snapshot(&dropped).is_err());
}

#[test]
fn snapshot_block_from_another_snapshot_is_rejected() {
    let (file, _) = encode(&sample_records(), 64);
    let mut out = Vec::new();
    let other = SnapshotHeader {
        covered_version: 42,
        salt: HEADER.salt + 1,
    };
    let mut encoder = other
        .begin_encode(&mut out)
        .with_block_bytes_target(64)
        .unwrap();
    for record in sample_records() {
        encoder.push_record(&record, &mut out).unwrap();
    }
    encoder.finish(&mut out);
    let mut spliced = file[..SNAPSHOT_HEADER_BYTES].to_vec();
    spliced.extend_from_slice(&out[SNAPSHOT_HEADER_BYTES..]);
    let error = decode_snapshot(&spliced).unwrap_err();
    assert!(
        matches!(error, FormatError::ChecksumMismatch { offset, .. } if offset == SNAPSHOT_HEADER_BYTES as u64)
    );
}

#[test]
fn snapshot_trailing_bytes_are_rejected() {
    let (mut file, _) = encode(&sample_records(), 512);
    let end = file.len() as u64;
    file.push(0);
    assert_eq!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::TrailingBytes {
            what: "snapshot",
            offset: end,
            count: 1
        }
    );
    let report = validate_snapshot(&file);
    assert!(report.end_verified && !report.is_valid());
}

#[test]
fn snapshot_header_rejects_an_unknown_version_naming_it() {
    let (mut file, _) = encode(&[], 512);
    file[8..10].copy_from_slice(&300u16.to_le_bytes());
    reseal(&mut file, 28);
    let error = decode_snapshot(&file).unwrap_err();
    assert_eq!(
        error,
        FormatError::UnsupportedVersion {
            what: "snapshot header",
            found: 300,
            supported: 1
        }
    );
    assert!(error.to_string().contains("format version 300"));
}

#[test]
fn snapshot_header_rejects_the_magic_of_another_file_kind() {
    let (mut file, _) = encode(&[], 512);
    file[1..4].copy_from_slice(b"SBN");
    assert_eq!(decode_snapshot(&file).unwrap_err().code(), "bad_magic");
}

/// A snapshot file whose first chunk is the given crafted header and body.
fn with_chunk(fields: CraftedChunk, body: &[u8]) -> Vec<u8> {
    let mut file = HEADER.encode();
    file.extend_from_slice(&craft_chunk_header(&fields));
    file.extend_from_slice(body);
    file
}

fn block_fields(body: &[u8]) -> CraftedChunk {
    CraftedChunk {
        salt: HEADER.salt,
        kind: 1,
        compression: 0,
        reserved: 0,
        stored: body.len() as u32,
        uncompressed: body.len() as u32,
        records: 1,
        index: 0,
        body_checksum: crc(&[body]),
    }
}

#[test]
fn snapshot_huge_length_claims_are_rejected_before_allocation() {
    let body = [0u8; 60];
    // 4 GiB uncompressed, valid checksum: over BLOCK_UNCOMPRESSED_BYTES_MAX.
    let file = with_chunk(
        CraftedChunk {
            compression: 1,
            uncompressed: u32::MAX,
            stored: 60,
            ..block_fields(&body)
        },
        &body,
    );
    let error = decode_snapshot(&file).unwrap_err();
    assert!(
        matches!(error, FormatError::LimitExceeded { value, .. } if value == u64::from(u32::MAX)),
        "{error}"
    );
    // Within the block limit but impossible for 60 bytes of lz4.
    let file = with_chunk(
        CraftedChunk {
            compression: 1,
            uncompressed: BLOCK_UNCOMPRESSED_BYTES_MAX,
            stored: 60,
            ..block_fields(&body)
        },
        &body,
    );
    assert!(matches!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::Inconsistent { .. }
    ));
    // A stored length far past the end of a short input.
    let file = with_chunk(
        CraftedChunk {
            stored: 100_000_000,
            uncompressed: 100_000_000,
            ..block_fields(&body)
        },
        &body,
    );
    assert!(matches!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::Truncated {
            needed: 100_000_000,
            ..
        }
    ));
}

#[test]
fn snapshot_record_lengths_inside_a_block_are_checked() {
    // A verified block whose record claims more bytes than the block holds.
    let mut body = 1000u32.to_le_bytes().to_vec();
    body.extend_from_slice(b"short");
    let file = with_chunk(block_fields(&body), &body);
    assert!(matches!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::Inconsistent { .. }
    ));
    // A record over RECORD_BYTES_MAX.
    let mut body = (RECORD_BYTES_MAX + 1).to_le_bytes().to_vec();
    body.extend_from_slice(b"x");
    let file = with_chunk(block_fields(&body), &body);
    assert!(matches!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::LimitExceeded { .. }
    ));
    // A record count that disagrees with the records.
    let mut body = 1u32.to_le_bytes().to_vec();
    body.push(b'x');
    let file = with_chunk(
        CraftedChunk {
            records: 2,
            ..block_fields(&body)
        },
        &body,
    );
    assert!(matches!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::Inconsistent { .. }
    ));
}

#[test]
fn snapshot_unknown_chunk_kind_and_compression_are_errors() {
    let body = [1, 0, 0, 0, b'x'];
    let file = with_chunk(
        CraftedChunk {
            kind: 9,
            ..block_fields(&body)
        },
        &body,
    );
    assert!(matches!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::UnknownTag {
            what: "chunk kind",
            tag: 9,
            ..
        }
    ));
    let file = with_chunk(
        CraftedChunk {
            compression: 7,
            ..block_fields(&body)
        },
        &body,
    );
    assert!(matches!(
        decode_snapshot(&file).unwrap_err(),
        FormatError::UnknownTag {
            what: "compression",
            tag: 7,
            ..
        }
    ));
    let file = with_chunk(
        CraftedChunk {
            reserved: 1,
            ..block_fields(&body)
        },
        &body,
    );
    assert_eq!(
        decode_snapshot(&file).unwrap_err().code(),
        "reserved_not_zero"
    );
}

#[test]
fn snapshot_record_over_the_limit_is_refused_by_the_encoder() {
    let mut out = Vec::new();
    let mut encoder = HEADER.begin_encode(&mut out);
    let huge = vec![0u8; RECORD_BYTES_MAX as usize + 1];
    assert_eq!(
        encoder.push_record(&huge, &mut out).unwrap_err().code(),
        "limit_exceeded"
    );
    assert!(HEADER
        .begin_encode(&mut out)
        .with_block_bytes_target(0)
        .is_err());
    assert!(HEADER
        .begin_encode(&mut out)
        .with_block_bytes_target(BLOCK_UNCOMPRESSED_BYTES_MAX + 1)
        .is_err());
}

#[test]
fn snapshot_validation_reports_every_damaged_block_and_keeps_going() {
    let (file, summary) = encode(&sample_records(), 64);
    let offsets = chunk_offsets(&file);
    let mut damaged = file.clone();
    // Damage the bodies (not the headers) of blocks 1 and 3.
    damaged[offsets[1] + CHUNK_HEADER_BYTES] ^= 0x01;
    damaged[offsets[3] + CHUNK_HEADER_BYTES] ^= 0x01;
    let report = validate_snapshot(&damaged);
    assert!(!report.is_valid());
    assert_eq!(report.blocks_verified, summary.block_count - 2);
    let body_mismatches: Vec<u64> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            FormatError::ChecksumMismatch {
                what: "snapshot chunk body",
                offset,
                ..
            } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(
        body_mismatches,
        vec![
            (offsets[1] + CHUNK_HEADER_BYTES) as u64,
            (offsets[3] + CHUNK_HEADER_BYTES) as u64
        ]
    );
    // The end chunk is still checked: its whole-file checksum no longer matches.
    assert!(report.problems.iter().any(|p| matches!(
        p,
        FormatError::ChecksumMismatch {
            what: "checksum of every byte before the end chunk",
            ..
        }
    )));
}

#[test]
fn snapshot_validation_stops_where_a_damaged_header_hides_the_rest() {
    let (file, _) = encode(&sample_records(), 64);
    let offsets = chunk_offsets(&file);
    let mut damaged = file.clone();
    damaged[offsets[2] + 5] ^= 0x80;
    let report = validate_snapshot(&damaged);
    assert_eq!(report.blocks_verified, 2);
    assert_eq!(report.problems.len(), 1);
    assert!(!report.end_verified);
}

#[test]
fn snapshot_streaming_decoder_rejects_a_body_for_the_wrong_chunk() {
    let (file, _) = encode(&sample_records(), 64);
    let offsets = chunk_offsets(&file);
    let (_, mut decoder) = SnapshotHeader::begin_decode(&file).unwrap();
    let first = decoder.decode_chunk_header(&file[offsets[0]..]).unwrap();
    let body = &file[offsets[0] + CHUNK_HEADER_BYTES..];
    decoder.decode_chunk_body(&first, body).unwrap();
    // Replaying the first header's body again is refused, not silently accepted.
    assert_eq!(
        decoder.decode_chunk_body(&first, body).unwrap_err().code(),
        "invalid_argument"
    );
}
