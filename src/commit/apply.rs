//! Applying a commit to a state: the one function both the live commit path and
//! recovery use, so that replay rebuilds exactly what was published.
//!
//! Invariant: `apply` either returns the complete new state or an error and leaves the
//! input untouched (it works on structurally shared copies); recovery, which owns its
//! state outright, uses `apply_in_place` so that replay copies nothing. The live path validates
//! every write before it builds a commit, so an error here on the live path is a bug;
//! during replay it means a log record does not fit the state (damage), and recovery
//! reports it.

use std::sync::Arc;

use crate::commit::record::{Commit, CommitBody, Mutation, Mutations};
use crate::error::{Error, Result};
use crate::model::{
    AsOf, BranchInfo, BranchState, Chain, Collection, DbState, Event, EventLog, EventOrigin, Name, SpaceState, VectorValue, DEFAULT,
};
use crate::packed::Packed;
use crate::vector_index::VectorIndex;

/// Returns the state after `commit`; `state` is untouched (the copy shares structure).
/// The commit's values move into the state (the log gets its bytes beforehand).
pub fn apply(state: &DbState, commit: Commit) -> Result<DbState> {
    let mut next = state.clone();
    apply_in_place(&mut next, commit)?;
    Ok(next)
}

/// Whether applying `commit` to `state` cannot fail: a write of keys, cells, documents,
/// events or new spaces into an existing branch, newer than the state. The engine
/// applies such a commit in place once the log has it (nothing to undo if the log
/// refuses it, nothing that can refuse after); any other commit goes through [`apply`].
pub fn cannot_fail(state: &DbState, commit: &Commit) -> bool {
    let CommitBody::Write { branch, mutations } = &commit.body else { return false };
    commit.version > state.last_version
        && state.branches.contains_key(branch.as_str())
        && mutations.iter().all(|mutation| match mutation {
            Mutation::KvPut { .. }
            | Mutation::KvDelete { .. }
            | Mutation::CellPut { .. }
            | Mutation::CellDelete { .. }
            | Mutation::DocumentPut { .. }
            | Mutation::DocumentDelete { .. }
            | Mutation::EventAppend { .. }
            | Mutation::EventCopy { .. }
            | Mutation::SpaceCreate { .. } => true,
            Mutation::SpaceDelete { space } => space != DEFAULT,
            Mutation::CollectionCreate { .. }
            | Mutation::CollectionDelete { .. }
            | Mutation::VectorPut { .. }
            | Mutation::VectorDelete { .. } => false,
        })
}

/// Applies `commit` to a state the caller owns. Where the state's maps are not shared
/// (recovery replay), nothing is copied. On an error the state may be half-applied: use
/// it only where an error discards the state anyway, or through [`apply`].
pub fn apply_in_place(next: &mut DbState, commit: Commit) -> Result<()> {
    if commit.version <= next.last_version {
        return Err(Error::io(format!(
            "commit version {} is not newer than the state's version {}",
            commit.version, next.last_version
        )));
    }
    next.last_version = commit.version;
    next.last_timestamp = next.last_timestamp.max(commit.timestamp);
    let (version, timestamp) = (commit.version, commit.timestamp);
    match commit.body {
        CommitBody::Write { branch, mutations } => {
            let target = branch_mut(next, &branch)?;
            apply_mutations(target, mutations, version, timestamp)?;
        }
        CommitBody::Merge { source, target, mutations } => {
            if next.branches.get(source.as_str()).is_none() {
                return Err(Error::not_found(format!("branch '{source}' does not exist")));
            }
            let target_state = branch_mut(next, &target)?;
            apply_mutations(target_state, mutations, version, timestamp)?;
            target_state.merge_bases.insert(Name::from(source.as_str()), version);
        }
        CommitBody::BranchCreate { branch } => {
            if next.branches.contains_key(branch.as_str()) {
                return Err(Error::conflict(format!("branch '{branch}' already exists")));
            }
            next.branches.insert(Name::from(branch.as_str()), BranchState::new(version, timestamp, None));
        }
        CommitBody::BranchFork { source, destination } => {
            fork(next, &source, &destination, None, version, timestamp)?;
        }
        CommitBody::BranchForkAt { source, destination, at } => {
            fork(next, &source, &destination, Some(at), version, timestamp)?;
        }
        CommitBody::BranchImport { branch, bundle, prebuilt } => {
            if next.branches.contains_key(branch.as_str()) {
                return Err(Error::conflict(format!("branch '{branch}' already exists")));
            }
            let imported = match prebuilt.0 {
                Some(built) => crate::bundle::stamp(Arc::unwrap_or_clone(built), version, timestamp),
                None => crate::bundle::build_branch(&bundle, version, timestamp)?,
            };
            next.branches.insert(Name::from(branch.as_str()), imported);
        }
        CommitBody::BranchDelete { branch } => {
            if branch == DEFAULT {
                return Err(Error::constraint("the 'default' branch cannot be deleted"));
            }
            if next.branches.remove(branch.as_str()).is_none() {
                return Err(Error::not_found(format!("branch '{branch}' does not exist")));
            }
            // A branch created later under the same name must not inherit merge bases.
            let holders: Vec<Name> = next
                .branches
                .iter()
                .filter(|(_, other)| other.merge_bases.contains_key(branch.as_str()))
                .map(|(name, _)| name.clone())
                .collect();
            for holder in holders {
                if let Some(other) = next.branches.get_mut(&holder) {
                    other.merge_bases.remove(branch.as_str());
                }
            }
        }
    }
    Ok(())
}

