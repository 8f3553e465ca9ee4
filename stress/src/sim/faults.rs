//! Fault injection sweeps: storage call N fails, for every N of a workload, once or
//! from then on, with EIO (a write writes nothing, an fsync leaves the data's fate
//! undecided forever, a read or listing fails) or ENOSPC (a write is cut short).
//!
//! The workload starts by opening a crashed database (a torn frame at the end of the
//! log, a leftover `MANIFEST.tmp`), so faults also hit recovery's truncation, fsyncs
//! and cleanup; it then runs commits, a transaction, rolls, flushes, compactions, a
//! fork, a merge and a reopen, and closes. What must hold, for every case:
//! - nothing panics; a failing call surfaces as an `IoError`;
//! - a write that fails publishes at most its own commit and is not acknowledged;
//! - once the log is poisoned, no later write is acknowledged;
//! - after the run, the disk reopens on healthy storage (as a process crash leaves it,
//!   as a power loss leaves it, and a random mix) with every acknowledged commit, and
//!   in exactly the state the run had at the recovered version (`super::check_image`);
//!   in the full sweep, so does a crash after every storage call of the faulty run.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use stratadb::{Durability, ErrorKind, Session};

use super::disk::{CallKind, CrashPolicy, DiskState, FaultKind, FaultPlan};
use super::ops::{self, SimOp, Write};
use super::{catching, check_image, check_points, policies, sim_options, Counts, References, Run, Tag};
use crate::rng::Rng;

/// The operations after the first open.
pub fn workload() -> Vec<SimOp> {
    vec![
        SimOp::Commit(Write::Put),
        SimOp::Transaction { rollback: false },
        SimOp::Roll,
        SimOp::Commit(Write::Json),
        SimOp::Flush,
        SimOp::Compact,
        SimOp::Fork,
        SimOp::Commit(Write::SideWrite),
        SimOp::Merge,
        SimOp::Reopen,
        SimOp::Commit(Write::Vector),
        SimOp::Compact,
        SimOp::Commit(Write::Event),
        SimOp::Roll,
        SimOp::Commit(Write::Cell),
    ]
}

/// A database that crashed: the setup and two commits, every write kept, then a torn
/// frame after the last one and a leftover `MANIFEST.tmp`. Also the references and
/// the tag for it.
pub fn crashed_base(durability: Durability) -> Result<(DiskState, References, Tag), String> {
    let mut run = Run::new(DiskState::default(), durability, References::default(), Tag::default(), 3);
    let mut rng = Rng::new(11);
    run.open()?;
    for op in ops::setup().into_iter().chain([SimOp::Commit(Write::Put), SimOp::Commit(Write::Put)]) {
        run.step(&op, &mut rng)?;
    }
    let mut image = run.disk.state().crash_image(CrashPolicy::KeepWritten);
    drop(run.session.take());
    let last = image.names("db/wal").into_iter().max().ok_or("the base has no log segment")?;
    let path = format!("db/wal/{last}");
    let mut bytes = image.file(&path).ok_or("the last segment vanished")?;
    // Half of a frame: a header that claims a payload that is not there.
    bytes.extend_from_slice(&[0x5a; 21]);
    image.set_file(&path, bytes);
    let mut files = image.files();
    files.insert("db/MANIFEST.tmp".to_owned(), b"half a manifest".to_vec());
    let image = DiskState::from_files(&files);
    Ok((image, run.references.clone(), Tag { required: run.tag.required, upper: run.tag.upper, created: true }))
}

/// What one fault case hit.
pub struct CaseReport {
    pub first_failed: Option<CallKind>,
    pub failed_ops: u64,
    pub counts: Counts,
}

fn open(run: &mut Run) -> Result<bool, String> {
    match Session::open(&run.disk.db_path(), sim_options(&run.disk, run.durability)) {
        Ok(session) => {
            let state = session.engine().snapshot();
            let version = state.last_version;
            if version < run.tag.required || version > run.tag.upper {
                return Err(format!("open recovered version {version}, outside {}..={}", run.tag.required, run.tag.upper));
            }
            let expected = run.references.fingerprint(version)?;
            if *expected != super::fingerprint(&state)? {
                return Err(format!("open under faults recovered a state that is not the run's state at version {version}"));
            }
            run.references.truncate(version);
            run.references.insert(state);
            run.session = Some(session);
            let tag = Tag { required: version, upper: version, created: true };
            run.tag = tag;
            run.disk.set_tag(tag);
            Ok(true)
        }
        Err(error) if error.kind() == ErrorKind::Io => Ok(false),
        Err(error) => Err(format!("open under a storage fault failed with a {:?} error: {}", error.kind(), error.message())),
    }
}

