//! The crash-recovery stress harness (see stress/README.md).
fn main() {}
