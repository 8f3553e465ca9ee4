//! The records a snapshot (and a bundle) holds, and how a whole state is written as a
//! stream of them and rebuilt from one.
//!
//! Records come in a fixed nesting order: one `Database` record, then per branch a
//! `Branch` record followed by its spaces; per space a `Space` record followed by its
//! chains, its events in sequence order, and its collections, each `Collection`
//! followed by its vector chains. Records after a `Branch`/`Space`/`Collection` belong
//! to it, which keeps names out of every record. Chains list versions oldest first.
//! Persisted with postcard: only ever append enum variants. Writers emit `SpaceAt`
//! and `CollectionAt` (which carry creation times) and a `HistoryFloor` after the
//! `Database` record; readers still accept the older `Space` and `Collection`.
//!
//! Rebuilding checks what a hostile or damaged file could get wrong: names and keys
//! follow the engine's rules, no branch, space, collection or key appears twice,
//! versions grow within a chain and within an event log and never pass the limit the
//! caller sets, values respect the depth and size limits, embeddings are finite.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{check_key, check_name};
use crate::model::{
    BranchInfo, BranchState, Chain, Collection, DbState, Event, EventOrigin, HistoryFloor, Name, SpaceState, VectorValue,
};
use crate::packed::Packed;
use crate::value::Value;
use crate::vector_index::{Metric, VectorIndex};

/// Which map of a space a value chain belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainKind {
    Kv,
    Cell,
    Document,
}

/// One version of a value chain: (version, timestamp, value or tombstone).
pub type ValueVersion = (u64, u64, Option<Packed>);
/// One version of a vector chain.
pub type VectorVersion = (u64, u64, Option<(Vec<f32>, Option<Value>)>);

/// One record of a state stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StateRecord {
    Database { last_version: u64, last_timestamp: u64 },
    Branch {
        name: String,
        created_version: u64,
        created_at: u64,
        updated_version: u64,
        updated_at: u64,
        parent: Option<(String, u64)>,
        merge_bases: Vec<(String, u64)>,
        spaces_version: u64,
    },
    Space { name: String, created_version: u64, updated_version: u64 },
    Chain { kind: ChainKind, key: Name, versions: Vec<ValueVersion> },
    Event { version: u64, timestamp: u64, event_type: Name, payload: Packed, origin: EventOrigin },
    Collection { name: String, dimension: u32, metric: Metric, created_version: u64, updated_version: u64 },
    VectorChain { key: Name, versions: Vec<VectorVersion> },
    SpaceAt { name: String, created_version: u64, created_at: u64, updated_version: u64 },
    CollectionAt {
        name: String,
        dimension: u32,
        metric: Metric,
        created_version: u64,
        created_at: u64,
        updated_version: u64,
    },
    HistoryFloor { version: u64, timestamp: u64 },
}

/// Encodes one record.
pub fn encode(record: &StateRecord) -> Result<Vec<u8>> {
    postcard::to_allocvec(record).map_err(|error| Error::io(format!("cannot encode a state record: {error}")))
}

/// Decodes one record.
pub fn decode(bytes: &[u8]) -> Result<StateRecord> {
    postcard::from_bytes(bytes).map_err(|error| Error::io(format!("cannot decode a state record: {error}")))
}

/// Streams every record of `state` into `sink`, in the nesting order.
pub fn write_state(state: &DbState, sink: &mut dyn FnMut(&StateRecord) -> Result<()>) -> Result<()> {
    sink(&StateRecord::Database { last_version: state.last_version, last_timestamp: state.last_timestamp })?;
    sink(&StateRecord::HistoryFloor { version: state.history_floor.version, timestamp: state.history_floor.timestamp })?;
    for (name, branch) in state.branches.iter() {
        write_branch(name, branch, sink)?;
    }
    Ok(())
}

