// The reference model shared by tests/model.rs (in memory) and tests/model_durable.rs
// (on a simulated disk, with reopens, crashes and faults): the operations and their
// strategies, the model of the documented semantics, running an operation on the
// engine, and comparing everything visible. The rules the model follows are described
// at the top of tests/model.rs.
//
// Both test files `include!` this file, so it holds items only (no inner attributes or
// `//!` docs): a plain `mod` would need every item, field and variant made `pub`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{RngSeed, TestCaseError};
use stratadb::{ErrorKind, Object, Packed, Session, Value};

const KEYS: [&str; 3] = ["a", "ab", "b"];
/// Prefixes of listings: everything, the keys under `a` (`a` and `ab`), under `b`.
const PREFIXES: [Option<&str>; 3] = [None, Some("a"), Some("b")];
const SPACES: [&str; 2] = ["default", "s1"];
const BRANCHES: [&str; 3] = ["default", "b1", "b2"];
const EVENT_TYPES: [&str; 2] = ["t0", "t1"];
const VECTOR_KEYS: [&str; 2] = ["x", "y"];
const COLLECTION: &str = "c";
const DIMENSION: usize = 3;
const QUERY: [f32; DIMENSION] = [1.0, 1.0, 0.0];
/// The two spellings of the whole document.
const ROOT_PATHS: [&str; 2] = ["$", ""];
/// The paths reads and deletes use: the whole document (both spellings) and member `a`.
const JSON_PATHS: [&str; 3] = ["$", "", "$.a"];

// ----- operations -------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The cell's current version (or `None` if absent): the cas succeeds.
    Current,
    /// `None`: succeeds only if the cell is absent.
    Absent,
    /// A version the cell does not have: the cas fails.
    Stale,
}

/// A write by the second handle (outside any transaction), into `SPACES[n]` of the
/// primary handle's current branch.
#[derive(Debug, Clone, Copy)]
enum OtherWrite {
    KvPut(usize, i64),
    KvDelete(usize),
    StateSet(usize, i64),
    EventAppend(usize, i64),
    /// key, `ROOT_PATHS` index, value.
    JsonSetRoot(usize, usize, i64),
    VectorCreate,
    VectorUpsert(usize, [u8; DIMENSION]),
    VectorDeleteCollection,
    /// `delete_space_force` of the space itself.
    DeleteSpace,
}

/// A read through the primary handle, in its current space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Read {
    KvGet(usize),
    KvHistory(usize),
    /// `PREFIXES` index.
    KvList(usize),
    /// `PREFIXES` index and page size: every page of `kv_list_paginated` with its cursor.
    KvPages(usize, usize),
    StateGet(usize),
    StateHistory(usize),
    StateList(usize),
    EventLen,
    EventGet(usize),
    EventList(usize),
    /// `event_list_paginated` one event at a time.
    EventPages(usize),
    /// key, `JSON_PATHS` index.
    JsonGet(usize, usize),
    JsonGetVersioned(usize),
    JsonHistory(usize),
    /// `PREFIXES` index and page size: every page of `json_list` with its cursor.
    JsonPages(usize, usize),
    VectorGet(usize),
    VectorSearch,
    VectorStats,
    VectorCollections,
    /// `list_spaces` (of the current branch).
    Spaces,
    /// `space_exists(SPACES[n])`.
    SpaceExists(usize),
}

#[derive(Debug, Clone)]
enum Op {
    KvPut(usize, i64),
    KvDelete(usize),
    StateSet(usize, i64),
    StateInit(usize, i64),
    StateCas(usize, i64, Expect),
    StateDelete(usize),
    EventAppend(usize, i64),
    /// key, `ROOT_PATHS` index, shape, value.
    JsonSetRoot(usize, usize, u8, i64),
    JsonSetA(usize, i64),
    /// key, `JSON_PATHS` index.
    JsonDelete(usize, usize),
    VectorCreate,
    VectorUpsert(usize, [u8; DIMENSION]),
    VectorDelete(usize),
    VectorDeleteCollection,
    CreateBranch(usize),
    ForkBranch(usize),
    /// `BRANCHES[n]` if it exists, else another existing branch (see `Model::args_for`).
    SetBranch(usize),
    /// `BRANCHES[n]` if it exists and is neither `default` nor current, else another
    /// such branch, else `BRANCHES[n]` (which fails).
    DeleteBranch(usize),
    SetSpace(usize),
    DeleteSpace(usize, bool),
    /// Merge `BRANCHES[n]` (or another existing branch if it is missing or current) into
    /// the current branch; `true` for the strict strategy.
    Merge(usize, bool),
    Begin(bool),
    Commit,
    Rollback,
    /// One read through the primary handle (part of its transaction, if one is open).
    Read(Read),
    /// Every read of the current space through the primary handle (`all_reads`).
    ReadAll,
    /// A second handle, on the primary handle's current branch, writes into a space.
    Other(usize, OtherWrite),
}

fn boxed_union<T: Debug + 'static>(arms: Vec<(u32, BoxedStrategy<T>)>) -> Union<BoxedStrategy<T>> {
    Union::new_weighted(arms)
}

fn embedding_strategy() -> impl Strategy<Value = [u8; DIMENSION]> {
    [0u8..3, 0u8..3, 0u8..3]
}

fn read_strategy() -> impl Strategy<Value = Read> {
    let key = || 0..KEYS.len();
    let prefix = || 0..PREFIXES.len();
    boxed_union(vec![
        (3, key().prop_map(Read::KvGet).boxed()),
        (1, key().prop_map(Read::KvHistory).boxed()),
        (2, prefix().prop_map(Read::KvList).boxed()),
        (1, (prefix(), 1usize..3).prop_map(|(p, n)| Read::KvPages(p, n)).boxed()),
        (2, key().prop_map(Read::StateGet).boxed()),
        (1, key().prop_map(Read::StateHistory).boxed()),
        (1, prefix().prop_map(Read::StateList).boxed()),
        (1, Just(Read::EventLen).boxed()),
        (1, (0usize..4).prop_map(Read::EventGet).boxed()),
        (1, (0..EVENT_TYPES.len()).prop_map(Read::EventList).boxed()),
        (1, (0..EVENT_TYPES.len()).prop_map(Read::EventPages).boxed()),
        (2, (key(), 0..JSON_PATHS.len()).prop_map(|(k, p)| Read::JsonGet(k, p)).boxed()),
        (1, key().prop_map(Read::JsonGetVersioned).boxed()),
        (1, key().prop_map(Read::JsonHistory).boxed()),
        (1, (prefix(), prop_oneof![Just(1usize), Just(100)]).prop_map(|(p, n)| Read::JsonPages(p, n)).boxed()),
        (2, (0..VECTOR_KEYS.len()).prop_map(Read::VectorGet).boxed()),
        (1, Just(Read::VectorSearch).boxed()),
        (1, Just(Read::VectorStats).boxed()),
        (1, Just(Read::VectorCollections).boxed()),
        (1, Just(Read::Spaces).boxed()),
        (1, (0..SPACES.len()).prop_map(Read::SpaceExists).boxed()),
    ])
}

fn other_write_strategy() -> impl Strategy<Value = OtherWrite> {
    let key = || 0..KEYS.len();
    let small = || 0i64..4;
    boxed_union(vec![
        (4, (key(), small()).prop_map(|(k, v)| OtherWrite::KvPut(k, v)).boxed()),
        (1, key().prop_map(OtherWrite::KvDelete).boxed()),
        (3, (key(), small()).prop_map(|(k, v)| OtherWrite::StateSet(k, v)).boxed()),
        (2, (0..EVENT_TYPES.len(), small()).prop_map(|(t, v)| OtherWrite::EventAppend(t, v)).boxed()),
        (
            2,
            (key(), 0..ROOT_PATHS.len(), small()).prop_map(|(k, p, v)| OtherWrite::JsonSetRoot(k, p, v)).boxed(),
        ),
        (1, Just(OtherWrite::VectorCreate).boxed()),
        (2, (0..VECTOR_KEYS.len(), embedding_strategy()).prop_map(|(k, e)| OtherWrite::VectorUpsert(k, e)).boxed()),
        (1, Just(OtherWrite::VectorDeleteCollection).boxed()),
        (1, Just(OtherWrite::DeleteSpace).boxed()),
    ])
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = || 0..KEYS.len();
    let small = || 0i64..4;
    let expect = prop_oneof![Just(Expect::Current), Just(Expect::Absent), Just(Expect::Stale)];
    boxed_union(vec![
        (5, (key(), small()).prop_map(|(k, v)| Op::KvPut(k, v)).boxed()),
        (2, key().prop_map(Op::KvDelete).boxed()),
        (3, (key(), small()).prop_map(|(k, v)| Op::StateSet(k, v)).boxed()),
        (1, (key(), small()).prop_map(|(k, v)| Op::StateInit(k, v)).boxed()),
        (3, (key(), small(), expect).prop_map(|(k, v, e)| Op::StateCas(k, v, e)).boxed()),
        (2, key().prop_map(Op::StateDelete).boxed()),
        (3, (0..EVENT_TYPES.len(), small()).prop_map(|(t, v)| Op::EventAppend(t, v)).boxed()),
        (
            2,
            (key(), 0..ROOT_PATHS.len(), 0u8..3, small())
                .prop_map(|(k, p, shape, v)| Op::JsonSetRoot(k, p, shape, v))
                .boxed(),
        ),
        (2, (key(), small()).prop_map(|(k, v)| Op::JsonSetA(k, v)).boxed()),
        (2, (key(), 0..JSON_PATHS.len()).prop_map(|(k, p)| Op::JsonDelete(k, p)).boxed()),
        (3, Just(Op::VectorCreate).boxed()),
        (3, (0..VECTOR_KEYS.len(), embedding_strategy()).prop_map(|(k, e)| Op::VectorUpsert(k, e)).boxed()),
        (2, (0..VECTOR_KEYS.len()).prop_map(Op::VectorDelete).boxed()),
        (1, Just(Op::VectorDeleteCollection).boxed()),
        (2, (0..BRANCHES.len()).prop_map(Op::CreateBranch).boxed()),
        (3, (0..BRANCHES.len()).prop_map(Op::ForkBranch).boxed()),
        (5, (0..BRANCHES.len()).prop_map(Op::SetBranch).boxed()),
        (1, (0..BRANCHES.len()).prop_map(Op::DeleteBranch).boxed()),
        (2, (0..SPACES.len()).prop_map(Op::SetSpace).boxed()),
        (1, (0..SPACES.len(), any::<bool>()).prop_map(|(s, force)| Op::DeleteSpace(s, force)).boxed()),
        (5, (0..BRANCHES.len(), any::<bool>()).prop_map(|(b, strict)| Op::Merge(b, strict)).boxed()),
        (3, prop_oneof![4 => Just(false), 1 => Just(true)].prop_map(Op::Begin).boxed()),
        (3, Just(Op::Commit).boxed()),
        (1, Just(Op::Rollback).boxed()),
        (5, read_strategy().prop_map(Op::Read).boxed()),
        (1, Just(Op::ReadAll).boxed()),
        (4, (0..SPACES.len(), other_write_strategy()).prop_map(|(s, w)| Op::Other(s, w)).boxed()),
    ])
}

