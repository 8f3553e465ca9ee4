//! A simulated disk behind the engine's [`Storage`] seam, for power-loss and fault
//! injection runs entirely in memory.
//!
//! The disk keeps, for every file (an inode), what is **durable** apart from what was
//! only **written**: the bytes a read returns (the page cache), the bytes on stable
//! storage, and the writes in between, in order. Every directory likewise keeps its
//! durable entries apart from the creations, renames and removals made since its last
//! fsync. A simulated crash ([`DiskState::crash_image`]) builds what a reboot could find
//! under the fault model of wal-format/FORMAT.md: unsynced writes dropped, a random
//! subset kept, the last kept one torn at any byte, unsynced sectors zeroed or filled
//! with garbage, the file length moved anywhere the unsynced writes could leave it, and
//! unsynced directory operations undone (any subset, applied in order). Synced data and
//! synced directory entries always survive.
//!
//! Invariants: every mutation of the state goes through one storage call, numbered in
//! call order; `generation` changes with every mutation, so two crash points with the
//! same generation have the same disk. A failed `sync_data` leaves the fate of the data
//! it should have made durable undecided forever ("fsyncgate": a later successful fsync
//! does not vouch for it), as a real kernel that dropped the dirty pages would.
//!
//! Faults: a [`FaultPlan`] makes storage call N (once, or from then on) fail with EIO
//! or ENOSPC; an ENOSPC append first writes a prefix of its bytes (a short write).

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use stratadb::storage::{DirectoryLock, Storage, StorageFile};

use crate::rng::Rng;

/// Bytes per sector: the granularity at which a crash keeps or loses unsynced data.
pub const SECTOR: usize = 512;

/// Whether crash images may show garbage (stale blocks) where unsynced data was to go.
/// Off by default: FORMAT.md's fault model says unsynced data is lost, torn or
/// zero-filled. With it on, a crash during a segment's creation can leave a last
/// segment whose header is garbage, which recovery refuses as damage (safe, but the
/// database does not open); see docs/testing.md.
static GARBAGE: AtomicBool = AtomicBool::new(false);

pub fn set_garbage(on: bool) {
    GARBAGE.store(on, Ordering::Relaxed);
}

fn garbage_allowed() -> bool {
    GARBAGE.load(Ordering::Relaxed)
}

/// One pending write of a file, as it will reach stable storage.
#[derive(Clone, Debug)]
enum Write {
    At { offset: usize, data: Arc<[u8]> },
    SetLen(usize),
}

/// A file's contents.
#[derive(Clone, Debug, Default)]
struct Inode {
    /// What reads return.
    cache: Arc<Vec<u8>>,
    /// What is on stable storage.
    durable: Arc<Vec<u8>>,
    /// Writes since the last successful fsync, oldest first.
    pending: Vec<Write>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    File(usize),
    Dir(usize),
}

#[derive(Clone, Debug)]
enum DirOp {
    Link(String, Node),
    Unlink(String),
    Rename(String, String),
}

#[derive(Clone, Debug, Default)]
struct Dir {
    entries: BTreeMap<String, Node>,
    durable: BTreeMap<String, Node>,
    pending: Vec<DirOp>,
}

/// The whole disk: directories (the root is index 0) and files.
#[derive(Clone, Debug)]
pub struct DiskState {
    dirs: Vec<Dir>,
    files: Vec<Inode>,
}

impl Default for DiskState {
    fn default() -> Self {
        DiskState { dirs: vec![Dir::default()], files: Vec::new() }
    }
}

/// How a crash image treats what was not made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Everything unsynced is lost (the strictest power loss).
    DropUnsynced,
    /// Everything written survives (a process crash: the OS had it all).
    KeepWritten,
    /// A random mix, per file and per directory, from the given seed.
    Random(u64),
}

fn apply_write(bytes: &mut Vec<u8>, write: &Write) {
    match write {
        Write::At { offset, data } => {
            let end = offset + data.len();
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[*offset..end].copy_from_slice(data);
        }
        Write::SetLen(length) => bytes.resize(*length, 0),
    }
}

