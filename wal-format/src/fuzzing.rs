//! The decoder drivers shared by the cargo-fuzz targets (`fuzz/`) and by the corpus
//! replay test (`tests/fuzz_corpus.rs`): each takes arbitrary bytes, runs one decoder
//! over all of them, and panics only if a property of the format breaks. Decoders must
//! never panic themselves (lib.rs invariants), so any panic is a finding.
//!
//! Properties, beyond "no panic":
//! - segment: frames lie inside the input in increasing order; the decoder's position
//!   is where the verified prefix ends; that prefix alone decodes to the same frames and
//!   a clean end (truncating a torn tail leaves a clean log);
//! - snapshot and bundle: `decode_*` succeeds exactly when `validate_*` finds the file
//!   intact, and then both count the same records;
//! - manifest: a manifest that decodes encodes back to exactly its input.

use crate::{
    decode_bundle, decode_snapshot, validate_bundle, validate_snapshot, FrameOutcome, Manifest, SegmentDecoder,
    SegmentOpen,
};

/// One decoded frame: offset, record type byte, version, payload length.
type FrameFacts = (u64, u8, u64, usize);

/// A decoder driver: arbitrary bytes in, a panic only on a finding.
pub type Driver = fn(&[u8]);

/// What a segment decodes to: its frames, where the verified prefix ends, and whether
/// it ends cleanly.
fn segment_frames(data: &[u8]) -> Option<(Vec<FrameFacts>, u64, bool)> {
    let Ok(SegmentOpen::Ready(mut decoder)) = SegmentDecoder::open(data) else { return None };
    let mut frames = Vec::new();
    loop {
        let before = decoder.position();
        match decoder.next_frame() {
            FrameOutcome::Frame(frame) => {
                assert_eq!(frame.offset, before, "a frame starts where the previous one ended");
                assert!(decoder.position() > before, "the decoder moves forward");
                assert!(decoder.position() <= data.len() as u64, "a frame lies inside the segment");
                frames.push((frame.offset, frame.record_type as u8, frame.version, frame.payload.len()));
            }
            FrameOutcome::CleanEnd => return Some((frames, decoder.position(), true)),
            FrameOutcome::TornTail { offset, .. } => {
                assert_eq!(offset, decoder.position(), "a torn tail starts where the verified prefix ends");
                return Some((frames, offset, false));
            }
            FrameOutcome::Corrupt { offset, proven_by, .. } => {
                assert_eq!(offset, decoder.position(), "corruption is reported where the verified prefix ends");
                if let Some(later) = proven_by {
                    assert!(later > offset && later < data.len() as u64, "the proof lies after the damage");
                }
                return Some((frames, offset, false));
            }
        }
    }
}

/// Drives the segment decoder (header and every frame).
pub fn segment(data: &[u8]) {
    let Some((frames, end, clean)) = segment_frames(data) else { return };
    if !clean {
        let prefix = usize::try_from(end).unwrap_or(usize::MAX).min(data.len());
        let again = segment_frames(&data[..prefix]).expect("the verified prefix keeps its header");
        assert_eq!(again.0, frames, "the verified prefix decodes to the same frames");
        assert!(again.2, "the verified prefix ends cleanly");
    }
}

/// Drives the snapshot decoder and validator (header and block stream).
pub fn snapshot(data: &[u8]) {
    let decoded = decode_snapshot(data);
    let report = validate_snapshot(data);
    assert_eq!(decoded.is_ok(), report.is_valid(), "decode and validate agree: {report:?}");
    if let Ok(snapshot) = decoded {
        assert_eq!(snapshot.records().count() as u64, report.records_verified);
    }
}

/// Drives the manifest decoder.
pub fn manifest(data: &[u8]) {
    if let Ok(manifest) = Manifest::decode(data) {
        assert_eq!(manifest.encode(), data, "a manifest that decodes encodes back to its bytes");
    }
}

/// Drives the bundle decoder and validator.
pub fn bundle(data: &[u8]) {
    let decoded = decode_bundle(data);
    let report = validate_bundle(data);
    assert_eq!(decoded.is_ok(), report.is_valid(), "decode and validate agree: {report:?}");
    if let Ok(bundle) = decoded {
        assert_eq!(bundle.records().count() as u64, report.records_verified);
    }
}

/// The targets by name, as the corpus directories are named.
pub const TARGETS: [(&str, Driver); 4] =
    [("segment", segment), ("snapshot", snapshot), ("manifest", manifest), ("bundle", bundle)];
