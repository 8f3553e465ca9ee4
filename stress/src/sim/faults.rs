//! Fault injection sweeps (in progress).
use std::time::Instant;
use stratadb::Durability;
pub fn run_cli(_seed: u64, _short: bool, _deadline: Option<Instant>, _modes: &[Durability]) -> bool {
    println!("stress: faults: not implemented yet");
    true
}
