//! Comparing and merging branches.
//!
//! A diff compares the newest live values of two branches, record by record. A merge is
//! three-way: the base is the version up to which the target has already taken in the
//! source (set when one was forked from the other, and moved by every merge). A record
//! changed in the source since the base is applied to the target, unless the target
//! changed it too (a conflict) and holds a different value. Events are append-only, so
//! they never conflict: source events the target has not seen are appended, each known
//! by its origin (the commit that first appended it, on any branch, and its place in
//! that commit), so that an event reaching a branch along several merge paths is
//! appended once.
//!
//! Records are named in reports as `{space, primitive, key}` where primitive is one of
//! `kv`, `state`, `event`, `json`, `vector`; an event's key is its sequence number and
//! a vector's key is `collection/key` (collection names cannot contain `/`).

use std::collections::{BTreeSet, HashSet};

use imbl::ordmap::DiffItem;
use imbl::OrdMap;

use crate::commit::Mutation;
use crate::error::{Error, Result};
use crate::model::{BranchState, Chain, Collection, EventOrigin, Name, SpaceState};
use crate::packed::Packed;

/// One record named in a diff or a merge report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DiffEntry {
    pub space: String,
    pub primitive: &'static str,
    pub key: String,
}

/// Differences seen from branch `a` to branch `b`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiffReport {
    pub branch_a: String,
    pub branch_b: String,
    /// Live in `b` only.
    pub added: Vec<DiffEntry>,
    /// Live in `a` only.
    pub removed: Vec<DiffEntry>,
    /// Live in both with different values.
    pub modified: Vec<DiffEntry>,
}

/// How a merge resolves a record changed on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStrategy {
    /// The side with the later commit wins; the conflict is still reported.
    LastWriterWins,
    /// Any conflict fails the merge and nothing is applied.
    Strict,
}

impl MergeStrategy {
    pub fn parse(text: &str) -> Result<MergeStrategy> {
        match text {
            "last_writer_wins" | "lww" => Ok(MergeStrategy::LastWriterWins),
            "strict" => Ok(MergeStrategy::Strict),
            other => Err(Error::validation(format!(
                "merge strategy {other:?} is not one of \"last_writer_wins\", \"strict\""
            ))),
        }
    }
}

/// What a merge applied and what conflicted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeReport {
    pub keys_applied: u64,
    pub spaces_merged: u64,
    pub conflicts: Vec<DiffEntry>,
}

/// A merge worked out against a state, ready to commit.
#[derive(Debug, Clone)]
pub struct MergePlan {
    pub mutations: Vec<Mutation>,
    pub report: MergeReport,
    /// True when the merge base moves even if nothing is applied (so the next merge
    /// does not look at the same changes again).
    pub base_moves: bool,
}

/// The differences from `a` to `b`.
pub fn diff(name_a: &str, a: &BranchState, name_b: &str, b: &BranchState) -> DiffReport {
    let mut report = DiffReport { branch_a: name_a.to_owned(), branch_b: name_b.to_owned(), ..DiffReport::default() };
    for space in union_keys(&a.spaces, &b.spaces) {
        let empty = SpaceState::default();
        let space_a = a.spaces.get(&space).unwrap_or(&empty);
        let space_b = b.spaces.get(&space).unwrap_or(&empty);
        let mut compare = |primitive: &'static str, key: String, left: Option<&dyn PartialEqDyn>, right: Option<&dyn PartialEqDyn>| {
            let entry = DiffEntry { space: space.to_string(), primitive, key };
            match (left, right) {
                (None, Some(_)) => report.added.push(entry),
                (Some(_), None) => report.removed.push(entry),
                (Some(l), Some(r)) if !l.equals(r) => report.modified.push(entry),
                _ => {}
            }
        };
        // Structural diffs: subtrees both branches still share (a fork's untouched
        // records) are skipped without being visited.
        for (primitive, map_a, map_b) in value_maps(space_a, space_b) {
            for (key, left, right) in changed(map_a, map_b) {
                compare(primitive, key.to_string(), left.and_then(Chain::live).map(as_dyn), right.and_then(Chain::live).map(as_dyn));
            }
        }
        let events_a = &space_a.events.entries;
        let events_b = &space_b.events.entries;
        for sequence in 0..events_a.len().max(events_b.len()) {
            let (left, right) = (events_a.get(sequence), events_b.get(sequence));
            if let (Some(l), Some(r)) = (left, right) {
                if std::sync::Arc::ptr_eq(l, r) {
                    continue;
                }
            }
            let left = left.map(|e| (e.event_type.clone(), e.payload.clone()));
            let right = right.map(|e| (e.event_type.clone(), e.payload.clone()));
            compare("event", sequence.to_string(), left.as_ref().map(as_dyn), right.as_ref().map(as_dyn));
        }
        for name in union_keys(&space_a.collections, &space_b.collections) {
            let records_a = space_a.collections.get(&name).map(|c| &c.records);
            let records_b = space_b.collections.get(&name).map(|c| &c.records);
            let empty_records = OrdMap::new();
            let records_a = records_a.unwrap_or(&empty_records);
            let records_b = records_b.unwrap_or(&empty_records);
            for (key, left, right) in changed(records_a, records_b) {
                let left = left.and_then(Chain::live).map(|v| (v.embedding.to_vec(), v.metadata.clone()));
                let right = right.and_then(Chain::live).map(|v| (v.embedding.to_vec(), v.metadata.clone()));
                compare("vector", format!("{name}/{key}"), left.as_ref().map(as_dyn), right.as_ref().map(as_dyn));
            }
        }
    }
    report
}

