//! Log segment tests: round trips, every truncation point, every bit flip, and one test
//! per row of the torn-tail-versus-corruption decision table in FORMAT.md.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use common::{craft_frame, crc, frame_checksum, reseal, segment, Crafted, Sync, SALT};
use wal_format::limits::{FRAME_PAYLOAD_BYTES_MAX, SEGMENT_BYTES_MAX};
use wal_format::{
    FormatError, Frame, FrameDefect, FrameOutcome, RecordType, SegmentDecoder, SegmentEncoder,
    SegmentHeader, SegmentOpen, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};

const PAYLOADS: [&[u8]; 4] = [b"first", b"", b"third payload, a little longer", b"fourth"];

fn open(bytes: &[u8]) -> SegmentDecoder<'_> {
    match SegmentDecoder::open(bytes).unwrap() {
        SegmentOpen::Ready(decoder) => decoder,
        other => panic!("expected a ready segment, got {other:?}"),
    }
}

/// Decodes every frame; returns the payloads and the final outcome.
fn decode_all(bytes: &[u8]) -> (Vec<Vec<u8>>, FrameOutcome<'_>) {
    let mut decoder = open(bytes);
    let mut payloads = Vec::new();
    loop {
        match decoder.next_frame() {
            FrameOutcome::Frame(frame) => payloads.push(frame.payload.to_vec()),
            outcome => return (payloads, outcome),
        }
    }
}

fn owned(payloads: &[&[u8]]) -> Vec<Vec<u8>> {
    payloads.iter().map(|p| p.to_vec()).collect()
}

#[test]
fn segment_round_trip_decodes_every_frame_then_clean_end() {
    let (bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    let mut decoder = open(&bytes);
    assert_eq!(
        decoder.header(),
        &SegmentHeader {
            sequence: 7,
            salt: SALT,
            previous_version: 0
        }
    );
    for (index, payload) in PAYLOADS.iter().enumerate() {
        let outcome = decoder.next_frame();
        assert_eq!(
            outcome,
            FrameOutcome::Frame(Frame {
                offset: starts[index],
                record_type: RecordType::Commit,
                version: index as u64 + 1,
                payload,
            })
        );
    }
    assert_eq!(decoder.next_frame(), FrameOutcome::CleanEnd);
    assert_eq!(decoder.next_frame(), FrameOutcome::CleanEnd);
    assert_eq!(decoder.position(), bytes.len() as u64);
}

#[test]
fn segment_header_round_trips_and_is_forty_bytes() {
    let header = SegmentHeader {
        sequence: u64::MAX,
        salt: 1,
        previous_version: 99,
    };
    let bytes = header.encode();
    assert_eq!(bytes.len(), SEGMENT_HEADER_BYTES);
    assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
}

#[test]
fn segment_header_rejects_an_unknown_version_naming_it() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    reseal(&mut bytes, 36);
    let error = SegmentDecoder::open(&bytes).unwrap_err();
    assert_eq!(
        error,
        FormatError::UnsupportedVersion {
            what: "segment header",
            found: 2,
            supported: 1
        }
    );
    assert!(error.to_string().contains("format version 2"), "{error}");
    // Even with nothing after the header, a newer version is never "unwritten".
    let error = SegmentDecoder::open(&bytes[..SEGMENT_HEADER_BYTES]).unwrap_err();
    assert_eq!(error.code(), "unsupported_version");
}

#[test]
fn segment_header_rejects_an_unknown_checksum_type() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    bytes[10] = 9;
    let error = SegmentDecoder::open(&bytes).unwrap_err();
    assert_eq!(
        error,
        FormatError::UnsupportedChecksumType {
            what: "segment header",
            found: 9
        }
    );
}

