//! Time travel: reads as of a past commit, and a branch as it was at a past point.
//!
//! Every record keeps its history (a version chain), every event its commit, every
//! space and collection the commit that created it, so a past read walks back from the
//! present: a chain answers with its newest version at or before the point, the event
//! log with the events appended by then. Invariants: a [`PastView`] never looks at
//! anything written after its point; it refuses a point older than the state's
//! [`HistoryFloor`] (retention may have removed what it would need) and a version
//! newer than the newest commit.
//!
//! What time travel does not see: a space or collection deleted since the point takes
//! its history with it (deletion is a drop, not a tombstone), and one re-created since
//! then starts a new history.

use std::sync::Arc;

use imbl::OrdMap;

use crate::error::{Error, Result};
use crate::json_path::{self, JsonPath};
use crate::keys::{check_key, check_name};
use crate::model::{AsOf, BranchState, Chain, Collection, DbState, Event, EventLog, Name, SpaceState, Versioned, DEFAULT};
use crate::session::{list_live, Page, VectorRecord};
use crate::packed::Packed;
use crate::vector_index::{check_embedding, check_search, Filter, SearchHit, VectorIndex};

/// A read-only view of one branch and space as of a past point.
pub struct PastView {
    state: Arc<DbState>,
    branch: Name,
    space: Name,
    at: AsOf,
}

impl PastView {
    /// A view of `branch`/`space` in `state` as of `at`; fails when `at` is older than
    /// the retained history or a version not yet committed.
    pub(crate) fn new(state: Arc<DbState>, branch: Name, space: Name, at: AsOf) -> Result<PastView> {
        check_point(&state, at)?;
        if state.branch(&branch).is_none() {
            return Err(Error::not_found(format!("the current branch '{branch}' no longer exists; switch with set_branch")));
        }
        Ok(PastView { state, branch, space, at })
    }

    /// The point this view reads at.
    pub fn point(&self) -> AsOf {
        self.at
    }

    /// The branch the view reads.
    pub fn branch_name(&self) -> &str {
        &self.branch
    }

    /// The space the view reads.
    pub fn space_name(&self) -> &str {
        &self.space
    }

    fn branch(&self) -> &BranchState {
        // Checked in `new`; the state never changes under the view.
        self.state.branch(&self.branch).unwrap_or_else(|| unreachable!("the view's branch was checked at creation"))
    }

    /// The space, if it existed at the point.
    fn space(&self) -> Option<&SpaceState> {
        self.branch().space(&self.space).filter(|s| self.at.includes(s.created_version, s.created_at))
    }