/// What the transactions of the transaction pattern do: reads, any operation, and the
/// deletes that read what they delete (or find missing).
fn transaction_body_strategy() -> impl Strategy<Value = Op> {
    boxed_union(vec![
        (3, read_strategy().prop_map(Op::Read).boxed()),
        (3, op_strategy().boxed()),
        (1, (0..SPACES.len(), any::<bool>()).prop_map(|(s, force)| Op::DeleteSpace(s, force)).boxed()),
        (1, Just(Op::VectorDeleteCollection).boxed()),
        (1, (0..VECTOR_KEYS.len()).prop_map(Op::VectorDelete).boxed()),
        (1, (0..KEYS.len()).prop_map(Op::StateDelete).boxed()),
    ])
}

/// Sequences of up to about 60 operations; half of them start by forking two branches,
/// so that merges between diverged branches are common. Besides single operations they
/// hold two common patterns, so that they come up often enough: switching to a branch,
/// maybe writing, and merging another into it (merges back and forth between branches
/// with changes in between), and a
/// short transaction that the second handle writes into before it commits (a conflict
/// exactly when the write touches what the transaction read or wrote).
fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    let chunk = boxed_union(vec![
        (16, op_strategy().prop_map(|op| vec![op]).boxed()),
        (
            3,
            (0..BRANCHES.len(), prop::collection::vec(op_strategy(), 0..=2), 0..BRANCHES.len(), any::<bool>())
                .prop_map(|(to, between, from, strict)| {
                    let mut ops = vec![Op::SetBranch(to)];
                    ops.extend(between);
                    ops.push(Op::Merge(from, strict));
                    ops
                })
                .boxed(),
        ),
        (
            2,
            (
                prop_oneof![3 => Just(false), 1 => Just(true)],
                prop::collection::vec(transaction_body_strategy(), 1..=3),
                0..SPACES.len(),
                other_write_strategy(),
            )
                .prop_map(|(read_only, body, s, write)| {
                    let mut ops = vec![Op::Begin(read_only)];
                    ops.extend(body);
                    ops.extend([Op::Other(s, write), Op::Commit]);
                    ops
                })
                .boxed(),
        ),
    ]);
    (any::<bool>(), prop::collection::vec(chunk, 1..=50)).prop_map(|(fork_first, chunks)| {
        let prefix = if fork_first { vec![Op::ForkBranch(1), Op::ForkBranch(2)] } else { Vec::new() };
        prefix.into_iter().chain(chunks.into_iter().flatten()).collect()
    })
}

fn json_root_value(shape: u8, v: i64) -> Value {
    match shape {
        0 => Value::Int(v),
        1 => object(&[("a", Value::Int(v))]),
        _ => object(&[("b", Value::Int(v)), ("a", Value::Array(vec![Value::Int(v)]))]),
    }
}

fn object(members: &[(&str, Value)]) -> Value {
    Value::Object(members.iter().map(|(name, value)| ((*name).to_owned(), value.clone())).collect::<Object>())
}

fn embedding(e: [u8; DIMENSION]) -> Vec<f32> {
    e.iter().map(|&x| f32::from(x)).collect()
}

/// What an operation returned, in a form both sides can produce.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Unit,
    Version(u64),
    MaybeVersion(Option<u64>),
    Bool(bool),
    Sequence(u64),
    KeysCopied(u64),
    Merge { conflicts: Vec<(String, String, String)>, keys_applied: u64, spaces_merged: u64 },
    /// What a read returned (`Debug` of the same types on both sides).
    Read(String),
    /// What every read of `ReadAll` returned, in order.
    Reads(Vec<Outcome<String>>),
}

type Outcome<T = Out> = Result<T, ErrorKind>;

/// The concrete arguments a step passes, worked out from the model before the step.
#[derive(Debug, Clone, Default)]
struct Args {
    /// `expected_version` of a cas.
    expected: Option<u64>,
    /// The branch a set, delete or merge names.
    branch: String,
    /// The reads of `ReadAll`.
    reads: Vec<Read>,
}

// ----- the reference model ------------------------------------------------------------

/// A record's history, oldest first: `(version, value or None for a delete)`.
type History<T> = Vec<(u64, Option<T>)>;

fn live<T>(history: &History<T>) -> Option<&T> {
    history.last().and_then(|(_, value)| value.as_ref())
}

fn head_version<T>(history: &History<T>) -> u64 {
    history.last().map_or(0, |(version, _)| *version)
}

/// The newest entry at or below `version`: `None` if the record had none yet, else
/// `Some(value or None for a delete)`.
fn as_of<T>(history: &History<T>, version: u64) -> Option<Option<&T>> {
    history.iter().rev().find(|(v, _)| *v <= version).map(|(_, value)| value.as_ref())
}

/// Adds a version; a second write to one record in one commit replaces the first.
fn push<T>(map: &mut BTreeMap<String, History<T>>, key: &str, version: u64, value: Option<T>) {
    let history = map.entry(key.to_owned()).or_default();
    if history.last().is_some_and(|(v, _)| *v == version) {
        history.pop();
    }
    history.push((version, value));
}

#[derive(Debug, Clone, PartialEq)]
struct MEvent {
    event_type: String,
    payload: Value,
    /// The commit that wrote it into this branch.
    version: u64,
    /// The commit that first appended it anywhere, and its place among that commit's
    /// events in the space.
    origin: (u64, u64),
}

#[derive(Debug, Clone, Default)]
struct MCollection {
    created: u64,
    /// The newest commit that created the collection or changed one of its vectors.
    updated: u64,
    records: BTreeMap<String, History<Vec<f32>>>,
}

#[derive(Debug, Clone, Default)]
struct MSpace {
    created: u64,
    /// The newest commit that changed anything in the space (or created it).
    updated: u64,
    kv: BTreeMap<String, History<Value>>,
    cells: BTreeMap<String, History<Value>>,
    documents: BTreeMap<String, History<Value>>,
    events: Vec<MEvent>,
    collections: BTreeMap<String, MCollection>,
}

/// One of the three maps of values in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Map {
    Kv,
    Cells,
    Documents,
}

impl MSpace {
    fn new(version: u64) -> MSpace {
        MSpace { created: version, updated: version, ..MSpace::default() }
    }
    fn map(&self, map: Map) -> &BTreeMap<String, History<Value>> {
        match map {
            Map::Kv => &self.kv,
            Map::Cells => &self.cells,
            Map::Documents => &self.documents,
        }
    }
    fn live_keys(&self, map: Map, prefix: Option<&str>) -> Vec<String> {
        let prefix = prefix.unwrap_or("");
        self.map(map).iter().filter(|(k, h)| k.starts_with(prefix) && live(h).is_some()).map(|(k, _)| k.clone()).collect()
    }
    fn collection(&self) -> Option<&MCollection> {
        self.collections.get(COLLECTION)
    }
    fn live_count(&self) -> u64 {
        let count = |map: &BTreeMap<String, History<Value>>| map.values().filter(|h| live(h).is_some()).count();
        let vectors: usize =
            self.collections.values().map(|c| c.records.values().filter(|h| live(h).is_some()).count()).sum();
        (count(&self.kv) + count(&self.cells) + count(&self.documents) + self.events.len() + vectors) as u64
    }
    fn is_empty(&self) -> bool {
        self.live_count() == 0 && self.collections.is_empty()
    }
}

#[derive(Debug, Clone)]
struct MBranch {
    created: u64,
    updated: u64,
    parent: Option<String>,
    spaces: BTreeMap<String, MSpace>,
    /// Per other branch: the version up to which this branch has taken it in.
    bases: BTreeMap<String, u64>,
}

impl MBranch {
    fn new(version: u64, parent: Option<String>) -> MBranch {
        let mut spaces = BTreeMap::new();
        spaces.insert("default".to_owned(), MSpace::new(version));
        MBranch { created: version, updated: version, parent, spaces, bases: BTreeMap::new() }
    }
}

#[derive(Debug, Clone)]
struct MDb {
    last: u64,
    branches: BTreeMap<String, MBranch>,
}

/// One change of a write set.
#[derive(Debug, Clone)]
enum Mu {
    KvPut(String, String, Value),
    KvDelete(String, String),
    CellPut(String, String, Value),
    CellDelete(String, String),
    DocumentPut(String, String, Value),
    DocumentDelete(String, String),
    /// space, type, payload, and the origin when copied by a merge.
    Event(String, String, Value, Option<(u64, u64)>),
    CollectionCreate(String),
    CollectionDelete(String),
    VectorPut(String, String, Vec<f32>),
    VectorDelete(String, String),
    SpaceCreate(String),
    SpaceDelete(String),
}

impl Mu {
    fn space(&self) -> &str {
        match self {
            Mu::KvPut(s, ..)
            | Mu::KvDelete(s, _)
            | Mu::CellPut(s, ..)
            | Mu::CellDelete(s, _)
            | Mu::DocumentPut(s, ..)
            | Mu::DocumentDelete(s, _)
            | Mu::Event(s, ..)
            | Mu::CollectionCreate(s)
            | Mu::CollectionDelete(s)
            | Mu::VectorPut(s, ..)
            | Mu::VectorDelete(s, _)
            | Mu::SpaceCreate(s)
            | Mu::SpaceDelete(s) => s,
        }
    }
}