/// One case: the workload on the crashed base with `plan`, then the checks above.
pub fn fault_case(durability: Durability, plan: Option<FaultPlan>, all_points: bool) -> Result<CaseReport, String> {
    catching(|| {
        let (base, references, tag) = crashed_base(durability)?;
        let mut run = Run::new(base, durability, references, tag, plan.map_or(0, |p| p.call.wrapping_mul(7919)));
        run.disk.set_fault(plan);
        run.disk.record(all_points);
        let mut rng = Rng::new(5);
        let mut failed_ops = 0u64;
        open(&mut run)?;
        for op in workload() {
            run.operations += 1;
            if run.session.is_none() && !open(&mut run)? {
                failed_ops += 1;
                continue;
            }
            if op == SimOp::Reopen {
                let Some(session) = run.session.take() else { continue };
                let last = session.engine().snapshot().last_version;
                let poisoned = session.info().map_err(|e| e.to_string())?.poisoned.is_some();
                match session.close() {
                    Ok(()) if !poisoned => {
                        let tag = Tag { required: last, upper: last, created: true };
                        run.tag = tag;
                        run.disk.set_tag(tag);
                    }
                    Ok(()) => {}
                    Err(error) if error.kind() == ErrorKind::Io => failed_ops += 1,
                    Err(error) => return Err(format!("close failed with a {:?} error: {}", error.kind(), error.message())),
                }
                if !open(&mut run)? {
                    failed_ops += 1;
                }
                continue;
            }
            let session = run.session.as_ref().ok_or("no session")?;
            let before = session.engine().snapshot().last_version;
            let poisoned_before = session.info().map_err(|e| e.to_string())?.poisoned;
            let segments_before = run.disk.segments_created();
            let tag = Tag { upper: before + u64::from(op.may_commit()), ..run.tag };
            run.tag = tag;
            run.disk.set_tag(tag);
            let calls_before = run.disk.calls();
            let result = ops::run(session, &op, &mut rng);
            let state = session.engine().snapshot();
            if std::env::var_os("STRESS_DEBUG").is_some() {
                eprintln!(
                    "op {op:?} calls {calls_before}..{}: {:?} version {before} -> {}",
                    run.disk.calls(),
                    result.as_ref().map_err(|e| e.message().to_owned()),
                    state.last_version
                );
            }
            let after = state.last_version;
            if after > before + 1 {
                return Err(format!("{op:?} made {} commits", after - before));
            }
            if after > before {
                run.references.insert(state);
            }
            let mut required = run.tag.required;
            match result {
                Ok(()) => {
                    if let Some(reason) = &poisoned_before {
                        if op.may_commit() || op.makes_durable() {
                            return Err(format!("{op:?} succeeded on a poisoned log ({reason})"));
                        }
                    }
                    if durability == Durability::Always || op.makes_durable() {
                        required = after;
                    }
                    if run.disk.segments_created() > segments_before && after > before {
                        required = required.max(before);
                    }
                }
                Err(error) => {
                    failed_ops += 1;
                    if error.kind() != ErrorKind::Io && after != before {
                        return Err(format!("{op:?} failed with a {:?} error but committed", error.kind()));
                    }
                }
            }
            let tag = Tag { required, upper: after, created: true };
            run.tag = tag;
            run.disk.set_tag(tag);
        }
        if let Some(session) = run.session.take() {
            let last = session.engine().snapshot().last_version;
            let poisoned = session.info().map_err(|e| e.to_string())?.poisoned.is_some();
            match session.close() {
                Ok(()) if !poisoned => {
                    let tag = Tag { required: last, upper: last, created: true };
                    run.tag = tag;
                    run.disk.set_tag(tag);
                }
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::Io => {}
                Err(error) => return Err(format!("close failed with a {:?} error: {}", error.kind(), error.message())),
            }
        }
        let mut counts = Counts { runs: 1, operations: run.operations, storage_calls: run.disk.calls(), ..Counts::default() };
        let first_failed = run.disk.failed_calls().first().map(|(_, kind)| *kind);
        let mut seen = HashSet::new();
        let final_state = run.disk.state();
        let seed = plan.map_or(1, |p| p.call.wrapping_add(u64::from(p.sticky) << 32));
        for policy in policies(seed, 1) {
            let image = final_state.crash_image(policy);
            counts.images += 1;
            check_image(image, &run.tag, &mut run.references, durability)
                .map_err(|e| format!("after the run (image {policy:?}, acknowledged {:?}): {e}", run.tag))?;
        }
        if all_points {
            let points = run.disk.take_points();
            counts.crash_points = points.len() as u64;
            check_points(&points, &[CrashPolicy::DropUnsynced, CrashPolicy::Random(seed)], &mut run.references, durability, &mut seen, &mut counts)?;
        }
        Ok(CaseReport { first_failed, failed_ops, counts })
    })
}