    fn collection(&self, name: &str) -> Result<&Collection> {
        self.space()
            .and_then(|s| s.collections.get(name))
            .filter(|c| self.at.includes(c.created_version, c.created_at))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "collection '{name}' did not exist in space '{}' as of {}",
                    self.space,
                    self.at.describe()
                ))
            })
    }

    fn visible<'a, T>(&self, chain: Option<&'a Chain<T>>) -> Option<&'a Versioned<T>> {
        chain.and_then(|c| c.visible(self.at)).filter(|node| !node.is_tombstone())
    }

    pub fn kv_get(&self, key: &str) -> Result<Option<Versioned<Packed>>> {
        check_key("key", key)?;
        Ok(self.visible(self.space().and_then(|s| s.kv.get(key))).cloned())
    }

    pub fn kv_list(&self, prefix: Option<&str>, cursor: Option<&str>, limit: Option<usize>) -> Result<Page> {
        Ok(self.list(|s| &s.kv, prefix, cursor, limit.unwrap_or(usize::MAX)))
    }

    pub fn state_get(&self, cell: &str) -> Result<Option<Versioned<Packed>>> {
        check_key("cell", cell)?;
        Ok(self.visible(self.space().and_then(|s| s.cells.get(cell))).cloned())
    }

    pub fn state_list(&self, prefix: Option<&str>) -> Result<Vec<Name>> {
        Ok(self.list(|s| &s.cells, prefix, None, usize::MAX).keys)
    }

    pub fn json_get(&self, key: &str, path: &str) -> Result<Option<Packed>> {
        check_key("document key", key)?;
        let path = JsonPath::parse(path)?;
        let document = self.visible(self.space().and_then(|s| s.documents.get(key))).and_then(|n| n.value());
        Ok(document.and_then(|d| json_path::get_packed(d, &path)))
    }

    pub fn json_list(&self, limit: usize, prefix: Option<&str>, cursor: Option<&str>) -> Result<Page> {
        Ok(self.list(|s| &s.documents, prefix, cursor, limit))
    }

    fn list(
        &self,
        map: impl Fn(&SpaceState) -> &OrdMap<Name, Chain<Packed>>,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Page {
        match self.space() {
            Some(space) => list_live(map(space), prefix, cursor, limit, Some(self.at)),
            None => Page { keys: Vec::new(), cursor: None },
        }
    }

    /// Number of events appended by the point.
    pub fn event_len(&self) -> Result<u64> {
        Ok(self.space().map_or(0, |s| events_visible(&s.events, self.at)) as u64)
    }

    pub fn event_get(&self, sequence: u64) -> Result<Option<Arc<Event>>> {
        let Some(space) = self.space() else { return Ok(None) };
        let visible = events_visible(&space.events, self.at);
        Ok(usize::try_from(sequence).ok().filter(|&i| i < visible).and_then(|i| space.events.entries.get(i)).cloned())
    }

    /// Events of one type appended by the point, in sequence order.
    pub fn event_list(&self, event_type: &str, limit: Option<usize>, after: Option<u64>) -> Result<Vec<Arc<Event>>> {
        check_key("event type", event_type)?;
        let Some(space) = self.space() else { return Ok(Vec::new()) };
        let visible = events_visible(&space.events, self.at) as u64;
        let Some(sequences) = space.events.by_type.get(event_type) else { return Ok(Vec::new()) };
        Ok(sequences
            .iter()
            .copied()
            .filter(|&s| after.is_none_or(|after| s > after))
            .take_while(|&s| s < visible)
            .take(limit.unwrap_or(usize::MAX))
            .filter_map(|s| usize::try_from(s).ok().and_then(|i| space.events.entries.get(i)).cloned())
            .collect())
    }

    pub fn vector_get(&self, collection: &str, key: &str) -> Result<Option<VectorRecord>> {
        check_name("collection", collection)?;
        check_key("vector key", key)?;
        let target = self.collection(collection)?;
        Ok(self.visible(target.records.get(key)).and_then(|node| {
            node.value().map(|value| VectorRecord {
                key: key.to_owned(),
                embedding: Arc::clone(&value.embedding),
                metadata: value.metadata.clone(),
                version: node.version(),
                timestamp: node.timestamp(),
            })
        }))
    }

    /// Exact top-`k` search over the vectors as they were at the point.
    pub fn vector_search(
        &self,
        collection: &str,
        query: &[f32],
        k: usize,
        metric: Option<&str>,
        filter: Option<&Filter>,
    ) -> Result<Vec<SearchHit>> {
        let metric = check_search(collection, k, metric)?;
        let target = self.collection(collection)?;
        check_embedding(collection, target.dimension, query)?;
        let metric = metric.unwrap_or(target.metric);
        if target.updated_version <= self.at_version_hint() {
            // Nothing changed since the point: the live index is the past index.
            return Ok(target.index.search_with_metric(query, k, filter, metric));
        }
        let index = index_as_of(target, self.at);
        Ok(index.search_with_metric(query, k, filter, metric))
    }

    /// Spaces that existed at the point, in name order.
    pub fn list_spaces(&self) -> Result<Vec<String>> {
        Ok(self
            .branch()
            .spaces
            .iter()
            .filter(|(_, s)| self.at.includes(s.created_version, s.created_at))
            .map(|(name, _)| name.to_string())
            .collect())
    }

    /// A version at or before the point (exact for version points; 0 for time points,
    /// so that the shortcut that needs it is skipped).
    fn at_version_hint(&self) -> u64 {
        match self.at {
            AsOf::Version(version) => version,
            AsOf::Time(_) => 0,
        }
    }
}

/// Fails when `at` cannot be answered from `state`.
pub(crate) fn check_point(state: &DbState, at: AsOf) -> Result<()> {
    if let AsOf::Version(version) = at {
        if version > state.last_version {
            return Err(Error::validation(format!(
                "as_of version {version} has not been committed yet; the newest version is {}",
                state.last_version
            )));
        }
    }
    if at.is_before(state.history_floor) {
        let floor = state.history_floor;
        return Err(Error::not_found(format!(
            "history as of {} is no longer kept: retention removed history older than version {} (time {} µs)",
            at.describe(),
            floor.version,
            floor.timestamp
        )));
    }
    Ok(())
}