/// The space a change writes into, created if missing; the change is its newest.
fn space_mut<'a>(branch: &'a mut MBranch, space: &str, version: u64) -> &'a mut MSpace {
    let space = branch.spaces.entry(space.to_owned()).or_insert_with(|| MSpace::new(version));
    space.updated = version;
    space
}

/// The collection a vector change writes into; the change is its newest.
fn collection_mut<'a>(branch: &'a mut MBranch, space: &str, version: u64) -> &'a mut MCollection {
    let collection = space_mut(branch, space, version).collections.get_mut(COLLECTION).expect("model: collection exists");
    collection.updated = version;
    collection
}

fn apply(branch: &mut MBranch, mutations: &[Mu], version: u64) {
    for mutation in mutations {
        match mutation {
            Mu::KvPut(s, k, v) => push(&mut space_mut(branch, s, version).kv, k, version, Some(v.clone())),
            Mu::KvDelete(s, k) => push(&mut space_mut(branch, s, version).kv, k, version, None),
            Mu::CellPut(s, k, v) => push(&mut space_mut(branch, s, version).cells, k, version, Some(v.clone())),
            Mu::CellDelete(s, k) => push(&mut space_mut(branch, s, version).cells, k, version, None),
            Mu::DocumentPut(s, k, v) => push(&mut space_mut(branch, s, version).documents, k, version, Some(v.clone())),
            Mu::DocumentDelete(s, k) => push(&mut space_mut(branch, s, version).documents, k, version, None),
            Mu::Event(s, t, p, origin) => {
                let space = space_mut(branch, s, version);
                let ordinal = space.events.iter().filter(|e| e.version == version).count() as u64;
                let origin = origin.unwrap_or((version, ordinal));
                space.events.push(MEvent { event_type: t.clone(), payload: p.clone(), version, origin });
            }
            Mu::CollectionCreate(s) => {
                let space = space_mut(branch, s, version);
                assert!(!space.collections.contains_key(COLLECTION), "model: collection created twice");
                space.collections.insert(
                    COLLECTION.to_owned(),
                    MCollection { created: version, updated: version, records: BTreeMap::new() },
                );
            }
            Mu::CollectionDelete(s) => {
                space_mut(branch, s, version).collections.remove(COLLECTION);
            }
            Mu::VectorPut(s, k, e) => push(&mut collection_mut(branch, s, version).records, k, version, Some(e.clone())),
            Mu::VectorDelete(s, k) => push(&mut collection_mut(branch, s, version).records, k, version, None),
            Mu::SpaceCreate(s) => {
                space_mut(branch, s, version);
            }
            Mu::SpaceDelete(s) => {
                branch.spaces.remove(s);
            }
        }
    }
    branch.updated = version;
}

/// Something a transaction read or wrote, for the conflict check.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Record {
    Kv(String, String),
    Cell(String, String),
    Document(String, String),
    Events(String),
    /// The collection itself (its existence).
    Collection(String),
    Vector(String, String),
    /// The space itself (its existence).
    Space(String),
    /// Everything in the space.
    SpaceContents(String),
    /// Every vector of the collection.
    CollectionContents(String),
    /// Every key of one map of the space under a prefix, deleted ones included.
    Range(Map, String, String),
}

impl Record {
    /// The newest version of the record in `branch`, `None` if it does not exist.
    fn version_in(&self, branch: &MBranch) -> Option<u64> {
        let head = |h: Option<&History<Value>>| h.map(head_version);
        match self {
            Record::Kv(s, k) => head(branch.spaces.get(s)?.kv.get(k)),
            Record::Cell(s, k) => head(branch.spaces.get(s)?.cells.get(k)),
            Record::Document(s, k) => head(branch.spaces.get(s)?.documents.get(k)),
            Record::Events(s) => branch.spaces.get(s)?.events.last().map(|e| e.version),
            Record::Collection(s) => branch.spaces.get(s)?.collection().map(|c| c.created),
            Record::Vector(s, k) => branch.spaces.get(s)?.collection()?.records.get(k).map(head_version),
            Record::Space(s) => branch.spaces.get(s).map(|space| space.created),
            Record::SpaceContents(s) => branch.spaces.get(s).map(|space| space.updated),
            Record::CollectionContents(s) => branch.spaces.get(s)?.collection().map(|c| c.updated),
            Record::Range(map, s, prefix) => {
                branch.spaces.get(s)?.map(*map).iter().filter(|(k, _)| k.starts_with(prefix.as_str())).map(|(_, h)| head_version(h)).max()
            }
        }
    }

    /// What a change writes, and what it reads to write it (a vector write depends on
    /// its collection, a delete of a space or collection reads everything in it).
    fn written_by(mutation: &Mu) -> Vec<Record> {
        match mutation {
            Mu::KvPut(s, k, _) | Mu::KvDelete(s, k) => vec![Record::Kv(s.clone(), k.clone())],
            Mu::CellPut(s, k, _) | Mu::CellDelete(s, k) => vec![Record::Cell(s.clone(), k.clone())],
            Mu::DocumentPut(s, k, _) | Mu::DocumentDelete(s, k) => vec![Record::Document(s.clone(), k.clone())],
            Mu::Event(s, ..) => vec![Record::Events(s.clone())],
            Mu::CollectionCreate(s) => vec![Record::Collection(s.clone())],
            Mu::CollectionDelete(s) => vec![Record::Collection(s.clone()), Record::CollectionContents(s.clone())],
            Mu::VectorPut(s, k, _) | Mu::VectorDelete(s, k) => {
                vec![Record::Collection(s.clone()), Record::Vector(s.clone(), k.clone())]
            }
            Mu::SpaceCreate(s) => vec![Record::Space(s.clone())],
            Mu::SpaceDelete(s) => vec![Record::Space(s.clone()), Record::SpaceContents(s.clone())],
        }
    }

    /// What `read` in `space` reads.
    fn read_by(read: Read, space: &str) -> Vec<Record> {
        let s = space.to_owned();
        let range = |map: Map, p: usize| Record::Range(map, s.clone(), PREFIXES[p].unwrap_or("").to_owned());
        match read {
            Read::KvGet(k) | Read::KvHistory(k) => vec![Record::Kv(s, KEYS[k].to_owned())],
            Read::KvList(p) | Read::KvPages(p, _) => vec![range(Map::Kv, p)],
            Read::StateGet(k) | Read::StateHistory(k) => vec![Record::Cell(s, KEYS[k].to_owned())],
            Read::StateList(p) => vec![range(Map::Cells, p)],
            Read::EventLen | Read::EventGet(_) | Read::EventList(_) | Read::EventPages(_) => vec![Record::Events(s)],
            Read::JsonGet(k, _) | Read::JsonGetVersioned(k) | Read::JsonHistory(k) => {
                vec![Record::Document(s, KEYS[k].to_owned())]
            }
            Read::JsonPages(p, _) => vec![range(Map::Documents, p)],
            // Whether the collection exists is read too (a missing one is an error).
            Read::VectorGet(k) => vec![Record::Vector(s.clone(), VECTOR_KEYS[k].to_owned()), Record::Collection(s)],
            Read::VectorSearch | Read::VectorStats => vec![Record::CollectionContents(s)],
            Read::VectorCollections => vec![Record::SpaceContents(s)],
            // Every space there could be: the alphabet has no others.
            Read::Spaces => SPACES.map(|name| Record::Space(name.to_owned())).to_vec(),
            Read::SpaceExists(n) => vec![Record::Space(SPACES[n].to_owned())],
        }
    }
}

#[derive(Debug, Clone)]
struct MTransaction {
    read_only: bool,
    branch: String,
    base: MDb,
    state: MDb,
    mutations: Vec<Mu>,
    touched: BTreeSet<Record>,
}

/// The reference model of one handle (plus the published database it shares).
#[derive(Debug, Clone)]
struct Model {
    db: MDb,
    branch: String,
    space: String,
    transaction: Option<MTransaction>,
}

enum Decision {
    Skip,
    Apply,
    Conflict { apply: bool },
}

/// The three-way decision for one record. `base`: how far the target has taken in the
/// source; `source_base`: how far the source has taken in the target.
fn decide<T: PartialEq>(
    source: &History<T>,
    target: Option<&History<T>>,
    base: u64,
    source_base: Option<u64>,
    lww: bool,
) -> Decision {
    let source_version = head_version(source);
    if source_version <= base {
        return Decision::Skip;
    }
    if live(source) == target.and_then(live) {
        return Decision::Skip;
    }
    // The source holds what the target held when the source last took it in: the value
    // came from the target, it is not a change of the source's.
    if let (Some(source_base), Some(target)) = (source_base, target) {
        if let Some(then) = as_of(target, source_base) {
            if live(source) == then {
                stat(if then.is_some() { "merge skip: value came from the target" } else { "merge skip: delete came from the target" });
                return Decision::Skip;
            }
        }
    }
    match target {
        Some(target) if head_version(target) > base => {
            Decision::Conflict { apply: lww && source_version > head_version(target) }
        }
        _ => Decision::Apply,
    }
}

struct MergePlan {
    mutations: Vec<Mu>,
    out: Out,
}