#[test]
fn segment_every_truncation_point_is_a_clean_end_torn_tail_or_unwritten() {
    let (bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    let ends: Vec<u64> = starts
        .iter()
        .skip(1)
        .copied()
        .chain([bytes.len() as u64])
        .collect();
    for cut in 0..bytes.len() {
        let prefix = &bytes[..cut];
        if cut < SEGMENT_HEADER_BYTES {
            assert!(
                matches!(
                    SegmentDecoder::open(prefix),
                    Ok(SegmentOpen::Unwritten { .. })
                ),
                "cut at {cut}"
            );
            continue;
        }
        let (payloads, outcome) = decode_all(prefix);
        let complete = ends.iter().filter(|&&end| end <= cut as u64).count();
        assert_eq!(payloads, owned(&PAYLOADS[..complete]), "cut at {cut}");
        let boundary = cut == SEGMENT_HEADER_BYTES || ends.contains(&(cut as u64));
        if boundary {
            assert_eq!(outcome, FrameOutcome::CleanEnd, "cut at {cut}");
        } else {
            assert!(
                matches!(outcome, FrameOutcome::TornTail { offset, .. } if offset == starts[complete]),
                "cut at {cut}: {outcome:?}"
            );
        }
    }
}

#[test]
fn segment_every_single_bit_flip_is_detected() {
    let (bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    let last = *starts.last().unwrap();
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let at = (bit / 8) as u64;
        if at < SEGMENT_HEADER_BYTES as u64 {
            // The header is damaged while frames follow: corruption, never "unwritten".
            assert!(SegmentDecoder::open(&flipped).is_err(), "bit {bit}");
            continue;
        }
        let frame = starts.iter().rposition(|&start| start <= at).unwrap();
        let (payloads, outcome) = decode_all(&flipped);
        assert_eq!(payloads, owned(&PAYLOADS[..frame]), "bit {bit}");
        if starts[frame] == last {
            // Nothing after the last frame can prove it was synced: a torn tail.
            assert!(
                matches!(outcome, FrameOutcome::TornTail { offset, .. } if offset == last),
                "bit {bit}: {outcome:?}"
            );
        } else {
            // The next frame's watermark proves the damaged frame was durable.
            assert!(
                matches!(
                    outcome,
                    FrameOutcome::Corrupt { offset, proven_by: Some(_), .. } if offset == starts[frame]
                ),
                "bit {bit}: {outcome:?}"
            );
        }
    }
}

// ---- The decision table, one test per row (FORMAT.md, "Torn tail or corruption"). ----

#[test]
fn segment_decision_nothing_after_the_last_frame_is_a_clean_end() {
    let (bytes, _) = segment(&[], Sync::EveryFrame);
    assert_eq!(bytes.len(), SEGMENT_HEADER_BYTES);
    assert_eq!(decode_all(&bytes), (vec![], FrameOutcome::CleanEnd));
}

#[test]
fn segment_decision_zero_filled_tail_is_torn() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    let end = bytes.len() as u64;
    bytes.resize(bytes.len() + 4096, 0);
    let (payloads, outcome) = decode_all(&bytes);
    assert_eq!(payloads, owned(&PAYLOADS));
    assert_eq!(
        outcome,
        FrameOutcome::TornTail {
            offset: end,
            reason: FrameDefect::ZeroFilled
        }
    );
}

#[test]
fn segment_decision_partial_header_at_the_end_is_torn() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    let end = bytes.len() as u64;
    bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
    let (_, outcome) = decode_all(&bytes);
    assert_eq!(
        outcome,
        FrameOutcome::TornTail {
            offset: end,
            reason: FrameDefect::HeaderTruncated { available: 5 }
        }
    );
}