/// Streams the records of one branch (its `Branch` record first).
pub fn write_branch(name: &str, branch: &BranchState, sink: &mut dyn FnMut(&StateRecord) -> Result<()>) -> Result<()> {
    let info = &branch.info;
    sink(&StateRecord::Branch {
        name: name.to_owned(),
        created_version: info.created_version,
        created_at: info.created_at,
        updated_version: info.updated_version,
        updated_at: info.updated_at,
        parent: info.parent.as_ref().map(|(parent, version)| (parent.to_string(), *version)),
        merge_bases: branch.merge_bases.iter().map(|(other, version)| (other.to_string(), *version)).collect(),
        spaces_version: branch.spaces_version,
    })?;
    for (space_name, space) in branch.spaces.iter() {
        sink(&StateRecord::SpaceAt {
            name: space_name.to_string(),
            created_version: space.created_version,
            created_at: space.created_at,
            updated_version: space.updated_version,
        })?;
        for (kind, map) in [(ChainKind::Kv, &space.kv), (ChainKind::Cell, &space.cells), (ChainKind::Document, &space.documents)] {
            for (key, chain) in map.iter() {
                let mut versions: Vec<ValueVersion> =
                    chain.iter().map(|node| (node.version(), node.timestamp(), node.value().cloned())).collect();
                versions.reverse();
                sink(&StateRecord::Chain { kind, key: key.clone(), versions })?;
            }
        }
        for event in space.events.entries.iter() {
            sink(&StateRecord::Event {
                version: event.version,
                timestamp: event.timestamp,
                event_type: event.event_type.clone(),
                payload: event.payload.clone(),
                origin: event.origin,
            })?;
        }
        for (collection_name, collection) in space.collections.iter() {
            sink(&StateRecord::CollectionAt {
                name: collection_name.to_string(),
                dimension: collection.dimension as u32,
                metric: collection.metric,
                created_version: collection.created_version,
                created_at: collection.created_at,
                updated_version: collection.updated_version,
            })?;
            for (key, chain) in collection.records.iter() {
                let mut versions: Vec<VectorVersion> = chain
                    .iter()
                    .map(|node| {
                        let value = node.value().map(|v| (v.embedding.to_vec(), v.metadata.clone()));
                        (node.version(), node.timestamp(), value)
                    })
                    .collect();
                versions.reverse();
                sink(&StateRecord::VectorChain { key: key.clone(), versions })?;
            }
        }
    }
    Ok(())
}

/// Why reading a record stream stopped.
#[derive(Debug)]
pub enum StreamError {
    /// The file's framing or a checksum (wal-format's verdict).
    Format(wal_format::FormatError),
    /// Record `index` (0-based) did not decode, or its consumer refused it.
    Record { index: u64, message: String },
}

/// Records travel from the decoding thread to the consumer in batches of this many.
const RECORD_BATCH: usize = 1024;

/// Files smaller than this are decoded on the calling thread: a second thread pays off
/// only when there is much to decode.
const PIPELINE_MIN_BYTES: usize = 1 << 20;

/// Reads every record of the block stream in `file` (whose header `decoder` has
/// consumed) and hands each to `sink`, in order. For a large file a second thread
/// verifies, decompresses and decodes the blocks while `sink` runs; only one block of
/// decompressed bytes and a few batches are held at a time. The stream must end with
/// its end chunk exactly at the end of `file`. Returns the number of records. `what`
/// names the file kind in a trailing-bytes error.
pub fn read_records(
    decoder: wal_format::BlockStreamDecoder,
    file: &[u8],
    what: &'static str,
    mut sink: impl FnMut(StateRecord) -> Result<()>,
) -> std::result::Result<u64, StreamError> {
    type Batch = std::result::Result<Vec<StateRecord>, StreamError>;
    let mut index = 0u64;
    let mut consume = |batch: Vec<StateRecord>| -> std::result::Result<(), StreamError> {
        for record in batch {
            sink(record).map_err(|e| StreamError::Record { index, message: e.message().to_owned() })?;
            index += 1;
        }
        Ok(())
    };
    if file.len() < PIPELINE_MIN_BYTES {
        let mut failed = None;
        let produced = produce_records(decoder, file, what, &mut |batch| match consume(batch) {
            Ok(()) => true,
            Err(error) => {
                failed = Some(error);
                false
            }
        });
        if let Some(error) = failed {
            return Err(error);
        }
        produced?;
        return Ok(index);
    }
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(4);
        scope.spawn(move || {
            let outcome = produce_records(decoder, file, what, &mut |batch| sender.send(Ok(batch)).is_ok());
            if let Err(error) = outcome {
                let _ = sender.send(Err(error));
            }
        });
        for batch in receiver {
            consume(batch?)?;
        }
        Ok(())
    })?;
    Ok(index)
}