fn plan_merge(
    (source_name, source): (&str, &MBranch),
    (target_name, target): (&str, &MBranch),
    strict: bool,
) -> Result<MergePlan, ErrorKind> {
    let base = target.bases.get(source_name).copied().unwrap_or(0);
    let source_base = source.bases.get(target_name).copied();
    let lww = !strict;
    let mut mutations = Vec::new();
    let mut conflicts = Vec::new();
    let mut spaces_merged = 0;
    let empty = MSpace::default();
    for (space_name, source_space) in &source.spaces {
        let before = mutations.len();
        let target_space = target.spaces.get(space_name);
        if target_space.is_none() && source_space.created > base {
            mutations.push(Mu::SpaceCreate(space_name.clone()));
        }
        let target_space = target_space.unwrap_or(&empty);
        type Make = fn(String, String, Option<Value>) -> Mu;
        let maps: [(&str, Map, Make); 3] = [
            ("kv", Map::Kv, |s, k, v| match v {
                Some(v) => Mu::KvPut(s, k, v),
                None => Mu::KvDelete(s, k),
            }),
            ("state", Map::Cells, |s, k, v| match v {
                Some(v) => Mu::CellPut(s, k, v),
                None => Mu::CellDelete(s, k),
            }),
            ("json", Map::Documents, |s, k, v| match v {
                Some(v) => Mu::DocumentPut(s, k, v),
                None => Mu::DocumentDelete(s, k),
            }),
        ];
        for (primitive, map, make) in maps {
            for (key, history) in source_space.map(map) {
                let mutation = || make(space_name.clone(), key.clone(), live(history).cloned());
                match decide(history, target_space.map(map).get(key), base, source_base, lww) {
                    Decision::Skip => {}
                    Decision::Apply => mutations.push(mutation()),
                    Decision::Conflict { apply } => {
                        conflicts.push((space_name.clone(), primitive.to_owned(), key.clone()));
                        if apply {
                            mutations.push(mutation());
                        }
                    }
                }
            }
        }
        // Events: the source's events newer than the base whose origin the target lacks.
        let seen: BTreeSet<(u64, u64)> = target_space.events.iter().map(|e| e.origin).collect();
        for event in source_space.events.iter().filter(|e| e.version > base) {
            if seen.contains(&event.origin) {
                stat("merge: event already held by origin");
            } else {
                mutations.push(Mu::Event(
                    space_name.clone(),
                    event.event_type.clone(),
                    event.payload.clone(),
                    Some(event.origin),
                ));
            }
        }
        if let Some(source_collection) = source_space.collection() {
            let empty_records = BTreeMap::new();
            let target_records = match target_space.collection() {
                Some(existing) => Some(&existing.records),
                // The target deleted it since the base: not revived.
                None if source_collection.created <= base => None,
                None => {
                    mutations.push(Mu::CollectionCreate(space_name.clone()));
                    Some(&empty_records)
                }
            };
            if let Some(target_records) = target_records {
                for (key, history) in &source_collection.records {
                    let mutation = || match live(history) {
                        Some(e) => Mu::VectorPut(space_name.clone(), key.clone(), e.clone()),
                        None => Mu::VectorDelete(space_name.clone(), key.clone()),
                    };
                    match decide(history, target_records.get(key), base, source_base, lww) {
                        Decision::Skip => {}
                        Decision::Apply => mutations.push(mutation()),
                        Decision::Conflict { apply } => {
                            conflicts.push((space_name.clone(), "vector".to_owned(), format!("{COLLECTION}/{key}")));
                            if apply {
                                mutations.push(mutation());
                            }
                        }
                    }
                }
            }
        }
        if mutations.len() > before {
            spaces_merged += 1;
        }
    }
    if strict && !conflicts.is_empty() {
        return Err(ErrorKind::Conflict);
    }
    let keys_applied = mutations.iter().filter(|m| !matches!(m, Mu::SpaceCreate(_))).count() as u64;
    conflicts.sort();
    Ok(MergePlan { mutations, out: Out::Merge { conflicts, keys_applied, spaces_merged } })
}

fn show<T: Debug>(value: T) -> String {
    format!("{value:?}")
}

/// Every page of a listing of `keys` by pages of `limit`, each with its cursor (the
/// last key of the page, present only when more keys follow).
fn pages(keys: Vec<String>, limit: usize) -> Pages {
    if keys.is_empty() {
        return vec![(Vec::new(), None)];
    }
    let chunks: Vec<Vec<String>> = keys.chunks(limit).map(<[String]>::to_vec).collect();
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let cursor = if i + 1 < count { chunk.last().cloned() } else { None };
            (chunk, cursor)
        })
        .collect()
}

fn model_history<T: Clone>(history: Option<&History<T>>) -> Option<Vec<(Option<T>, u64)>> {
    history.map(|h| h.iter().rev().map(|(version, value)| (value.clone(), *version)).collect())
}

fn model_head(history: Option<&History<Value>>) -> Option<(Option<Value>, u64)> {
    history.filter(|h| live(h).is_some()).map(|h| (live(h).cloned(), head_version(h)))
}

/// What `read` returns in space `space` of `branch` (a missing space reads as empty).
fn model_read(branch: &MBranch, space: &str, read: Read) -> Outcome<String> {
    let empty = MSpace::default();
    let space = branch.spaces.get(space).unwrap_or(&empty);
    let events_of = |t: usize| -> Vec<(u64, u64, String, Value)> {
        space
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.event_type == EVENT_TYPES[t])
            .map(|(i, e)| (i as u64, e.version, e.event_type.clone(), e.payload.clone()))
            .collect()
    };
    Ok(match read {
        Read::KvGet(k) => show(model_head(space.kv.get(KEYS[k]))),
        Read::KvHistory(k) => show(model_history(space.kv.get(KEYS[k]))),
        Read::KvList(p) => show(space.live_keys(Map::Kv, PREFIXES[p])),
        Read::KvPages(p, limit) => show(pages(space.live_keys(Map::Kv, PREFIXES[p]), limit)),
        Read::StateGet(k) => show(model_head(space.cells.get(KEYS[k]))),
        Read::StateHistory(k) => show(model_history(space.cells.get(KEYS[k]))),
        Read::StateList(p) => show(space.live_keys(Map::Cells, PREFIXES[p])),
        Read::EventLen => show(space.events.len() as u64),
        Read::EventGet(sequence) => show(
            space.events.get(sequence).map(|e| (sequence as u64, e.version, e.event_type.clone(), e.payload.clone())),
        ),
        Read::EventList(t) => show(events_of(t)),
        Read::EventPages(t) => show(events_of(t).into_iter().map(|(sequence, ..)| sequence).collect::<Vec<u64>>()),
        Read::JsonGet(k, p) => {
            let document = space.documents.get(KEYS[k]).and_then(live);
            let found = match JSON_PATHS[p] {
                "$" | "" => document.cloned(),
                _ => match document {
                    Some(Value::Object(members)) => members.get("a").cloned(),
                    _ => None,
                },
            };
            show(found)
        }
        Read::JsonGetVersioned(k) => show(model_head(space.documents.get(KEYS[k]))),
        Read::JsonHistory(k) => show(model_history(space.documents.get(KEYS[k]))),
        Read::JsonPages(p, limit) => show(pages(space.live_keys(Map::Documents, PREFIXES[p]), limit)),
        Read::VectorGet(k) => {
            let collection = space.collection().ok_or(ErrorKind::NotFound)?;
            let record = collection.records.get(VECTOR_KEYS[k]).filter(|h| live(h).is_some());
            show(record.map(|h| (live(h).cloned().unwrap(), None::<Value>, head_version(h))))
        }
        Read::VectorSearch => {
            let collection = space.collection().ok_or(ErrorKind::NotFound)?;
            let keys: Vec<String> =
                collection.records.iter().filter(|(_, h)| live(h).is_some()).map(|(k, _)| k.clone()).collect();
            show(keys)
        }
        Read::VectorStats => {
            let collection = space.collection().ok_or(ErrorKind::NotFound)?;
            let count = collection.records.values().filter(|h| live(h).is_some()).count();
            show((COLLECTION.to_owned(), DIMENSION, count, "cosine".to_owned()))
        }
        Read::VectorCollections => {
            let listed: Vec<(String, usize, usize)> = space
                .collection()
                .map(|c| (COLLECTION.to_owned(), DIMENSION, c.records.values().filter(|h| live(h).is_some()).count()))
                .into_iter()
                .collect();
            show(listed)
        }
        Read::Spaces => show(strings(branch.spaces.keys())),
        Read::SpaceExists(n) => show(branch.spaces.contains_key(SPACES[n])),
    })
}

/// Every read of one space, as the checks and `ReadAll` make them.
fn all_reads(space: Option<&MSpace>) -> Vec<Read> {
    let mut reads = Vec::new();
    for p in 0..PREFIXES.len() {
        reads.extend([Read::KvList(p), Read::StateList(p), Read::JsonPages(p, 100)]);
    }
    reads.extend([Read::KvPages(0, 2), Read::KvPages(1, 1), Read::JsonPages(0, 1)]);
    for k in 0..KEYS.len() {
        reads.extend([Read::KvGet(k), Read::KvHistory(k), Read::StateGet(k), Read::StateHistory(k)]);
        reads.extend((0..JSON_PATHS.len()).map(|p| Read::JsonGet(k, p)));
        reads.extend([Read::JsonGetVersioned(k), Read::JsonHistory(k)]);
    }
    reads.push(Read::EventLen);
    let events = space.map_or(0, |s| s.events.len());
    reads.extend((0..=events).map(Read::EventGet));
    for t in 0..EVENT_TYPES.len() {
        reads.extend([Read::EventList(t), Read::EventPages(t)]);
    }
    reads.extend([Read::VectorCollections, Read::VectorStats, Read::VectorSearch]);
    reads.extend((0..VECTOR_KEYS.len()).map(Read::VectorGet));
    reads.push(Read::Spaces);
    reads.extend((0..SPACES.len()).map(Read::SpaceExists));
    reads
}

fn index_of(names: &[&str], name: &str) -> usize {
    names.iter().position(|n| *n == name).expect("model: a known name")
}

impl Model {
    fn new() -> Model {
        let mut branches = BTreeMap::new();
        branches.insert("default".to_owned(), MBranch::new(0, None));
        Model {
            db: MDb { last: 0, branches },
            branch: "default".to_owned(),
            space: "default".to_owned(),
            transaction: None,
        }
    }

    /// What reads see: the transaction's private state, or the published one.
    fn view(&self) -> &MDb {
        self.transaction.as_ref().map_or(&self.db, |t| &t.state)
    }

    fn view_branch(&self) -> &MBranch {
        &self.view().branches[&self.branch]
    }

    fn view_space(&self) -> Option<&MSpace> {
        self.view_branch().spaces.get(&self.space)
    }

    fn track(&mut self, records: impl IntoIterator<Item = Record>) {
        if let Some(transaction) = self.transaction.as_mut() {
            transaction.touched.extend(records);
        }
    }

    /// A read through the handle: what it returns, remembered by an open transaction.
    fn read(&mut self, read: Read) -> Outcome<String> {
        self.track(Record::read_by(read, &self.space));
        model_read(self.view_branch(), &self.space, read)
    }

