//! Manifest tests: round trips, exact length, every truncation point, every bit flip,
//! unknown versions and inconsistent fields.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use common::reseal;
use wal_format::{FormatError, Manifest, SnapshotRef, MANIFEST_BYTES};

fn with_snapshot() -> Manifest {
    Manifest {
        generation: 12,
        snapshot: Some(SnapshotRef {
            id: 3,
            covered_version: 1_000,
            salt: 0xABCD,
        }),
        first_segment: 41,
    }
}

#[test]
fn manifest_round_trips_with_and_without_a_snapshot() {
    for manifest in [
        with_snapshot(),
        Manifest {
            generation: 0,
            snapshot: None,
            first_segment: 0,
        },
    ] {
        let bytes = manifest.encode();
        assert_eq!(bytes.len(), MANIFEST_BYTES);
        assert_eq!(Manifest::decode(&bytes), Ok(manifest));
    }
}

#[test]
fn manifest_every_truncation_point_is_an_error() {
    let bytes = with_snapshot().encode();
    for cut in 0..bytes.len() {
        assert_eq!(
            Manifest::decode(&bytes[..cut]).unwrap_err().code(),
            "truncated",
            "cut at {cut}"
        );
    }
}

#[test]
fn manifest_every_single_bit_flip_is_detected() {
    let bytes = with_snapshot().encode();
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(Manifest::decode(&flipped).is_err(), "bit {bit}");
    }
}

#[test]
fn manifest_rejects_trailing_bytes() {
    let mut bytes = with_snapshot().encode();
    bytes.push(0);
    assert_eq!(
        Manifest::decode(&bytes).unwrap_err(),
        FormatError::TrailingBytes {
            what: "manifest",
            offset: 60,
            count: 1
        }
    );
}

#[test]
fn manifest_rejects_an_unknown_version_naming_it() {
    let mut bytes = with_snapshot().encode();
    bytes[8..10].copy_from_slice(&9u16.to_le_bytes());
    reseal(&mut bytes, 56);
    let error = Manifest::decode(&bytes).unwrap_err();
    assert_eq!(
        error,
        FormatError::UnsupportedVersion {
            what: "manifest",
            found: 9,
            supported: 1
        }
    );
    assert!(error.to_string().contains("format version 9"));
}

#[test]
fn manifest_rejects_an_unknown_snapshot_slot_and_stray_snapshot_fields() {
    let mut bytes = with_snapshot().encode();
    bytes[20] = 2;
    reseal(&mut bytes, 56);
    assert!(matches!(
        Manifest::decode(&bytes).unwrap_err(),
        FormatError::UnknownTag {
            tag: 2,
            offset: 20,
            ..
        }
    ));
    let mut bytes = with_snapshot().encode();
    bytes[20] = 0;
    reseal(&mut bytes, 56);
    assert_eq!(Manifest::decode(&bytes).unwrap_err().code(), "inconsistent");
    let mut bytes = with_snapshot().encode();
    bytes[22] = 1;
    reseal(&mut bytes, 56);
    assert_eq!(
        Manifest::decode(&bytes).unwrap_err().code(),
        "reserved_not_zero"
    );
}
