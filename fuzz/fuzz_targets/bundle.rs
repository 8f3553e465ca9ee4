//! Fuzzes the bundle decoder of wal-format (driver and properties: wal_format::fuzzing::bundle).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wal_format::fuzzing::bundle(data));
