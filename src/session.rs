//! A handle on a database: the API every binding calls.
//!
//! Each handle has its own current branch, current space and transaction; many handles
//! may share one [`Engine`]. A handle is `Sync`: its per-handle context sits behind a
//! short-held mutex, and no lock is held while a read scans data.
//!
//! Reads outside a transaction see the newest published state. Inside a transaction
//! they see a private state: the snapshot taken at `begin` with the transaction's own
//! writes applied (read-your-writes). Every record the transaction reads or writes is
//! remembered; `commit` fails with a conflict, applying nothing, if any of them has a
//! different newest version in the published state than it had at `begin`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::smallvec;

use crate::branch_ops::{self, DiffReport, MergeReport, MergeStrategy};
use crate::bundle::{self, ExportReport, ImportReport, ValidateReport};
use crate::commit::apply::cannot_fail;
use crate::commit::{apply, apply_in_place, Commit, CommitBody, Mutation, Mutations, Prebuilt};
use crate::durability::{Durable, RecoveryReport};
use crate::engine::{now_micros, Engine};
use crate::error::{Error, Result};
use crate::json_path::{self, JsonPath};
use crate::keys::{check_key, check_name};
use crate::limits::{VECTOR_BATCH_MAX, VECTOR_DIMENSION_MAX};
use crate::model::{AsOf, BranchState, Chain, Collection, DbState, Event, Name, SpaceState, VectorValue, Versioned, DEFAULT};
use crate::packed::{IntoPacked, Packed};
use crate::storage::FsStorage;
use crate::time_travel::{self, PastView};
use crate::value::Value;
use crate::vector_index::{check_embedding, check_search, Filter, Metric, SearchHit};

/// One page of a key listing. `cursor` is set only when more keys follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub keys: Vec<Name>,
    pub cursor: Option<String>,
}

/// What `fork_branch` did.
#[derive(Debug, Clone, PartialEq)]
pub struct ForkReport {
    pub source: String,
    pub destination: String,
    pub keys_copied: u64,
}

/// What `branch_get` says about a branch.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchDescription {
    pub name: String,
    pub created_at: u64,
    pub created_version: u64,
    pub updated_at: u64,
    pub updated_version: u64,
    pub parent: Option<String>,
}

/// What `vector_collection_stats` says about a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionStats {
    pub name: String,
    pub dimension: usize,
    pub metric: Metric,
    pub count: usize,
    pub memory_bytes: usize,
}

/// A stored vector with its version.
#[derive(Debug, Clone)]
pub struct VectorRecord {
    pub key: String,
    pub embedding: Arc<[f32]>,
    pub metadata: Option<Value>,
    pub version: u64,
    pub timestamp: u64,
}

/// What `info()` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseInfo {
    pub version: &'static str,
    pub uptime_secs: u64,
    pub branch_count: usize,
    pub total_keys: usize,
    pub path: Option<String>,
    pub durability: &'static str,
    pub last_version: u64,
    pub read_only: bool,
    /// Bytes of log written since the last snapshot.
    pub log_bytes: u64,
    /// fsyncs of the log since the database was opened.
    pub log_fsyncs: u64,
    /// What recovery found when the database was opened (durable databases).
    pub recovery: Option<RecoveryReport>,
    /// Why the database stopped accepting writes, if it did.
    pub poisoned: Option<String>,
    /// Why the last automatic compaction failed, if it did.
    pub compaction_error: Option<String>,
}

/// What `txn_info()` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionInfo {
    pub id: u64,
    pub started_at: u64,
    pub read_only: bool,
}

/// The engine's package version, reported by `ping` and `info`.
pub const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Identifies one record for transaction conflict checks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RecordKey {
    Kv(Name, Name),
    Cell(Name, Name),
    Document(Name, Name),
    Events(Name),
    Collection(Name, Name),
    Vector(Name, Name, Name),
    Space(Name),
    /// Everything in a space (read by a space delete).
    SpaceContents(Name),
    /// Every vector of a collection (read by a search, stats, or a collection delete).
    CollectionContents(Name, Name),
    /// The live keys of one map of a space under a prefix (read by a listing).
    Range(MapKind, Name, Name),
    /// Which spaces the branch has (read by `list_spaces`).
    SpaceSet,
}

/// Which map of a space a listing read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MapKind {
    Kv,
    Cell,
    Document,
}

impl MapKind {
    fn of(self, space: &SpaceState) -> &imbl::OrdMap<Name, Chain<Packed>> {
        match self {
            MapKind::Kv => &space.kv,
            MapKind::Cell => &space.cells,
            MapKind::Document => &space.documents,
        }
    }
    fn describe(self) -> &'static str {
        match self {
            MapKind::Kv => "kv keys",
            MapKind::Cell => "state cells",
            MapKind::Document => "documents",
        }
    }
}

