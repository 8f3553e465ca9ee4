//! Fuzzes the snapshot decoder of wal-format (driver and properties: wal_format::fuzzing::snapshot).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wal_format::fuzzing::snapshot(data));