    /// A write that finds nothing to change still reads what it found missing.
    fn track_absence(&mut self, record: Record) {
        self.track([record]);
    }

    /// A write that fails on what it read still read it (`AccessDenied` reads nothing).
    fn track_failure<T>(&mut self, result: Outcome<T>, record: impl FnOnce(&str) -> Record) -> Outcome<T> {
        if let Err(kind) = &result {
            if *kind != ErrorKind::AccessDenied {
                let record = record(&self.space);
                self.track([record]);
            }
        }
        result
    }

    /// The reads that check read-your-writes while a transaction is open: everything it
    /// wrote in the current space. They read only records the transaction wrote (or
    /// records whose change implies one of those changed), so they add nothing to its
    /// conflict check.
    fn own_write_reads(&self) -> Vec<Read> {
        let Some(transaction) = &self.transaction else { return Vec::new() };
        let events = self.view_space().map_or(0, |s| s.events.len());
        let mut reads = BTreeSet::new();
        let here = |m: &&Mu| matches!(m, Mu::SpaceCreate(_) | Mu::SpaceDelete(_)) || m.space() == self.space;
        for mutation in transaction.mutations.iter().filter(here) {
            match mutation {
                Mu::KvPut(_, k, _) | Mu::KvDelete(_, k) => {
                    let k = index_of(&KEYS, k);
                    reads.extend([Read::KvGet(k), Read::KvHistory(k)]);
                }
                Mu::CellPut(_, k, _) | Mu::CellDelete(_, k) => {
                    let k = index_of(&KEYS, k);
                    reads.extend([Read::StateGet(k), Read::StateHistory(k)]);
                }
                Mu::DocumentPut(_, k, _) | Mu::DocumentDelete(_, k) => {
                    let k = index_of(&KEYS, k);
                    reads.extend((0..JSON_PATHS.len()).map(|p| Read::JsonGet(k, p)));
                    reads.extend([Read::JsonGetVersioned(k), Read::JsonHistory(k)]);
                }
                Mu::Event(..) => {
                    reads.insert(Read::EventLen);
                    reads.extend((0..=events).map(Read::EventGet));
                    reads.extend((0..EVENT_TYPES.len()).flat_map(|t| [Read::EventList(t), Read::EventPages(t)]));
                }
                // Created in the transaction, and not deleted since: it was absent at
                // begin or the transaction's delete read everything in it, so its reads
                // add nothing. A deleted one is not read: that would read its vectors,
                // which the delete alone must count.
                Mu::CollectionCreate(_) | Mu::CollectionDelete(_) => {
                    if self.view_space().is_some_and(|s| s.collection().is_some()) {
                        reads.extend([Read::VectorStats, Read::VectorSearch]);
                        reads.extend((0..VECTOR_KEYS.len()).map(Read::VectorGet));
                    }
                }
                Mu::VectorPut(_, k, _) | Mu::VectorDelete(_, k) => {
                    reads.insert(Read::VectorGet(index_of(&VECTOR_KEYS, k)));
                }
                // The other space, `default`, always exists.
                Mu::SpaceCreate(_) | Mu::SpaceDelete(_) => {
                    reads.insert(Read::Spaces);
                    reads.extend((0..SPACES.len()).map(Read::SpaceExists));
                }
            }
        }
        reads.into_iter().collect()
    }

    /// A write on the current branch and space: into the transaction, or as a commit.
    fn write<R>(
        &mut self,
        build: impl FnOnce(&MBranch, &str) -> Result<(Vec<Mu>, R), ErrorKind>,
    ) -> Result<(Option<u64>, R), ErrorKind> {
        let space = self.space.clone();
        if let Some(transaction) = self.transaction.as_mut() {
            if transaction.read_only {
                return Err(ErrorKind::AccessDenied);
            }
            let (mutations, out) = build(&transaction.state.branches[&transaction.branch], &space)?;
            if mutations.is_empty() {
                return Ok((None, out));
            }
            let version = transaction.state.last + 1;
            apply(transaction.state.branches.get_mut(&transaction.branch).unwrap(), &mutations, version);
            transaction.state.last = version;
            for mutation in &mutations {
                transaction.touched.extend(Record::written_by(mutation));
            }
            transaction.mutations.extend(mutations);
            return Ok((Some(version), out));
        }
        let branch = self.branch.clone();
        let (mutations, out) = build(&self.db.branches[&branch], &space)?;
        if mutations.is_empty() {
            return Ok((None, out));
        }
        Ok((Some(self.commit_published(&branch, &mutations)), out))
    }

    fn commit_published(&mut self, branch: &str, mutations: &[Mu]) -> u64 {
        let version = self.db.last + 1;
        apply(self.db.branches.get_mut(branch).unwrap(), mutations, version);
        self.db.last = version;
        version
    }

    fn write_one(&mut self, build: impl FnOnce(&MBranch, &str) -> Result<Vec<Mu>, ErrorKind>) -> Outcome {
        let (version, ()) = self.write(|b, s| Ok((build(b, s)?, ())))?;
        Ok(Out::Version(version.expect("model: write_one commits")))
    }

    fn cell_version(&self, key: usize) -> Option<u64> {
        let history = self.view_space()?.cells.get(KEYS[key])?;
        live(history).map(|_| head_version(history))
    }

    /// The `expected_version` argument a cas step passes.
    fn expected_for(&self, key: usize, expect: Expect) -> Option<u64> {
        let current = self.cell_version(key);
        match expect {
            Expect::Current => current,
            Expect::Absent => None,
            Expect::Stale => Some(current.map_or(1, |v| v - 1)),
        }
    }

    /// The arguments `op` passes in the model's current state.
    fn args_for(&self, op: &Op) -> Args {
        // BRANCHES[n] if it exists and fits, else the first branch that does (so that
        // most steps name a real branch), else BRANCHES[n] anyway.
        let pick = |n: usize, keep: &dyn Fn(&str) -> bool| -> String {
            let fits = |b: &str| keep(b) && self.db.branches.contains_key(b);
            if fits(BRANCHES[n]) {
                return BRANCHES[n].to_owned();
            }
            BRANCHES.iter().find(|b| fits(b)).map_or(BRANCHES[n], |b| *b).to_owned()
        };
        match *op {
            Op::StateCas(k, _, expect) => Args { expected: self.expected_for(k, expect), ..Args::default() },
            Op::SetBranch(n) => Args { branch: pick(n, &|_| true), ..Args::default() },
            Op::DeleteBranch(n) => Args { branch: pick(n, &|b| b != "default" && b != self.branch), ..Args::default() },
            Op::Merge(n, _) => Args { branch: pick(n, &|b| b != self.branch), ..Args::default() },
            Op::ReadAll => Args { reads: all_reads(self.view_space()), ..Args::default() },
            _ => Args::default(),
        }
    }