/// The decoding side of [`read_records`]: hands batches of decoded records to `emit`
/// (which returns false to stop early) until the end chunk.
fn produce_records(
    mut decoder: wal_format::BlockStreamDecoder,
    file: &[u8],
    what: &'static str,
    emit: &mut dyn FnMut(Vec<StateRecord>) -> bool,
) -> std::result::Result<(), StreamError> {
    let mut index = 0u64;
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    let outcome = (|| loop {
        let start = usize::try_from(decoder.position()).unwrap_or(usize::MAX);
        let rest = file.get(start..).unwrap_or_default();
        let header = decoder.decode_chunk_header(rest).map_err(StreamError::Format)?;
        let body = rest.get(wal_format::CHUNK_HEADER_BYTES..).unwrap_or_default();
        match decoder.decode_chunk_body(&header, body).map_err(StreamError::Format)? {
            wal_format::Chunk::Block(block) => {
                for record in block.records() {
                    let record = decode(record).map_err(|e| StreamError::Record { index, message: e.message().to_owned() })?;
                    batch.push(record);
                    index += 1;
                    if batch.len() == RECORD_BATCH && !emit(std::mem::replace(&mut batch, Vec::with_capacity(RECORD_BATCH))) {
                        // The consumer stopped at a problem of its own.
                        return Ok(false);
                    }
                }
            }
            wal_format::Chunk::End(_) => {
                let end = usize::try_from(decoder.position()).unwrap_or(usize::MAX);
                if file.len() > end {
                    return Err(StreamError::Format(wal_format::FormatError::TrailingBytes {
                        what,
                        offset: end as u64,
                        count: (file.len() - end) as u64,
                    }));
                }
                return Ok(true);
            }
        }
    })();
    // The records decoded before the end (or before a problem) go to the consumer
    // first, so that the first problem in file order is the one reported.
    match outcome {
        Ok(false) => Ok(()),
        Ok(true) => {
            emit(batch);
            Ok(())
        }
        Err(error) => {
            if emit(batch) {
                Err(error)
            } else {
                Ok(())
            }
        }
    }
}

/// Rebuilds a state (or, for bundles, branches) from its records, checking the nesting
/// order and everything listed in the module docs. Errors are `Io` errors; callers add
/// the file name.
#[derive(Default)]
pub struct StateBuilder {
    database: Option<(u64, u64)>,
    floor: HistoryFloor,
    /// No version may be newer than this (the snapshot's or bundle's newest).
    version_limit: Option<u64>,
    /// Check names, keys and values against the engine's rules (for files from
    /// elsewhere; a snapshot was written by this engine and is checksummed).
    check_content: bool,
    branches: imbl::OrdMap<Name, BranchState>,
    branch: Option<(Name, BranchState)>,
    space: Option<(Name, SpaceState)>,
    collection: Option<(Name, Collection)>,
}

impl StateBuilder {
    pub fn new() -> StateBuilder {
        StateBuilder::default()
    }

    /// A builder for records that carry no `Database` record (a bundle's), whose
    /// versions must not pass `version_limit`.
    pub fn for_branches(version_limit: u64) -> StateBuilder {
        StateBuilder { version_limit: Some(version_limit), check_content: true, ..StateBuilder::default() }
    }

    fn check_version(&self, version: u64, what: &str) -> Result<()> {
        match self.version_limit {
            Some(limit) if version > limit => {
                Err(Error::io(format!("{what} has version {version}, newer than the file's newest version {limit}")))
            }
            _ => Ok(()),
        }
    }