/// Works out the merge of `source` into `target`.
pub fn plan_merge(
    source_name: &str,
    source: &BranchState,
    target_name: &str,
    target: &BranchState,
    strategy: MergeStrategy,
) -> Result<MergePlan> {
    let base = target.merge_bases.get(source_name).copied().unwrap_or(0);
    // How far the source has taken in the target: a source value that equals what the
    // target held then came from the target, and is not a change of the source's.
    let source_base = source.merge_bases.get(target_name).copied();
    let mut mutations = Vec::new();
    let mut conflicts = Vec::new();
    let mut spaces_touched = BTreeSet::new();
    let empty = SpaceState::default();

    for (space_name, source_space) in source.spaces.iter() {
        let target_space = target.spaces.get(space_name);
        let space = space_name.clone();
        let before = mutations.len();
        if target_space.is_none() && source_space.created_version > base {
            mutations.push(Mutation::SpaceCreate { space: space.clone() });
        }
        let target_space = target_space.unwrap_or(&empty);

        for (primitive, source_map, target_map) in value_maps(source_space, target_space) {
            // Only records whose histories differ can need anything; shared subtrees
            // are skipped. Records only the target has are the target's own.
            for (key, source_chain, target_chain) in changed(source_map, target_map) {
                let Some(source_chain) = source_chain else { continue };
                let decision = decide(source_chain, target_chain, base, source_base, strategy);
                let entry = || DiffEntry { space: space.to_string(), primitive, key: key.to_string() };
                match decision {
                    Decision::Skip => {}
                    Decision::Conflict { apply } => {
                        conflicts.push(entry());
                        if apply {
                            mutations.push(value_mutation(primitive, &space, key, source_chain.live().cloned()));
                        }
                    }
                    Decision::Apply => mutations.push(value_mutation(primitive, &space, key, source_chain.live().cloned())),
                }
            }
        }

        // Events: append those the target has not seen (by origin), in source order.
        let new_events = source_space.events.entries.iter().filter(|e| e.version > base);
        let mut seen: Option<HashSet<EventOrigin>> = None;
        for event in new_events {
            let seen = seen.get_or_insert_with(|| target_space.events.entries.iter().map(|e| e.origin).collect());
            if seen.insert(event.origin) {
                mutations.push(Mutation::EventCopy {
                    space: space.clone(),
                    event_type: event.event_type.clone(),
                    payload: event.payload.clone(),
                    origin: event.origin,
                });
            }
        }

        for (name, source_collection) in source_space.collections.iter() {
            merge_collection(
                &space,
                name,
                source_collection,
                target_space.collections.get(name),
                (base, source_base),
                strategy,
                &mut mutations,
                &mut conflicts,
            );
        }
        if mutations.len() > before {
            spaces_touched.insert(space);
        }
    }

    if strategy == MergeStrategy::Strict && !conflicts.is_empty() {
        let listed: Vec<String> = conflicts.iter().map(|c| format!("{}:{}:{}", c.space, c.primitive, c.key)).collect();
        return Err(Error::conflict(format!(
            "merge of '{source_name}' into '{target_name}' has {} conflict(s) under the strict strategy: {}",
            conflicts.len(),
            listed.join(", ")
        )));
    }
    let keys_applied = mutations.iter().filter(|m| !matches!(m, Mutation::SpaceCreate { .. })).count() as u64;
    // The base moves whenever the source has anything newer than it.
    let base_moves = source.info.updated_version > base;
    Ok(MergePlan {
        mutations,
        report: MergeReport { keys_applied, spaces_merged: spaces_touched.len() as u64, conflicts },
        base_moves,
    })
}

