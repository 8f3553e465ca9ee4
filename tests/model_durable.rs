//! The model test of tests/model.rs on a durable database: the same random operations,
//! reference model and checks (tests/model_core/shared.rs), run against an engine on
//! the simulated disk of the crash harness (`stress/src/sim/disk.rs`, which keeps what
//! is durable apart from what is only written), with steps of their own in between:
//!
//! - `Reopen`: every handle closed, the directory opened again;
//! - `Flush`, `Compact`: through the primary handle;
//! - `Crash`: the disk as a crash leaves it — a process crash (everything written kept)
//!   or a power loss (everything unsynced dropped) — opened on a fresh simulated disk,
//!   the old engine thrown away;
//! - `Fault`: the next storage call fails (EIO or ENOSPC, once or from then on) while a
//!   second handle commits a write; the write either succeeds as the model says or fails
//!   with an `IoError`, and the process then crashes as above.
//!
//! After a crash the database must hold exactly the model's state at some version `v`
//! (every branch, space and primitive, history and version counter included), with
//! `required <= v <= upper`: `upper` is the last commit the model made (a commit whose
//! write failed counts: it may have reached the disk), `required` the acknowledged
//! commits that must survive — all of them after a process crash or in `"always"` mode,
//! after a power loss in `"none"` mode those before the last flush, compaction, open or
//! segment roll. The model then goes on from its state at `v`, with the handles back at
//! the default branch and space and no transaction open.
//!
//! Seeds and case counts work as in tests/model.rs: `PROPTEST_RNG_SEED` picks other
//! sequences, `PROPTEST_CASES` sets the number of cases (default 64, about two
//! seconds). A failure prints its minimal sequence of steps; minimized failures become
//! regression tests at the end of this file.

#![allow(clippy::unwrap_used, dead_code)]

include!("model_core/shared.rs");

/// The splitmix64 generator the simulated disk draws its fault decisions from.
#[path = "../stress/src/rng.rs"]
mod rng;

/// The simulated disk of the crash harness.
#[path = "../stress/src/sim/disk.rs"]
mod disk;

use disk::{CrashPolicy, FaultKind, FaultPlan, SimDisk};
use proptest::sample::Index;
use stratadb::{Durability, OpenOptions};

/// Small segments, so that sequences roll segments.
const SEGMENT_BYTES: u64 = 2048;

#[derive(Debug, Clone)]
enum Step {
    Op(Op),
    Reopen,
    Flush,
    Compact,
    /// `true`: a power loss; `false`: a process crash.
    Crash(bool),
    /// The next storage call fails while another handle puts `KEYS[key]` in
    /// `SPACES[space]`; then a crash (`power_loss` as for `Crash`).
    /// The call that fails is the `skip`-th from now (0: the next one).
    Fault { enospc: bool, sticky: bool, power_loss: bool, space: usize, key: usize, value: i64, skip: u64 },
}

fn durable_step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Reopen),
        2 => Just(Step::Flush),
        2 => Just(Step::Compact),
        4 => any::<bool>().prop_map(Step::Crash),
        4 => (any::<bool>(), any::<bool>(), any::<bool>(), 0..SPACES.len(), 0..KEYS.len(), 0..100i64, 0..3u64).prop_map(
            |(enospc, sticky, power_loss, space, key, value, skip)| Step::Fault { enospc, sticky, power_loss, space, key, value, skip }
        ),
    ]
}

/// The operations of tests/model.rs with durable steps inserted at random places, and
/// the durability mode (`true`: `"always"`, `false`: `"none"`).
fn steps_strategy() -> impl Strategy<Value = (bool, Vec<Step>)> {
    (any::<bool>(), ops_strategy(), prop::collection::vec((any::<Index>(), durable_step_strategy()), 1..=10)).prop_map(
        |(always, ops, extra)| {
            let mut places: Vec<(usize, Step)> =
                extra.into_iter().map(|(index, step)| (index.index(ops.len() + 1), step)).collect();
            places.sort_by_key(|(place, _)| *place);
            let mut steps = Vec::new();
            let mut pending = places.into_iter().peekable();
            for (position, op) in ops.into_iter().enumerate() {
                while let Some((_, step)) = pending.next_if(|(place, _)| *place == position) {
                    steps.push(step);
                }
                steps.push(Step::Op(op));
            }
            steps.extend(pending.map(|(_, step)| step));
            (always, steps)
        },
    )
}

/// The engine on a simulated disk, with the model's three handles.
struct Durable {
    disk: SimDisk<()>,
    durability: Durability,
    handles: Option<Handles>,
    /// Boots so far (seeds each new disk's fault decisions).
    boots: u64,
}

impl Durable {
    fn options(&self) -> OpenOptions {
        OpenOptions {
            durability: Some(self.durability),
            storage: self.disk.storage(),
            segment_bytes: SEGMENT_BYTES,
            ..OpenOptions::default()
        }
    }

