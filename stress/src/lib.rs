//! The crash-recovery stress harness as a library: the seeded generator, the workload
//! and reference model of the real-process mode, and the power-loss simulator with its
//! fault and corruption sweeps (`sim`). The `stress` binary (main.rs) drives them; the
//! fuzz targets reuse the simulated disk to open arbitrary directory images.

pub mod model;
pub mod rng;
pub mod sim;
pub mod workload;
