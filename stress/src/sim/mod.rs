//! The power-loss simulator: the engine runs on a [`disk::SimDisk`] that keeps what is
//! durable apart from what was only written; crash images built from it are reopened
//! and checked against the states the run went through.
//!
//! The check (design.md, "The crash-safety claim"), for every crash image:
//! - the database opens (a crash image is never refused: it holds only what the fault
//!   model allows a power loss to leave);
//! - it holds `v` commits with `required <= v <= upper`, where `required` is the last
//!   commit acknowledged as durable when the crash happened (in `"always"` mode every
//!   returned commit; in every mode everything before a returned `flush()`, `compact()`,
//!   `close()`, open, or a segment roll) and `upper` the last commit written;
//! - its state equals, record for record (the snapshot encoding, timestamps included),
//!   the state the run published at version `v`;
//! - it accepts a write, and a clean reopen shows exactly the state after that write.
//!
//! A crash point is a copy of the disk taken before a storage call: the disk a crash
//! right after the previous call leaves. The disk records one before every call, so a
//! run is executed once and every instant of it is checked; images of one point come
//! from several [`disk::CrashPolicy`]s. Every step of a run is deterministic from its
//! seed (no background threads: `"always"` and `"none"` mode only — `"standard"` differs
//! from `"none"` only by the timing of its flusher's fsyncs).

pub mod corruption;
pub mod disk;
pub mod faults;
pub mod fuzz;
pub mod ops;

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use stratadb::durability::state_codec;
use stratadb::model::DbState;
use stratadb::{Durability, OpenOptions, Session};

use crate::rng::Rng;
use disk::{CrashPoint, CrashPolicy, DiskState, SimDisk};
use ops::SimOp;

/// Segment size for simulated runs: small, so that rolls are frequent.
pub const SIM_SEGMENT_BYTES: u64 = 2048;

/// What the run had acknowledged when a crash point was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tag {
    /// Every commit up to this version must survive.
    pub required: u64,
    /// No commit after this version was written.
    pub upper: u64,
    /// The database's creation had completed (its version 0 state is known).
    pub created: bool,
}

/// Canonical bytes of a state: its snapshot encoding, every record in order.
pub fn fingerprint(state: &DbState) -> Result<Vec<u8>, String> {
    let mut out = state.last_version.to_le_bytes().to_vec();
    state_codec::write_state(state, &mut |record| {
        out.extend(state_codec::encode(record)?);
        Ok(())
    })
    .map_err(|e| format!("cannot encode a state: {e}"))?;
    Ok(out)
}

/// The states a run published, by version.
#[derive(Clone, Default)]
pub struct References {
    states: BTreeMap<u64, Arc<DbState>>,
    fingerprints: BTreeMap<u64, Arc<Vec<u8>>>,
}

impl References {
    pub fn insert(&mut self, state: Arc<DbState>) {
        self.fingerprints.remove(&state.last_version);
        self.states.insert(state.last_version, state);
    }

    /// Forgets every state after `version` (a crash lost them; new commits reuse the numbers).
    pub fn truncate(&mut self, version: u64) {
        self.states.retain(|v, _| *v <= version);
        self.fingerprints.retain(|v, _| *v <= version);
    }

    pub fn fingerprint(&mut self, version: u64) -> Result<Arc<Vec<u8>>, String> {
        if let Some(f) = self.fingerprints.get(&version) {
            return Ok(Arc::clone(f));
        }
        let state = self.states.get(&version).ok_or_else(|| format!("no reference state for version {version}"))?;
        let f = Arc::new(fingerprint(state)?);
        self.fingerprints.insert(version, Arc::clone(&f));
        Ok(f)
    }
}

pub fn sim_options(disk: &SimDisk<Tag>, durability: Durability) -> OpenOptions {
    OpenOptions { durability: Some(durability), storage: disk.storage(), segment_bytes: SIM_SEGMENT_BYTES, ..OpenOptions::default() }
}

