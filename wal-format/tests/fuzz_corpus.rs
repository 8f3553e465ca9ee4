//! Replays the fuzz corpus (`fuzz/corpus/<target>/`, kept in the repository) through
//! the same drivers the cargo-fuzz targets call (`wal_format::fuzzing`), so a stable
//! `cargo test` checks every input that ever found a bug or grew coverage.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_passes_its_decoder_driver() {
    for (target, driver) in wal_format::fuzzing::TARGETS {
        let inputs = corpus(target);
        assert!(!inputs.is_empty(), "the corpus of {target} is empty");
        for (path, bytes) in inputs {
            if std::panic::catch_unwind(|| driver(&bytes)).is_err() {
                panic!("{target} failed on {}", path.display());
            }
        }
    }
}

/// The drivers check something: a manifest that decodes must encode back to its
/// bytes, so a manifest followed by a stray byte is refused rather than accepted.
#[test]
fn the_manifest_driver_accepts_the_golden_manifest_and_its_decoder_refuses_a_longer_one() {
    let golden = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/manifest-v1.bin")).expect("golden");
    wal_format::fuzzing::manifest(&golden);
    let mut longer = golden.clone();
    longer.push(0);
    assert!(wal_format::Manifest::decode(&longer).is_err());
    wal_format::fuzzing::manifest(&longer);
}