    /// Adds the next record.
    pub fn push(&mut self, record: StateRecord) -> Result<()> {
        match record {
            StateRecord::Database { last_version, last_timestamp } => {
                if self.database.is_some() || self.branch.is_some() || !self.branches.is_empty() {
                    return Err(order_error("a database record that is not the first record"));
                }
                self.database = Some((last_version, last_timestamp));
                self.version_limit = Some(last_version);
            }
            StateRecord::HistoryFloor { version, timestamp } => {
                if self.database.is_none() || self.branch.is_some() || !self.branches.is_empty() {
                    return Err(order_error("a history floor that does not follow the database record"));
                }
                self.check_version(version, "the history floor")?;
                self.floor = HistoryFloor { version, timestamp };
            }
            StateRecord::Branch {
                name,
                created_version,
                created_at,
                updated_version,
                updated_at,
                parent,
                merge_bases,
                spaces_version,
            } => {
                self.finish_branch();
                self.content(|| check_name("branch", &name))?;
                if self.branches.contains_key(name.as_str()) {
                    return Err(Error::io(format!("branch '{name}' appears twice")));
                }
                for version in [created_version, updated_version, spaces_version] {
                    self.check_version(version, &format!("branch '{name}'"))?;
                }
                let mut branch = BranchState::new(created_version, created_at, None);
                branch.spaces = imbl::OrdMap::new();
                branch.info = Arc::new(BranchInfo {
                    created_version,
                    created_at,
                    updated_version,
                    updated_at,
                    parent: parent.map(|(parent, version)| (Name::from(parent.as_str()), version)),
                });
                branch.merge_bases =
                    merge_bases.into_iter().map(|(other, version)| (Name::from(other.as_str()), version)).collect();
                branch.spaces_version = spaces_version;
                self.branch = Some((Name::from(name.as_str()), branch));
            }
            StateRecord::Space { name, created_version, updated_version } => {
                self.start_space(name, created_version, 0, updated_version)?;
            }
            StateRecord::SpaceAt { name, created_version, created_at, updated_version } => {
                self.start_space(name, created_version, created_at, updated_version)?;
            }
            StateRecord::Chain { kind, key, versions } => {
                // Each value's limits were checked as it was decoded (`Packed`).
                self.content(|| check_key("key", &key))?;
                if let Some((version, _, _)) = versions.last() {
                    self.check_version(*version, &format!("the history of '{key}'"))?;
                }
                let (_, space) = self.space.as_mut().ok_or_else(|| order_error("a chain outside any space"))?;
                let chain = build_chain(versions, &key)?;
                let map = match kind {
                    ChainKind::Kv => &mut space.kv,
                    ChainKind::Cell => &mut space.cells,
                    ChainKind::Document => &mut space.documents,
                };
                let live = chain.live().is_some();
                if map.insert(Name::from(key.as_str()), chain).is_some() {
                    return Err(Error::io(format!("the history of '{key}' appears twice")));
                }
                space.live_values += usize::from(live);
            }
            StateRecord::Event { version, timestamp, event_type, payload, origin } => {
                // The payload's limits were checked as it was decoded (`Packed`).
                self.content(|| check_key("event type", &event_type))?;
                self.check_version(version, "an event")?;
                let (_, space) = self.space.as_mut().ok_or_else(|| order_error("an event outside any space"))?;
                if let Some(last) = space.events.entries.last() {
                    if last.version > version || last.timestamp > timestamp {
                        return Err(Error::io(format!(
                            "event {} is older than the event before it",
                            space.events.entries.len()
                        )));
                    }
                }
                let sequence = space.events.entries.len() as u64;
                let event_type = Name::from(event_type.as_str());
                space.events.by_type.entry(event_type.clone()).or_default().push_back(sequence);
                space.events.entries.push_back(Arc::new(Event { sequence, version, timestamp, event_type, payload, origin }));
            }
            StateRecord::Collection { name, dimension, metric, created_version, updated_version } => {
                self.start_collection(name, dimension, metric, created_version, 0, updated_version)?;
            }
            StateRecord::CollectionAt { name, dimension, metric, created_version, created_at, updated_version } => {
                self.start_collection(name, dimension, metric, created_version, created_at, updated_version)?;
            }
            StateRecord::VectorChain { key, versions } => {
                self.content(|| check_key("vector key", &key))?;
                if let Some((version, _, _)) = versions.last() {
                    self.check_version(*version, &format!("the history of vector '{key}'"))?;
                }
                let check_content = self.check_content;
                let (_, collection) =
                    self.collection.as_mut().ok_or_else(|| order_error("a vector outside any collection"))?;
                let mut values = Vec::with_capacity(versions.len());
                for (version, timestamp, value) in versions {
                    let value = match value {
                        Some((embedding, metadata)) => {
                            if embedding.len() != collection.dimension {
                                return Err(Error::io(format!(
                                    "vector '{key}' has {} dimensions, its collection {}",
                                    embedding.len(),
                                    collection.dimension
                                )));
                            }
                            if check_content {
                                if embedding.iter().any(|x| !x.is_finite()) {
                                    return Err(Error::io(format!("vector '{key}' holds a NaN or infinite component")));
                                }
                                if let Some(metadata) = &metadata {
                                    metadata.check(&format!("the metadata of vector '{key}'")).map_err(damaged)?;
                                }
                            }
                            Some(VectorValue { embedding: Arc::from(embedding), metadata })
                        }
                        None => None,
                    };
                    values.push((version, timestamp, value));
                }
                let chain = build_chain(values, &key)?;
                if collection.records.contains_key(key.as_str()) {
                    return Err(Error::io(format!("the history of vector '{key}' appears twice")));
                }
                if let Some(value) = chain.live() {
                    collection.index.upsert(&key, &value.embedding, value.metadata.clone());
                }
                collection.records.insert(Name::from(key.as_str()), chain);
            }
        }
        Ok(())
    }