/// Adds `destination` as a copy of `source`, as it is now or as it was at `at`, and
/// records the merge bases: the copy has taken in the source up to the fork point, the
/// source has taken in the copy up to this commit.
fn fork(next: &mut DbState, source: &str, destination: &str, at: Option<AsOf>, version: u64, timestamp: u64) -> Result<()> {
    if next.branches.contains_key(destination) {
        return Err(Error::conflict(format!("branch '{destination}' already exists")));
    }
    let source_name = Name::from(source);
    let destination_name = Name::from(destination);
    let source_state = branch_mut(next, source)?;
    source_state.merge_bases.insert(destination_name.clone(), version);
    let (mut copy, point) = match at {
        None => (source_state.clone(), version),
        Some(at) => crate::time_travel::branch_as_of(source_state, at),
    };
    // The copy is not its own merge partner.
    copy.merge_bases.remove(destination);
    copy.info = Arc::new(BranchInfo {
        created_version: version,
        created_at: timestamp,
        updated_version: version,
        updated_at: timestamp,
        parent: Some((source_name.clone(), point)),
    });
    copy.merge_bases.insert(source_name.clone(), point);
    // Whoever had taken in the source up to some version has taken in the new branch
    // up to there too (no further than the fork point): siblings merge three-way
    // against their common fork point.
    let siblings: Vec<(Name, u64)> = next
        .branches
        .iter()
        .filter(|(name, _)| **name != source_name)
        .filter_map(|(name, other)| other.merge_bases.get(&source_name).map(|base| (name.clone(), (*base).min(point))))
        .collect();
    for (name, base) in siblings {
        if let Some(other) = next.branches.get_mut(&name) {
            other.merge_bases.insert(destination_name.clone(), base);
        }
    }
    next.branches.insert(destination_name, copy);
    Ok(())
}

fn branch_mut<'a>(state: &'a mut DbState, name: &str) -> Result<&'a mut BranchState> {
    state
        .branches
        .get_mut(name)
        .ok_or_else(|| Error::not_found(format!("branch '{name}' does not exist")))
}

/// Applies a write set to one branch and stamps the branch as updated.
pub fn apply_mutations(branch: &mut BranchState, mutations: Mutations, version: u64, timestamp: u64) -> Result<()> {
    for mutation in mutations {
        apply_mutation(branch, mutation, version, timestamp)?;
    }
    let info = Arc::make_mut(&mut branch.info);
    info.updated_version = version;
    info.updated_at = timestamp;
    Ok(())
}

/// The space a mutation writes into (created if needed), stamped as changed.
fn space_mut<'a>(branch: &'a mut BranchState, space: &str, version: u64, timestamp: u64) -> &'a mut SpaceState {
    if !branch.spaces.contains_key(space) {
        branch
            .spaces
            .insert(Name::from(space), SpaceState { created_version: version, created_at: timestamp, ..SpaceState::default() });
        branch.spaces_version = version;
    }
    let state = branch.spaces.get_mut(space).unwrap_or_else(|| unreachable!("the space was just inserted"));
    state.updated_version = version;
    state
}

