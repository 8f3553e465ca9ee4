//! Retention: how much history the database keeps, and trimming the rest.
//!
//! A policy keeps, for every record (KV key, state cell, document, vector), its newest
//! `keep_versions` versions and every version that was still current `keep_seconds`
//! ago; with both set, a version is kept when either rule keeps it. The newest version
//! is always kept, so trimming never changes what a present-time read returns. A
//! record whose only remaining version is a delete older than the window is dropped
//! altogether. Events are never trimmed.
//!
//! Invariant: after trimming, [`DbState::history_floor`] is at or after every removed
//! version's successor, so a time-travel read at or after the floor answers exactly as
//! before, and one before it is refused rather than answered wrongly.
//!
//! Trimming is not a commit: it changes no version and no present value, so it is not
//! logged. A crash before the next snapshot simply brings the trimmed history back
//! (with the older floor), which is still a correct state.

use imbl::OrdMap;

use crate::error::{Error, Result};
use crate::model::{Chain, DbState, HistoryFloor, Name};

/// How much history to keep. The default keeps everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Keep at least this many newest versions of each record (at least 1).
    pub keep_versions: Option<u64>,
    /// Keep every version that was current within this many seconds.
    pub keep_seconds: Option<u64>,
}

impl Retention {
    /// A policy from its two settings; `source` names where they came from in errors.
    pub fn new(keep_versions: Option<u64>, keep_seconds: Option<u64>, source: &str) -> Result<Retention> {
        if keep_versions == Some(0) {
            return Err(Error::validation(format!(
                "{source}: keep_versions = 0 is not allowed; it must be at least 1 (the current version is always kept)"
            )));
        }
        if let Some(seconds) = keep_seconds {
            if seconds > u64::MAX / 1_000_000 {
                return Err(Error::validation(format!("{source}: keep_seconds = {seconds} is too large")));
            }
        }
        Ok(Retention { keep_versions, keep_seconds })
    }

    /// True when the policy keeps all history.
    pub fn keeps_everything(&self) -> bool {
        self.keep_versions.is_none() && self.keep_seconds.is_none()
    }

    /// The state with history outside the policy removed, at time `now` (µs), or `None`
    /// when there is nothing to remove.
    pub fn apply(&self, state: &DbState, now: u64) -> Option<DbState> {
        if self.keeps_everything() {
            return None;
        }
        let cutoff = self.keep_seconds.map(|seconds| now.saturating_sub(seconds.saturating_mul(1_000_000)));
        let mut trimmer = Trimmer { policy: *self, cutoff, floor: state.history_floor, changed: false };
        let mut next = state.clone();
        let branch_names: Vec<Name> = next.branches.keys().cloned().collect();
        for branch_name in branch_names {
            let Some(branch) = next.branches.get_mut(&branch_name) else { continue };
            let space_names: Vec<Name> = branch.spaces.keys().cloned().collect();
            for space_name in space_names {
                let Some(space) = branch.spaces.get_mut(&space_name) else { continue };
                trimmer.map(&mut space.kv);
                trimmer.map(&mut space.cells);
                trimmer.map(&mut space.documents);
                let collection_names: Vec<Name> = space.collections.keys().cloned().collect();
                for collection_name in collection_names {
                    if let Some(collection) = space.collections.get_mut(&collection_name) {
                        trimmer.map(&mut collection.records);
                    }
                }
            }
        }
        if !trimmer.changed {
            return None;
        }
        next.history_floor = trimmer.floor;
        Some(next)
    }
}

struct Trimmer {
    policy: Retention,
    cutoff: Option<u64>,
    floor: HistoryFloor,
    changed: bool,
}

enum Outcome<T> {
    Keep,
    Replace(Chain<T>),
    Remove,
}

impl Trimmer {
    fn map<T: Clone>(&mut self, map: &mut OrdMap<Name, Chain<T>>) {
        let mut changes: Vec<(Name, Outcome<T>)> = Vec::new();
        for (key, chain) in map.iter() {
            match self.chain(chain) {
                Outcome::Keep => {}
                outcome => changes.push((key.clone(), outcome)),
            }
        }
        for (key, outcome) in changes {
            self.changed = true;
            match outcome {
                Outcome::Replace(chain) => {
                    map.insert(key, chain);
                }
                Outcome::Remove => {
                    map.remove(&key);
                }
                Outcome::Keep => {}
            }
        }
    }

    /// What the policy does with one chain; moves the floor past what it removes.
    fn chain<T: Clone>(&mut self, chain: &Chain<T>) -> Outcome<T> {
        let by_versions = self.policy.keep_versions.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        // Every version newer than the cutoff, plus the one that was current at it.
        let by_time = self.cutoff.map(|cutoff| chain.iter().take_while(|n| n.timestamp() >= cutoff).count() + 1);
        let keep = match (by_versions, by_time) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Outcome::Keep,
        };
        let trimmed = chain.truncated(keep);
        let kept = trimmed.as_ref().unwrap_or(chain);
        let head = kept.head();
        let oldest = kept.iter().last().map_or((head.version(), head.timestamp()), |n| (n.version(), n.timestamp()));
        let lone_old_delete = head.is_tombstone()
            && head.older().is_none()
            && self.cutoff.is_none_or(|cutoff| head.timestamp() < cutoff);
        if lone_old_delete {
            self.raise_floor(head.version(), head.timestamp());
            return Outcome::Remove;
        }
        match trimmed {
            Some(trimmed) => {
                self.raise_floor(oldest.0, oldest.1);
                Outcome::Replace(trimmed)
            }
            None => Outcome::Keep,
        }
    }

    fn raise_floor(&mut self, version: u64, timestamp: u64) {
        if version > self.floor.version {
            self.floor = HistoryFloor { version, timestamp };
        }
    }
}