fn apply_dir_op(entries: &mut BTreeMap<String, Node>, op: &DirOp) {
    match op {
        DirOp::Link(name, node) => {
            entries.insert(name.clone(), *node);
        }
        DirOp::Unlink(name) => {
            entries.remove(name);
        }
        DirOp::Rename(from, to) => {
            // A rename whose source the image does not hold (its creation was lost)
            // does nothing.
            if let Some(node) = entries.remove(from) {
                entries.insert(to.clone(), node);
            }
        }
    }
}

impl Inode {
    fn all_pending_applied(&self) -> Vec<u8> {
        let mut bytes = (*self.durable).clone();
        for write in &self.pending {
            apply_write(&mut bytes, write);
        }
        bytes
    }

    /// What a crash leaves of this file.
    fn crash_content(&self, policy: CrashPolicy, rng: &mut Rng) -> Vec<u8> {
        if self.pending.is_empty() {
            return (*self.durable).clone();
        }
        match policy {
            CrashPolicy::DropUnsynced => (*self.durable).clone(),
            CrashPolicy::KeepWritten => self.all_pending_applied(),
            CrashPolicy::Random(_) => self.random_content(rng),
        }
    }

    fn random_content(&self, rng: &mut Rng) -> Vec<u8> {
        let full = self.all_pending_applied();
        let mut bytes = match rng.below(6) {
            0 => (*self.durable).clone(),
            1 => full.clone(),
            2 | 3 => {
                // A prefix of the writes, then the next one torn at any byte.
                let keep = rng.below(self.pending.len() as u64 + 1) as usize;
                let mut bytes = (*self.durable).clone();
                for write in &self.pending[..keep] {
                    apply_write(&mut bytes, write);
                }
                if let Some(Write::At { offset, data }) = self.pending.get(keep) {
                    let torn = rng.below(data.len() as u64 + 1) as usize;
                    apply_write(&mut bytes, &Write::At { offset: *offset, data: Arc::from(&data[..torn]) });
                }
                bytes
            }
            4 => {
                // Any subset of the writes, applied in order.
                let mut bytes = (*self.durable).clone();
                for write in &self.pending {
                    if rng.below(2) == 0 {
                        apply_write(&mut bytes, write);
                    }
                }
                bytes
            }
            _ => self.sector_mix(&full, rng),
        };
        // The length reached the disk but the data did not: the rest of what the
        // writes covered reads as zeros or as garbage.
        if bytes.len() < full.len() && rng.below(4) == 0 {
            let target = bytes.len() + 1 + rng.below((full.len() - bytes.len()) as u64) as usize;
            let garbage = garbage_allowed() && rng.below(2) == 0;
            while bytes.len() < target {
                bytes.push(if garbage { rng.next_u64() as u8 } else { 0 });
            }
        }
        bytes
    }

    /// Every sector the unsynced writes touched is, independently, the new data or the
    /// old data (a sector write is atomic, so durable bytes sharing a sector with new
    /// ones are never lost); a sector wholly past the old end may also read as zeros or
    /// garbage (the length reached the disk, the data did not). The length is anywhere
    /// between the old and the new one.
    fn sector_mix(&self, full: &[u8], rng: &mut Rng) -> Vec<u8> {
        let old = &*self.durable;
        let low = old.len().min(full.len());
        let length = low + rng.below((full.len().max(old.len()) - low) as u64 + 1) as usize;
        let mut bytes = vec![0u8; length];
        for sector_start in (0..length).step_by(SECTOR) {
            let end = (sector_start + SECTOR).min(length);
            let changed = (sector_start..end).any(|i| old.get(i) != full.get(i));
            let fresh = sector_start >= old.len();
            let choice = match (changed, fresh) {
                (false, _) => 0,
                (true, false) => rng.below(2),
                (true, true) if garbage_allowed() => rng.below(4),
                (true, true) => rng.below(3),
            };
            for (i, byte) in bytes[sector_start..end].iter_mut().enumerate() {
                let at = sector_start + i;
                *byte = match choice {
                    0 => full.get(at).copied().unwrap_or(0),
                    1 => old.get(at).copied().unwrap_or(0),
                    2 => 0,
                    _ => rng.next_u64() as u8,
                };
            }
        }
        bytes
    }
}