impl RecordKey {
    /// The newest version of the record in `branch`, or `None` if it does not exist.
    fn version_in(&self, branch: &BranchState) -> Option<u64> {
        let head = |chain: Option<&Chain<Packed>>| chain.map(|c| c.head().version());
        match self {
            RecordKey::Kv(space, key) => head(branch.space(space)?.kv.get(key)),
            RecordKey::Cell(space, key) => head(branch.space(space)?.cells.get(key)),
            RecordKey::Document(space, key) => head(branch.space(space)?.documents.get(key)),
            RecordKey::Events(space) => branch.space(space)?.events.entries.last().map(|e| e.version),
            RecordKey::Collection(space, name) => branch.space(space)?.collections.get(name).map(|c| c.created_version),
            RecordKey::Vector(space, name, key) => {
                branch.space(space)?.collections.get(name)?.records.get(key).map(|c| c.head().version())
            }
            RecordKey::Space(space) => branch.space(space).map(|s| s.created_version),
            RecordKey::SpaceContents(space) => branch.space(space).map(|s| s.updated_version.max(s.created_version)),
            RecordKey::CollectionContents(space, name) => {
                branch.space(space)?.collections.get(name).map(|c| c.updated_version.max(c.created_version))
            }
            RecordKey::SpaceSet => Some(branch.spaces_version),
            RecordKey::Range(kind, space, prefix) => {
                use std::ops::Bound;
                let map = kind.of(branch.space(space)?);
                map.range::<_, str>((Bound::Included(prefix.as_ref()), Bound::Unbounded))
                    .take_while(|(key, _)| key.starts_with(prefix.as_str()))
                    .map(|(_, chain)| chain.head().version())
                    .max()
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            RecordKey::Kv(space, key) => format!("kv '{key}' in space '{space}'"),
            RecordKey::Cell(space, key) => format!("state cell '{key}' in space '{space}'"),
            RecordKey::Document(space, key) => format!("document '{key}' in space '{space}'"),
            RecordKey::Events(space) => format!("the event log of space '{space}'"),
            RecordKey::Collection(space, name) => format!("collection '{name}' in space '{space}'"),
            RecordKey::Vector(space, name, key) => format!("vector '{key}' of collection '{name}' in space '{space}'"),
            RecordKey::Space(space) => format!("space '{space}'"),
            RecordKey::SpaceContents(space) => format!("the contents of space '{space}'"),
            RecordKey::CollectionContents(space, name) => format!("the vectors of collection '{name}' in space '{space}'"),
            RecordKey::Range(kind, space, prefix) => format!("the {} under prefix '{prefix}' in space '{space}'", kind.describe()),
            RecordKey::SpaceSet => "the list of spaces".to_owned(),
        }
    }

    /// The records a mutation writes (a vector write also depends on its collection).
    fn written_by(mutation: &Mutation) -> Vec<RecordKey> {
        let n = |s: &Name| s.clone();
        match mutation {
            Mutation::KvPut { space, key, .. } | Mutation::KvDelete { space, key } => vec![RecordKey::Kv(n(space), n(key))],
            Mutation::CellPut { space, cell, .. } | Mutation::CellDelete { space, cell } => {
                vec![RecordKey::Cell(n(space), n(cell))]
            }
            Mutation::DocumentPut { space, key, .. } | Mutation::DocumentDelete { space, key } => {
                vec![RecordKey::Document(n(space), n(key))]
            }
            Mutation::EventAppend { space, .. } | Mutation::EventCopy { space, .. } => vec![RecordKey::Events(n(space))],
            Mutation::CollectionCreate { space, collection, .. } => vec![RecordKey::Collection(n(space), n(collection))],
            // A delete reads everything it removes.
            Mutation::CollectionDelete { space, collection } => vec![
                RecordKey::Collection(n(space), n(collection)),
                RecordKey::CollectionContents(n(space), n(collection)),
            ],
            Mutation::VectorPut { space, collection, key, .. } | Mutation::VectorDelete { space, collection, key } => vec![
                RecordKey::Collection(n(space), n(collection)),
                RecordKey::Vector(n(space), n(collection), n(key)),
            ],
            Mutation::SpaceCreate { space } => vec![RecordKey::Space(n(space))],
            Mutation::SpaceDelete { space } => vec![RecordKey::Space(n(space)), RecordKey::SpaceContents(n(space))],
        }
    }
}

/// An open transaction of one handle.
struct Transaction {
    id: u64,
    started_at: u64,
    read_only: bool,
    branch: Name,
    /// The published state at `begin`.
    base: Arc<DbState>,
    /// `base` with this transaction's writes applied.
    state: Arc<DbState>,
    mutations: Vec<Mutation>,
    touched: HashSet<RecordKey>,
}

/// The per-handle context.
struct Context {
    branch: Name,
    space: Name,
    transaction: Option<Transaction>,
}

/// What reads look at: a state, and the handle's branch and space within it.
struct View {
    state: Arc<DbState>,
    branch: Name,
    space: Name,
}

impl View {
    fn branch(&self) -> Result<&BranchState> {
        self.state.branch(&self.branch).ok_or_else(|| {
            Error::not_found(format!("the current branch '{}' no longer exists; switch with set_branch", self.branch))
        })
    }
    fn space(&self) -> Result<Option<&SpaceState>> {
        Ok(self.branch()?.space(&self.space))
    }
    fn collection(&self, name: &str) -> Result<&Collection> {
        self.space()?.and_then(|s| s.collections.get(name)).ok_or_else(|| missing_collection(name, &self.space))
    }
}

/// What a write builder sees: the state to validate against and where to write.
///
/// Every record a builder looks at goes through the lookup methods below, which remember
/// it: inside a transaction those are reads for the conflict check, also when the write
/// turns out to change nothing or fails on what it found.
pub struct WriteTarget<'a> {
    pub branch: &'a BranchState,
    pub space: &'a Name,
    reads: RefCell<Vec<RecordKey>>,
}

impl WriteTarget<'_> {
    fn read(&self, key: RecordKey) {
        self.reads.borrow_mut().push(key);
    }
    fn space(&self) -> Option<&SpaceState> {
        self.branch.space(self.space)
    }
    fn live(&self, kind: MapKind, key: &str) -> Option<&Chain<Packed>> {
        let record = match kind {
            MapKind::Kv => RecordKey::Kv(self.space.clone(), Name::from(key)),
            MapKind::Cell => RecordKey::Cell(self.space.clone(), Name::from(key)),
            MapKind::Document => RecordKey::Document(self.space.clone(), Name::from(key)),
        };
        self.read(record);
        self.space().and_then(|s| kind.of(s).get(key)).filter(|chain| chain.live().is_some())
    }
    fn collection(&self, name: &str) -> Result<&Collection> {
        self.read(RecordKey::Collection(self.space.clone(), Name::from(name)));
        self.space().and_then(|s| s.collections.get(name)).ok_or_else(|| missing_collection(name, self.space))
    }
    fn named_space(&self, name: &str) -> Option<&SpaceState> {
        self.read(RecordKey::Space(Name::from(name)));
        self.branch.space(name)
    }
}

fn missing_collection(name: &str, space: &str) -> Error {
    Error::not_found(format!("collection '{name}' does not exist in space '{space}'"))
}

static TRANSACTION_IDS: AtomicU64 = AtomicU64::new(1);

/// A handle on a database.
pub struct Session {
    engine: Arc<Engine>,
    context: Mutex<Context>,
    closed: AtomicBool,
    read_only: bool,
}

impl Session {
    /// A handle on a new private in-memory database.
    pub fn in_memory() -> Session {
        Session::attach(Engine::in_memory())
    }

    /// A new handle on `engine`, at the default branch and space.
    pub fn attach(engine: Arc<Engine>) -> Session {
        Session::attach_with(engine, false)
    }

    /// A new handle on `engine`; a `read_only` handle refuses writes even when the
    /// engine accepts them.
    pub fn attach_with(engine: Arc<Engine>, read_only: bool) -> Session {
        engine.add_handle();
        Session {
            engine,
            context: Mutex::new(Context { branch: Name::from(DEFAULT), space: Name::from(DEFAULT), transaction: None }),
            closed: AtomicBool::new(false),
            read_only,
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    // ----- lifetime -------------------------------------------------------------

    /// Flushes and marks the handle closed; the last handle on an engine closes it and
    /// releases the directory. Closing twice is fine. An open transaction is rolled back.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.context.lock().transaction = None;
        self.engine.release_handle()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::state("the database handle is closed"));
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.read_only || self.engine.read_only() {
            return Err(Error::access_denied("the database was opened read-only; writes are not allowed"));
        }
        Ok(())
    }