    fn open(&mut self) -> Result<(), String> {
        let db = Session::open(&self.disk.db_path(), self.options()).map_err(|e| format!("open failed: {e}"))?;
        let other = Session::attach(db.engine().clone());
        let observer = Session::attach(db.engine().clone());
        self.handles = Some(Handles { db, other, observer });
        Ok(())
    }

    fn handles(&self) -> &Handles {
        self.handles.as_ref().expect("the database is open")
    }

    fn close(&mut self) -> Result<(), String> {
        if let Some(handles) = self.handles.take() {
            for handle in [&handles.other, &handles.observer, &handles.db] {
                handle.close().map_err(|e| format!("close failed: {e}"))?;
            }
        }
        Ok(())
    }

    /// A crash: the disk as `policy` leaves it becomes a fresh disk, the old engine is
    /// dropped (whatever it does then happens on the old disk), the new one opened.
    fn crash(&mut self, policy: CrashPolicy) -> Result<(), String> {
        let image = self.disk.state().crash_image(policy);
        let old = std::mem::replace(&mut self.disk, SimDisk::new(image, (), self.boots));
        self.boots += 1;
        drop(self.handles.take());
        drop(old);
        self.open()
    }
}

/// What the run has promised: the model's state at every version (for crashes) and
/// the versions that must survive one.
struct Promises {
    states: BTreeMap<u64, MDb>,
    /// Survives a power loss (`"none"` mode; everything acknowledged in `"always"`).
    durable: u64,
    /// Acknowledged: survives a process crash.
    acknowledged: u64,
}

impl Promises {
    fn record(&mut self, model: &Model, acknowledged: bool) {
        self.states.insert(model.db.last, model.db.clone());
        if acknowledged {
            self.acknowledged = model.db.last;
        }
    }
}

/// After a crash: the recovered version `v` must lie in `required..=upper` and the
/// database must hold the model's state at `v`; the model goes on from there.
fn recover(durable: &Durable, model: &mut Model, promises: &mut Promises, required: u64) -> Result<(), String> {
    let upper = model.db.last;
    let recovered = durable.handles().db.info().map_err(|e| e.to_string())?.last_version;
    if recovered < required || recovered > upper {
        return Err(format!("recovered version {recovered}, allowed {required}..={upper}"));
    }
    let state = promises.states.get(&recovered).ok_or_else(|| format!("the model has no state at version {recovered}"))?;
    stat(if recovered == upper { "crash: everything recovered" } else { "crash: a prefix recovered" });
    *model = Model { db: state.clone(), branch: "default".into(), space: "default".into(), transaction: None };
    promises.states.retain(|version, _| *version <= recovered);
    // An open makes everything it recovered durable.
    promises.durable = recovered;
    promises.acknowledged = recovered;
    check(durable.handles(), model).map_err(|e| format!("recovered version {recovered}: {e}"))
}

fn policy(power_loss: bool) -> CrashPolicy {
    if power_loss {
        CrashPolicy::DropUnsynced
    } else {
        CrashPolicy::KeepWritten
    }
}

