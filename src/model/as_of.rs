//! A point in a branch's past: a commit version or a time.
//!
//! Versions and commit timestamps grow together (the engine never lets a timestamp go
//! backwards), so "as of time t" means "as of the newest commit made at or before t",
//! and each record answers it by comparing its own version or timestamp: no index from
//! times to versions is needed.

use serde::{Deserialize, Serialize};

use crate::model::state::HistoryFloor;

/// Where a time-travel read looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AsOf {
    /// After the commit with this version (0: before the first commit).
    Version(u64),
    /// After the newest commit made at or before this time (µs since the Unix epoch).
    Time(u64),
}

impl AsOf {
    /// Whether something written by the commit `(version, timestamp)` is visible.
    pub fn includes(self, version: u64, timestamp: u64) -> bool {
        match self {
            AsOf::Version(limit) => version <= limit,
            AsOf::Time(limit) => timestamp <= limit,
        }
    }

    /// Whether the point lies before `floor`, where history may be missing.
    pub fn is_before(self, floor: HistoryFloor) -> bool {
        match self {
            AsOf::Version(version) => version < floor.version,
            AsOf::Time(time) => time < floor.timestamp,
        }
    }

    /// The point in words, for messages.
    pub fn describe(self) -> String {
        match self {
            AsOf::Version(version) => format!("version {version}"),
            AsOf::Time(time) => format!("time {time} µs since the epoch"),
        }
    }
}