    // ----- plumbing -------------------------------------------------------------

    fn view(&self) -> Result<View> {
        self.check_open()?;
        let context = self.context.lock();
        let state = match &context.transaction {
            Some(transaction) => Arc::clone(&transaction.state),
            None => self.engine.snapshot(),
        };
        Ok(View { state, branch: context.branch.clone(), space: context.space.clone() })
    }

    /// Remembers a read for the conflict check, when a transaction is open. `key`
    /// gets the handle's current space.
    fn track(&self, key: impl FnOnce(&Name) -> RecordKey) {
        let mut context = self.context.lock();
        let space = context.space.clone();
        if let Some(transaction) = context.transaction.as_mut() {
            transaction.touched.insert(key(&space));
        }
    }

    /// Runs a write: builds mutations against the current state (the newest state under
    /// the writer lock, or the transaction's private state) and commits them, or adds
    /// them to the open transaction. Returns the version (provisional inside a
    /// transaction) or `None` when the builder produced no mutation.
    fn write<R>(&self, build: impl FnOnce(&WriteTarget) -> Result<(Mutations, R)>) -> Result<(Option<u64>, R)> {
        self.check_writable()?;
        let mut context = self.context.lock();
        let space = context.space.clone();
        if let Some(transaction) = context.transaction.as_mut() {
            if transaction.read_only {
                return Err(Error::access_denied("the transaction is read-only; writes are not allowed"));
            }
            let branch_state = transaction
                .state
                .branch(&transaction.branch)
                .ok_or_else(|| Error::not_found(format!("branch '{}' does not exist", transaction.branch)))?;
            let target = WriteTarget { branch: branch_state, space: &space, reads: RefCell::new(Vec::new()) };
            let built = build(&target);
            transaction.touched.extend(target.reads.into_inner());
            let (mutations, output) = built?;
            if mutations.is_empty() {
                return Ok((None, output));
            }
            let version = transaction.state.last_version + 1;
            let commit = Commit {
                version,
                timestamp: now_micros(),
                body: CommitBody::Write { branch: transaction.branch.clone(), mutations },
            };
            let CommitBody::Write { mutations, .. } = &commit.body else {
                return Err(Error::state("internal error: transaction commit body changed"));
            };
            let mutations = mutations.clone();
            // The transaction's state is private: a write that cannot fail changes it in
            // place (only what a reader's view still shares is copied).
            let state = Arc::make_mut(&mut transaction.state);
            if cannot_fail(state, &commit) {
                apply_in_place(state, commit)?;
            } else {
                *state = apply(state, commit)?;
            }
            for mutation in &mutations {
                transaction.touched.extend(RecordKey::written_by(mutation));
            }
            transaction.mutations.extend(mutations);
            return Ok((Some(version), output));
        }
        let branch = context.branch.clone();
        drop(context);
        let committed = self.engine.commit(|state| {
            let branch_state = state.branch(&branch).ok_or_else(|| {
                Error::not_found(format!("the current branch '{branch}' no longer exists; switch with set_branch"))
            })?;
            let (mutations, output) =
                build(&WriteTarget { branch: branch_state, space: &space, reads: RefCell::new(Vec::new()) })?;
            let body = (!mutations.is_empty()).then(|| CommitBody::Write { branch: branch.clone(), mutations });
            Ok((body, output))
        })?;
        Ok((committed.version, committed.output))
    }

    /// A write that always produces a commit and returns its version.
    fn write_one(&self, build: impl FnOnce(&WriteTarget) -> Result<Mutations>) -> Result<u64> {
        let (version, ()) = self.write(|target| Ok((build(target)?, ())))?;
        version.ok_or_else(|| Error::state("internal error: a write produced no commit"))
    }

    /// Branch operations run outside transactions only.
    fn branch_operation<R>(&self, build: impl FnOnce(&DbState) -> Result<(Option<CommitBody>, R)>) -> Result<(Option<u64>, R)> {
        self.check_writable()?;
        if self.context.lock().transaction.is_some() {
            return Err(Error::state("branch operations are not allowed inside a transaction; commit or roll back first"));
        }
        let committed = self.engine.commit(build)?;
        Ok((committed.version, committed.output))
    }

    fn current_names(&self) -> (Name, Name) {
        let context = self.context.lock();
        (context.branch.clone(), context.space.clone())
    }

    // ----- KV ---------------------------------------------------------------------

    pub fn kv_put(&self, key: &str, value: impl IntoPacked) -> Result<u64> {
        check_key("key", key)?;
        let value = value.into_packed("value")?;
        self.write_one(|target| Ok(smallvec![Mutation::KvPut { space: target.space.clone(), key: Name::from(key), value }]))
    }