/// The collection a vector mutation writes into, stamped as changed.
fn collection_mut<'a>(space_state: &'a mut SpaceState, space: &str, collection: &str, version: u64) -> Result<&'a mut Collection> {
    let target = space_state.collections.get_mut(collection).ok_or_else(|| {
        Error::not_found(format!("collection '{collection}' does not exist in space '{space}'"))
    })?;
    target.updated_version = version;
    Ok(target)
}

fn apply_mutation(branch: &mut BranchState, mutation: Mutation, version: u64, timestamp: u64) -> Result<()> {
    match mutation {
        Mutation::KvPut { space, key, value } => {
            let target = space_mut(branch, &space, version, timestamp);
            push_value(target, |s| &mut s.kv, key, version, timestamp, Some(value));
        }
        Mutation::KvDelete { space, key } => {
            let target = space_mut(branch, &space, version, timestamp);
            push_value(target, |s| &mut s.kv, key, version, timestamp, None);
        }
        Mutation::CellPut { space, cell, value } => {
            let target = space_mut(branch, &space, version, timestamp);
            push_value(target, |s| &mut s.cells, cell, version, timestamp, Some(value));
        }
        Mutation::CellDelete { space, cell } => {
            let target = space_mut(branch, &space, version, timestamp);
            push_value(target, |s| &mut s.cells, cell, version, timestamp, None);
        }
        Mutation::DocumentPut { space, key, document } => {
            let target = space_mut(branch, &space, version, timestamp);
            push_value(target, |s| &mut s.documents, key, version, timestamp, Some(document));
        }
        Mutation::DocumentDelete { space, key } => {
            let target = space_mut(branch, &space, version, timestamp);
            push_value(target, |s| &mut s.documents, key, version, timestamp, None);
        }
        Mutation::EventAppend { space, event_type, payload } => {
            let events = &mut space_mut(branch, &space, version, timestamp).events;
            // The event's place among this commit's events in the space.
            let ordinal = events.entries.iter().rev().take_while(|e| e.version == version).count() as u32;
            let origin = EventOrigin { version, ordinal };
            push_event(events, version, timestamp, &event_type, payload, origin);
        }
        Mutation::EventCopy { space, event_type, payload, origin } => {
            let events = &mut space_mut(branch, &space, version, timestamp).events;
            push_event(events, version, timestamp, &event_type, payload, origin);
        }
        Mutation::CollectionCreate { space, collection, dimension, metric } => {
            let space_state = space_mut(branch, &space, version, timestamp);
            if space_state.collections.contains_key(collection.as_str()) {
                return Err(Error::conflict(format!(
                    "collection '{collection}' already exists in space '{space}'"
                )));
            }
            let dimension = dimension as usize;
            space_state.collections.insert(
                Name::from(collection.as_str()),
                Collection {
                    dimension,
                    metric,
                    created_version: version,
                    created_at: timestamp,
                    updated_version: version,
                    records: Default::default(),
                    index: VectorIndex::new(dimension, metric),
                },
            );
        }
        Mutation::CollectionDelete { space, collection } => {
            let space_state = space_mut(branch, &space, version, timestamp);
            if space_state.collections.remove(collection.as_str()).is_none() {
                return Err(Error::not_found(format!(
                    "collection '{collection}' does not exist in space '{space}'"
                )));
            }
        }
        Mutation::VectorPut { space, collection, key, embedding, metadata } => {
            let target = collection_mut(space_mut(branch, &space, version, timestamp), &space, &collection, version)?;
            if embedding.len() != target.dimension {
                return Err(Error::constraint(format!(
                    "collection '{collection}' has dimension {}, got {}",
                    target.dimension,
                    embedding.len()
                )));
            }
            let metadata = metadata.map(|boxed| *boxed);
            target.index.upsert(&key, &embedding, metadata.clone());
            let value = VectorValue { embedding: Arc::from(embedding), metadata };
            push(&mut target.records, key, version, timestamp, Some(value));
        }
        Mutation::VectorDelete { space, collection, key } => {
            let target = collection_mut(space_mut(branch, &space, version, timestamp), &space, &collection, version)?;
            target.index.remove(&key);
            push(&mut target.records, key, version, timestamp, None);
        }
        Mutation::SpaceCreate { space } => {
            space_mut(branch, &space, version, timestamp);
        }
        Mutation::SpaceDelete { space } => {
            if space == DEFAULT {
                return Err(Error::constraint("the 'default' space cannot be deleted"));
            }
            if branch.spaces.remove(space.as_str()).is_some() {
                branch.spaces_version = version;
            }
        }
    }
    Ok(())
}

