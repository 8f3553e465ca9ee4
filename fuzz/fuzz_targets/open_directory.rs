//! Fuzzes opening an arbitrary database directory image on the simulated disk
//! (driver and properties: stress::sim::fuzz::open_directory).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stress::sim::fuzz::open_directory(data));