    /// The newest live version of `key`, or `None` if absent or deleted.
    pub fn kv_get(&self, key: &str) -> Result<Option<Versioned<Packed>>> {
        check_key("key", key)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Kv(space.clone(), Name::from(key)));
        Ok(live_head(view.space()?.and_then(|s| s.kv.get(key))))
    }

    /// Deletes `key`. Returns whether it existed (a missing key writes nothing).
    pub fn kv_delete(&self, key: &str) -> Result<bool> {
        check_key("key", key)?;
        let (_, existed) = self.write(|target| {
            let existed = target.live(MapKind::Kv, key).is_some();
            let mutations = if existed {
                smallvec![Mutation::KvDelete { space: target.space.clone(), key: Name::from(key) }]
            } else {
                Mutations::new()
            };
            Ok((mutations, existed))
        })?;
        Ok(existed)
    }

    pub fn kv_list(&self, prefix: Option<&str>) -> Result<Vec<Name>> {
        Ok(self.list(MapKind::Kv, prefix, None, usize::MAX)?.keys)
    }

    pub fn kv_list_paginated(&self, prefix: Option<&str>, limit: Option<usize>, cursor: Option<&str>) -> Result<Page> {
        self.list(MapKind::Kv, prefix, cursor, limit.unwrap_or(usize::MAX))
    }

    /// Live keys of one map of the current space, in order; a read of the whole prefix
    /// range for a transaction's conflict check.
    fn list(&self, kind: MapKind, prefix: Option<&str>, cursor: Option<&str>, limit: usize) -> Result<Page> {
        let view = self.view()?;
        self.track(|space| RecordKey::Range(kind, space.clone(), Name::from(prefix.unwrap_or(""))));
        Ok(view
            .space()?
            .map(|s| list_live(kind.of(s), prefix, cursor, limit, None))
            .unwrap_or(Page { keys: Vec::new(), cursor: None }))
    }

    /// Every version of `key`, newest first, deletes included; `None` if it never existed.
    pub fn kv_history(&self, key: &str) -> Result<Option<Vec<Versioned<Packed>>>> {
        check_key("key", key)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Kv(space.clone(), Name::from(key)));
        Ok(history(view.space()?.and_then(|s| s.kv.get(key))))
    }

    // ----- state cells -------------------------------------------------------------

    pub fn state_set(&self, cell: &str, value: impl IntoPacked) -> Result<u64> {
        check_key("cell", cell)?;
        let value = value.into_packed("value")?;
        self.write_one(|target| Ok(smallvec![Mutation::CellPut { space: target.space.clone(), cell: Name::from(cell), value }]))
    }

    pub fn state_get(&self, cell: &str) -> Result<Option<Versioned<Packed>>> {
        check_key("cell", cell)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Cell(space.clone(), Name::from(cell)));
        Ok(live_head(view.space()?.and_then(|s| s.cells.get(cell))))
    }

    /// Creates the cell only if it does not exist. Returns its current version either way.
    pub fn state_init(&self, cell: &str, value: impl IntoPacked) -> Result<u64> {
        check_key("cell", cell)?;
        let value = value.into_packed("value")?;
        let (version, existing) = self.write(|target| {
            match target.live(MapKind::Cell, cell) {
                Some(chain) => Ok((Mutations::new(), Some(chain.head().version()))),
                None => Ok((smallvec![Mutation::CellPut { space: target.space.clone(), cell: Name::from(cell), value }], None)),
            }
        })?;
        version.or(existing).ok_or_else(|| Error::state("internal error: state_init produced no version"))
    }

    /// Sets the cell iff its current version equals `expected_version` (with `None`: iff
    /// the cell does not exist). Returns the new version, or `None` on a mismatch.
    pub fn state_cas(&self, cell: &str, value: impl IntoPacked, expected_version: Option<u64>) -> Result<Option<u64>> {
        check_key("cell", cell)?;
        let value = value.into_packed("value")?;
        let (version, ()) = self.write(|target| {
            let current = target.live(MapKind::Cell, cell).map(|c| c.head().version());
            if current != expected_version {
                return Ok((Mutations::new(), ()));
            }
            Ok((smallvec![Mutation::CellPut { space: target.space.clone(), cell: Name::from(cell), value }], ()))
        })?;
        Ok(version)
    }

    pub fn state_history(&self, cell: &str) -> Result<Option<Vec<Versioned<Packed>>>> {
        check_key("cell", cell)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Cell(space.clone(), Name::from(cell)));
        Ok(history(view.space()?.and_then(|s| s.cells.get(cell))))
    }

    pub fn state_delete(&self, cell: &str) -> Result<bool> {
        check_key("cell", cell)?;
        let (_, existed) = self.write(|target| {
            let existed = target.live(MapKind::Cell, cell).is_some();
            let mutations = if existed {
                smallvec![Mutation::CellDelete { space: target.space.clone(), cell: Name::from(cell) }]
            } else {
                Mutations::new()
            };
            Ok((mutations, existed))
        })?;
        Ok(existed)
    }

    pub fn state_list(&self, prefix: Option<&str>) -> Result<Vec<Name>> {
        Ok(self.list(MapKind::Cell, prefix, None, usize::MAX)?.keys)
    }

    // ----- events -------------------------------------------------------------------

    /// Appends an event; returns its sequence number (0-based, dense per branch and space).
    pub fn event_append(&self, event_type: &str, payload: impl IntoPacked) -> Result<u64> {
        check_key("event type", event_type)?;
        let payload = payload.into_packed("payload")?;
        let (_, sequence) = self.write(|target| {
            let sequence = target.space().map_or(0, |s| s.events.entries.len() as u64);
            Ok((
                smallvec![Mutation::EventAppend { space: target.space.clone(), event_type: Name::from(event_type), payload }],
                sequence,
            ))
        })?;
        Ok(sequence)
    }

    pub fn event_get(&self, sequence: u64) -> Result<Option<Arc<Event>>> {
        let view = self.view()?;
        self.track(|space| RecordKey::Events(space.clone()));
        let Some(space) = view.space()? else { return Ok(None) };
        Ok(usize::try_from(sequence).ok().and_then(|index| space.events.entries.get(index)).cloned())
    }

    /// Events of one type, in sequence order.
    pub fn event_list(&self, event_type: &str) -> Result<Vec<Arc<Event>>> {
        self.event_list_paginated(event_type, None, None)
    }

    pub fn event_len(&self) -> Result<u64> {
        let view = self.view()?;
        self.track(|space| RecordKey::Events(space.clone()));
        Ok(view.space()?.map_or(0, |s| s.events.entries.len() as u64))
    }

    /// Events of one type with sequence greater than `after`, at most `limit` of them.
    pub fn event_list_paginated(&self, event_type: &str, limit: Option<usize>, after: Option<u64>) -> Result<Vec<Arc<Event>>> {
        check_key("event type", event_type)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Events(space.clone()));
        let Some(space) = view.space()? else { return Ok(Vec::new()) };
        let Some(sequences) = space.events.by_type.get(event_type) else { return Ok(Vec::new()) };
        let start = match after {
            None => 0,
            // Sequences in the index are increasing: binary search for the first > after.
            Some(after) => partition_point(sequences, |s| s <= after),
        };
        let limit = limit.unwrap_or(usize::MAX);
        Ok(sequences
            .iter()
            .skip(start)
            .take(limit)
            .filter_map(|&s| usize::try_from(s).ok().and_then(|i| space.events.entries.get(i)).cloned())
            .collect())
    }

    // ----- JSON documents --------------------------------------------------------------

    pub fn json_set(&self, key: &str, path: &str, value: Value) -> Result<u64> {
        check_key("document key", key)?;
        let path = JsonPath::parse(path)?;
        value.check("value")?;
        self.write_one(|target| {
            let current = target.live(MapKind::Document, key).and_then(|c| c.live()).map(Packed::to_value);
            let document = Packed::checked(&json_path::set(current, &path, value)?, "document")?;
            Ok(smallvec![Mutation::DocumentPut { space: target.space.clone(), key: Name::from(key), document }])
        })
    }

    /// The value at `path` in the document, or `None` if the document or path is missing.
    pub fn json_get(&self, key: &str, path: &str) -> Result<Option<Packed>> {
        check_key("document key", key)?;
        let path = JsonPath::parse(path)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Document(space.clone(), Name::from(key)));
        let document = view.space()?.and_then(|s| s.documents.get(key)).and_then(|c| c.live());
        Ok(document.and_then(|d| json_path::get_packed(d, &path)))
    }

    /// Deletes the document (`$`) or the member/element at `path`. Returns the version
    /// of the change, or 0 when nothing was removed (a missing document or path), so the
    /// result is truthy exactly when something was deleted.
    pub fn json_delete(&self, key: &str, path: &str) -> Result<u64> {
        check_key("document key", key)?;
        let path = JsonPath::parse(path)?;
        let (version, ()) = self.write(|target| {
            let chain = target.live(MapKind::Document, key);
            let Some(chain) = chain else { return Ok((Mutations::new(), ())) };
            let space = target.space.clone();
            if path.is_root() {
                return Ok((smallvec![Mutation::DocumentDelete { space, key: Name::from(key) }], ()));
            }
            let mut document = chain.live().map(Packed::to_value).unwrap_or_default();
            if !json_path::delete(&mut document, &path)? {
                return Ok((Mutations::new(), ()));
            }
            let document = Packed::from_value(&document);
            Ok((smallvec![Mutation::DocumentPut { space, key: Name::from(key), document }], ()))
        })?;
        Ok(version.unwrap_or(0))
    }

    pub fn json_history(&self, key: &str) -> Result<Option<Vec<Versioned<Packed>>>> {
        check_key("document key", key)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Document(space.clone(), Name::from(key)));
        Ok(history(view.space()?.and_then(|s| s.documents.get(key))))
    }

    pub fn json_get_versioned(&self, key: &str) -> Result<Option<Versioned<Packed>>> {
        check_key("document key", key)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Document(space.clone(), Name::from(key)));
        Ok(live_head(view.space()?.and_then(|s| s.documents.get(key))))
    }

    pub fn json_list(&self, limit: usize, prefix: Option<&str>, cursor: Option<&str>) -> Result<Page> {
        self.list(MapKind::Document, prefix, cursor, limit)
    }

    // ----- vectors ----------------------------------------------------------------------

    pub fn vector_create_collection(&self, name: &str, dimension: usize, metric: &str) -> Result<u64> {
        check_name("collection", name)?;
        let metric = Metric::parse(metric)?;
        if dimension == 0 || dimension > VECTOR_DIMENSION_MAX {
            return Err(Error::validation(format!(
                "dimension {dimension} is out of range; it must be between 1 and {VECTOR_DIMENSION_MAX}"
            )));
        }
        self.write_one(|target| {
            if target.collection(name).is_ok() {
                return Err(Error::conflict(format!("collection '{name}' already exists in space '{}'", target.space)));
            }
            Ok(smallvec![Mutation::CollectionCreate {
                space: target.space.clone(),
                collection: Name::from(name),
                dimension: dimension as u32,
                metric,
            }])
        })
    }

    pub fn vector_delete_collection(&self, name: &str) -> Result<bool> {
        check_name("collection", name)?;
        let (_, existed) = self.write(|target| {
            if target.collection(name).is_err() {
                return Ok((Mutations::new(), false));
            }
            Ok((smallvec![Mutation::CollectionDelete { space: target.space.clone(), collection: Name::from(name) }], true))
        })?;
        Ok(existed)
    }

    pub fn vector_list_collections(&self) -> Result<Vec<CollectionStats>> {
        let view = self.view()?;
        self.track(|space| RecordKey::SpaceContents(space.clone()));
        let Some(space) = view.space()? else { return Ok(Vec::new()) };
        Ok(space.collections.iter().map(|(name, c)| collection_stats(name, c)).collect())
    }

    pub fn vector_collection_stats(&self, name: &str) -> Result<CollectionStats> {
        check_name("collection", name)?;
        let view = self.view()?;
        self.track(|space| RecordKey::CollectionContents(space.clone(), Name::from(name)));
        Ok(collection_stats(name, view.collection(name)?))
    }

    pub fn vector_upsert(&self, collection: &str, key: &str, embedding: Vec<f32>, metadata: Option<Value>) -> Result<u64> {
        check_name("collection", collection)?;
        check_key("vector key", key)?;
        if let Some(metadata) = &metadata {
            metadata.check("metadata")?;
        }
        self.write_one(|target| {
            let existing = target.collection(collection)?;
            check_embedding(collection, existing.dimension, &embedding)?;
            Ok(smallvec![Mutation::VectorPut {
                space: target.space.clone(),
                collection: Name::from(collection),
                key: Name::from(key),
                embedding,
                metadata: metadata.map(Box::new),
            }])
        })
    }

    /// Upserts many vectors in one commit. Returns the version once per item.
    pub fn vector_batch_upsert(&self, collection: &str, items: Vec<(String, Vec<f32>, Option<Value>)>) -> Result<Vec<u64>> {
        check_name("collection", collection)?;
        if items.len() > VECTOR_BATCH_MAX {
            return Err(Error::validation(format!(
                "a batch of {} vectors is larger than the limit of {VECTOR_BATCH_MAX}",
                items.len()
            )));
        }
        for (index, (key, _, metadata)) in items.iter().enumerate() {
            check_key(&format!("vector key at index {index}"), key)?;
            if let Some(metadata) = metadata {
                metadata.check(&format!("metadata at index {index}"))?;
            }
        }
        let count = items.len();
        if count == 0 {
            // Still validate the collection exists, so a typo is reported.
            let view = self.view()?;
            view.collection(collection)?;
            return Ok(Vec::new());
        }
        let version = self.write_one(|target| {
            let existing = target.collection(collection)?;
            let mut mutations = Mutations::with_capacity(items.len());
            for (key, embedding, metadata) in items {
                check_embedding(collection, existing.dimension, &embedding)?;
                mutations.push(Mutation::VectorPut {
                    space: target.space.clone(),
                    collection: Name::from(collection),
                    key: Name::from(key),
                    embedding,
                    metadata: metadata.map(Box::new),
                });
            }
            Ok(mutations)
        })?;
        Ok(vec![version; count])
    }

    pub fn vector_get(&self, collection: &str, key: &str) -> Result<Option<VectorRecord>> {
        check_name("collection", collection)?;
        check_key("vector key", key)?;
        let view = self.view()?;
        self.track(|space| RecordKey::Collection(space.clone(), Name::from(collection)));
        self.track(|space| RecordKey::Vector(space.clone(), Name::from(collection), Name::from(key)));
        let target = view.collection(collection)?;
        let Some(chain) = target.records.get(key) else { return Ok(None) };
        let head = chain.head();
        Ok(head.value().map(|value: &VectorValue| VectorRecord {
            key: key.to_owned(),
            embedding: Arc::clone(&value.embedding),
            metadata: value.metadata.clone(),
            version: head.version(),
            timestamp: head.timestamp(),
        }))
    }

    pub fn vector_delete(&self, collection: &str, key: &str) -> Result<bool> {
        check_name("collection", collection)?;
        check_key("vector key", key)?;
        let (_, existed) = self.write(|target| {
            let existing = target.collection(collection)?;
            target.read(RecordKey::Vector(target.space.clone(), Name::from(collection), Name::from(key)));
            if existing.records.get(key).is_none_or(|c| c.live().is_none()) {
                return Ok((Mutations::new(), false));
            }
            Ok((
                smallvec![Mutation::VectorDelete {
                    space: target.space.clone(),
                    collection: Name::from(collection),
                    key: Name::from(key),
                }],
                true,
            ))
        })?;
        Ok(existed)
    }

    pub fn vector_search(&self, collection: &str, query: &[f32], k: usize) -> Result<Vec<SearchHit>> {
        self.vector_search_filtered(collection, query, k, None, None)
    }

    /// Exact top-`k` search, best first. `metric` overrides the collection's metric for
    /// this query; `filter` conditions on metadata must all hold.
    pub fn vector_search_filtered(
        &self,
        collection: &str,
        query: &[f32],
        k: usize,
        metric: Option<&str>,
        filter: Option<&Filter>,
    ) -> Result<Vec<SearchHit>> {
        let metric = check_search(collection, k, metric)?;
        let view = self.view()?;
        self.track(|space| RecordKey::CollectionContents(space.clone(), Name::from(collection)));
        let target = view.collection(collection)?;
        check_embedding(collection, target.dimension, query)?;
        match metric {
            Some(metric) if metric != target.metric => {
                Ok(target.index.search_with_metric(query, k, filter, metric))
            }
            _ => Ok(target.index.search(query, k, filter)),
        }
    }

    // ----- branches ------------------------------------------------------------------------

    pub fn current_branch(&self) -> Result<String> {
        self.check_open()?;
        Ok(self.context.lock().branch.to_string())
    }

    /// Switches branch; the current space resets to `"default"`.
    pub fn set_branch(&self, name: &str) -> Result<()> {
        check_name("branch", name)?;
        self.check_open()?;
        let mut context = self.context.lock();
        if context.transaction.is_some() {
            return Err(Error::state("cannot switch branch inside a transaction; commit or roll back first"));
        }
        if self.engine.snapshot().branch(name).is_none() {
            return Err(Error::not_found(format!("branch '{name}' does not exist")));
        }
        context.branch = Name::from(name);
        context.space = Name::from(DEFAULT);
        Ok(())
    }

    pub fn create_branch(&self, name: &str) -> Result<u64> {
        check_name("branch", name)?;
        let (version, ()) = self.branch_operation(|state| {
            if state.branch(name).is_some() {
                return Err(Error::conflict(format!("branch '{name}' already exists")));
            }
            Ok((Some(CommitBody::BranchCreate { branch: Name::from(name) }), ()))
        })?;
        version.ok_or_else(|| Error::state("internal error: create_branch produced no commit"))
    }

    /// Forks the current branch (all spaces, primitives and history) as `destination`.
    pub fn fork_branch(&self, destination: &str) -> Result<ForkReport> {
        self.fork_branch_at(destination, None)
    }

    /// Forks the current branch as it is, or with `at` as it was at that past point
    /// (later changes left out), as `destination`.
    pub fn fork_branch_at(&self, destination: &str, at: Option<AsOf>) -> Result<ForkReport> {
        check_name("branch", destination)?;
        let (source, _) = self.current_names();
        let (_, keys_copied) = self.branch_operation(|state| {
            let source_state = state
                .branch(&source)
                .ok_or_else(|| Error::not_found(format!("the current branch '{source}' no longer exists")))?;
            if state.branch(destination).is_some() {
                return Err(Error::conflict(format!("branch '{destination}' already exists")));
            }
            let (body, keys) = match at {
                None => (
                    CommitBody::BranchFork { source: source.clone(), destination: Name::from(destination) },
                    source_state.live_record_count(),
                ),
                Some(at) => {
                    time_travel::check_point(state, at)?;
                    let (past, _) = time_travel::branch_as_of(source_state, at);
                    (
                        CommitBody::BranchForkAt { source: source.clone(), destination: Name::from(destination), at },
                        past.live_record_count(),
                    )
                }
            };
            Ok((Some(body), keys as u64))
        })?;
        Ok(ForkReport { source: source.to_string(), destination: destination.to_owned(), keys_copied })
    }

    pub fn list_branches(&self) -> Result<Vec<String>> {
        self.check_open()?;
        Ok(self.engine.snapshot().branches.keys().map(|k| k.to_string()).collect())
    }

    /// Deletes a branch. Not `"default"`, not the handle's current branch.
    pub fn delete_branch(&self, name: &str) -> Result<()> {
        check_name("branch", name)?;
        if name == DEFAULT {
            return Err(Error::constraint("the 'default' branch cannot be deleted"));
        }
        if self.current_names().0.as_str() == name {
            return Err(Error::constraint(format!(
                "branch '{name}' is the current branch; switch to another branch before deleting it"
            )));
        }
        self.branch_operation(|state| {
            if state.branch(name).is_none() {
                return Err(Error::not_found(format!("branch '{name}' does not exist")));
            }
            Ok((Some(CommitBody::BranchDelete { branch: Name::from(name) }), ()))
        })?;
        Ok(())
    }

    pub fn branch_exists(&self, name: &str) -> Result<bool> {
        check_name("branch", name)?;
        self.check_open()?;
        Ok(self.engine.snapshot().branch(name).is_some())
    }

    pub fn branch_get(&self, name: &str) -> Result<Option<BranchDescription>> {
        check_name("branch", name)?;
        self.check_open()?;
        let state = self.engine.snapshot();
        Ok(state.branch(name).map(|branch| BranchDescription {
            name: name.to_owned(),
            created_at: branch.info.created_at,
            created_version: branch.info.created_version,
            updated_at: branch.info.updated_at,
            updated_version: branch.info.updated_version,
            parent: branch.info.parent.as_ref().map(|(parent, _)| parent.to_string()),
        }))
    }

    /// Per-key differences from branch `a` to branch `b` (added = only in `b`).
    pub fn diff_branches(&self, a: &str, b: &str) -> Result<DiffReport> {
        check_name("branch", a)?;
        check_name("branch", b)?;
        self.check_open()?;
        let state = self.engine.snapshot();
        let branch_a = state.branch(a).ok_or_else(|| Error::not_found(format!("branch '{a}' does not exist")))?;
        let branch_b = state.branch(b).ok_or_else(|| Error::not_found(format!("branch '{b}' does not exist")))?;
        Ok(branch_ops::diff(a, branch_a, b, branch_b))
    }

    /// Three-way merge of `source` into the current branch, as one commit.
    pub fn merge_branches(&self, source: &str, strategy: &str) -> Result<MergeReport> {
        check_name("branch", source)?;
        let strategy = MergeStrategy::parse(strategy)?;
        let (target, _) = self.current_names();
        if target.as_str() == source {
            return Err(Error::constraint(format!("cannot merge branch '{source}' into itself")));
        }
        let (_, report) = self.branch_operation(|state| {
            let source_state =
                state.branch(source).ok_or_else(|| Error::not_found(format!("branch '{source}' does not exist")))?;
            let target_state = state
                .branch(&target)
                .ok_or_else(|| Error::not_found(format!("the current branch '{target}' no longer exists")))?;
            let plan = branch_ops::plan_merge(source, source_state, &target, target_state, strategy)?;
            let body = (!plan.mutations.is_empty() || plan.base_moves).then(|| CommitBody::Merge {
                source: Name::from(source),
                target: target.clone(),
                mutations: plan.mutations.into(),
            });
            Ok((body, plan.report))
        })?;
        Ok(report)
    }

    // ----- spaces --------------------------------------------------------------------------

    pub fn current_space(&self) -> Result<String> {
        self.check_open()?;
        Ok(self.context.lock().space.to_string())
    }

    /// Switches space, creating it on first use (inside a transaction, as part of it).
    pub fn set_space(&self, name: &str) -> Result<()> {
        check_name("space", name)?;
        self.space_create(name)?;
        self.context.lock().space = Name::from(name);
        Ok(())
    }

    pub fn list_spaces(&self) -> Result<Vec<String>> {
        let view = self.view()?;
        self.track(|_| RecordKey::SpaceSet);
        Ok(view.branch()?.spaces.keys().map(|k| k.to_string()).collect())
    }

    /// Creates a space if it does not exist (no commit if it does; on a read-only
    /// database, creating one raises `AccessDenied`).
    pub fn space_create(&self, name: &str) -> Result<()> {
        check_name("space", name)?;
        let view = self.view()?;
        if view.branch()?.space(name).is_some() {
            self.track(|_| RecordKey::Space(Name::from(name)));
            return Ok(());
        }
        self.write(|target| {
            let exists = target.named_space(name).is_some();
            let mutations = if exists { Mutations::new() } else { smallvec![Mutation::SpaceCreate { space: Name::from(name) }] };
            Ok((mutations, ()))
        })?;
        Ok(())
    }

    pub fn space_exists(&self, name: &str) -> Result<bool> {
        check_name("space", name)?;
        let view = self.view()?;
        self.track(|_| RecordKey::Space(Name::from(name)));
        Ok(view.branch()?.space(name).is_some())
    }

    /// Deletes an empty space. A space with data raises `Constraint`; use `delete_space_force`.
    pub fn delete_space(&self, name: &str) -> Result<()> {
        self.delete_space_inner(name, false)
    }

    /// Deletes a space and everything in it.
    pub fn delete_space_force(&self, name: &str) -> Result<()> {
        self.delete_space_inner(name, true)
    }

    fn delete_space_inner(&self, name: &str, force: bool) -> Result<()> {
        check_name("space", name)?;
        if name == DEFAULT {
            return Err(Error::constraint("the 'default' space cannot be deleted"));
        }
        self.write(|target| {
            // Deleting a space that does not exist is a no-op, as in the published package.
            target.read(RecordKey::SpaceContents(Name::from(name)));
            let Some(space) = target.named_space(name) else { return Ok((Mutations::new(), ())) };
            if !force && !space.is_empty() {
                return Err(Error::constraint(format!(
                    "space '{name}' is not empty ({} records); use delete_space_force to delete it with its data",
                    space.live_record_count()
                )));
            }
            Ok((smallvec![Mutation::SpaceDelete { space: Name::from(name) }], ()))
        })?;
        let mut context = self.context.lock();
        if context.space.as_str() == name {
            context.space = Name::from(DEFAULT);
        }
        Ok(())
    }

    // ----- transactions ------------------------------------------------------------------

    pub fn begin(&self, read_only: bool) -> Result<()> {
        self.check_open()?;
        let mut context = self.context.lock();
        if context.transaction.is_some() {
            return Err(Error::state("a transaction is already active on this handle"));
        }
        let base = self.engine.snapshot();
        if base.branch(&context.branch).is_none() {
            return Err(Error::not_found(format!("the current branch '{}' no longer exists", context.branch)));
        }
        context.transaction = Some(Transaction {
            id: TRANSACTION_IDS.fetch_add(1, Ordering::Relaxed),
            started_at: now_micros(),
            read_only,
            branch: context.branch.clone(),
            state: Arc::clone(&base),
            base,
            mutations: Vec::new(),
            touched: HashSet::new(),
        });
        Ok(())
    }

    /// Commits the open transaction as one version. Raises `Conflict`, applying
    /// nothing, if anything it read or wrote changed since `begin`. A transaction with
    /// no writes commits nothing and returns the version it read at.
    pub fn commit(&self) -> Result<u64> {
        self.check_open()?;
        let transaction = self
            .context
            .lock()
            .transaction
            .take()
            .ok_or_else(|| Error::state("no transaction is active; call begin() first"))?;
        if transaction.mutations.is_empty() {
            // Nothing to write, but the reads must still have been current.
            let latest = self.engine.snapshot();
            check_conflicts(&transaction, &latest)?;
            return Ok(transaction.base.last_version);
        }
        let committed = self.engine.commit(|latest| {
            check_conflicts(&transaction, latest)?;
            let branch = transaction.branch.to_string();
            Ok((Some(CommitBody::Write { branch: branch.into(), mutations: transaction.mutations.clone().into() }), ()))
        })?;
        committed.version.ok_or_else(|| Error::state("internal error: a transaction commit produced no version"))
    }

    /// Discards the open transaction's writes.
    pub fn rollback(&self) -> Result<()> {
        self.check_open()?;
        if self.context.lock().transaction.take().is_none() {
            return Err(Error::state("no transaction is active; call begin() first"));
        }
        Ok(())
    }

    pub fn txn_is_active(&self) -> Result<bool> {
        self.check_open()?;
        Ok(self.context.lock().transaction.is_some())
    }

    pub fn txn_info(&self) -> Result<Option<TransactionInfo>> {
        self.check_open()?;
        Ok(self.context.lock().transaction.as_ref().map(|t| TransactionInfo {
            id: t.id,
            started_at: t.started_at,
            read_only: t.read_only,
        }))
    }

    // ----- database ------------------------------------------------------------------------

    pub fn ping(&self) -> Result<&'static str> {
        self.check_open()?;
        Ok(PACKAGE_VERSION)
    }

    pub fn info(&self) -> Result<DatabaseInfo> {
        self.check_open()?;
        let state = self.engine.snapshot();
        let durable = self.engine.durable_parts();
        Ok(DatabaseInfo {
            version: PACKAGE_VERSION,
            uptime_secs: self.engine.uptime_secs(),
            branch_count: state.branches.len(),
            total_keys: state.branches.values().map(BranchState::live_record_count).sum(),
            path: durable.map(|d| d.directory().display().to_string()),
            durability: self.engine.durability().as_str(),
            last_version: state.last_version,
            read_only: self.read_only || self.engine.read_only(),
            log_bytes: durable.map_or(0, Durable::log_bytes),
            log_fsyncs: durable.map_or(0, Durable::log_fsyncs),
            recovery: durable.map(|d| d.recovery_report().clone()),
            poisoned: durable.and_then(Durable::poisoned),
            compaction_error: durable.and_then(Durable::compaction_error),
        })
    }

    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.engine.flush()
    }

    /// Writes a snapshot and drops the log it covers (durable databases; a no-op in
    /// memory).
    pub fn compact(&self) -> Result<()> {
        self.check_writable()?;
        self.engine.compact()
    }

    /// Removes history outside the retention policy (see [`crate::retention`]). With
    /// the default policy (keep all history) this changes nothing.
    pub fn retention_apply(&self) -> Result<()> {
        self.check_writable()?;
        self.engine.apply_retention()
    }

    // ----- time travel --------------------------------------------------------------------

    /// A read-only view of the current branch and space as of `at` (inside a
    /// transaction: of the transaction's state).
    pub fn at(&self, at: AsOf) -> Result<PastView> {
        let view = self.view()?;
        PastView::new(view.state, view.branch, view.space, at)
    }

    // ----- bundles ------------------------------------------------------------------------

    /// Writes `branch` (every space, primitive and version) to the bundle file `path`.
    pub fn branch_export(&self, branch: &str, path: &Path) -> Result<ExportReport> {
        check_name("branch", branch)?;
        self.check_open()?;
        let state = self.engine.snapshot();
        bundle::export(&FsStorage, &state, branch, path, PACKAGE_VERSION, now_micros())
    }

    /// Imports the branch a bundle holds, as one commit, under its own name or under
    /// `rename`. A branch of that name must not exist.
    pub fn branch_import(&self, path: &Path, rename: Option<&str>) -> Result<ImportReport> {
        if let Some(rename) = rename {
            check_name("branch", rename)?;
        }
        self.check_writable()?;
        if self.context.lock().transaction.is_some() {
            return Err(Error::state("branch operations are not allowed inside a transaction; commit or roll back first"));
        }
        let bytes = bundle::read(&FsStorage, path)?;
        let source = path.display().to_string();
        let name = match rename {
            Some(rename) => rename.to_owned(),
            None => bundle::branch_name(&bytes, &source)?,
        };
        if self.engine.snapshot().branch(&name).is_some() {
            return Err(Error::conflict(format!("branch '{name}' already exists; delete it or rename it before importing")));
        }
        // Check everything before anything is logged: the log must only hold commits
        // that apply.
        let built = bundle::build_branch(&bytes, u64::MAX, 0)
            .map_err(|e| Error::validation(format!("{source}: {}", e.message())))?;
        let keys_written = built.live_record_count() as u64;
        let prebuilt = Prebuilt(Some(Arc::new(built)));
        let (version, ()) = self.branch_operation(|state| {
            if state.branch(&name).is_some() {
                return Err(Error::conflict(format!("branch '{name}' already exists; delete it or rename it before importing")));
            }
            Ok((Some(CommitBody::BranchImport { branch: Name::from(name.as_str()), bundle: bytes, prebuilt }), ()))
        })?;
        version.ok_or_else(|| Error::state("internal error: branch_import produced no commit"))?;
        Ok(ImportReport { branch: name, transactions_applied: 1, keys_written })
    }

    /// Checks a bundle's checksums and content without importing it.
    pub fn branch_validate_bundle(&self, path: &Path) -> Result<ValidateReport> {
        self.check_open()?;
        bundle::validate(&FsStorage, path)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A handle dropped without close() still releases its engine (flushing it).
        let _ = self.close();
    }
}

