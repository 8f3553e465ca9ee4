//! Property tests (proptest): round trips of frames, snapshot streams and bundle
//! streams, the prefix property of torn segments, and "any bytes never panic" for every
//! decoder.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use proptest::prelude::*;
use wal_format::{
    decode_bundle, decode_snapshot, validate_bundle, validate_snapshot, BundleHeader, Chunk,
    FrameOutcome, Manifest, RecordType, SegmentDecoder, SegmentEncoder, SegmentHeader, SegmentOpen,
    SnapshotHeader, CHUNK_HEADER_BYTES, SNAPSHOT_HEADER_BYTES,
};

/// Versions and payloads of decoded frames.
type Decoded = Vec<(u64, Vec<u8>)>;

/// Decodes a segment as far as it goes; `None` when the header does not open.
fn decode_segment(bytes: &[u8]) -> Option<(Decoded, FrameOutcome<'_>)> {
    let SegmentOpen::Ready(mut decoder) = SegmentDecoder::open(bytes).ok()? else {
        return None;
    };
    let mut frames = Vec::new();
    loop {
        match decoder.next_frame() {
            FrameOutcome::Frame(frame) => frames.push((frame.version, frame.payload.to_vec())),
            outcome => return Some((frames, outcome)),
        }
    }
}

fn encode_segment(salt: u64, frames: &[(u64, Vec<u8>, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    let header = SegmentHeader {
        sequence: 1,
        salt,
        previous_version: 0,
    };
    let mut encoder = SegmentEncoder::new(&header, &mut out);
    for (version, payload, synced_before) in frames {
        if *synced_before {
            encoder.mark_all_synced();
        }
        encoder
            .append(RecordType::Commit, *version, payload, &mut out)
            .unwrap();
    }
    out
}

fn frames_strategy() -> impl Strategy<Value = Vec<(u64, Vec<u8>, bool)>> {
    prop::collection::vec(
        (
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..300),
            any::<bool>(),
        ),
        0..16,
    )
}

/// Records that are sometimes incompressible and sometimes very compressible.
fn records_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..600),
            (any::<u8>(), 0..3000usize).prop_map(|(byte, length)| vec![byte; length]),
        ],
        0..30,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn frames_round_trip(salt in any::<u64>(), frames in frames_strategy()) {
        let bytes = encode_segment(salt, &frames);
        let (decoded, outcome) = decode_segment(&bytes).unwrap();
        let expected: Vec<(u64, Vec<u8>)> =
            frames.iter().map(|(version, payload, _)| (*version, payload.clone())).collect();
        prop_assert_eq!(decoded, expected);
        prop_assert_eq!(outcome, FrameOutcome::CleanEnd);
    }

    #[test]
    fn frames_cut_anywhere_and_followed_by_junk_decode_to_a_prefix_then_a_torn_tail(
        salt in any::<u64>(),
        frames in frames_strategy(),
        cut_fraction in 0.0f64..=1.0,
        junk in prop_oneof![
            Just(Vec::new()),
            (1..5000usize).prop_map(|length| vec![0u8; length]),
            prop::collection::vec(any::<u8>(), 1..500),
        ],
    ) {
        let bytes = encode_segment(salt, &frames);
        let header = wal_format::SEGMENT_HEADER_BYTES;
        let cut = header + ((bytes.len() - header) as f64 * cut_fraction) as usize;
        let mut damaged = bytes[..cut].to_vec();
        damaged.extend_from_slice(&junk);
        let (decoded, outcome) = decode_segment(&damaged).unwrap();
        let expected: Vec<(u64, Vec<u8>)> =
            frames.iter().map(|(version, payload, _)| (*version, payload.clone())).collect();
        prop_assert!(decoded.len() <= expected.len());
        prop_assert_eq!(&decoded[..], &expected[..decoded.len()]);
        let clean = matches!(outcome, FrameOutcome::CleanEnd);
        let torn = matches!(outcome, FrameOutcome::TornTail { .. });
        prop_assert!(clean || torn, "{:?}", outcome);
    }

    #[test]
    fn snapshot_streams_round_trip(
        covered_version in any::<u64>(),
        salt in any::<u64>(),
        records in records_strategy(),
        target in 1u32..4000,
    ) {
        let header = SnapshotHeader { covered_version, salt };
        let mut out = Vec::new();
        let mut encoder = header.begin_encode(&mut out).with_block_bytes_target(target).unwrap();
        let mut chunks_handed_out = Vec::new();
        for record in &records {
            encoder.push_record(record, &mut out).unwrap();
            // The engine writes and clears the buffer after every call.
            chunks_handed_out.append(&mut out);
        }
        let summary = encoder.finish(&mut out);
        chunks_handed_out.append(&mut out);
        let file = chunks_handed_out;

        let decoded = decode_snapshot(&file).unwrap();
        prop_assert_eq!(decoded.header, header);
        prop_assert_eq!(decoded.summary, summary);
        prop_assert_eq!(decoded.records().map(<[u8]>::to_vec).collect::<Vec<_>>(), records.clone());
        prop_assert!(validate_snapshot(&file).is_valid());

        // Streaming, chunk by chunk.
        let (_, mut decoder) = SnapshotHeader::begin_decode(&file[..SNAPSHOT_HEADER_BYTES]).unwrap();
        let mut position = SNAPSHOT_HEADER_BYTES;
        let mut streamed = Vec::new();
        loop {
            let chunk = decoder.decode_chunk_header(&file[position..position + CHUNK_HEADER_BYTES]).unwrap();
            position += CHUNK_HEADER_BYTES;
            let body = &file[position..position + chunk.body_bytes()];
            position += chunk.body_bytes();
            match decoder.decode_chunk_body(&chunk, body).unwrap() {
                Chunk::Block(block) => streamed.extend(block.records().map(<[u8]>::to_vec)),
                Chunk::End(end) => { prop_assert_eq!(end, summary); break; }
            }
        }
        prop_assert_eq!(position, file.len());
        prop_assert_eq!(streamed, records);
    }

    #[test]
    fn bundle_streams_round_trip(
        salt in any::<u64>(),
        branch_name in "\\PC{0,40}",
        metadata in prop::collection::vec(any::<u8>(), 0..200),
        records in records_strategy(),
        target in 1u32..4000,
    ) {
        let header = BundleHeader { salt, branch_name, metadata };
        let mut out = Vec::new();
        let mut encoder = header.begin_encode(&mut out).unwrap().with_block_bytes_target(target).unwrap();
        for record in &records {
            encoder.push_record(record, &mut out).unwrap();
        }
        encoder.finish(&mut out);
        let decoded = decode_bundle(&out).unwrap();
        prop_assert_eq!(&decoded.header, &header);
        prop_assert_eq!(decoded.summary.record_count, records.len() as u64);
        prop_assert_eq!(decoded.records().map(<[u8]>::to_vec).collect::<Vec<_>>(), records);
        prop_assert!(validate_bundle(&out).is_valid());
    }

    #[test]
    fn snapshot_any_single_byte_change_is_detected(
        records in records_strategy(),
        target in 1u32..2000,
        position_fraction in 0.0f64..1.0,
        xor in 1u8..=255,
    ) {
        let header = SnapshotHeader { covered_version: 9, salt: 9 };
        let mut file = Vec::new();
        let mut encoder = header.begin_encode(&mut file).with_block_bytes_target(target).unwrap();
        for record in &records {
            encoder.push_record(record, &mut file).unwrap();
        }
        encoder.finish(&mut file);
        let at = (file.len() as f64 * position_fraction) as usize;
        file[at] ^= xor;
        prop_assert!(decode_snapshot(&file).is_err());
        prop_assert!(!validate_snapshot(&file).is_valid());
    }

    #[test]
    fn any_bytes_never_panic_any_decoder(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_segment(&bytes);
        let _ = SegmentHeader::decode(&bytes);
        let _ = decode_snapshot(&bytes);
        let _ = validate_snapshot(&bytes);
        let _ = decode_bundle(&bytes);
        let _ = validate_bundle(&bytes);
        let _ = Manifest::decode(&bytes);
        let _ = SnapshotHeader::decode(&bytes);
        let _ = BundleHeader::begin_decode(&bytes);
    }

    #[test]
    fn any_bytes_after_valid_headers_never_panic(
        salt in any::<u64>(),
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut segment = SegmentHeader { sequence: 0, salt, previous_version: 0 }.encode();
        segment.extend_from_slice(&tail);
        let _ = decode_segment(&segment);

        let mut snapshot = SnapshotHeader { covered_version: 0, salt }.encode();
        snapshot.extend_from_slice(&tail);
        let _ = decode_snapshot(&snapshot);
        let _ = validate_snapshot(&snapshot);

        let mut bundle = BundleHeader { salt, branch_name: "b".into(), metadata: vec![1] }.encode().unwrap();
        bundle.extend_from_slice(&tail);
        let _ = decode_bundle(&bundle);
        let _ = validate_bundle(&bundle);
    }
}