    fn step(&mut self, op: &Op, args: &Args) -> Outcome {
        let cas_expected = args.expected;
        let key_of = |k: usize| KEYS[k].to_owned();
        match *op {
            Op::KvPut(k, v) => self.write_one(|_, s| Ok(vec![Mu::KvPut(s.to_owned(), key_of(k), Value::Int(v))])),
            Op::KvDelete(k) => {
                let (_, existed) = self.write(|b, s| {
                    let existed = b.spaces.get(s).and_then(|sp| sp.kv.get(KEYS[k])).is_some_and(|h| live(h).is_some());
                    Ok((if existed { vec![Mu::KvDelete(s.to_owned(), key_of(k))] } else { vec![] }, existed))
                })?;
                if !existed {
                    // The engine counts this one already.
                    self.track([Record::Kv(self.space.clone(), key_of(k))]);
                }
                Ok(Out::Bool(existed))
            }
            Op::StateSet(k, v) => {
                self.write_one(|_, s| Ok(vec![Mu::CellPut(s.to_owned(), key_of(k), Value::Int(v))]))
            }
            Op::StateInit(k, v) => {
                let (version, existing) = self.write(|b, s| {
                    let history = b.spaces.get(s).and_then(|sp| sp.cells.get(KEYS[k])).filter(|h| live(h).is_some());
                    match history {
                        Some(h) => Ok((vec![], Some(head_version(h)))),
                        None => Ok((vec![Mu::CellPut(s.to_owned(), key_of(k), Value::Int(v))], None)),
                    }
                })?;
                if existing.is_some() {
                    self.track([Record::Cell(self.space.clone(), key_of(k))]);
                }
                Ok(Out::Version(version.or(existing).unwrap()))
            }
            Op::StateCas(k, v, _) => {
                let (version, ()) = self.write(|b, s| {
                    let current = b
                        .spaces
                        .get(s)
                        .and_then(|sp| sp.cells.get(KEYS[k]))
                        .filter(|h| live(h).is_some())
                        .map(head_version);
                    if current != cas_expected {
                        return Ok((vec![], ()));
                    }
                    Ok((vec![Mu::CellPut(s.to_owned(), key_of(k), Value::Int(v))], ()))
                })?;
                if version.is_none() {
                    self.track([Record::Cell(self.space.clone(), key_of(k))]);
                }
                Ok(Out::MaybeVersion(version))
            }
            Op::StateDelete(k) => {
                let (_, existed) = self.write(|b, s| {
                    let existed =
                        b.spaces.get(s).and_then(|sp| sp.cells.get(KEYS[k])).is_some_and(|h| live(h).is_some());
                    Ok((if existed { vec![Mu::CellDelete(s.to_owned(), key_of(k))] } else { vec![] }, existed))
                })?;
                if !existed {
                    self.track_absence(Record::Cell(self.space.clone(), key_of(k)));
                }
                Ok(Out::Bool(existed))
            }
            Op::EventAppend(t, v) => {
                let (_, sequence) = self.write(|b, s| {
                    let sequence = b.spaces.get(s).map_or(0, |sp| sp.events.len() as u64);
                    Ok((vec![Mu::Event(s.to_owned(), EVENT_TYPES[t].to_owned(), Value::Int(v), None)], sequence))
                })?;
                Ok(Out::Sequence(sequence))
            }
            Op::JsonSetRoot(k, _, shape, v) => self
                .write_one(|_, s| Ok(vec![Mu::DocumentPut(s.to_owned(), key_of(k), json_root_value(shape, v))])),
            Op::JsonSetA(k, v) => {
                let result = self.write_one(|b, s| {
                    let current = b.spaces.get(s).and_then(|sp| sp.documents.get(KEYS[k])).and_then(live).cloned();
                    let document = match current {
                        None => object(&[("a", Value::Int(v))]),
                        Some(Value::Object(mut members)) => {
                            members.insert("a".to_owned(), Value::Int(v));
                            Value::Object(members)
                        }
                        Some(_) => return Err(ErrorKind::Constraint),
                    };
                    Ok(vec![Mu::DocumentPut(s.to_owned(), key_of(k), document)])
                });
                self.track_failure(result, |s| Record::Document(s.to_owned(), key_of(k)))
            }
            Op::JsonDelete(k, p) => {
                let whole = JSON_PATHS[p] != "$.a";
                let (version, ()) = self.write(|b, s| {
                    let Some(document) = b.spaces.get(s).and_then(|sp| sp.documents.get(KEYS[k])).and_then(live) else {
                        return Ok((vec![], ()));
                    };
                    if whole {
                        return Ok((vec![Mu::DocumentDelete(s.to_owned(), key_of(k))], ()));
                    }
                    match document {
                        Value::Object(members) if members.contains_key("a") => {
                            let mut members = members.clone();
                            members.shift_remove("a");
                            Ok((vec![Mu::DocumentPut(s.to_owned(), key_of(k), Value::Object(members))], ()))
                        }
                        _ => Ok((vec![], ())),
                    }
                })?;
                if version.is_none() {
                    self.track([Record::Document(self.space.clone(), key_of(k))]);
                }
                Ok(Out::Version(version.unwrap_or(0)))
            }
            Op::VectorCreate => {
                let result = self.write_one(|b, s| {
                    if b.spaces.get(s).is_some_and(|sp| sp.collection().is_some()) {
                        return Err(ErrorKind::Conflict);
                    }
                    Ok(vec![Mu::CollectionCreate(s.to_owned())])
                });
                self.track_failure(result, |s| Record::Collection(s.to_owned()))
            }
            Op::VectorUpsert(k, e) => {
                let result = self.write_one(|b, s| {
                    if b.spaces.get(s).is_none_or(|sp| sp.collection().is_none()) {
                        return Err(ErrorKind::NotFound);
                    }
                    Ok(vec![Mu::VectorPut(s.to_owned(), VECTOR_KEYS[k].to_owned(), embedding(e))])
                });
                self.track_failure(result, |s| Record::Collection(s.to_owned()))
            }
            Op::VectorDelete(k) => {
                let result = self.write(|b, s| {
                    let Some(collection) = b.spaces.get(s).and_then(MSpace::collection) else {
                        return Err(ErrorKind::NotFound);
                    };
                    if collection.records.get(VECTOR_KEYS[k]).and_then(live).is_none() {
                        return Ok((vec![], false));
                    }
                    Ok((vec![Mu::VectorDelete(s.to_owned(), VECTOR_KEYS[k].to_owned())], true))
                });
                let (_, existed) = self.track_failure(result, |s| Record::Collection(s.to_owned()))?;
                if !existed {
                    // It looked up the collection (a missing one is an error) and the key.
                    self.track_absence(Record::Collection(self.space.clone()));
                    self.track_absence(Record::Vector(self.space.clone(), VECTOR_KEYS[k].to_owned()));
                }
                Ok(Out::Bool(existed))
            }
            Op::VectorDeleteCollection => {
                let (_, existed) = self.write(|b, s| {
                    if b.spaces.get(s).is_none_or(|sp| sp.collection().is_none()) {
                        return Ok((vec![], false));
                    }
                    Ok((vec![Mu::CollectionDelete(s.to_owned())], true))
                })?;
                if !existed {
                    self.track_absence(Record::Collection(self.space.clone()));
                }
                Ok(Out::Bool(existed))
            }
            Op::CreateBranch(b) => {
                let name = BRANCHES[b];
                if self.transaction.is_some() {
                    return Err(ErrorKind::State);
                }
                if self.db.branches.contains_key(name) {
                    return Err(ErrorKind::Conflict);
                }
                let version = self.db.last + 1;
                self.db.branches.insert(name.to_owned(), MBranch::new(version, None));
                self.db.last = version;
                Ok(Out::Version(version))
            }
            Op::ForkBranch(b) => {
                let destination = BRANCHES[b];
                if self.transaction.is_some() {
                    return Err(ErrorKind::State);
                }
                if self.db.branches.contains_key(destination) {
                    return Err(ErrorKind::Conflict);
                }
                let version = self.db.last + 1;
                let source_name = self.branch.clone();
                let keys_copied = self.db.branches[&source_name].spaces.values().map(MSpace::live_count).sum();
                let source = self.db.branches.get_mut(&source_name).unwrap();
                let mut copy = source.clone();
                source.bases.insert(destination.to_owned(), version);
                copy.created = version;
                copy.updated = version;
                copy.parent = Some(source_name.clone());
                copy.bases.insert(source_name.clone(), version);
                // Whoever has taken in the source up to some version has taken in the
                // copy up to there too.
                let holders: Vec<(String, u64)> = self
                    .db
                    .branches
                    .iter()
                    .filter(|(name, _)| **name != source_name)
                    .filter_map(|(name, other)| other.bases.get(&source_name).map(|base| (name.clone(), *base)))
                    .collect();
                if holders.iter().any(|(name, _)| *name != source_name) {
                    stat("fork: siblings get a base");
                }
                for (name, base) in holders {
                    self.db.branches.get_mut(&name).unwrap().bases.insert(destination.to_owned(), base);
                }
                self.db.branches.insert(destination.to_owned(), copy);
                self.db.last = version;
                Ok(Out::KeysCopied(keys_copied))
            }
            Op::SetBranch(_) => {
                if self.transaction.is_some() {
                    return Err(ErrorKind::State);
                }
                if !self.db.branches.contains_key(&args.branch) {
                    return Err(ErrorKind::NotFound);
                }
                self.branch = args.branch.clone();
                self.space = "default".to_owned();
                Ok(Out::Unit)
            }
            Op::DeleteBranch(_) => {
                let name = args.branch.as_str();
                if name == "default" || name == self.branch {
                    return Err(ErrorKind::Constraint);
                }
                if self.transaction.is_some() {
                    return Err(ErrorKind::State);
                }
                if self.db.branches.remove(name).is_none() {
                    return Err(ErrorKind::NotFound);
                }
                for branch in self.db.branches.values_mut() {
                    branch.bases.remove(name);
                }
                self.db.last += 1;
                Ok(Out::Unit)
            }
            Op::SetSpace(s) => {
                let name = SPACES[s];
                if self.view_branch().spaces.contains_key(name) {
                    self.track([Record::Space(name.to_owned())]);
                } else {
                    self.write(|_, _| Ok((vec![Mu::SpaceCreate(name.to_owned())], ())))?;
                }
                self.space = name.to_owned();
                Ok(Out::Unit)
            }
            Op::DeleteSpace(s, force) => {
                let name = SPACES[s];
                if name == "default" {
                    return Err(ErrorKind::Constraint);
                }
                let result = self.write(|b, _| {
                    let Some(space) = b.spaces.get(name) else { return Ok((vec![], false)) };
                    if !force && !space.is_empty() {
                        return Err(ErrorKind::Constraint);
                    }
                    Ok((vec![Mu::SpaceDelete(name.to_owned())], true))
                });
                let (_, existed) = self.track_failure(result, |_| Record::SpaceContents(name.to_owned()))?;
                if !existed {
                    self.track_absence(Record::Space(name.to_owned()));
                }
                if self.space == name {
                    self.space = "default".to_owned();
                }
                Ok(Out::Unit)
            }
            Op::Merge(_, strict) => {
                let source_name = args.branch.as_str();
                if source_name == self.branch {
                    return Err(ErrorKind::Constraint);
                }
                if self.transaction.is_some() {
                    return Err(ErrorKind::State);
                }
                let Some(source) = self.db.branches.get(source_name) else { return Err(ErrorKind::NotFound) };
                let target = &self.db.branches[&self.branch];
                let base = target.bases.get(source_name).copied().unwrap_or(0);
                // The base moves whenever the source has anything newer than it.
                let moves = source.updated > base;
                let plan = plan_merge((source_name, source), (&self.branch, target), strict)?;
                if !plan.mutations.is_empty() || moves {
                    let branch = self.branch.clone();
                    let version = self.commit_published(&branch, &plan.mutations);
                    self.db.branches.get_mut(&branch).unwrap().bases.insert(source_name.to_owned(), version);
                }
                Ok(plan.out)
            }
            Op::Begin(read_only) => {
                if self.transaction.is_some() {
                    return Err(ErrorKind::State);
                }
                self.transaction = Some(MTransaction {
                    read_only,
                    branch: self.branch.clone(),
                    base: self.db.clone(),
                    state: self.db.clone(),
                    mutations: Vec::new(),
                    touched: BTreeSet::new(),
                });
                Ok(Out::Unit)
            }
            Op::Commit => {
                let Some(transaction) = self.transaction.take() else { return Err(ErrorKind::State) };
                // Everything read or written must be as it was at begin, writes or not.
                let Some(now) = self.db.branches.get(&transaction.branch) else { return Err(ErrorKind::Conflict) };
                let then = &transaction.base.branches[&transaction.branch];
                if transaction.touched.iter().any(|record| record.version_in(now) != record.version_in(then)) {
                    return Err(ErrorKind::Conflict);
                }
                if transaction.mutations.is_empty() {
                    return Ok(Out::Version(transaction.base.last));
                }
                Ok(Out::Version(self.commit_published(&transaction.branch, &transaction.mutations)))
            }
            Op::Rollback => {
                if self.transaction.take().is_none() {
                    return Err(ErrorKind::State);
                }
                Ok(Out::Unit)
            }
            Op::Read(read) => self.read(read).map(Out::Read),
            Op::ReadAll => Ok(Out::Reads(args.reads.iter().map(|read| self.read(*read)).collect())),
            Op::Other(s, write) => self.other_write(SPACES[s], write),
        }
    }