#[allow(clippy::too_many_arguments)]
fn merge_collection(
    space: &Name,
    name: &Name,
    source: &Collection,
    target: Option<&Collection>,
    (base, source_base): (u64, Option<u64>),
    strategy: MergeStrategy,
    mutations: &mut Vec<Mutation>,
    conflicts: &mut Vec<DiffEntry>,
) {
    let entry = |key: &str| DiffEntry { space: space.to_string(), primitive: "vector", key: format!("{name}/{key}") };
    let empty = OrdMap::new();
    let target_records = match target {
        Some(existing) if existing.dimension != source.dimension || existing.metric != source.metric => {
            // Incompatible collections: every changed source vector is a conflict the
            // target keeps, whatever the strategy.
            for (key, chain) in source.records.iter() {
                if chain.head().version() > base {
                    conflicts.push(entry(key));
                }
            }
            return;
        }
        Some(existing) => &existing.records,
        None => {
            if source.created_version <= base {
                // The target deleted this collection since the base; do not revive it.
                return;
            }
            mutations.push(Mutation::CollectionCreate {
                space: space.clone(),
                collection: name.clone(),
                dimension: source.dimension as u32,
                metric: source.metric,
            });
            &empty
        }
    };
    for (key, source_chain, target_chain) in changed(&source.records, target_records) {
        let Some(source_chain) = source_chain else { continue };
        let decision = decide(source_chain, target_chain, base, source_base, strategy);
        let mutation = || match source_chain.live() {
            Some(value) => Mutation::VectorPut {
                space: space.clone(),
                collection: name.clone(),
                key: key.clone(),
                embedding: value.embedding.to_vec(),
                metadata: value.metadata.clone().map(Box::new),
            },
            None => Mutation::VectorDelete { space: space.clone(), collection: name.clone(), key: key.clone() },
        };
        match decision {
            Decision::Skip => {}
            Decision::Apply => mutations.push(mutation()),
            Decision::Conflict { apply } => {
                conflicts.push(entry(key));
                if apply {
                    mutations.push(mutation());
                }
            }
        }
    }
}

enum Decision {
    Skip,
    Apply,
    Conflict { apply: bool },
}

/// The three-way decision for one record.
fn decide<T: PartialEq>(
    source: &Chain<T>,
    target: Option<&Chain<T>>,
    base: u64,
    source_base: Option<u64>,
    strategy: MergeStrategy,
) -> Decision {
    let source_version = source.head().version();
    if source_version <= base {
        return Decision::Skip;
    }
    let target_live = target.and_then(Chain::live);
    if source.live() == target_live {
        return Decision::Skip;
    }
    if let (Some(source_base), Some(target_chain)) = (source_base, target) {
        // A value (or a delete) the source took from the target is not its change.
        if let Some(then) = target_chain.as_of(source_base) {
            if source.live() == then.value() {
                return Decision::Skip;
            }
        }
    }
    if target_live.is_none() && source.live().is_none() {
        return Decision::Skip;
    }
    match target {
        Some(target_chain) if target_chain.head().version() > base => {
            let source_wins = source_version > target_chain.head().version();
            Decision::Conflict { apply: strategy == MergeStrategy::LastWriterWins && source_wins }
        }
        _ => Decision::Apply,
    }
}

fn value_mutation(primitive: &str, space: &Name, key: &Name, value: Option<Packed>) -> Mutation {
    let (space, key) = (space.clone(), key.clone());
    match (primitive, value) {
        ("kv", Some(value)) => Mutation::KvPut { space, key, value },
        ("kv", None) => Mutation::KvDelete { space, key },
        ("state", Some(value)) => Mutation::CellPut { space, cell: key, value },
        ("state", None) => Mutation::CellDelete { space, cell: key },
        (_, Some(document)) => Mutation::DocumentPut { space, key, document },
        (_, None) => Mutation::DocumentDelete { space, key },
    }
}

type ValueMap = OrdMap<Name, Chain<Packed>>;

fn value_maps<'a>(a: &'a SpaceState, b: &'a SpaceState) -> [(&'static str, &'a ValueMap, &'a ValueMap); 3] {
    [("kv", &a.kv, &b.kv), ("state", &a.cells, &b.cells), ("json", &a.documents, &b.documents)]
}

/// A key whose chains differ between two maps, with each side's chain (if any).
type Changed<'a, T> = (&'a Name, Option<&'a Chain<T>>, Option<&'a Chain<T>>);

/// The keys whose chains differ (by identity) between `a` and `b`, in key order, with
/// each side's chain; O(differences × log n) when the maps share structure.
fn changed<'a, T>(a: &'a OrdMap<Name, Chain<T>>, b: &'a OrdMap<Name, Chain<T>>) -> Vec<Changed<'a, T>> {
    a.diff(b)
        .map(|item| match item {
            DiffItem::Add(key, right) => (key, None, Some(right)),
            DiffItem::Remove(key, left) => (key, Some(left), None),
            DiffItem::Update { old: (key, left), new: (_, right) } => (key, Some(left), Some(right)),
        })
        .collect()
}

fn union_keys<V: Clone>(a: &OrdMap<Name, V>, b: &OrdMap<Name, V>) -> BTreeSet<Name> {
    a.keys().chain(b.keys()).cloned().collect()
}

/// Equality across the differently typed values a diff compares.
trait PartialEqDyn {
    fn equals(&self, other: &dyn PartialEqDyn) -> bool;
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: PartialEq + 'static> PartialEqDyn for T {
    fn equals(&self, other: &dyn PartialEqDyn) -> bool {
        other.as_any().downcast_ref::<T>().is_some_and(|o| o == self)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn as_dyn<T: PartialEq + 'static>(value: &T) -> &dyn PartialEqDyn {
    value
}