/// Counts of one simulated run, summed over runs.
#[derive(Default, Debug, Clone, Copy)]
pub struct Counts {
    pub runs: u64,
    pub operations: u64,
    pub storage_calls: u64,
    pub crash_points: u64,
    pub images: u64,
    pub duplicate_images: u64,
    pub acknowledged: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.runs += other.runs;
        self.operations += other.operations;
        self.storage_calls += other.storage_calls;
        self.crash_points += other.crash_points;
        self.images += other.images;
        self.duplicate_images += other.duplicate_images;
        self.acknowledged += other.acknowledged;
    }
}

/// What a checked image recovered.
pub struct Recovered {
    pub version: u64,
}

/// Opens `image`, checks it against `tag` and `references`, writes one probe commit
/// and checks a clean reopen. See the module docs.
pub fn check_image(image: DiskState, tag: &Tag, references: &mut References, durability: Durability) -> Result<Recovered, String> {
    let disk = SimDisk::new(image, Tag::default(), 0);
    let path = disk.db_path();
    let session = Session::open(&path, sim_options(&disk, durability))
        .map_err(|e| format!("a crash image was refused: {}", e.message()))?;
    let state = session.engine().snapshot();
    let version = state.last_version;
    if version < tag.required {
        return Err(format!("lost acknowledged commits: {} acknowledged as durable, {version} recovered", tag.required));
    }
    if version > tag.upper {
        return Err(format!("recovered version {version}, but only {} commits were ever written", tag.upper));
    }
    if version > 0 || tag.created {
        let expected = references.fingerprint(version)?;
        if *expected != fingerprint(&state)? {
            return Err(format!("the state recovered at version {version} is not the state the run had at version {version}"));
        }
    } else if !state.branches.iter().all(|(_, b)| b.spaces.iter().all(|(_, s)| s.kv.is_empty() && s.events.entries.is_empty())) {
        return Err("a database recovered at version 0 holds data".to_owned());
    }
    session
        .kv_put("probe", stratadb::Value::Int(version as i64))
        .map_err(|e| format!("the recovered database refused a write: {}", e.message()))?;
    let probed = fingerprint(&session.engine().snapshot())?;
    session.close().map_err(|e| format!("close after recovery failed: {}", e.message()))?;
    let again = Session::open(&path, sim_options(&disk, durability))
        .map_err(|e| format!("reopen after recovery and one write failed: {}", e.message()))?;
    if fingerprint(&again.engine().snapshot())? != probed {
        return Err("a clean reopen after recovery and one write shows another state".to_owned());
    }
    again.close().map_err(|e| format!("second close failed: {}", e.message()))?;
    Ok(Recovered { version })
}

fn image_key(image: &DiskState, tag: &Tag) -> u64 {
    let mut hasher = DefaultHasher::new();
    image.files().hash(&mut hasher);
    image.names("").hash(&mut hasher);
    image.names("db").hash(&mut hasher);
    image.names("db/wal").hash(&mut hasher);
    image.names("db/snapshots").hash(&mut hasher);
    (tag.required, tag.upper, tag.created).hash(&mut hasher);
    hasher.finish()
}

/// A run on a simulated disk: the session, what it acknowledged, and what it published.
pub struct Run {
    pub disk: SimDisk<Tag>,
    pub durability: Durability,
    pub session: Option<Session>,
    pub references: References,
    pub tag: Tag,
    pub operations: u64,
}

impl Run {
    /// A run on a disk holding `image`, whose first `committed` versions are in
    /// `references`, with `required` already durable.
    pub fn new(image: DiskState, durability: Durability, references: References, tag: Tag, seed: u64) -> Run {
        let disk = SimDisk::new(image, tag, seed);
        Run { disk, durability, session: None, references, tag, operations: 0 }
    }

    fn set_tag(&mut self, tag: Tag) {
        self.tag = tag;
        self.disk.set_tag(tag);
    }

    /// Opens the database; the open vouches for everything it recovered.
    pub fn open(&mut self) -> Result<(), String> {
        if std::env::var_os("STRESS_DEBUG").is_some() {
            eprintln!("open at call {} with {:?}", self.disk.calls(), self.tag);
        }
        let session = Session::open(&self.disk.db_path(), sim_options(&self.disk, self.durability))
            .map_err(|e| format!("open failed: {}", e.message()))?;
        let state = session.engine().snapshot();
        let version = state.last_version;
        if version < self.tag.required || version > self.tag.upper {
            return Err(format!("open recovered version {version}, outside {}..={}", self.tag.required, self.tag.upper));
        }
        self.references.truncate(version);
        self.references.insert(state);
        self.session = Some(session);
        self.set_tag(Tag { required: version, upper: version, created: true });
        Ok(())
    }