/// The outcome of a sweep: cases by fault kind and first failing call, counts, and
/// every failing case (with its replay command).
pub struct Sweep {
    pub by_kind: BTreeMap<String, u64>,
    pub counts: Counts,
    pub failures: Vec<String>,
}

/// Every call N of the workload, for both fault kinds, once and from then on.
pub fn sweep(durability: Durability, all_points: bool, deadline: Option<Instant>) -> Result<Sweep, String> {
    let clean = fault_case(durability, None, false)?;
    let calls = clean.counts.storage_calls;
    let mut out = Sweep { by_kind: BTreeMap::new(), counts: Counts::default(), failures: Vec::new() };
    for call in 0..calls {
        for kind in [FaultKind::Eio, FaultKind::Enospc] {
            for sticky in [false, true] {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(out);
                }
                let plan = FaultPlan { call, kind, sticky };
                match fault_case(durability, Some(plan), all_points) {
                    Ok(report) => {
                        let hit = report.first_failed.map_or("none", CallKind::name);
                        let key = format!("{}:{hit}", if kind == FaultKind::Eio { "eio" } else { "enospc" });
                        *out.by_kind.entry(key).or_insert(0) += 1;
                        out.counts.add(&report.counts);
                        out.counts.acknowledged += report.failed_ops;
                    }
                    Err(e) => out.failures.push(format!(
                        "fault {kind:?} at storage call {call}{}: {e}\n  replay with: cargo run --release -p stress -- --harness faults --mode {} --fault {call}:{}:{}",
                        if sticky { " and every call after it" } else { "" },
                        durability.as_str(),
                        if kind == FaultKind::Eio { "eio" } else { "enospc" },
                        if sticky { "sticky" } else { "once" }
                    )),
                }
            }
        }
    }
    Ok(out)
}

/// Parses `N:eio|enospc:once|sticky`.
pub fn parse_plan(text: &str) -> Option<FaultPlan> {
    let parts: Vec<&str> = text.split(':').collect();
    let [call, kind, sticky] = parts.as_slice() else { return None };
    Some(FaultPlan {
        call: call.parse().ok()?,
        kind: match *kind {
            "eio" => FaultKind::Eio,
            "enospc" => FaultKind::Enospc,
            _ => return None,
        },
        sticky: match *sticky {
            "sticky" => true,
            "once" => false,
            _ => return None,
        },
    })
}

pub fn run_cli(short: bool, deadline: Option<Instant>, modes: &[Durability], replay: Option<FaultPlan>) -> bool {
    let mut ok = true;
    for &mode in modes {
        if mode == Durability::Standard {
            continue;
        }
        if let Some(plan) = replay {
            match fault_case(mode, Some(plan), true) {
                Ok(report) => println!(
                    "stress: faults mode={} {plan:?}: ok ({} operations failed, first failed call {:?})",
                    mode.as_str(),
                    report.failed_ops,
                    report.first_failed
                ),
                Err(e) => {
                    ok = false;
                    eprintln!("stress: faults FAILED mode={} {plan:?}: {e}", mode.as_str());
                }
            }
            continue;
        }
        match sweep(mode, !short, deadline) {
            Ok(sweep) => {
                let cases: u64 = sweep.by_kind.values().sum::<u64>() + sweep.failures.len() as u64;
                let detail: Vec<String> = sweep.by_kind.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let verdict = if sweep.failures.is_empty() {
                    "lost_acknowledged=0 acknowledged_after_poison=0 panics=0 ok".to_owned()
                } else {
                    format!("FAILED cases={}", sweep.failures.len())
                };
                println!(
                    "stress: faults mode={} cases={cases} storage_calls={} failed_operations={} crash_points={} crash_images={} {verdict}",
                    mode.as_str(),
                    sweep.counts.storage_calls,
                    sweep.counts.acknowledged,
                    sweep.counts.crash_points,
                    sweep.counts.images
                );
                println!("stress: faults mode={} first failing call: {}", mode.as_str(), detail.join(" "));
                for failure in sweep.failures.iter().take(20) {
                    eprintln!("stress: faults FAILED mode={}: {failure}", mode.as_str());
                }
                ok &= sweep.failures.is_empty();
            }
            Err(e) => {
                ok = false;
                eprintln!("stress: faults FAILED mode={}: {e}", mode.as_str());
            }
        }
    }
    ok
}