    /// A write by the second handle into `space` of the current branch, published at once.
    fn other_write(&mut self, space: &str, write: OtherWrite) -> Outcome {
        let branch = self.branch.clone();
        let space = space.to_owned();
        if let OtherWrite::DeleteSpace = write {
            if space == "default" {
                return Err(ErrorKind::Constraint);
            }
            if self.db.branches[&branch].spaces.contains_key(&space) {
                self.commit_published(&branch, &[Mu::SpaceDelete(space)]);
            }
            return Ok(Out::Unit);
        }
        // The handle switches to the space first, creating it.
        if !self.db.branches[&branch].spaces.contains_key(&space) {
            self.commit_published(&branch, &[Mu::SpaceCreate(space.clone())]);
        }
        let current = &self.db.branches[&branch].spaces[&space];
        let has_collection = current.collection().is_some();
        let (mutation, out) = match write {
            OtherWrite::KvPut(k, v) => (Mu::KvPut(space, KEYS[k].to_owned(), Value::Int(v)), None),
            OtherWrite::KvDelete(k) => {
                if current.kv.get(KEYS[k]).and_then(live).is_none() {
                    return Ok(Out::Bool(false));
                }
                (Mu::KvDelete(space, KEYS[k].to_owned()), Some(Out::Bool(true)))
            }
            OtherWrite::StateSet(k, v) => (Mu::CellPut(space, KEYS[k].to_owned(), Value::Int(v)), None),
            OtherWrite::EventAppend(t, v) => {
                let sequence = current.events.len() as u64;
                (Mu::Event(space, EVENT_TYPES[t].to_owned(), Value::Int(v), None), Some(Out::Sequence(sequence)))
            }
            OtherWrite::JsonSetRoot(k, _, v) => (Mu::DocumentPut(space, KEYS[k].to_owned(), Value::Int(v)), None),
            OtherWrite::VectorCreate => {
                if has_collection {
                    return Err(ErrorKind::Conflict);
                }
                (Mu::CollectionCreate(space), None)
            }
            OtherWrite::VectorUpsert(k, e) => {
                if !has_collection {
                    return Err(ErrorKind::NotFound);
                }
                (Mu::VectorPut(space, VECTOR_KEYS[k].to_owned(), embedding(e)), None)
            }
            OtherWrite::VectorDeleteCollection => {
                if !has_collection {
                    return Ok(Out::Bool(false));
                }
                (Mu::CollectionDelete(space), Some(Out::Bool(true)))
            }
            OtherWrite::DeleteSpace => unreachable!("handled above"),
        };
        let version = self.commit_published(&branch, &[mutation]);
        Ok(out.unwrap_or(Out::Version(version)))
    }
}

// ----- running an operation on the engine ---------------------------------------------

fn outcome<T>(result: stratadb::Result<T>, convert: impl FnOnce(T) -> Out) -> Outcome {
    result.map(convert).map_err(|error| error.kind())
}

fn engine_history(history: Option<Vec<stratadb::model::Versioned<Packed>>>) -> Option<Vec<(Option<Value>, u64)>> {
    history.map(|h| h.iter().map(|node| (node.value().map(Packed::to_value), node.version())).collect())
}

fn engine_head(head: Option<stratadb::model::Versioned<Packed>>) -> Option<(Option<Value>, u64)> {
    head.map(|node| (node.value().map(Packed::to_value), node.version()))
}

fn strings<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// Every page of a listing: its keys and its cursor.
type Pages = Vec<(Vec<String>, Option<String>)>;

/// Walks every page of a listing (at most a few more than there are keys).
fn engine_pages(mut page: impl FnMut(Option<&str>) -> stratadb::Result<stratadb::session::Page>) -> Outcome<Pages> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=KEYS.len() + 1 {
        let next = page(cursor.as_deref()).map_err(|e| e.kind())?;
        pages.push((strings(next.keys.iter()), next.cursor.clone()));
        cursor = next.cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(pages)
}

/// What `read` returns through `handle`, in the form `model_read` gives.
fn engine_read(handle: &Session, read: Read) -> Outcome<String> {
    let kind = |e: stratadb::Error| e.kind();
    let events = |list: Vec<std::sync::Arc<stratadb::model::Event>>| -> Vec<(u64, u64, String, Value)> {
        list.iter().map(|e| (e.sequence, e.version, e.event_type.to_string(), e.payload.to_value())).collect()
    };
    Ok(match read {
        Read::KvGet(k) => show(engine_head(handle.kv_get(KEYS[k]).map_err(kind)?)),
        Read::KvHistory(k) => show(engine_history(handle.kv_history(KEYS[k]).map_err(kind)?)),
        Read::KvList(p) => show(strings(handle.kv_list(PREFIXES[p]).map_err(kind)?.iter())),
        Read::KvPages(p, limit) => {
            show(engine_pages(|cursor| handle.kv_list_paginated(PREFIXES[p], Some(limit), cursor))?)
        }
        Read::StateGet(k) => show(engine_head(handle.state_get(KEYS[k]).map_err(kind)?)),
        Read::StateHistory(k) => show(engine_history(handle.state_history(KEYS[k]).map_err(kind)?)),
        Read::StateList(p) => show(strings(handle.state_list(PREFIXES[p]).map_err(kind)?.iter())),
        Read::EventLen => show(handle.event_len().map_err(kind)?),
        Read::EventGet(sequence) => show(
            handle
                .event_get(sequence as u64)
                .map_err(kind)?
                .map(|e| (e.sequence, e.version, e.event_type.to_string(), e.payload.to_value())),
        ),
        Read::EventList(t) => show(events(handle.event_list(EVENT_TYPES[t]).map_err(kind)?)),
        Read::EventPages(t) => {
            let mut walked = Vec::new();
            let mut after = None;
            for _ in 0..100 {
                let page = handle.event_list_paginated(EVENT_TYPES[t], Some(1), after).map_err(kind)?;
                let Some(last) = page.last() else { break };
                after = Some(last.sequence);
                walked.extend(page.iter().map(|e| e.sequence));
            }
            show(walked)
        }
        Read::JsonGet(k, p) => show(handle.json_get(KEYS[k], JSON_PATHS[p]).map_err(kind)?.map(|p| p.to_value())),
        Read::JsonGetVersioned(k) => show(engine_head(handle.json_get_versioned(KEYS[k]).map_err(kind)?)),
        Read::JsonHistory(k) => show(engine_history(handle.json_history(KEYS[k]).map_err(kind)?)),
        Read::JsonPages(p, limit) => show(engine_pages(|cursor| handle.json_list(limit, PREFIXES[p], cursor))?),
        Read::VectorGet(k) => show(
            handle
                .vector_get(COLLECTION, VECTOR_KEYS[k])
                .map_err(kind)?
                .map(|r| (r.embedding.to_vec(), r.metadata, r.version)),
        ),
        Read::VectorSearch => {
            let mut found: Vec<String> =
                handle.vector_search(COLLECTION, &QUERY, 10).map_err(kind)?.into_iter().map(|h| h.key).collect();
            found.sort();
            show(found)
        }
        Read::VectorStats => {
            let stats = handle.vector_collection_stats(COLLECTION).map_err(kind)?;
            show((stats.name, stats.dimension, stats.count, stats.metric.as_str().to_owned()))
        }
        Read::VectorCollections => {
            let listed: Vec<(String, usize, usize)> = handle
                .vector_list_collections()
                .map_err(kind)?
                .into_iter()
                .map(|s| (s.name, s.dimension, s.count))
                .collect();
            show(listed)
        }
        Read::Spaces => show(handle.list_spaces().map_err(kind)?),
        Read::SpaceExists(n) => show(handle.space_exists(SPACES[n]).map_err(kind)?),
    })
}

/// The three handles on one engine: the primary one the steps run on, a second one that
/// writes concurrently, and an observer that reads the published state.
struct Handles {
    db: Session,
    other: Session,
    observer: Session,
}