/// Number of events of `log` appended at or before `at` (events are in commit order).
fn events_visible(log: &EventLog, at: AsOf) -> usize {
    let (mut low, mut high) = (0usize, log.entries.len());
    while low < high {
        let middle = low + (high - low) / 2;
        match log.entries.get(middle) {
            Some(event) if at.includes(event.version, event.timestamp) => low = middle + 1,
            _ => high = middle,
        }
    }
    low
}

/// A search index over the vectors of `collection` as they were at `at`.
fn index_as_of(collection: &Collection, at: AsOf) -> VectorIndex {
    let mut index = VectorIndex::new(collection.dimension, collection.metric);
    for (key, chain) in collection.records.iter() {
        if let Some(value) = chain.visible(at).and_then(|node| node.value()) {
            index.upsert(key, &value.embedding, value.metadata.clone());
        }
    }
    index
}

/// `branch` as it was at `at`: spaces and collections created later left out, every
/// chain cut back to its version at the point, the event log cut back to the events
/// appended by then. Returns the copy and the newest version it holds (the point as a
/// version). Unchanged maps are shared, so the cost is in what changed since the point.
pub(crate) fn branch_as_of(branch: &BranchState, at: AsOf) -> (BranchState, u64) {
    let mut copy = branch.clone();
    let mut newest = 0u64;
    let mut spaces = OrdMap::new();
    for (name, space) in branch.spaces.iter() {
        if !at.includes(space.created_version, space.created_at) {
            if name.as_str() == DEFAULT {
                spaces.insert(name.clone(), SpaceState { ..SpaceState::default() });
            }
            continue;
        }
        newest = newest.max(space.created_version);
        let untouched = matches!(at, AsOf::Version(version) if space.updated_version <= version);
        if untouched {
            // Nothing in it changed since the point: share it as it is.
            newest = newest.max(space.updated_version);
            spaces.insert(name.clone(), space.clone());
            continue;
        }
        spaces.insert(name.clone(), space_as_of(space, at, &mut newest));
    }
    copy.spaces = spaces;
    let point = match at {
        AsOf::Version(version) => version,
        AsOf::Time(_) => newest,
    };
    copy.merge_bases = branch.merge_bases.iter().map(|(other, base)| (other.clone(), (*base).min(point))).collect();
    (copy, point)
}

fn space_as_of(space: &SpaceState, at: AsOf, newest: &mut u64) -> SpaceState {
    let mut copy = space.clone();
    copy.kv = chains_as_of(&space.kv, at, newest);
    copy.cells = chains_as_of(&space.cells, at, newest);
    copy.documents = chains_as_of(&space.documents, at, newest);
    let visible = events_visible(&space.events, at);
    if visible < space.events.entries.len() {
        let mut events = space.events.clone();
        events.entries.truncate(visible);
        let cut = visible as u64;
        events.by_type = events
            .by_type
            .iter()
            .filter_map(|(event_type, sequences)| {
                let keep = sequences.iter().take_while(|&&s| s < cut).count();
                let mut kept = sequences.clone();
                kept.truncate(keep);
                (keep > 0).then(|| (event_type.clone(), kept))
            })
            .collect();
        copy.events = events;
    }
    if let Some(last) = copy.events.entries.last() {
        *newest = (*newest).max(last.version);
    }
    copy.collections = space
        .collections
        .iter()
        .filter(|(_, c)| at.includes(c.created_version, c.created_at))
        .map(|(name, collection)| {
            *newest = (*newest).max(collection.created_version);
            let mut past = collection.clone();
            let records = chains_as_of(&collection.records, at, newest);
            if records.len() != collection.records.len()
                || records.iter().zip(collection.records.iter()).any(|((_, a), (_, b))| !Arc::ptr_eq(a.head(), b.head()))
            {
                past.records = records;
                past.index = index_as_of(&past, AsOf::Version(u64::MAX));
            }
            (name.clone(), past)
        })
        .collect();
    copy.recount_live_values();
    copy
}

/// Every chain of `map` cut back to its version at `at`; chains with no version by
/// then are left out. Chains untouched since the point are shared as they are.
fn chains_as_of<T>(map: &OrdMap<Name, Chain<T>>, at: AsOf, newest: &mut u64) -> OrdMap<Name, Chain<T>> {
    let mut copy = map.clone();
    for (key, chain) in map.iter() {
        let head = chain.head();
        if at.includes(head.version(), head.timestamp()) {
            *newest = (*newest).max(head.version());
            continue;
        }
        match chain.visible(at) {
            Some(node) => {
                *newest = (*newest).max(node.version());
                copy.insert(key.clone(), Chain::from_head(node));
            }
            None => {
                copy.remove(key);
            }
        }
    }
    copy
}