impl DiskState {
    /// Resolves a path relative to the disk's root.
    fn resolve(&self, relative: &[String]) -> Option<Node> {
        let mut node = Node::Dir(0);
        for name in relative {
            let Node::Dir(dir) = node else { return None };
            node = *self.dirs[dir].entries.get(name)?;
        }
        Some(node)
    }

    /// The post-crash disk: everything durable, nothing pending.
    pub fn crash_image(&self, policy: CrashPolicy) -> DiskState {
        let seed = match policy {
            CrashPolicy::Random(seed) => seed,
            _ => 0,
        };
        let mut rng = Rng::new(seed);
        let mut image = DiskState::default();
        let mut file_map: BTreeMap<usize, usize> = BTreeMap::new();
        self.image_dir(0, 0, policy, &mut rng, &mut image, &mut file_map);
        image
    }

    fn crash_entries(&self, dir: &Dir, policy: CrashPolicy, rng: &mut Rng) -> BTreeMap<String, Node> {
        if dir.pending.is_empty() {
            return dir.durable.clone();
        }
        match policy {
            CrashPolicy::DropUnsynced => dir.durable.clone(),
            CrashPolicy::KeepWritten => dir.entries.clone(),
            CrashPolicy::Random(_) => {
                let mut entries = dir.durable.clone();
                match rng.below(4) {
                    0 => {}
                    1 => entries = dir.entries.clone(),
                    2 => {
                        let keep = rng.below(dir.pending.len() as u64 + 1) as usize;
                        for op in &dir.pending[..keep] {
                            apply_dir_op(&mut entries, op);
                        }
                    }
                    _ => {
                        for op in &dir.pending {
                            if rng.below(2) == 0 {
                                apply_dir_op(&mut entries, op);
                            }
                        }
                    }
                }
                entries
            }
        }
    }

    fn image_dir(
        &self,
        from: usize,
        to: usize,
        policy: CrashPolicy,
        rng: &mut Rng,
        image: &mut DiskState,
        file_map: &mut BTreeMap<usize, usize>,
    ) {
        let entries = self.crash_entries(&self.dirs[from], policy, rng);
        for (name, node) in entries {
            let new_node = match node {
                Node::Dir(child) => {
                    let id = image.dirs.len();
                    image.dirs.push(Dir::default());
                    self.image_dir(child, id, policy, rng, image, file_map);
                    Node::Dir(id)
                }
                Node::File(file) => {
                    let id = match file_map.get(&file) {
                        Some(&id) => id,
                        None => {
                            let bytes = Arc::new(self.files[file].crash_content(policy, rng));
                            image.files.push(Inode { cache: Arc::clone(&bytes), durable: bytes, pending: Vec::new() });
                            file_map.insert(file, image.files.len() - 1);
                            image.files.len() - 1
                        }
                    };
                    Node::File(id)
                }
            };
            image.dirs[to].entries.insert(name.clone(), new_node);
            image.dirs[to].durable.insert(name, new_node);
        }
    }