fn run_engine(op: &Op, args: &Args, handles: &Handles, branch: &str) -> Outcome {
    let Handles { db, other, .. } = handles;
    let cas_expected = args.expected;
    let unit = |_| Out::Unit;
    match *op {
        Op::KvPut(k, v) => outcome(db.kv_put(KEYS[k], Value::Int(v)), Out::Version),
        Op::KvDelete(k) => outcome(db.kv_delete(KEYS[k]), Out::Bool),
        Op::StateSet(k, v) => outcome(db.state_set(KEYS[k], Value::Int(v)), Out::Version),
        Op::StateInit(k, v) => outcome(db.state_init(KEYS[k], Value::Int(v)), Out::Version),
        Op::StateCas(k, v, _) => outcome(db.state_cas(KEYS[k], Value::Int(v), cas_expected), Out::MaybeVersion),
        Op::StateDelete(k) => outcome(db.state_delete(KEYS[k]), Out::Bool),
        Op::EventAppend(t, v) => outcome(db.event_append(EVENT_TYPES[t], Value::Int(v)), Out::Sequence),
        Op::JsonSetRoot(k, p, shape, v) => {
            outcome(db.json_set(KEYS[k], ROOT_PATHS[p], json_root_value(shape, v)), Out::Version)
        }
        Op::JsonSetA(k, v) => outcome(db.json_set(KEYS[k], "$.a", Value::Int(v)), Out::Version),
        Op::JsonDelete(k, p) => outcome(db.json_delete(KEYS[k], JSON_PATHS[p]), Out::Version),
        Op::VectorCreate => outcome(db.vector_create_collection(COLLECTION, DIMENSION, "cosine"), Out::Version),
        Op::VectorUpsert(k, e) => {
            outcome(db.vector_upsert(COLLECTION, VECTOR_KEYS[k], embedding(e), None), Out::Version)
        }
        Op::VectorDelete(k) => outcome(db.vector_delete(COLLECTION, VECTOR_KEYS[k]), Out::Bool),
        Op::VectorDeleteCollection => outcome(db.vector_delete_collection(COLLECTION), Out::Bool),
        Op::CreateBranch(b) => outcome(db.create_branch(BRANCHES[b]), Out::Version),
        Op::ForkBranch(b) => outcome(db.fork_branch(BRANCHES[b]), |report| Out::KeysCopied(report.keys_copied)),
        Op::SetBranch(_) => outcome(db.set_branch(&args.branch), unit),
        Op::DeleteBranch(_) => outcome(db.delete_branch(&args.branch), unit),
        Op::SetSpace(s) => outcome(db.set_space(SPACES[s]), unit),
        Op::DeleteSpace(s, force) => {
            outcome(if force { db.delete_space_force(SPACES[s]) } else { db.delete_space(SPACES[s]) }, unit)
        }
        Op::Merge(_, strict) => {
            outcome(db.merge_branches(&args.branch, if strict { "strict" } else { "last_writer_wins" }), |report| {
                let mut conflicts: Vec<_> =
                    report.conflicts.iter().map(|c| (c.space.clone(), c.primitive.to_owned(), c.key.clone())).collect();
                conflicts.sort();
                Out::Merge { conflicts, keys_applied: report.keys_applied, spaces_merged: report.spaces_merged }
            })
        }
        Op::Begin(read_only) => outcome(db.begin(read_only), unit),
        Op::Commit => outcome(db.commit(), Out::Version),
        Op::Rollback => outcome(db.rollback(), unit),
        Op::Read(read) => engine_read(db, read).map(Out::Read),
        Op::ReadAll => Ok(Out::Reads(args.reads.iter().map(|read| engine_read(db, *read)).collect())),
        Op::Other(s, write) => {
            let space = SPACES[s];
            other.set_branch(branch).unwrap();
            if let OtherWrite::DeleteSpace = write {
                return outcome(other.delete_space_force(space), unit);
            }
            other.set_space(space).unwrap();
            match write {
                OtherWrite::KvPut(k, v) => outcome(other.kv_put(KEYS[k], Value::Int(v)), Out::Version),
                OtherWrite::KvDelete(k) => outcome(other.kv_delete(KEYS[k]), Out::Bool),
                OtherWrite::StateSet(k, v) => outcome(other.state_set(KEYS[k], Value::Int(v)), Out::Version),
                OtherWrite::EventAppend(t, v) => {
                    outcome(other.event_append(EVENT_TYPES[t], Value::Int(v)), Out::Sequence)
                }
                OtherWrite::JsonSetRoot(k, p, v) => {
                    outcome(other.json_set(KEYS[k], ROOT_PATHS[p], Value::Int(v)), Out::Version)
                }
                OtherWrite::VectorCreate => {
                    outcome(other.vector_create_collection(COLLECTION, DIMENSION, "cosine"), Out::Version)
                }
                OtherWrite::VectorUpsert(k, e) => {
                    outcome(other.vector_upsert(COLLECTION, VECTOR_KEYS[k], embedding(e), None), Out::Version)
                }
                OtherWrite::VectorDeleteCollection => outcome(other.vector_delete_collection(COLLECTION), Out::Bool),
                OtherWrite::DeleteSpace => unreachable!("handled above"),
            }
        }
    }
}

// ----- comparing everything visible ----------------------------------------------------

fn same<T: PartialEq + Debug>(what: &str, engine: T, model: T) -> Result<(), String> {
    if engine == model {
        Ok(())
    } else {
        Err(format!("{what}: engine {engine:?}, model {model:?}"))
    }
}

/// Checks everything after a step: the handle's context, branches, the published state
/// of the current branch (through the observer), diffs, and read-your-writes through an
/// open transaction.
fn check(handles: &Handles, model: &mut Model) -> Result<(), String> {
    let Handles { db, observer, .. } = handles;
    same("current branch", db.current_branch().unwrap(), model.branch.clone())?;
    same("current space", db.current_space().unwrap(), model.space.clone())?;
    same("transaction active", db.txn_is_active().unwrap(), model.transaction.is_some())?;
    same("last version", db.info().unwrap().last_version, model.db.last)?;
    same("branches", db.list_branches().unwrap(), strings(model.db.branches.keys()))?;
    for (name, branch) in &model.db.branches {
        let description = db.branch_get(name).unwrap().expect("listed branch is described");
        same(
            &format!("branch_get({name})"),
            (description.created_version, description.updated_version, description.parent),
            (branch.created, branch.updated, branch.parent.clone()),
        )?;
    }

    // The published state of the current branch, every space.
    let published = &model.db.branches[&model.branch];
    observer.set_branch(&model.branch).unwrap();
    same("published spaces", observer.list_spaces().unwrap(), strings(published.spaces.keys()))?;
    for (name, space) in &published.spaces {
        observer.set_space(name).unwrap();
        for read in all_reads(Some(space)) {
            same(
                &format!("{read:?} in published space {name}"),
                engine_read(observer, read),
                model_read(published, name, read),
            )?;
        }
    }

    // Diffs from the current branch to every other branch.
    for other in model.db.branches.keys().filter(|b| **b != model.branch) {
        let diff = db.diff_branches(&model.branch, other).unwrap();
        let sorted = |entries: &[stratadb::branch_ops::DiffEntry]| {
            let mut out: Vec<(String, String, String)> =
                entries.iter().map(|e| (e.space.clone(), e.primitive.to_owned(), e.key.clone())).collect();
            out.sort();
            out
        };
        let expected = model_diff(&model.db.branches[&model.branch], &model.db.branches[other]);
        same(
            &format!("diff({}, {other})", model.branch),
            (sorted(&diff.added), sorted(&diff.removed), sorted(&diff.modified)),
            expected,
        )?;
    }

    // Read-your-writes through the open transaction.
    for read in model.own_write_reads() {
        let expected = model.read(read);
        same(&format!("{read:?} through the transaction"), engine_read(db, read), expected)?;
    }
    Ok(())
}

type Entries = Vec<(String, String, String)>;

/// Added (only in b), removed (only in a), modified (different live values), sorted.
fn model_diff(a: &MBranch, b: &MBranch) -> (Entries, Entries, Entries) {
    let (mut added, mut removed, mut modified) = (Vec::new(), Vec::new(), Vec::new());
    let empty = MSpace::default();
    let spaces: BTreeSet<&String> = a.spaces.keys().chain(b.spaces.keys()).collect();
    for space in spaces {
        let sa = a.spaces.get(space).unwrap_or(&empty);
        let sb = b.spaces.get(space).unwrap_or(&empty);
        let mut compare = |primitive: &str, key: String, left: Option<String>, right: Option<String>| {
            let entry = (space.clone(), primitive.to_owned(), key);
            match (left, right) {
                (None, Some(_)) => added.push(entry),
                (Some(_), None) => removed.push(entry),
                (Some(l), Some(r)) if l != r => modified.push(entry),
                _ => {}
            }
        };
        for (primitive, map) in [("kv", Map::Kv), ("state", Map::Cells), ("json", Map::Documents)] {
            let (ma, mb) = (sa.map(map), sb.map(map));
            let keys: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
            for key in keys {
                // Value equality ignores member order, like the engine's diff.
                let left = ma.get(key).and_then(live);
                let right = mb.get(key).and_then(live);
                let (l, r) = match (left, right) {
                    (Some(l), Some(r)) if l == r => (Some(String::new()), Some(String::new())),
                    (l, r) => (l.map(|v| format!("{v:?}")), r.map(|v| format!("{v:?}"))),
                };
                compare(primitive, key.clone(), l, r);
            }
        }
        for sequence in 0..sa.events.len().max(sb.events.len()) {
            let show = |e: &MEvent| format!("{}:{:?}", e.event_type, e.payload);
            compare(
                "event",
                sequence.to_string(),
                sa.events.get(sequence).map(show),
                sb.events.get(sequence).map(show),
            );
        }
        let no_records = BTreeMap::new();
        let ra = sa.collection().map_or(&no_records, |c| &c.records);
        let rb = sb.collection().map_or(&no_records, |c| &c.records);
        let keys: BTreeSet<&String> = ra.keys().chain(rb.keys()).collect();
        for key in keys {
            let show = |h: Option<&History<Vec<f32>>>| h.and_then(live).map(|e| format!("{e:?}"));
            compare("vector", format!("{COLLECTION}/{key}"), show(ra.get(key)), show(rb.get(key)));
        }
    }
    added.sort();
    removed.sort();
    modified.sort();
    (added, removed, modified)
}

// ----- the test -----------------------------------------------------------------------

/// Every space's incrementally kept live count equals a count by walking its maps
/// (what `fork_branch`'s `keys_copied` and `info()["total_keys"]` report).
fn check_live_counts(db: &Session) -> Result<(), String> {
    let state = db.engine().snapshot();
    for (branch_name, branch) in state.branches.iter() {
        for (space_name, space) in branch.spaces.iter() {
            let mut recounted = space.clone();
            recounted.recount_live_values();
            if recounted.live_values != space.live_values {
                return Err(format!(
                    "space '{space_name}' of branch '{branch_name}' counts {} live values, holds {}",
                    space.live_values, recounted.live_values
                ));
            }
        }
    }
    Ok(())
}

/// Runs a random model test: `PROPTEST_CASES` cases (64 by default) of `strategy`, from
/// a fixed seed (`default_seed`, so every `cargo test` checks the same cases and a
/// failure replays; `PROPTEST_RNG_SEED` picks other sequences). A failure names the
/// seed and `test_file` to replay it; `MODEL_STATS=1` prints how often each situation
/// worth covering came up. No regression file goes into the source tree: minimized
/// failures are written as named tests instead.
fn run_random_model<S: Strategy>(
    default_seed: u64,
    test_file: &str,
    strategy: &S,
    run: impl Fn(S::Value) -> Result<(), String>,
) {
    let seed = std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(default_seed);
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let config =
        ProptestConfig { cases, rng_seed: RngSeed::Fixed(seed), failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(strategy, |value| {
        run(value).map_err(|message| {
            TestCaseError::fail(format!("{message}\n(replay: PROPTEST_RNG_SEED={seed} cargo test --test {test_file})"))
        })
    });
    if std::env::var_os("MODEL_STATS").is_some() {
        STATS.with(|stats| {
            for (what, count) in stats.borrow().iter() {
                eprintln!("{count:>8}  {what}");
            }
        });
    }
    if let Err(error) = result {
        panic!("{error}");
    }
}

thread_local! {
    static STATS: std::cell::RefCell<BTreeMap<String, u64>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

/// Counts one occurrence of a situation (see `MODEL_STATS`).
fn stat(what: impl Into<String>) {
    STATS.with(|stats| *stats.borrow_mut().entry(what.into()).or_default() += 1);
}