#[test]
fn segment_decision_payload_cut_short_by_the_end_is_torn() {
    let (bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    let cut = &bytes[..bytes.len() - 2];
    let (_, outcome) = decode_all(cut);
    assert_eq!(
        outcome,
        FrameOutcome::TornTail {
            offset: starts[3],
            reason: FrameDefect::PayloadTruncated {
                length: 6,
                available: 4
            }
        }
    );
}

#[test]
fn segment_decision_checksum_mismatch_on_the_last_frame_is_torn() {
    let (mut bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    let (_, outcome) = decode_all(&bytes);
    assert!(matches!(
        outcome,
        FrameOutcome::TornTail { offset, reason: FrameDefect::PayloadChecksumMismatch { .. } }
            if offset == starts[3]
    ));
}

#[test]
fn segment_decision_garbage_tail_is_torn() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    let end = bytes.len() as u64;
    bytes.extend((0..500u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    let (payloads, outcome) = decode_all(&bytes);
    assert_eq!(payloads, owned(&PAYLOADS));
    assert!(matches!(
        outcome,
        FrameOutcome::TornTail { offset, reason: FrameDefect::HeaderChecksumMismatch { .. } } if offset == end
    ));
}

#[test]
fn segment_decision_bad_frame_followed_by_a_frame_proving_it_durable_is_corrupt() {
    let (mut bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    bytes[starts[1] as usize + 20] ^= 0x10;
    let (payloads, outcome) = decode_all(&bytes);
    assert_eq!(payloads, owned(&PAYLOADS[..1]));
    assert!(
        matches!(
            outcome,
            FrameOutcome::Corrupt {
                offset,
                reason: FrameDefect::HeaderChecksumMismatch { .. },
                proven_by: Some(proof),
            } if offset == starts[1] && proof == starts[2]
        ),
        "{outcome:?}"
    );
}

#[test]
fn segment_decision_bad_unsynced_frame_followed_by_unsynced_frames_is_torn() {
    // A power loss can persist later unsynced sectors and lose earlier ones: nothing
    // here was ever synced, so nothing is lost that was acknowledged.
    let (mut bytes, starts) = segment(&PAYLOADS, Sync::Never);
    for byte in &mut bytes[starts[1] as usize..starts[2] as usize] {
        *byte = 0;
    }
    let (payloads, outcome) = decode_all(&bytes);
    assert_eq!(payloads, owned(&PAYLOADS[..1]));
    assert_eq!(
        outcome,
        FrameOutcome::TornTail {
            offset: starts[1],
            reason: FrameDefect::ZeroedHeader
        }
    );
}

#[test]
fn segment_decision_zeroed_hole_in_synced_frames_is_corrupt() {
    let (mut bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    for byte in &mut bytes[starts[1] as usize..starts[2] as usize] {
        *byte = 0;
    }
    let (_, outcome) = decode_all(&bytes);
    assert_eq!(
        outcome,
        FrameOutcome::Corrupt {
            offset: starts[1],
            reason: FrameDefect::ZeroedHeader,
            proven_by: Some(starts[2]),
        }
    );
}

#[test]
fn segment_decision_damaged_length_hiding_later_frames_is_corrupt() {
    // The length field of frame 1 claims more than the file holds: alone it would look
    // like a torn append, but later frames prove frame 1 was synced.
    let (mut bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    let at = starts[1] as usize + 4;
    bytes[at..at + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
    let (_, outcome) = decode_all(&bytes);
    assert!(
        matches!(
            outcome,
            FrameOutcome::Corrupt {
                proven_by: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[test]
fn segment_decision_frame_from_another_segment_never_validates() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    let end = bytes.len() as u64;
    // A frame that would be perfect here except that it was written with another salt.
    let chain = frame_checksum(
        &bytes,
        *segment(&PAYLOADS, Sync::EveryFrame).1.last().unwrap(),
    );
    let (stale, _) = craft_frame(&Crafted {
        salt: SALT ^ 1,
        payload_length: 3,
        record_type: 1,
        flags: 0,
        reserved: 0,
        synced_through: end as u32,
        version: 5,
        previous_checksum: chain,
        payload: b"old",
    });
    bytes.extend_from_slice(&stale);
    let (payloads, outcome) = decode_all(&bytes);
    assert_eq!(payloads.len(), PAYLOADS.len());
    assert!(matches!(
        outcome,
        FrameOutcome::TornTail { offset, reason: FrameDefect::HeaderChecksumMismatch { .. } } if offset == end
    ));
}

#[test]
fn segment_decision_copied_frame_breaks_the_chain() {
    let (bytes, starts) = segment(&PAYLOADS, Sync::EveryFrame);
    // Copy frame 0 over the place of frame 1 (same salt, valid checksum, wrong chain),
    // keeping frames 2 and 3 after it.
    let frame0 = bytes[starts[0] as usize..starts[1] as usize].to_vec();
    let mut copied = bytes[..starts[1] as usize].to_vec();
    copied.extend_from_slice(&frame0);
    let (payloads, outcome) = decode_all(&copied);
    assert_eq!(payloads, owned(&PAYLOADS[..1]));
    assert!(
        matches!(
            outcome,
            FrameOutcome::TornTail {
                reason: FrameDefect::ChainMismatch { .. },
                ..
            }
        ),
        "{outcome:?}"
    );
    copied.extend_from_slice(&bytes[starts[2] as usize..]);
    let (_, outcome) = decode_all(&copied);
    assert!(
        matches!(
            outcome,
            FrameOutcome::Corrupt {
                reason: FrameDefect::ChainMismatch { .. },
                proven_by: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
}

/// A segment whose last frame is replaced by a crafted one with a valid checksum.
fn with_crafted_last(edit: impl FnOnce(&mut Crafted<'_>)) -> (Vec<u8>, u64) {
    let (bytes, starts) = segment(&PAYLOADS[..2], Sync::EveryFrame);
    let mut fields = Crafted {
        salt: SALT,
        payload_length: 2,
        record_type: 1,
        flags: 0,
        reserved: 0,
        synced_through: bytes.len() as u32,
        version: 3,
        previous_checksum: frame_checksum(&bytes, starts[1]),
        payload: b"ok",
    };
    edit(&mut fields);
    let (frame, _) = craft_frame(&fields);
    let end = bytes.len() as u64;
    let mut bytes = bytes;
    bytes.extend_from_slice(&frame);
    (bytes, end)
}

#[test]
fn segment_decision_crafted_frame_with_valid_checksum_decodes() {
    let (bytes, _) = with_crafted_last(|_| {});
    let (payloads, outcome) = decode_all(&bytes);
    assert_eq!(payloads.last().unwrap(), b"ok");
    assert_eq!(outcome, FrameOutcome::CleanEnd);
}

#[test]
fn segment_decision_unknown_record_type_with_valid_checksum_is_corrupt() {
    let (bytes, end) = with_crafted_last(|f| f.record_type = 200);
    assert_eq!(
        decode_all(&bytes).1,
        FrameOutcome::Corrupt {
            offset: end,
            reason: FrameDefect::UnknownRecordType { tag: 200 },
            proven_by: None,
        }
    );
}

#[test]
fn segment_decision_reserved_bits_with_valid_checksum_are_corrupt() {
    for edit in [
        (|f: &mut Crafted<'_>| f.flags = 1) as fn(&mut Crafted<'_>),
        |f| f.reserved = 0x0100,
    ] {
        let (bytes, end) = with_crafted_last(edit);
        assert_eq!(
            decode_all(&bytes).1,
            FrameOutcome::Corrupt {
                offset: end,
                reason: FrameDefect::ReservedNotZero,
                proven_by: None
            }
        );
    }
}

#[test]
fn segment_decision_oversized_length_with_valid_checksum_is_corrupt() {
    let (bytes, end) = with_crafted_last(|f| f.payload_length = FRAME_PAYLOAD_BYTES_MAX + 1);
    assert_eq!(
        decode_all(&bytes).1,
        FrameOutcome::Corrupt {
            offset: end,
            reason: FrameDefect::PayloadTooLarge {
                length: FRAME_PAYLOAD_BYTES_MAX + 1
            },
            proven_by: None,
        }
    );
}

#[test]
fn segment_decision_huge_length_claim_in_a_short_input_is_torn() {
    // Frames are never copied, so a 4 GiB claim costs nothing; with a valid checksum
    // and a length within the limit, it is a payload cut short by the end.
    let (bytes, end) = with_crafted_last(|f| f.payload_length = FRAME_PAYLOAD_BYTES_MAX);
    assert!(matches!(
        decode_all(&bytes).1,
        FrameOutcome::TornTail { offset, reason: FrameDefect::PayloadTruncated { .. } } if offset == end
    ));
}

#[test]
fn segment_decision_watermark_past_its_own_frame_is_corrupt() {
    let (bytes, end) = with_crafted_last(|f| f.synced_through += 1);
    assert!(matches!(
        decode_all(&bytes).1,
        FrameOutcome::Corrupt { offset, reason: FrameDefect::SyncedThroughAhead { .. }, proven_by: None }
            if offset == end
    ));
}

#[test]
fn segment_decision_header_creation_interrupted_is_unwritten() {
    let header = SegmentHeader {
        sequence: 1,
        salt: SALT,
        previous_version: 0,
    }
    .encode();
    // Empty, partial, zero-filled, torn-then-zero: all unwritten.
    let mut torn = header[..20].to_vec();
    torn.resize(4096, 0);
    for bytes in [Vec::new(), header[..17].to_vec(), vec![0u8; 4096], torn] {
        assert!(
            matches!(
                SegmentDecoder::open(&bytes),
                Ok(SegmentOpen::Unwritten { .. })
            ),
            "{:?}",
            SegmentDecoder::open(&bytes)
        );
    }
}

#[test]
fn segment_decision_damaged_header_followed_by_data_is_an_error() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::Never);
    bytes[15] ^= 1;
    assert!(matches!(
        SegmentDecoder::open(&bytes),
        Err(FormatError::ChecksumMismatch {
            what: "segment header",
            offset: 0,
            ..
        })
    ));
}

#[test]
fn segment_decoder_repeats_its_terminal_outcome() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    bytes.extend_from_slice(&[9; 40]);
    let mut decoder = open(&bytes);
    while let FrameOutcome::Frame(_) = decoder.next_frame() {}
    let first = decoder.next_frame();
    assert!(matches!(first, FrameOutcome::TornTail { .. }));
    assert_eq!(decoder.next_frame(), first);
}

#[test]
fn segment_resumed_encoder_appends_after_a_truncated_torn_tail() {
    let (mut bytes, _) = segment(&PAYLOADS, Sync::EveryFrame);
    bytes.extend_from_slice(&[0xAB; 13]);
    let mut decoder = open(&bytes);
    while let FrameOutcome::Frame(_) = decoder.next_frame() {}
    let valid = decoder.position() as usize;
    let mut encoder = decoder.resume_encoder();
    assert_eq!(encoder.end_offset(), valid as u64);
    bytes.truncate(valid);
    encoder.mark_all_synced();
    encoder
        .append(RecordType::Commit, 5, b"after recovery", &mut bytes)
        .unwrap();
    let (payloads, outcome) = decode_all(&bytes);
    assert_eq!(payloads.len(), PAYLOADS.len() + 1);
    assert_eq!(payloads.last().unwrap(), b"after recovery");
    assert_eq!(outcome, FrameOutcome::CleanEnd);
}

#[test]
fn segment_encoder_refuses_watermarks_past_what_it_encoded() {
    let mut out = Vec::new();
    let mut encoder = SegmentEncoder::new(
        &SegmentHeader {
            sequence: 0,
            salt: 1,
            previous_version: 0,
        },
        &mut out,
    );
    assert!(encoder.mark_synced(40).is_ok());
    assert_eq!(
        encoder.mark_synced(41).unwrap_err().code(),
        "invalid_argument"
    );
    encoder.mark_synced(3).unwrap();
    assert_eq!(
        encoder.synced_through(),
        40,
        "the watermark never moves back"
    );
}

#[test]
fn segment_encoder_refuses_an_oversized_payload_and_changes_nothing() {
    let mut out = Vec::new();
    let header = SegmentHeader {
        sequence: 0,
        salt: 1,
        previous_version: 0,
    };
    let mut encoder = SegmentEncoder::new(&header, &mut out);
    let before = (encoder.clone(), out.clone());
    let huge = vec![0u8; FRAME_PAYLOAD_BYTES_MAX as usize + 1];
    let error = encoder
        .append(RecordType::Commit, 1, &huge, &mut out)
        .unwrap_err();
    assert!(
        matches!(error, FormatError::LimitExceeded { max, .. } if max == u64::from(FRAME_PAYLOAD_BYTES_MAX))
    );
    assert_eq!((encoder, out), before);
}

#[test]
fn segment_decoder_refuses_a_segment_over_the_size_limit() {
    assert!(SEGMENT_BYTES_MAX < usize::MAX as u64);
    // Not allocated for real: calloc'd zero pages are never touched by the check.
    let bytes = vec![0u8; SEGMENT_BYTES_MAX as usize + 1];
    assert!(matches!(
        SegmentDecoder::open(&bytes),
        Err(FormatError::LimitExceeded { .. })
    ));
}

#[test]
fn segment_frame_layout_matches_the_specification() {
    // Frame 0 of a fresh segment chains to the header checksum, and its header checksum
    // covers the salt and header bytes 4..32.
    let (bytes, starts) = segment(&[b"xyz"], Sync::Never);
    let header_checksum = u32::from_le_bytes(bytes[36..40].try_into().unwrap());
    let at = starts[0] as usize;
    let frame = &bytes[at..];
    assert_eq!(frame.len(), FRAME_HEADER_BYTES + 3);
    assert_eq!(u32::from_le_bytes(frame[4..8].try_into().unwrap()), 3);
    assert_eq!(frame[8], RecordType::Commit as u8);
    assert_eq!(
        u32::from_le_bytes(frame[24..28].try_into().unwrap()),
        header_checksum
    );
    assert_eq!(
        u32::from_le_bytes(frame[28..32].try_into().unwrap()),
        crc(&[b"xyz"])
    );
    assert_eq!(
        u32::from_le_bytes(frame[0..4].try_into().unwrap()),
        crc(&[&SALT.to_le_bytes(), &frame[4..32]])
    );
}

#[test]
fn segment_decision_header_with_zeroed_version_and_zero_tail_is_unwritten() {
    // A torn header write can leave the version and checksum-type bytes zero.
    let mut bytes = SegmentHeader {
        sequence: 1,
        salt: SALT,
        previous_version: 0,
    }
    .encode();
    bytes[8..].fill(0);
    bytes.resize(100, 0);
    assert!(matches!(
        SegmentDecoder::open(&bytes),
        Ok(SegmentOpen::Unwritten {
            cause: FormatError::UnsupportedVersion { found: 0, .. }
        })
    ));
    bytes[8] = 1;
    assert!(matches!(
        SegmentDecoder::open(&bytes),
        Ok(SegmentOpen::Unwritten {
            cause: FormatError::UnsupportedChecksumType { found: 0, .. }
        })
    ));
}

#[test]
fn segment_decision_checksum_valid_header_with_reserved_byte_is_never_unwritten() {
    let mut bytes = SegmentHeader {
        sequence: 1,
        salt: SALT,
        previous_version: 0,
    }
    .encode();
    bytes[11] = 1;
    reseal(&mut bytes, 36);
    assert_eq!(
        SegmentDecoder::open(&bytes).unwrap_err(),
        FormatError::ReservedNotZero {
            what: "segment header",
            offset: 0
        }
    );
}