    /// Closes the database cleanly (everything before is then durable).
    pub fn close(&mut self) -> Result<(), String> {
        if let Some(session) = self.session.take() {
            let last = session.engine().snapshot().last_version;
            session.close().map_err(|e| format!("close failed: {}", e.message()))?;
            self.set_tag(Tag { required: last, upper: last, created: self.tag.created });
        }
        Ok(())
    }

    /// Runs one operation; a failure is an error of the harness (no faults here).
    pub fn step(&mut self, op: &SimOp, rng: &mut Rng) -> Result<(), String> {
        self.operations += 1;
        if *op == SimOp::Reopen {
            self.close()?;
            return self.open();
        }
        let session = self.session.as_ref().ok_or("no open session")?;
        let before = session.engine().snapshot().last_version;
        let segments_before = self.disk.segments_created();
        self.set_tag(Tag { upper: before + u64::from(op.may_commit()), ..self.tag });
        let session = self.session.as_ref().ok_or("no open session")?;
        let calls_before = self.disk.calls();
        let result = ops::run(session, op, rng);
        let state = session.engine().snapshot();
        let after = state.last_version;
        if std::env::var_os("STRESS_DEBUG").is_some() {
            eprintln!("op {op:?} calls {calls_before}..{}: {:?} version {before} -> {after}", self.disk.calls(), result.as_ref().map_err(|e| e.message().to_owned()));
        }
        if after > before + 1 {
            return Err(format!("operation {op:?} made {} commits; the harness expects at most one", after - before));
        }
        if after > before {
            self.references.insert(state);
        }
        let mut required = self.tag.required;
        match result {
            Ok(()) => {
                if self.durability == Durability::Always || op.makes_durable() {
                    required = after;
                }
                if self.disk.segments_created() > segments_before && after > before {
                    // The roll sealed (fsynced) everything before this commit's frame.
                    required = required.max(before);
                }
            }
            Err(error) if error.kind() == stratadb::ErrorKind::Io => {
                return Err(format!("operation {op:?} failed with an I/O error on a healthy disk: {}", error.message()))
            }
            Err(_) => {
                if after != before {
                    return Err(format!("operation {op:?} failed but committed"));
                }
            }
        }
        self.set_tag(Tag { required, upper: after, created: self.tag.created });
        Ok(())
    }
}

/// The policies every crash point is imaged with: the two extremes and `random` mixes.
fn policies(seed: u64, random: u64) -> Vec<CrashPolicy> {
    let mut out = vec![CrashPolicy::DropUnsynced, CrashPolicy::KeepWritten];
    let mut rng = Rng::new(seed);
    for _ in 0..random {
        out.push(CrashPolicy::Random(rng.next_u64()));
    }
    out
}

/// Checks crash images of `points`; returns the recovered version per (point, policy).
fn check_points(
    points: &[CrashPoint<Tag>],
    policy_list: &[CrashPolicy],
    references: &mut References,
    durability: Durability,
    seen: &mut HashSet<u64>,
    counts: &mut Counts,
) -> Result<(), String> {
    for point in points {
        for policy in policy_list {
            let image = point.state.crash_image(*policy);
            if !seen.insert(image_key(&image, &point.tag)) {
                counts.duplicate_images += 1;
                continue;
            }
            counts.images += 1;
            check_image(image, &point.tag, references, durability).map_err(|e| {
                if std::env::var_os("STRESS_DEBUG").is_some() {
                    eprintln!("disk before the crash: {:#?}", point.state);
                }
                format!("crash after storage call {} (image {policy:?}, acknowledged {:?}): {e}", point.call, point.tag)
            })?;
        }
    }
    Ok(())
}

/// Turns a panic inside `f` into an error message.
pub fn catching<R>(f: impl FnOnce() -> Result<R, String>) -> Result<R, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic".to_owned());
            Err(format!("panicked: {message}"))
        }
    }
}