/// Fails with a conflict if anything the transaction read or wrote has a different
/// newest version in `latest` than in the transaction's snapshot.
fn check_conflicts(transaction: &Transaction, latest: &DbState) -> Result<()> {
    let branch = &transaction.branch;
    let now = latest
        .branch(branch)
        .ok_or_else(|| Error::conflict(format!("branch '{branch}' was deleted since the transaction began")))?;
    let then = transaction
        .base
        .branch(branch)
        .ok_or_else(|| Error::state(format!("branch '{branch}' missing from the transaction's snapshot")))?;
    let mut changed: Vec<String> =
        transaction.touched.iter().filter(|key| key.version_in(now) != key.version_in(then)).map(RecordKey::describe).collect();
    if changed.is_empty() {
        return Ok(());
    }
    changed.sort();
    Err(Error::conflict(format!("transaction conflict: changed by another commit since begin: {}", changed.join(", "))))
}

fn live_head(chain: Option<&Chain<Packed>>) -> Option<Versioned<Packed>> {
    chain.map(Chain::head).filter(|head| !head.is_tombstone()).cloned()
}

fn history(chain: Option<&Chain<Packed>>) -> Option<Vec<Versioned<Packed>>> {
    chain.map(|c| c.iter().cloned().collect())
}

fn collection_stats(name: &str, collection: &Collection) -> CollectionStats {
    CollectionStats {
        name: name.to_owned(),
        dimension: collection.dimension,
        metric: collection.metric,
        count: collection.index.len(),
        memory_bytes: collection.index.memory_bytes(),
    }
}