    /// Every file by relative path (`wal/0001.log`), with what a read returns.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        self.walk(0, String::new(), &mut out);
        out
    }

    fn walk(&self, dir: usize, prefix: String, out: &mut BTreeMap<String, Vec<u8>>) {
        for (name, node) in &self.dirs[dir].entries {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            match node {
                Node::Dir(child) => self.walk(*child, path, out),
                Node::File(file) => {
                    out.insert(path, (*self.files[*file].cache).clone());
                }
            }
        }
    }

    /// A disk holding exactly `files` (relative paths, `/`-separated), all durable.
    pub fn from_files(files: &BTreeMap<String, Vec<u8>>) -> DiskState {
        let mut state = DiskState::default();
        for (path, bytes) in files {
            let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
            let Some((file_name, dirs)) = parts.split_last() else { continue };
            let mut dir = 0;
            let mut blocked = false;
            for name in dirs {
                dir = match state.dirs[dir].entries.get(*name) {
                    Some(Node::Dir(child)) => *child,
                    Some(Node::File(_)) => {
                        blocked = true;
                        break;
                    }
                    None => {
                        let id = state.dirs.len();
                        state.dirs.push(Dir::default());
                        state.dirs[dir].entries.insert((*name).to_owned(), Node::Dir(id));
                        state.dirs[dir].durable.insert((*name).to_owned(), Node::Dir(id));
                        id
                    }
                };
            }
            if blocked || state.dirs[dir].entries.contains_key(*file_name) {
                continue;
            }
            let bytes = Arc::new(bytes.clone());
            state.files.push(Inode { cache: Arc::clone(&bytes), durable: bytes, pending: Vec::new() });
            let node = Node::File(state.files.len() - 1);
            state.dirs[dir].entries.insert((*file_name).to_owned(), node);
            state.dirs[dir].durable.insert((*file_name).to_owned(), node);
        }
        state
    }

    /// Replaces the bytes of an existing file (durably), for corruption runs.
    pub fn set_file(&mut self, relative: &str, bytes: Vec<u8>) -> bool {
        let parts: Vec<String> = relative.split('/').map(str::to_owned).collect();
        let Some(Node::File(file)) = self.resolve(&parts) else { return false };
        let bytes = Arc::new(bytes);
        self.files[file] = Inode { cache: Arc::clone(&bytes), durable: bytes, pending: Vec::new() };
        true
    }

    /// The bytes of a file, if it exists.
    pub fn file(&self, relative: &str) -> Option<Vec<u8>> {
        let parts: Vec<String> = relative.split('/').map(str::to_owned).collect();
        match self.resolve(&parts) {
            Some(Node::File(file)) => Some((*self.files[file].cache).clone()),
            _ => None,
        }
    }

    /// The names in a directory, if it exists.
    pub fn names(&self, relative: &str) -> Vec<String> {
        let parts: Vec<String> = relative.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect();
        match self.resolve(&parts) {
            Some(Node::Dir(dir)) => self.dirs[dir].entries.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// Which storage calls fail, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// EIO (os error 5). An append writes nothing; a failed `sync_data` leaves the
    /// data's durability undecided forever.
    Eio,
    /// ENOSPC (os error 28). An append first writes a prefix of its bytes.
    Enospc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    /// The number of the first failing call (calls count from 0).
    pub call: u64,
    pub kind: FaultKind,
    /// Every call from `call` on fails, not only that one.
    pub sticky: bool,
}

/// The kind of a storage call, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallKind {
    Append,
    SyncData,
    SetLen,
    Create,
    OpenAppend,
    Rename,
    Remove,
    SyncDirectory,
    CreateDir,
    Read,
    List,
    Lock,
    Query,
    WriteAt,
}

impl CallKind {
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Append => "append",
            CallKind::SyncData => "sync_data",
            CallKind::SetLen => "set_len",
            CallKind::Create => "create",
            CallKind::OpenAppend => "open_append",
            CallKind::Rename => "rename",
            CallKind::Remove => "remove",
            CallKind::SyncDirectory => "sync_directory",
            CallKind::CreateDir => "create_dir_all",
            CallKind::Read => "read",
            CallKind::List => "list",
            CallKind::Lock => "lock",
            CallKind::Query => "exists",
            CallKind::WriteAt => "write_at",
        }
    }
}

/// A copy of the disk taken just before a storage call: a crash right after the
/// previous call leaves exactly this. `tag` is what the harness had set when it was
/// taken (what had been acknowledged by then).
#[derive(Clone)]
pub struct CrashPoint<T> {
    pub call: u64,
    pub state: DiskState,
    pub tag: T,
}