// ----- exhaustive mode ---------------------------------------------------------------------

/// Every workload of up to `max_ops` operations from [`ops::EXHAUSTIVE`], in order.
pub fn all_workloads(max_ops: usize) -> Vec<Vec<SimOp>> {
    let mut out = vec![Vec::new()];
    let mut frontier = vec![Vec::new()];
    for _ in 0..max_ops {
        let mut next = Vec::new();
        for workload in &frontier {
            for op in ops::EXHAUSTIVE {
                let mut longer: Vec<SimOp> = workload.clone();
                longer.push(op.clone());
                next.push(longer);
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out
}

pub fn render_workload(workload: &[SimOp]) -> String {
    if workload.is_empty() {
        return "none".to_owned();
    }
    workload.iter().map(SimOp::name).collect::<Vec<_>>().join(",")
}

pub fn parse_workload(text: &str) -> Option<Vec<SimOp>> {
    if text == "none" {
        return Some(Vec::new());
    }
    text.split(',').map(SimOp::parse).collect()
}

/// One exhaustive case: the setup, then `workload`, then a clean close, with a crash
/// after every storage call of the workload and the close (of everything, creation
/// included, for the empty workload), each imaged with every policy.
pub fn exhaustive_case(workload: &[SimOp], durability: Durability, random_images: u64) -> Result<Counts, String> {
    exhaustive_case_on(workload, durability, random_images, false)
}

/// [`exhaustive_case`], on a disk whose fsyncs persist nothing when `lying` (the
/// harness's own tests: it must catch such a disk).
pub fn exhaustive_case_on(workload: &[SimOp], durability: Durability, random_images: u64, lying: bool) -> Result<Counts, String> {
    catching(|| {
        let mut counts = Counts { runs: 1, ..Counts::default() };
        let mut run = Run::new(DiskState::default(), durability, References::default(), Tag::default(), 1);
        run.disk.set_lying(lying);
        let mut rng = Rng::new(7);
        let record_setup = workload.is_empty();
        run.disk.record(record_setup);
        run.open()?;
        for op in ops::setup() {
            run.step(&op, &mut rng)?;
        }
        run.disk.record(true);
        for op in workload {
            run.step(op, &mut rng)?;
        }
        run.close()?;
        counts.operations = run.operations;
        counts.storage_calls = run.disk.calls();
        let points = run.disk.take_points();
        counts.crash_points = points.len() as u64;
        let seed = workload.iter().fold(u64::from(durability == Durability::Always), |h, op| h.wrapping_mul(31).wrapping_add(op.name().len() as u64 + 1));
        let mut seen = HashSet::new();
        check_points(&points, &policies(seed, random_images), &mut run.references, durability, &mut seen, &mut counts)?;
        Ok(counts)
    })
}

// ----- random mode -------------------------------------------------------------------------------

/// One random run: `boots` boots on one disk, each opening what the previous crash left
/// (so crashes hit recovery after a crash, and compactions after a crash), running
/// random operations, and crashing at a random instant; `checks` crash points of each
/// boot are checked with a random policy (plus the two extremes for one of them).
///
/// With `process_crashes`, half of the boots instead start from a process crash (the
/// disk as the OS had it, unsynced writes still pending), so that a power loss after a
/// restart is simulated too (the stress binary does this unless given
/// `--no-process-crashes`).
pub fn random_run(seed: u64, durability: Durability, boots: u64, checks: u64, process_crashes: bool) -> Result<Counts, String> {
    catching(|| {
        let mut counts = Counts { runs: 1, ..Counts::default() };
        let mut rng = Rng::new(seed);
        let mut image = DiskState::default();
        let mut references = References::default();
        let mut tag = Tag::default();
        for _boot in 0..boots {
            let mut run = Run::new(image.clone(), durability, references.clone(), tag, rng.next_u64());
            run.disk.record(true);
            run.open()?;
            let operations = rng.below(40);
            for _ in 0..operations {
                let op = ops::random(&mut rng);
                run.step(&op, &mut rng)?;
            }
            if rng.below(2) == 0 {
                run.close()?;
            }
            counts.operations += run.operations;
            counts.storage_calls += run.disk.calls();
            counts.acknowledged += run.tag.required;
            let points = run.disk.take_points();
            counts.crash_points += points.len() as u64;
            // Drop the session without its I/O mattering: the crash happened already.
            drop(run.session.take());
            let mut seen = HashSet::new();
            let mut chosen = None;
            for index in 0..checks.min(points.len() as u64) {
                let point = &points[rng.below(points.len() as u64) as usize];
                let policy_list = if index == 0 {
                    policies(rng.next_u64(), 1)
                } else {
                    vec![CrashPolicy::Random(rng.next_u64())]
                };
                check_points(std::slice::from_ref(point), &policy_list, &mut run.references, durability, &mut seen, &mut counts)?;
                chosen = Some((point.clone(), *policy_list.last().unwrap_or(&CrashPolicy::DropUnsynced)));
            }
            let Some((point, policy)) = chosen else { continue };
            if process_crashes && rng.below(2) == 0 {
                // A process crash (kill -9): the next boot starts from the disk as the
                // OS has it, unsynced writes and directory operations still pending, so
                // a later crash can still lose them (a power loss after the restart).
                image = point.state.clone();
                tag = point.tag;
                references = run.references.clone();
                continue;
            }
            // The next boot starts from this power loss.
            image = point.state.crash_image(policy);
            let recovered = check_image(image.clone(), &point.tag, &mut run.references, durability)?;
            references = run.references.clone();
            references.truncate(recovered.version);
            // Everything recovered is on disk in the image: any recovery must keep it.
            tag = Tag { required: recovered.version, upper: recovered.version, created: point.tag.created };
        }
        Ok(counts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(text: &str) -> Vec<SimOp> {
        parse_workload(text).unwrap_or_else(|| panic!("bad workload {text}"))
    }

    #[test]
    fn every_workload_of_two_operations_survives_a_crash_after_every_storage_call() {
        for durability in [Durability::Always, Durability::None] {
            for w in all_workloads(2) {
                exhaustive_case(&w, durability, 1)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", durability.as_str(), render_workload(&w)));
            }
        }
    }

    #[test]
    fn random_multi_crash_runs_keep_the_prefix_property() {
        for seed in 0..4 {
            for durability in [Durability::Always, Durability::None] {
                random_run(seed, durability, 4, 6, false).unwrap_or_else(|e| panic!("seed {seed} {}: {e}", durability.as_str()));
            }
        }
    }

    /// The check can fail: a disk whose fsyncs persist nothing loses acknowledged
    /// commits (or whole files), and the harness says so.
    #[test]
    fn a_disk_that_ignores_fsync_is_caught() {
        let error = exhaustive_case_on(&workload("commit,flush"), Durability::Always, 0, true)
            .expect_err("a lying disk must fail the check");
        assert!(error.contains("lost acknowledged commits") || error.contains("refused"), "{error}");
    }

    /// Regression (found by `stress --harness sim --mode none --run-seed
    /// 3118427892554738655 --process-crashes`; fixed in 06d2f6e): a process died during
    /// a segment roll after creating the new segment but before fsyncing `wal/`; the
    /// restarted engine resumed that segment (in the OS's cache only) without fsyncing
    /// `wal/`, so after a flush acknowledged 18 commits a power loss removed the segment
    /// and 9 remained. Recovery now fsyncs the directories it lists first.
    #[test]
    fn a_restart_after_a_process_crash_mid_roll_makes_the_new_segment_durable_seed_3118427892554738655() {
        random_run(3118427892554738655, Durability::None, 8, 6, true).unwrap();
    }

    /// Regression (found by `stress --harness faults --mode always --fault 68:eio:once`;
    /// fixed in 06d2f6e): the directory fsync after a compaction renamed `MANIFEST`
    /// failed; the reopen trusted the renamed manifest (in the cache only) and removed
    /// the snapshot the durable manifest names; a power loss then left a manifest whose
    /// snapshot was gone.
    #[test]
    fn a_reopen_after_a_failed_manifest_directory_fsync_keeps_the_named_snapshot_fault_68_eio_once() {
        let plan = disk::FaultPlan { call: 68, kind: disk::FaultKind::Eio, sticky: false };
        faults::fault_case(Durability::Always, Some(plan), true).map(drop).unwrap();
    }

    /// Regression (found by `stress --harness faults --mode always --fault 35:eio:once`;
    /// fixed in 06d2f6e): the fsync of a transaction's commit failed and the kernel
    /// dropped the dirty pages; the reopen in the same boot read the commit from the
    /// page cache and its own fsync wrote nothing, so a power loss lost it and the next
    /// acknowledged commit. Recovery now rewrites the unvouched tail before its fsync.
    #[test]
    fn a_reopen_after_a_failed_fsync_makes_what_it_recovered_durable_fault_35_eio_once() {
        let plan = disk::FaultPlan { call: 35, kind: disk::FaultKind::Eio, sticky: false };
        faults::fault_case(Durability::Always, Some(plan), true).map(drop).unwrap();
    }

    /// Regression (found by `stress --harness sim --mode none --run-seed
    /// 13604894847412883129`; fixed in cbe6feb): a process died during the first open of
    /// a new database after creating its directory but before fsyncing the parent; the
    /// next open finds the directory (in the OS's cache), skips the parent fsync (it
    /// only happens when `Session::open` creates the directory), and acknowledges
    /// commits; a power loss then removes the whole database directory (7 acknowledged,
    /// 0 recovered). A writable open now fsyncs the parent of the database directory
    /// even when the directory exists.
    #[test]
    fn a_restart_after_a_crash_during_creation_makes_the_database_directory_durable_seed_13604894847412883129() {
        random_run(13604894847412883129, Durability::None, 8, 6, true).unwrap();
    }

    /// Regression (found by `stress --harness faults --mode none --fault 50:eio:once`;
    /// fixed in cbe6feb): the fsync of a new segment's header fails during a roll (the log is poisoned; the
    /// kernel may have dropped the header's pages); a reopen in the same boot finds the
    /// header in the page cache, and recovery's rewrite of the unvouched tail starts
    /// after the header (it assumes the header was fsynced at creation), so the header
    /// is never written; later commits go into the segment, and after a power loss its
    /// zeroed header was refused as damage. Recovery now rewrites from the watermark
    /// itself, so a segment none of whose frames vouches for its header gets its header
    /// rewritten too.
    #[test]
    fn a_reopen_after_a_failed_segment_header_fsync_rewrites_the_header_fault_50_eio_once() {
        let plan = disk::FaultPlan { call: 50, kind: disk::FaultKind::Eio, sticky: false };
        faults::fault_case(Durability::None, Some(plan), true).map(drop).unwrap();
    }

    /// The crash images cover what the fault model allows: with every unsynced write
    /// dropped, an `"always"` commit survives only because of its fsync; with every
    /// write kept, a `"none"` commit survives a process crash.
    #[test]
    fn crash_images_drop_exactly_what_was_not_synced() {
        let mut run = Run::new(DiskState::default(), Durability::None, References::default(), Tag::default(), 1);
        let mut rng = Rng::new(1);
        run.open().unwrap();
        run.step(&SimOp::Commit(ops::Write::Put), &mut rng).unwrap();
        let state = run.disk.state();
        let mut refs = run.references.clone();
        let dropped = check_image(state.crash_image(CrashPolicy::DropUnsynced), &Tag { required: 0, upper: 1, created: true }, &mut refs, Durability::None).unwrap();
        assert_eq!(dropped.version, 0, "an unsynced \"none\" commit is lost when unsynced data is dropped");
        let kept = check_image(state.crash_image(CrashPolicy::KeepWritten), &Tag { required: 0, upper: 1, created: true }, &mut refs, Durability::None).unwrap();
        assert_eq!(kept.version, 1, "a written commit survives when written data is kept");
        run.step(&SimOp::Flush, &mut rng).unwrap();
        let flushed = check_image(run.disk.state().crash_image(CrashPolicy::DropUnsynced), &run.tag, &mut refs, Durability::None).unwrap();
        assert_eq!(flushed.version, 1, "a flushed commit survives");
        drop(run.session.take());
    }
}