    /// Runs a content check when this builder checks content.
    fn content(&self, check: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.check_content {
            check().map_err(damaged)?;
        }
        Ok(())
    }

    /// The checks a new space or collection record passes: its name, its versions, and
    /// that its parent does not hold one of that name already.
    fn check_entry(&self, kind: &str, name: &str, versions: [u64; 2], duplicate: bool) -> Result<()> {
        self.content(|| check_name(kind, name))?;
        for version in versions {
            self.check_version(version, &format!("{kind} '{name}'"))?;
        }
        if duplicate {
            return Err(Error::io(format!("{kind} '{name}' appears twice")));
        }
        Ok(())
    }

    fn start_space(&mut self, name: String, created_version: u64, created_at: u64, updated_version: u64) -> Result<()> {
        if self.branch.is_none() {
            return Err(order_error("a space outside any branch"));
        }
        self.finish_space();
        let duplicate = self.branch.as_ref().is_some_and(|(_, branch)| branch.spaces.contains_key(name.as_str()));
        self.check_entry("space", &name, [created_version, updated_version], duplicate)?;
        self.space =
            Some((Name::from(name.as_str()), SpaceState { created_version, created_at, updated_version, ..SpaceState::default() }));
        Ok(())
    }

    fn start_collection(
        &mut self,
        name: String,
        dimension: u32,
        metric: Metric,
        created_version: u64,
        created_at: u64,
        updated_version: u64,
    ) -> Result<()> {
        if self.space.is_none() {
            return Err(order_error("a collection outside any space"));
        }
        self.finish_collection();
        let duplicate = self.space.as_ref().is_some_and(|(_, space)| space.collections.contains_key(name.as_str()));
        self.check_entry("collection", &name, [created_version, updated_version], duplicate)?;
        let dimension = dimension as usize;
        if dimension == 0 || dimension > crate::limits::VECTOR_DIMENSION_MAX {
            return Err(Error::io(format!("collection '{name}' has an invalid dimension {dimension}")));
        }
        self.collection = Some((
            Name::from(name.as_str()),
            Collection {
                dimension,
                metric,
                created_version,
                created_at,
                updated_version,
                records: imbl::OrdMap::new(),
                index: VectorIndex::new(dimension, metric),
            },
        ));
        Ok(())
    }

    fn finish_collection(&mut self) {
        if let (Some((name, collection)), Some((_, space))) = (self.collection.take(), self.space.as_mut()) {
            space.collections.insert(name, collection);
        }
    }

    fn finish_space(&mut self) {
        self.finish_collection();
        if let (Some((name, space)), Some((_, branch))) = (self.space.take(), self.branch.as_mut()) {
            branch.spaces.insert(name, space);
        }
    }

    fn finish_branch(&mut self) {
        self.finish_space();
        if let Some((name, branch)) = self.branch.take() {
            self.branches.insert(name, branch);
        }
    }

    /// The rebuilt state.
    pub fn finish(mut self) -> Result<DbState> {
        self.finish_branch();
        let (last_version, last_timestamp) =
            self.database.ok_or_else(|| order_error("no database record"))?;
        Ok(DbState { last_version, last_timestamp, branches: self.branches, history_floor: self.floor })
    }

    /// The branches built so far (for bundles, which hold one branch and no database record).
    pub fn finish_branches(mut self) -> imbl::OrdMap<Name, BranchState> {
        self.finish_branch();
        self.branches
    }
}

fn order_error(what: &str) -> Error {
    Error::io(format!("state records out of order: {what}"))
}

/// A rule broken by a record's content: damage (or hostility), reported as `Io`.
fn damaged(error: Error) -> Error {
    Error::io(error.message().to_owned())
}

fn build_chain<T: Clone>(versions: Vec<(u64, u64, Option<T>)>, key: &str) -> Result<Chain<T>> {
    let mut chain: Option<Chain<T>> = None;
    for (version, timestamp, value) in versions {
        if let Some(previous) = &chain {
            if previous.head().version() >= version || previous.head().timestamp() > timestamp {
                return Err(Error::io(format!("the history of '{key}' is not in increasing version order")));
            }
        }
        chain = Some(Chain::push(chain.as_ref(), version, timestamp, value));
    }
    chain.ok_or_else(|| Error::io(format!("the history of '{key}' is empty")))
}
