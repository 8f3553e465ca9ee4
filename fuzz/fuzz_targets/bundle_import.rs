//! Fuzzes the engine's bundle reader: `stratadb::bundle::build_branch` decodes the
//! blocks and rebuilds the branch with every check a hostile file must pass. It must
//! never panic, hang or allocate beyond what the input justifies (driver and its
//! property: stratadb::bundle::fuzz_import, replayed over fuzz/corpus/bundle_import by
//! tests/bundles.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stratadb::bundle::fuzz_import(data));
