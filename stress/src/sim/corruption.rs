//! Corruption sweeps (in progress).
pub fn run_cli(_seed: u64, _short: bool) -> bool {
    println!("stress: corruption: not implemented yet");
    true
}