/// First index in a sorted `imbl::Vector` whose element fails `before`.
fn partition_point(items: &imbl::Vector<u64>, before: impl Fn(u64) -> bool) -> usize {
    let (mut low, mut high) = (0usize, items.len());
    while low < high {
        let middle = low + (high - low) / 2;
        match items.get(middle) {
            Some(&item) if before(item) => low = middle + 1,
            _ => high = middle,
        }
    }
    low
}

/// Live keys in order, starting with `prefix` and after `cursor`, at most `limit`.
/// With `at`, the keys live as of that point.
pub(crate) fn list_live<T>(
    map: &imbl::OrdMap<Name, Chain<T>>,
    prefix: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
    at: Option<AsOf>,
) -> Page {
    use std::ops::Bound;
    let prefix = prefix.unwrap_or("");
    let start: Bound<&str> = match cursor {
        Some(cursor) if cursor >= prefix => Bound::Excluded(cursor),
        _ => Bound::Included(prefix),
    };
    let mut keys = Vec::new();
    let mut more = false;
    for (key, chain) in map.range::<_, str>((start, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            break;
        }
        let live = match at {
            None => chain.live().is_some(),
            Some(at) => chain.visible(at).is_some_and(|node| !node.is_tombstone()),
        };
        if !live {
            continue;
        }
        if keys.len() == limit {
            more = true;
            break;
        }
        keys.push(key.clone());
    }
    let cursor = if more { keys.last().map(|k| k.to_string()) } else { None };
    Page { keys, cursor }
}
