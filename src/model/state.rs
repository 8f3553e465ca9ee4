//! The immutable database state that readers see.
//!
//! A `DbState` is a value: every commit builds a new one from the previous with
//! structurally shared maps (`imbl`), so publishing costs O(log n), a reader's snapshot
//! is one `Arc` clone, and forking a branch clones one map root. Invariants:
//! `last_version` is the version of the newest commit applied; every chain head inside
//! has a version at most `last_version`; the `"default"` branch and every branch's
//! `"default"` space always exist.

use std::sync::Arc;

use imbl::{OrdMap, Vector};

use crate::model::chain::Chain;
use crate::packed::Packed;
use crate::value::Value;
use crate::vector_index::{Metric, VectorIndex};

/// The name of the branch and of the space that always exist.
pub const DEFAULT: &str = "default";

/// A name or key: up to 23 bytes kept inline (inside a map's node, so comparing keys
/// needs no pointer chase), longer ones shared between states without copying.
pub type Name = smol_str::SmolStr;

/// The whole database at one version.
#[derive(Clone, Debug)]
pub struct DbState {
    pub last_version: u64,
    /// Timestamp (µs) of the newest commit, or of creation.
    pub last_timestamp: u64,
    pub branches: OrdMap<Name, BranchState>,
    /// The oldest point that reads "as of" a past version answer exactly: retention
    /// has removed history only from before it.
    pub history_floor: HistoryFloor,
}

/// The commit (version and time) before which retention may have removed history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryFloor {
    pub version: u64,
    pub timestamp: u64,
}

/// Descriptive facts about a branch.
#[derive(Clone, Debug, PartialEq)]
pub struct BranchInfo {
    pub created_version: u64,
    pub created_at: u64,
    /// The version and time of the newest commit that changed this branch.
    pub updated_version: u64,
    pub updated_at: u64,
    /// The branch this one was forked from, and the version it was forked at.
    pub parent: Option<(Name, u64)>,
}

/// One branch: its spaces and what it knows about merges.
#[derive(Clone, Debug)]
pub struct BranchState {
    pub info: Arc<BranchInfo>,
    pub spaces: OrdMap<Name, SpaceState>,
    /// For each other branch: the version up to which this branch has taken in that
    /// branch's changes (set at fork and by each merge). The base of a three-way merge.
    pub merge_bases: OrdMap<Name, u64>,
    /// The newest commit that created or deleted a space of this branch.
    pub spaces_version: u64,
}

/// One space: the five primitives.
#[derive(Clone, Debug, Default)]
pub struct SpaceState {
    pub created_version: u64,
    pub created_at: u64,
    /// The newest commit that changed anything in the space.
    pub updated_version: u64,
    pub kv: OrdMap<Name, Chain<Packed>>,
    pub cells: OrdMap<Name, Chain<Packed>>,
    pub documents: OrdMap<Name, Chain<Packed>>,
    /// How many chains of `kv`, `cells` and `documents` are live (not deleted), kept up
    /// to date by every change so counting records never walks the maps.
    pub live_values: usize,
    pub events: EventLog,
    pub collections: OrdMap<Name, Collection>,
}

/// One appended event. Immutable once written.
#[derive(Debug)]
pub struct Event {
    pub sequence: u64,
    /// The commit that appended it to this branch.
    pub version: u64,
    pub timestamp: u64,
    pub event_type: Name,
    pub payload: Packed,
    /// Where the event was first appended, on whichever branch: that commit's version
    /// and the event's place among that commit's events in the space. A merge copies
    /// the origin along, so an event reaching a branch by two paths is one event.
    pub origin: EventOrigin,
}

/// The identity of an event across branches (see [`Event::origin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EventOrigin {
    pub version: u64,
    pub ordinal: u32,
}

/// A space's event log: dense sequence numbers from 0, plus an index by type.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    pub entries: Vector<Arc<Event>>,
    pub by_type: OrdMap<Name, Vector<u64>>,
}

/// One version of a vector: embedding and metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorValue {
    pub embedding: Arc<[f32]>,
    pub metadata: Option<Value>,
}

/// A vector collection: configuration, per-key history, and the search index over the
/// newest live versions.
#[derive(Clone, Debug)]
pub struct Collection {
    pub dimension: usize,
    pub metric: Metric,
    pub created_version: u64,
    pub created_at: u64,
    /// The newest commit that changed a vector of the collection (or created it).
    pub updated_version: u64,
    pub records: OrdMap<Name, Chain<VectorValue>>,
    pub index: VectorIndex,
}

impl DbState {
    /// A fresh database with the default branch and space.
    pub fn new(timestamp: u64) -> DbState {
        let mut branches = OrdMap::new();
        branches.insert(Name::from(DEFAULT), BranchState::new(0, timestamp, None));
        DbState { last_version: 0, last_timestamp: timestamp, branches, history_floor: HistoryFloor::default() }
    }

    pub fn branch(&self, name: &str) -> Option<&BranchState> {
        self.branches.get(name)
    }
}

impl BranchState {
    /// An empty branch with its default space.
    pub fn new(version: u64, timestamp: u64, parent: Option<(Name, u64)>) -> BranchState {
        let mut spaces = OrdMap::new();
        spaces.insert(Name::from(DEFAULT), SpaceState { created_version: version, created_at: timestamp, ..SpaceState::default() });
        BranchState {
            info: Arc::new(BranchInfo {
                created_version: version,
                created_at: timestamp,
                updated_version: version,
                updated_at: timestamp,
                parent,
            }),
            spaces,
            merge_bases: OrdMap::new(),
            spaces_version: version,
        }
    }

    pub fn space(&self, name: &str) -> Option<&SpaceState> {
        self.spaces.get(name)
    }

    /// Number of live records over all spaces and primitives (events count each).
    pub fn live_record_count(&self) -> usize {
        self.spaces.values().map(SpaceState::live_record_count).sum()
    }
}

impl SpaceState {
    /// Number of live records: keys, cells, documents, events and vectors. O(number
    /// of collections).
    pub fn live_record_count(&self) -> usize {
        self.live_values + self.events.entries.len() + self.collections.values().map(|c| c.index.len()).sum::<usize>()
    }

    /// Recounts `live_values` by walking the maps (after a bulk change).
    pub fn recount_live_values(&mut self) {
        let live = |map: &OrdMap<Name, Chain<Packed>>| map.values().filter(|c| c.live().is_some()).count();
        self.live_values = live(&self.kv) + live(&self.cells) + live(&self.documents);
    }

    /// True when the space holds no live data and no collection.
    pub fn is_empty(&self) -> bool {
        self.live_values == 0 && self.events.entries.is_empty() && self.collections.is_empty()
    }
}