struct Inner<T> {
    state: DiskState,
    calls: u64,
    generation: u64,
    fault: Option<FaultPlan>,
    failed: Vec<(u64, CallKind)>,
    lock_held: bool,
    rng: Rng,
    recording: bool,
    tag: T,
    last_recorded: Option<(u64, T)>,
    points: Vec<CrashPoint<T>>,
    segments_created: u64,
    calls_by_kind: BTreeMap<CallKind, u64>,
    /// A broken disk for the harness's own tests: fsyncs succeed but persist nothing.
    lying: bool,
}

/// The simulated disk. Clones share the disk.
pub struct SimDisk<T: Clone + PartialEq + Send + 'static> {
    root: PathBuf,
    inner: Arc<Mutex<Inner<T>>>,
}

impl<T: Clone + PartialEq + Send + 'static> Clone for SimDisk<T> {
    fn clone(&self) -> Self {
        SimDisk { root: self.root.clone(), inner: Arc::clone(&self.inner) }
    }
}

fn os_error(kind: FaultKind) -> io::Error {
    io::Error::from_raw_os_error(match kind {
        FaultKind::Eio => 5,
        FaultKind::Enospc => 28,
    })
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found on the simulated disk", path.display()))
}

/// A fresh root path for each simulated disk, so that engines of different disks never
/// share an entry in the engine's per-process registry of open directories.
fn fresh_root() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    PathBuf::from(format!("/stratadb-sim-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

impl<T: Clone + PartialEq + Send + 'static> SimDisk<T> {
    /// A disk holding `state`; `tag` starts as `tag`; `seed` drives fault decisions.
    pub fn new(state: DiskState, tag: T, seed: u64) -> SimDisk<T> {
        SimDisk {
            root: fresh_root(),
            inner: Arc::new(Mutex::new(Inner {
                state,
                calls: 0,
                generation: 0,
                fault: None,
                failed: Vec::new(),
                lock_held: false,
                rng: Rng::new(seed),
                recording: false,
                tag,
                last_recorded: None,
                points: Vec::new(),
                segments_created: 0,
                calls_by_kind: BTreeMap::new(),
                lying: false,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The database directory on this disk (created by the first open).
    pub fn db_path(&self) -> PathBuf {
        self.root.join("db")
    }

    /// The storage to put in `OpenOptions`.
    pub fn storage(&self) -> Arc<dyn Storage> {
        Arc::new(self.clone())
    }

    pub fn state(&self) -> DiskState {
        self.lock().state.clone()
    }

    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    pub fn calls_by_kind(&self) -> BTreeMap<CallKind, u64> {
        self.lock().calls_by_kind.clone()
    }

    /// Log segments created so far (a roll shows as one).
    pub fn segments_created(&self) -> u64 {
        self.lock().segments_created
    }

    pub fn set_tag(&self, tag: T) {
        self.lock().tag = tag;
    }

    /// Makes every later fsync (of files and directories) succeed without persisting
    /// anything: a broken disk the harness must catch (its own tests use it).
    pub fn set_lying(&self, lying: bool) {
        self.lock().lying = lying;
    }

    pub fn set_fault(&self, fault: Option<FaultPlan>) {
        self.lock().fault = fault;
    }

    /// The calls that failed by the fault plan, with their kinds.
    pub fn failed_calls(&self) -> Vec<(u64, CallKind)> {
        self.lock().failed.clone()
    }

    /// Starts or stops taking a crash point before every storage call (and once more
    /// at [`SimDisk::take_points`]). Consecutive points with the same disk and the
    /// same tag are kept once.
    pub fn record(&self, on: bool) {
        self.lock().recording = on;
    }

    /// The crash points taken so far, plus one for the disk as it is now.
    pub fn take_points(&self) -> Vec<CrashPoint<T>> {
        let mut inner = self.lock();
        if inner.recording {
            Self::point(&mut inner);
        }
        inner.last_recorded = None;
        std::mem::take(&mut inner.points)
    }

    fn point(inner: &mut Inner<T>) {
        let key = (inner.generation, inner.tag.clone());
        if inner.last_recorded.as_ref() == Some(&key) {
            return;
        }
        inner.last_recorded = Some(key);
        let point = CrashPoint { call: inner.calls, state: inner.state.clone(), tag: inner.tag.clone() };
        inner.points.push(point);
    }

    /// Counts a call, takes a crash point, and decides whether it fails.
    fn begin(&self, kind: CallKind) -> (MutexGuard<'_, Inner<T>>, Option<FaultKind>) {
        let mut inner = self.lock();
        if inner.recording {
            Self::point(&mut inner);
        }
        let call = inner.calls;
        inner.calls += 1;
        *inner.calls_by_kind.entry(kind).or_insert(0) += 1;
        let fails = match inner.fault {
            Some(plan) if call == plan.call || (plan.sticky && call > plan.call) => Some(plan.kind),
            _ => None,
        };
        if fails.is_some() && kind != CallKind::Query {
            inner.failed.push((call, kind));
        }
        (inner, fails)
    }

    fn relative(&self, path: &Path) -> io::Result<Vec<String>> {
        let rest = path.strip_prefix(&self.root).map_err(|_| not_found(path))?;
        let mut parts = Vec::new();
        for component in rest.components() {
            match component {
                Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
                Component::CurDir => {}
                _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unsupported path {}", path.display()))),
            }
        }
        Ok(parts)
    }

    /// The directory holding `path` and the file name.
    fn parent_dir(&self, state: &DiskState, path: &Path) -> io::Result<(usize, String)> {
        let mut parts = self.relative(path)?;
        let name = parts.pop().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the root has no parent"))?;
        match state.resolve(&parts) {
            Some(Node::Dir(dir)) => Ok((dir, name)),
            _ => Err(not_found(path)),
        }
    }

    fn file_handle(&self, file: usize, path: &Path) -> Box<dyn StorageFile> {
        Box::new(SimFile { disk: self.clone(), file, path: path.to_path_buf() })
    }
}

fn is_segment(path: &Path) -> bool {
    path.parent().and_then(Path::file_name).is_some_and(|d| d == "wal")
        && path.extension().is_some_and(|e| e == "log")
}

impl<T: Clone + PartialEq + Send + 'static> Storage for SimDisk<T> {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let (mut inner, fault) = self.begin(CallKind::CreateDir);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        let parts = self.relative(path)?;
        let mut dir = 0;
        for name in parts {
            dir = match inner.state.dirs[dir].entries.get(&name) {
                Some(Node::Dir(child)) => *child,
                Some(Node::File(_)) => {
                    return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} is a file", path.display())))
                }
                None => {
                    let id = inner.state.dirs.len();
                    inner.state.dirs.push(Dir::default());
                    let parent = &mut inner.state.dirs[dir];
                    parent.entries.insert(name.clone(), Node::Dir(id));
                    parent.pending.push(DirOp::Link(name, Node::Dir(id)));
                    inner.generation += 1;
                    id
                }
            };
        }
        Ok(())
    }

    fn list(&self, directory: &Path) -> io::Result<Vec<String>> {
        let (inner, fault) = self.begin(CallKind::List);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        match inner.state.resolve(&self.relative(directory)?) {
            Some(Node::Dir(dir)) => Ok(inner.state.dirs[dir].entries.keys().cloned().collect()),
            _ => Err(not_found(directory)),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        let (inner, _) = self.begin(CallKind::Query);
        self.relative(path).ok().and_then(|p| inner.state.resolve(&p)).is_some()
    }

    fn is_directory(&self, path: &Path) -> bool {
        let (inner, _) = self.begin(CallKind::Query);
        matches!(self.relative(path).ok().and_then(|p| inner.state.resolve(&p)), Some(Node::Dir(_)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let (inner, fault) = self.begin(CallKind::Read);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        match inner.state.resolve(&self.relative(path)?) {
            Some(Node::File(file)) => Ok((*inner.state.files[file].cache).clone()),
            Some(Node::Dir(_)) => Err(io::Error::new(io::ErrorKind::IsADirectory, format!("{} is a directory", path.display()))),
            None => Err(not_found(path)),
        }
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let (mut inner, fault) = self.begin(CallKind::Create);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        let (dir, name) = self.parent_dir(&inner.state, path)?;
        inner.generation += 1;
        let file = match inner.state.dirs[dir].entries.get(&name) {
            Some(Node::Dir(_)) => {
                return Err(io::Error::new(io::ErrorKind::IsADirectory, format!("{} is a directory", path.display())))
            }
            Some(Node::File(file)) => {
                let file = *file;
                let inode = &mut inner.state.files[file];
                inode.cache = Arc::new(Vec::new());
                inode.pending.push(Write::SetLen(0));
                file
            }
            None => {
                inner.state.files.push(Inode::default());
                let file = inner.state.files.len() - 1;
                let parent = &mut inner.state.dirs[dir];
                parent.entries.insert(name.clone(), Node::File(file));
                parent.pending.push(DirOp::Link(name, Node::File(file)));
                file
            }
        };
        if is_segment(path) {
            inner.segments_created += 1;
        }
        drop(inner);
        Ok(self.file_handle(file, path))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let (inner, fault) = self.begin(CallKind::OpenAppend);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        match inner.state.resolve(&self.relative(path)?) {
            Some(Node::File(file)) => {
                drop(inner);
                Ok(self.file_handle(file, path))
            }
            _ => Err(not_found(path)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (mut inner, fault) = self.begin(CallKind::Rename);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        let (dir, from_name) = self.parent_dir(&inner.state, from)?;
        let (to_dir, to_name) = self.parent_dir(&inner.state, to)?;
        if dir != to_dir {
            return Err(io::Error::new(io::ErrorKind::CrossesDevices, "the simulated disk renames within a directory only"));
        }
        let parent = &mut inner.state.dirs[dir];
        let node = parent.entries.remove(&from_name).ok_or_else(|| not_found(from))?;
        parent.entries.insert(to_name.clone(), node);
        parent.pending.push(DirOp::Rename(from_name, to_name));
        inner.generation += 1;
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let (mut inner, fault) = self.begin(CallKind::Remove);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        let (dir, name) = self.parent_dir(&inner.state, path)?;
        let parent = &mut inner.state.dirs[dir];
        match parent.entries.get(&name) {
            Some(Node::File(_)) => {
                parent.entries.remove(&name);
                parent.pending.push(DirOp::Unlink(name));
                inner.generation += 1;
                Ok(())
            }
            Some(Node::Dir(_)) => Err(io::Error::new(io::ErrorKind::IsADirectory, format!("{} is a directory", path.display()))),
            None => Err(not_found(path)),
        }
    }

    fn sync_directory(&self, directory: &Path) -> io::Result<()> {
        let (mut inner, fault) = self.begin(CallKind::SyncDirectory);
        if let Some(kind) = fault {
            // Nothing is known to have reached the disk; what was pending stays so.
            return Err(os_error(kind));
        }
        if inner.lying {
            return Ok(());
        }
        match inner.state.resolve(&self.relative(directory)?) {
            Some(Node::Dir(dir)) => {
                let dir = &mut inner.state.dirs[dir];
                if !dir.pending.is_empty() {
                    dir.durable = dir.entries.clone();
                    dir.pending.clear();
                    inner.generation += 1;
                }
                Ok(())
            }
            _ => Err(not_found(directory)),
        }
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirectoryLock>> {
        let (mut inner, fault) = self.begin(CallKind::Lock);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        if inner.lock_held {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("the database is locked by this process (lock file {})", path.display()),
            ));
        }
        let (dir, name) = self.parent_dir(&inner.state, path)?;
        let file = match inner.state.dirs[dir].entries.get(&name) {
            Some(Node::File(file)) => *file,
            Some(Node::Dir(_)) => return Err(io::Error::new(io::ErrorKind::IsADirectory, "LOCK is a directory")),
            None => {
                inner.state.files.push(Inode::default());
                let file = inner.state.files.len() - 1;
                let parent = &mut inner.state.dirs[dir];
                parent.entries.insert(name.clone(), Node::File(file));
                parent.pending.push(DirOp::Link(name, Node::File(file)));
                file
            }
        };
        // The holder's pid, never fsynced (as FsStorage does).
        let pid = b"4242".to_vec();
        let inode = &mut inner.state.files[file];
        inode.cache = Arc::new(pid.clone());
        inode.pending.push(Write::SetLen(0));
        inode.pending.push(Write::At { offset: 0, data: Arc::from(pid) });
        inner.lock_held = true;
        inner.generation += 1;
        drop(inner);
        Ok(Box::new(SimLock { disk: self.clone() }))
    }
}

struct SimLock<T: Clone + PartialEq + Send + 'static> {
    disk: SimDisk<T>,
}

impl<T: Clone + PartialEq + Send + 'static> DirectoryLock for SimLock<T> {}

impl<T: Clone + PartialEq + Send + 'static> Drop for SimLock<T> {
    fn drop(&mut self) {
        self.disk.lock().lock_held = false;
    }
}

struct SimFile<T: Clone + PartialEq + Send + 'static> {
    disk: SimDisk<T>,
    file: usize,
    path: PathBuf,
}

impl<T: Clone + PartialEq + Send + 'static> StorageFile for SimFile<T> {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        let (mut inner, fault) = self.disk.begin(CallKind::Append);
        let mut data = data;
        if let Some(kind) = fault {
            if kind == FaultKind::Eio || data.is_empty() {
                return Err(os_error(kind));
            }
            // A short write: some prefix reaches the file, then the disk is full.
            let keep = inner.rng.below(data.len() as u64) as usize;
            if keep == 0 {
                return Err(os_error(kind));
            }
            data = &data[..keep];
        }
        let inode = &mut inner.state.files[self.file];
        let offset = inode.cache.len();
        Arc::make_mut(&mut inode.cache).extend_from_slice(data);
        inode.pending.push(Write::At { offset, data: Arc::from(data) });
        inner.generation += 1;
        match fault {
            Some(kind) => Err(os_error(kind)),
            None => Ok(()),
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        let (mut inner, fault) = self.disk.begin(CallKind::SyncData);
        if let Some(kind) = fault {
            // The data's fate is unknown: it may have reached the disk, or the kernel
            // may have dropped the dirty pages, so that no later fsync writes them
            // (they read back from the cache, but the disk keeps what it had there:
            // the old bytes, or zeros past the old end of the file).
            if inner.rng.below(2) == 0 {
                let inode = &mut inner.state.files[self.file];
                let old = Arc::clone(&inode.durable);
                for write in &mut inode.pending {
                    if let Write::At { offset, data } = write {
                        let kept: Vec<u8> = (*offset..*offset + data.len()).map(|i| old.get(i).copied().unwrap_or(0)).collect();
                        *data = Arc::from(kept);
                    }
                }
                inner.generation += 1;
            }
            return Err(os_error(kind));
        }
        if inner.lying {
            return Ok(());
        }
        let inode = &mut inner.state.files[self.file];
        if !inode.pending.is_empty() {
            inode.durable = Arc::new(inode.all_pending_applied());
            inode.pending.clear();
            inner.generation += 1;
        }
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let (mut inner, fault) = self.disk.begin(CallKind::WriteAt);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        let start = usize::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("offset {offset} of {}", self.path.display())))?;
        let inode = &mut inner.state.files[self.file];
        let end = start.checked_add(data.len()).filter(|&end| end <= inode.cache.len()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("write_at past the end of {}", self.path.display()))
        })?;
        Arc::make_mut(&mut inode.cache)[start..end].copy_from_slice(data);
        inode.pending.push(Write::At { offset: start, data: Arc::from(data) });
        inner.generation += 1;
        Ok(())
    }

    fn set_len(&self, length: u64) -> io::Result<()> {
        let (mut inner, fault) = self.disk.begin(CallKind::SetLen);
        if let Some(kind) = fault {
            return Err(os_error(kind));
        }
        let length = usize::try_from(length)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("length {length} of {}", self.path.display())))?;
        let inode = &mut inner.state.files[self.file];
        Arc::make_mut(&mut inode.cache).resize(length, 0);
        inode.pending.push(Write::SetLen(length));
        inner.generation += 1;
        Ok(())
    }
}