fn push_event(events: &mut EventLog, version: u64, timestamp: u64, event_type: &str, payload: Packed, origin: EventOrigin) {
    let sequence = events.entries.len() as u64;
    let event_type = Name::from(event_type);
    events.by_type.entry(event_type.clone()).or_default().push_back(sequence);
    events.entries.push_back(Arc::new(Event { sequence, version, timestamp, event_type, payload, origin }));
}

/// [`push`] into one of a space's value maps, keeping its live count.
fn push_value(
    space: &mut SpaceState,
    map: fn(&mut SpaceState) -> &mut imbl::OrdMap<Name, Chain<Packed>>,
    key: Name,
    version: u64,
    timestamp: u64,
    value: Option<Packed>,
) {
    let now_live = value.is_some();
    let was_live = push(map(space), key, version, timestamp, value);
    space.live_values = space.live_values + usize::from(now_live) - usize::from(was_live);
}

/// Prepends a version to the chain of `key` (creating the chain if needed). A second
/// write to the same key in the same commit replaces that commit's version, so a
/// chain never holds two entries with one version. Returns whether the key was live
/// before.
fn push<T: Clone>(map: &mut imbl::OrdMap<Name, Chain<T>>, key: Name, version: u64, timestamp: u64, value: Option<T>) -> bool {
    // A key past the last one is new, so it is inserted with one descent instead of a
    // failed lookup and an insert. Keys that arrive in order (sequential ids, time
    // stamped names, the replay of either) take this path; walking the right edge to
    // the last key compares nothing, so other keys lose little.
    if map.get_max().is_none_or(|(last, _)| key > *last) {
        map.insert(key, Chain::new(version, timestamp, value));
        return false;
    }
    match map.get_mut(key.as_str()) {
        Some(chain) => {
            let was_live = chain.live().is_some();
            let next = Chain::replace_or_push(chain, version, timestamp, value);
            *chain = next;
            was_live
        }
        None => {
            map.insert(key, Chain::new(version, timestamp, value));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn write(version: u64, branch: &str, mutations: Vec<Mutation>) -> Commit {
        Commit { version, timestamp: 1, body: CommitBody::Write { branch: Name::from(branch), mutations: mutations.into() } }
    }

    fn put(key: &str) -> Mutation {
        Mutation::KvPut { space: Name::from(DEFAULT), key: Name::from(key), value: Packed::from_value(&Value::Int(1)) }
    }

    #[test]
    fn cannot_fail_admits_value_writes_to_an_existing_branch_and_nothing_that_can_fail() {
        let state = DbState::new(0);
        let cases = [
            (write(1, DEFAULT, vec![put("a"), put("a"), Mutation::SpaceCreate { space: Name::from("s") }]), true),
            (write(1, DEFAULT, vec![Mutation::SpaceDelete { space: Name::from("s") }]), true),
            (write(1, DEFAULT, vec![Mutation::SpaceDelete { space: Name::from(DEFAULT) }]), false),
            (write(1, "missing", vec![put("a")]), false),
            (write(state.last_version, DEFAULT, vec![put("a")]), false),
            (write(1, DEFAULT, vec![Mutation::CollectionDelete { space: Name::from(DEFAULT), collection: Name::from("c") }]), false),
            (Commit { version: 1, timestamp: 1, body: CommitBody::BranchCreate { branch: Name::from("b") } }, false),
        ];
        for (commit, expected) in cases {
            assert_eq!(cannot_fail(&state, &commit), expected, "{commit:?}");
            let mut copy = state.clone();
            let applied = apply_in_place(&mut copy, commit.clone());
            if expected {
                assert!(applied.is_ok(), "{commit:?}: {applied:?}");
            }
        }
    }
}