/// Runs `steps` on a fresh database on the simulated disk and on the model, checking
/// after every step.
fn run_durable(always: bool, steps: &[Step]) -> Result<(), String> {
    let durability = if always { Durability::Always } else { Durability::None };
    let mut durable = Durable { disk: SimDisk::new(disk::DiskState::default(), (), 0), durability, handles: None, boots: 1 };
    durable.open()?;
    let mut model = Model::new();
    let mut promises = Promises { states: BTreeMap::new(), durable: 0, acknowledged: 0 };
    promises.record(&model, true);
    check(durable.handles(), &mut model).map_err(|e| format!("initially: {e}"))?;
    for (index, step) in steps.iter().enumerate() {
        let context = || format!("step {index} {step:?}");
        let segments_before = durable.disk.segments_created();
        let last_before = model.db.last;
        match step {
            Step::Op(op) => {
                let args = model.args_for(op);
                let branch = model.branch.clone();
                let expected = model.step(op, &args);
                let actual = run_engine(op, &args, durable.handles(), &branch);
                if actual != expected {
                    return Err(format!("{} with {args:?}: engine returned {actual:?}, model {expected:?}", context()));
                }
                promises.record(&model, true);
            }
            Step::Reopen => {
                durable.close().map_err(|e| format!("{}: {e}", context()))?;
                durable.open().map_err(|e| format!("{}: {e}", context()))?;
                model.branch = "default".into();
                model.space = "default".into();
                model.transaction = None;
                promises.durable = model.db.last;
            }
            Step::Flush => {
                durable.handles().db.flush().map_err(|e| format!("{}: flush failed: {e}", context()))?;
                promises.durable = model.db.last;
            }
            Step::Compact => {
                durable.handles().db.compact().map_err(|e| format!("{}: compact failed: {e}", context()))?;
                promises.durable = model.db.last;
            }
            Step::Crash(power_loss) => {
                let required = if *power_loss && !always { promises.durable } else { promises.acknowledged };
                durable.crash(policy(*power_loss)).map_err(|e| format!("{}: {e}", context()))?;
                recover(&durable, &mut model, &mut promises, required).map_err(|e| format!("after {}: {e}", context()))?;
            }
            Step::Fault { enospc, sticky, power_loss, space, key, value, skip } => {
                // Into a space that exists, so the second handle's `set_space` makes
                // no commit and the failing call belongs to the put.
                let existing: Vec<String> = model.db.branches[&model.branch].spaces.keys().cloned().collect();
                let space = match existing.get(space % existing.len().max(1)) {
                    Some(name) => index_of(&SPACES, name),
                    None => {
                        stat("fault: skipped (no space)");
                        continue;
                    }
                };
                let op = Op::Other(space, OtherWrite::KvPut(*key, *value));
                let args = model.args_for(&op);
                let branch = model.branch.clone();
                let expected = model.step(&op, &args);
                let kind = if *enospc { FaultKind::Enospc } else { FaultKind::Eio };
                durable.disk.set_fault(Some(FaultPlan { call: durable.disk.calls() + skip, kind, sticky: *sticky }));
                let actual = run_engine(&op, &args, durable.handles(), &branch);
                durable.disk.set_fault(None);
                let failed = durable.disk.failed_calls();
                if actual == expected {
                    stat(if failed.is_empty() { "fault: no storage call" } else { "fault: write succeeded anyway" });
                    promises.record(&model, true);
                } else if actual == Err(ErrorKind::Io) {
                    stat(format!("fault: write failed ({})", failed.first().map_or("?", |(_, kind)| kind.name())));
                    // Not acknowledged, but it may have reached the disk.
                    promises.record(&model, false);
                } else {
                    return Err(format!(
                        "{}: with the fault the engine returned {actual:?}; the model says {expected:?} (or an IoError)",
                        context()
                    ));
                }
                let required = if *power_loss && !always { promises.durable } else { promises.acknowledged };
                durable.crash(policy(*power_loss)).map_err(|e| format!("{}: {e}", context()))?;
                recover(&durable, &mut model, &mut promises, required).map_err(|e| format!("after {}: {e}", context()))?;
            }
        }
        // A segment roll makes everything before the rolling step durable.
        if durable.disk.segments_created() > segments_before {
            promises.durable = promises.durable.max(last_before);
        }
        if always {
            promises.durable = promises.acknowledged;
        }
        check(durable.handles(), &mut model).map_err(|e| format!("after {}: {e}", context()))?;
        check_live_counts(&durable.handles().db).map_err(|e| format!("after {}: {e}", context()))?;
    }
    // A clean close and reopen shows the model's state.
    durable.close()?;
    durable.open()?;
    model.branch = "default".into();
    model.space = "default".into();
    model.transaction = None;
    check(durable.handles(), &mut model).map_err(|e| format!("after the final reopen: {e}"))?;
    durable.close()
}

/// The seed of the random sequences (`run_random_model`).
const DEFAULT_SEED: u64 = 20_260_102;

/// The random test; `MODEL_STATS=1` prints how often crashes recovered everything or a
/// prefix, and how the faults went.
#[test]
fn model_durable_random_steps_with_crashes_and_faults_match_the_model() {
    run_random_model(DEFAULT_SEED, "model_durable", &steps_strategy(), |(always, steps)| run_durable(always, &steps));
}

fn assert_runs(always: bool, steps: &[Step]) {
    if let Err(message) = run_durable(always, steps) {
        panic!("{message}");
    }
}

/// Every durable step once, in both modes, on a database with branches and spaces.
#[test]
fn model_durable_handwritten_tour() {
    use Op::*;
    for always in [true, false] {
        let steps = [
            Step::Op(KvPut(0, 1)),
            Step::Op(ForkBranch(1)),
            Step::Op(SetSpace(1)),
            Step::Op(StateSet(1, 2)),
            Step::Op(EventAppend(0, 3)),
            Step::Crash(false),
            Step::Op(SetBranch(1)),
            Step::Op(JsonSetA(2, 4)),
            Step::Flush,
            Step::Op(KvPut(1, 5)),
            Step::Crash(true),
            Step::Op(VectorCreate),
            Step::Op(VectorUpsert(0, [1, 0, 0])),
            Step::Compact,
            Step::Op(Begin(false)),
            Step::Op(KvPut(2, 6)),
            Step::Reopen,
            Step::Op(Merge(1, false)),
            Step::Fault { enospc: false, sticky: false, power_loss: false, space: 0, key: 0, value: 7, skip: 0 },
            Step::Op(KvPut(0, 8)),
            Step::Fault { enospc: true, sticky: true, power_loss: true, space: 1, key: 1, value: 9, skip: 1 },
            Step::Op(KvDelete(0)),
        ];
        assert_runs(always, &steps);
    }
}
