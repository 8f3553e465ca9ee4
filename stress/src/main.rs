//! The crash-recovery stress harness (see stress/README.md).
//!
//! Real-process mode: a child process runs a seeded workload on a real directory and
//! reports every operation before it starts (`intent`) and after it returns (`ack`);
//! the parent kills it with SIGKILL at a random moment, reopens the directory, and
//! checks the prefix property against a reference model: the recovered state is
//! exactly the state after the first `n` operations, for some `n` at least the number
//! acknowledged, and the database then accepts writes. Every run prints its seed and
//! every failure prints the command that replays it.


use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use stratadb::{Durability, OpenOptions, Session};

use stress::model::Model;
use stress::rng::{self, Rng};
use stress::sim::{self, Counts};
use stress::workload::{self, Operation};

struct Options {
    seed: u64,
    cycles: Option<u64>,
    minutes: Option<f64>,
    modes: Vec<Durability>,
    directory: Option<PathBuf>,
    harnesses: Vec<Harness>,
    short: bool,
    runs: Option<u64>,
    max_ops: usize,
    workload: Option<Vec<sim::ops::SimOp>>,
    images: u64,
    fault: Option<sim::disk::FaultPlan>,
    run_seed: Option<u64>,
    process_crashes: bool,
    apis: Vec<Api>,
    python: Option<PathBuf>,
}

/// Which API the child of the kill harness writes through (`--api`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// The harness binary itself (`--child`), through `stratadb::Session`.
    Rust,
    /// `stress/python_child.py`, through the Python package's `stratadb.Strata`.
    Python,
}

impl Api {
    fn parse(text: &str) -> Option<Vec<Api>> {
        Some(match text {
            "rust" => vec![Api::Rust],
            "python" => vec![Api::Python],
            "all" => vec![Api::Rust, Api::Python],
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Api::Rust => "rust",
            Api::Python => "python",
        }
    }
}

/// How to start a child of the kill harness: a program and the arguments before
/// `DIR SEED MODE START`.
struct ChildProgram {
    program: PathBuf,
    leading: Vec<String>,
}

/// The Python child script, kept in the repository next to this crate.
fn python_child_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python_child.py")
}

/// `--python`, else the repository's `.venv/bin/python` (what `make install` creates),
/// else `python3` from PATH.
fn python_interpreter(options: &Options) -> PathBuf {
    if let Some(path) = &options.python {
        return path.clone();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(".venv").join("bin").join("python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// The child program for `api`; for Python, checks first that the interpreter imports
/// the package, so a missing install is one clear message instead of a failed cycle.
fn child_program(api: Api, options: &Options) -> Result<ChildProgram, String> {
    match api {
        Api::Rust => {
            let executable = std::env::current_exe().map_err(|e| format!("cannot find the harness binary: {e}"))?;
            Ok(ChildProgram { program: executable, leading: vec!["--child".into()] })
        }
        Api::Python => {
            let python = python_interpreter(options);
            let script = python_child_script();
            if !script.exists() {
                return Err(format!("the Python child script {} is missing", script.display()));
            }
            let probe = Command::new(&python)
                .args(["-c", "import stratadb"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| format!("cannot run the Python interpreter {}: {e} (pass --python PATH)", python.display()))?;
            if !probe.status.success() {
                return Err(format!(
                    "`{} -c 'import stratadb'` failed: {}\nthe Python-API kill harness needs the stratadb package: \
                     run `make install` (it creates .venv with the package) or pass --python PATH to an \
                     interpreter that has it",
                    python.display(),
                    String::from_utf8_lossy(&probe.stderr).trim()
                ));
            }
            Ok(ChildProgram { program: python, leading: vec![script.display().to_string()] })
        }
    }
}

/// The parts of the harness (`--harness`); `--short` runs all of them briefly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Harness {
    /// Real processes killed with SIGKILL.
    Kill,
    /// Random multi-crash runs on the simulated disk.
    Sim,
    /// Every workload of up to `--ops` operations, a crash after every storage call.
    Exhaustive,
    /// Storage call N fails, for every N.
    Faults,
    /// Truncations and bit flips of every file kind.
    Corruption,
}

impl Harness {
    fn parse(text: &str) -> Option<Vec<Harness>> {
        Some(match text {
            "kill" => vec![Harness::Kill],
            "sim" => vec![Harness::Sim],
            "exhaustive" => vec![Harness::Exhaustive],
            "faults" => vec![Harness::Faults],
            "corruption" => vec![Harness::Corruption],
            "all" => vec![Harness::Kill, Harness::Sim, Harness::Exhaustive, Harness::Faults, Harness::Corruption],
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Harness::Kill => "kill",
            Harness::Sim => "sim",
            Harness::Exhaustive => "exhaustive",
            Harness::Faults => "faults",
            Harness::Corruption => "corruption",
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: stress [--short] [--harness kill|sim|exhaustive|faults|corruption|all]... [--cycles N] [--minutes M]\n\
         \x20             [--seed S] [--mode always|standard|none] [--dir PATH] [--runs N] [--ops N]\n\
         \x20             [--workload op,op,...] [--images N] [--fault N:eio|enospc:once|sticky]\n\
         \x20             [--run-seed S] [--no-process-crashes] [--garbage] [--api rust|python|all] [--python PATH]\n\
         \x20      stress --child DIR SEED MODE START\n\
         \x20      stress --write-corpus DIR   (seed inputs for the fuzz targets)\n\
         (see stress/README.md and docs/testing.md)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, directory] = args.as_slice() {
        if flag == "--write-corpus" {
            return match sim::fuzz::write_corpus(Path::new(directory)) {
                Ok(count) => {
                    println!("stress: wrote {count} corpus files under {directory}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("stress: cannot write the corpus: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    if args.first().map(String::as_str) == Some("--child") {
        return match args.as_slice() {
            [_, dir, seed, mode, start] => child(Path::new(dir), seed, mode, start),
            _ => usage(),
        };
    }
    let mut options = Options {
        seed: rng::seed_from_time(),
        cycles: None,
        minutes: None,
        modes: Vec::new(),
        directory: None,
        harnesses: Vec::new(),
        short: false,
        runs: None,
        max_ops: 3,
        workload: None,
        images: 2,
        fault: None,
        run_seed: None,
        // Half of the boots of a random run start from a process crash (pending writes
        // kept), the others from a power loss.
        process_crashes: true,
        apis: Vec::new(),
        python: None,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || iter.next().cloned();
        match arg.as_str() {
            "--help" | "-h" => {
                usage();
                return ExitCode::SUCCESS;
            }
            "--short" => options.short = true,
            "--cycles" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => options.cycles = Some(n),
                None => return usage(),
            },
            "--minutes" => match value().and_then(|v| v.parse().ok()) {
                Some(m) => options.minutes = Some(m),
                None => return usage(),
            },
            "--seed" => match value().and_then(|v| v.parse().ok()) {
                Some(s) => options.seed = s,
                None => return usage(),
            },
            "--mode" => match value().map(|v| Durability::parse(&v)) {
                Some(Ok(mode)) => options.modes.push(mode),
                _ => return usage(),
            },
            "--dir" => match value() {
                Some(dir) => options.directory = Some(PathBuf::from(dir)),
                None => return usage(),
            },
            "--harness" => match value().and_then(|v| Harness::parse(&v)) {
                Some(list) => options.harnesses.extend(list),
                None => return usage(),
            },
            "--runs" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => options.runs = Some(n),
                None => return usage(),
            },
            "--ops" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => options.max_ops = n,
                None => return usage(),
            },
            "--workload" => match value().and_then(|v| sim::parse_workload(&v)) {
                Some(w) => options.workload = Some(w),
                None => return usage(),
            },
            "--fault" => match value().and_then(|v| sim::faults::parse_plan(&v)) {
                Some(plan) => options.fault = Some(plan),
                None => return usage(),
            },
            "--run-seed" => match value().and_then(|v| v.parse().ok()) {
                Some(s) => options.run_seed = Some(s),
                None => return usage(),
            },
            "--api" => match value().and_then(|v| Api::parse(&v)) {
                Some(list) => options.apis.extend(list),
                None => return usage(),
            },
            "--python" => match value() {
                Some(path) => options.python = Some(PathBuf::from(path)),
                None => return usage(),
            },
            "--process-crashes" => options.process_crashes = true,
            "--no-process-crashes" => options.process_crashes = false,
            "--garbage" => sim::disk::set_garbage(true),
            "--images" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => options.images = n,
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    if options.harnesses.is_empty() {
        options.harnesses = if options.short {
            Harness::parse("all").unwrap_or_default()
        } else {
            vec![Harness::Kill]
        };
    }
    let deadline = options.minutes.map(|m| Instant::now() + Duration::from_secs_f64(m * 60.0));
    let mut failed = false;
    let count = options.harnesses.len();
    for (index, harness) in options.harnesses.clone().into_iter().enumerate() {
        // A soak splits its time evenly between the harnesses still to run.
        let harness_deadline = deadline.map(|d| {
            let remaining = d.saturating_duration_since(Instant::now());
            Instant::now() + remaining / (count - index) as u32
        });
        let started = Instant::now();
        let ok = match harness {
            Harness::Kill => run(&options, harness_deadline) == ExitCode::SUCCESS,
            Harness::Sim => run_sim(&options, harness_deadline),
            Harness::Exhaustive => run_exhaustive(&options),
            Harness::Faults => sim::faults::run_cli(
                options.short,
                harness_deadline,
                &modes_or(&options, &[Durability::Always, Durability::None]),
                options.fault,
            ),
            Harness::Corruption => sim::corruption::run_cli(options.seed, options.short),
        };
        println!("stress: harness {} finished in {:.1}s", harness.name(), started.elapsed().as_secs_f64());
        failed |= !ok;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn modes_or(options: &Options, default: &[Durability]) -> Vec<Durability> {
    if options.modes.is_empty() {
        default.to_vec()
    } else {
        options.modes.clone()
    }
}

fn print_counts(what: &str, mode: Durability, counts: &Counts, ok: bool) {
    let verdict = if ok { "lost_acknowledged=0 non_prefix=0 refused=0 panics=0 ok" } else { "FAILED (see above)" };
    println!(
        "stress: {what} mode={} runs={} operations={} storage_calls={} crash_points={} crash_images={} duplicate_images={} {verdict}",
        mode.as_str(),
        counts.runs,
        counts.operations,
        counts.storage_calls,
        counts.crash_points,
        counts.images,
        counts.duplicate_images
    );
}

/// Random multi-crash runs on the simulated disk.
fn run_sim(options: &Options, deadline: Option<Instant>) -> bool {
    let modes = modes_or(options, &[Durability::Always, Durability::None]);
    let runs = options.runs.unwrap_or(if options.short { 30 } else { 200 });
    let mut ok = true;
    for (index, &mode) in modes.iter().enumerate() {
        if mode == Durability::Standard {
            eprintln!("stress: sim runs \"always\" and \"none\" only (\"standard\" adds timer-driven fsyncs that a seed cannot replay)");
            continue;
        }
        let mode_deadline = deadline.map(|d| {
            let remaining = d.saturating_duration_since(Instant::now());
            Instant::now() + remaining / (modes.len() - index) as u32
        });
        let mut rng = Rng::new(options.seed.wrapping_add(index as u64));
        println!("stress: sim mode={} seed={}", mode.as_str(), options.seed.wrapping_add(index as u64));
        let mut total = Counts::default();
        let mut mode_ok = true;
        let mut run = 0u64;
        loop {
            if let Some(seed) = options.run_seed {
                if run > 0 {
                    break;
                }
                run += 1;
                match sim::random_run(seed, mode, 8, 6, options.process_crashes) {
                    Ok(counts) => total.add(&counts),
                    Err(failure) => {
                        mode_ok = false;
                        eprintln!("stress: sim FAILED mode={} run seed={seed}: {failure}", mode.as_str());
                    }
                }
                continue;
            }
            match mode_deadline {
                Some(d) if Instant::now() >= d => break,
                None if run >= runs => break,
                _ => {}
            }
            run += 1;
            let seed = rng.next_u64();
            match sim::random_run(seed, mode, 8, 6, options.process_crashes) {
                Ok(counts) => total.add(&counts),
                Err(failure) => {
                    mode_ok = false;
                    eprintln!("stress: sim FAILED mode={} run seed={seed}: {failure}", mode.as_str());
                    eprintln!(
                        "stress: replay with: cargo run --release -p stress -- --harness sim --mode {} --run-seed {seed}{}",
                        mode.as_str(),
                        if options.process_crashes { " --process-crashes" } else { "" }
                    );
                    break;
                }
            }
        }
        print_counts("sim", mode, &total, mode_ok);
        ok &= mode_ok;
    }
    ok
}

/// Every workload of up to `--ops` operations, a crash after every storage call.
fn run_exhaustive(options: &Options) -> bool {
    let modes = modes_or(options, &[Durability::Always, Durability::None]);
    let max_ops = if options.short { options.max_ops.min(2) } else { options.max_ops };
    let workloads = match &options.workload {
        Some(w) => vec![w.clone()],
        None => sim::all_workloads(max_ops),
    };
    let images = if options.short { options.images.min(1) } else { options.images };
    let mut ok = true;
    for &mode in &modes {
        if mode == Durability::Standard {
            continue;
        }
        println!("stress: exhaustive mode={} workloads={} (up to {max_ops} operations)", mode.as_str(), workloads.len());
        let mut total = Counts::default();
        let mut mode_ok = true;
        for workload in &workloads {
            match sim::exhaustive_case(workload, mode, images) {
                Ok(counts) => total.add(&counts),
                Err(failure) => {
                    mode_ok = false;
                    let name = sim::render_workload(workload);
                    eprintln!("stress: exhaustive FAILED mode={} workload={name}: {failure}", mode.as_str());
                    eprintln!(
                        "stress: replay with: cargo run --release -p stress -- --harness exhaustive --mode {} --workload {name} --images {images}",
                        mode.as_str()
                    );
                }
            }
        }
        print_counts("exhaustive", mode, &total, mode_ok);
        ok &= mode_ok;
    }
    ok
}

fn run(options: &Options, deadline: Option<Instant>) -> ExitCode {
    let apis = if options.apis.is_empty() { vec![Api::Rust] } else { options.apis.clone() };
    let modes = modes_or(options, &[Durability::Always, Durability::Standard]);
    let mut failed = false;
    let runs = apis.len() * modes.len();
    let mut started = 0usize;
    for &api in &apis {
        // A Python child pays for an interpreter start per cycle: the short run does
        // fewer of its cycles.
        let cycles_per_mode = match (options.cycles, deadline, options.short, api) {
            (Some(n), _, _, _) => n,
            (None, Some(_), _, _) => u64::MAX,
            (None, None, true, Api::Python) => 20,
            (None, None, _, _) => 40,
        };
        let program = match child_program(api, options) {
            Ok(program) => program,
            Err(message) => {
                eprintln!("stress: FAILED api={}: {message}", api.name());
                failed = true;
                started += modes.len();
                continue;
            }
        };
        for (index, &mode) in modes.iter().enumerate() {
            let seed = options.seed.wrapping_add(index as u64);
            let mode_deadline = deadline.map(|d| {
                let remaining = d.saturating_duration_since(Instant::now());
                Instant::now() + remaining / (runs - started) as u32
            });
            started += 1;
            println!("stress: real-process kill -9 api={} mode={} seed={seed}", api.name(), mode.as_str());
            match kill_cycles(&program, seed, mode, cycles_per_mode, mode_deadline, options.directory.as_deref()) {
                Ok(report) => println!(
                    "stress: api={} mode={} cycles={} operations={} acknowledged={} compactions={} lost_acknowledged=0 non_prefix=0 ok",
                    api.name(),
                    mode.as_str(),
                    report.cycles,
                    report.operations,
                    report.acknowledged,
                    report.compactions
                ),
                Err(failure) => {
                    failed = true;
                    eprintln!("stress: FAILED api={} mode={} seed={seed}: {failure}", api.name(), mode.as_str());
                    let python = match api {
                        Api::Rust => String::new(),
                        Api::Python => format!(" --python {}", program.program.display()),
                    };
                    eprintln!(
                        "stress: replay with: cargo run --release -p stress -- --harness kill --api {}{python} --seed {seed} --mode {} --cycles {}",
                        api.name(),
                        mode.as_str(),
                        cycles_per_mode.min(1_000_000)
                    );
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

struct Report {
    cycles: u64,
    operations: u64,
    acknowledged: u64,
    /// Compactions the children attempted (acknowledged or killed during).
    compactions: u64,
}

/// Runs kill cycles on one directory, which carries over from cycle to cycle so that
/// each recovery starts from what the previous crash left.
fn kill_cycles(
    program: &ChildProgram,
    seed: u64,
    mode: Durability,
    cycles: u64,
    deadline: Option<Instant>,
    base: Option<&Path>,
) -> Result<Report, String> {
    let directory = base
        .map(Path::to_path_buf)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("stratadb-stress-{}-{seed}", std::process::id())));
    let _ = std::fs::remove_dir_all(&directory);
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let mut report = Report { cycles: 0, operations: 0, acknowledged: 0, compactions: 0 };
    for cycle in 0..cycles {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let child_seed = rng.next_u64();
        let start = model.operations_applied();
        let mut child = Command::new(&program.program)
            .args(&program.leading)
            .args([&directory.display().to_string(), &child_seed.to_string(), mode.as_str(), &start.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the child: {e}"))?;
        let stdout = child.stdout.take().ok_or("the child has no stdout")?;
        // Kill after a random number of acknowledged operations (or at once, before
        // any), at a random moment inside the next one.
        let kill_after = rng.below(400);
        let mut intents: Vec<Operation> = Vec::new();
        let mut acknowledged = 0u64;
        let mut acknowledged_commits = 0u64;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        // Whether the parent chose the moment to kill (else the child's output ended:
        // it died on its own).
        let mut killed_by_choice = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.trim_end();
            if let Some(rest) = text.strip_prefix("intent ") {
                intents.push(Operation::parse(rest).ok_or_else(|| format!("cycle {cycle}: bad intent line {text:?}"))?);
            } else if text.starts_with("ack ") {
                acknowledged += 1;
                if intents.last().is_some_and(Operation::commits) {
                    acknowledged_commits += 1;
                }
                if acknowledged >= kill_after {
                    if rng.below(2) == 0 {
                        std::thread::sleep(Duration::from_micros(rng.below(2000)));
                    }
                    killed_by_choice = true;
                    break;
                }
            } else if text == "ready" && kill_after == 0 {
                killed_by_choice = true;
                break;
            }
        }
        let _ = child.kill();
        // Drain what the child wrote before it died: intents printed before the kill
        // still describe operations that may have reached the log.
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        for text in rest.lines() {
            if let Some(op) = text.strip_prefix("intent ") {
                intents.push(Operation::parse(op).ok_or_else(|| format!("cycle {cycle}: bad intent line {text:?}"))?);
            } else if text.starts_with("ack ") && intents.last().is_some_and(Operation::commits) {
                acknowledged_commits += 1;
            }
        }
        let status = child.wait().map_err(|e| format!("cycle {cycle}: cannot wait for the child: {e}"))?;
        if !killed_by_choice {
            return Err(format!("cycle {cycle}: the child ended on its own ({status}) after {acknowledged} acknowledgements; see its stderr above"));
        }
        // The child's operations must be the seeded workload's (for the Python child,
        // this checks its generator against workload.rs).
        let mut generator = Rng::new(child_seed);
        for (offset, operation) in intents.iter().enumerate() {
            let expected = workload::next_operation(&mut generator, start + offset as u64);
            if *operation != expected {
                return Err(format!(
                    "cycle {cycle}: the child ran {:?} as operation {}, the workload has {:?}",
                    operation.render(),
                    start + offset as u64,
                    expected.render()
                ));
            }
        }
        report.compactions += intents.iter().filter(|op| matches!(op, Operation::Compact)).count() as u64;
        report.cycles += 1;
        report.acknowledged += acknowledged_commits;

        let session = Session::open(&directory, OpenOptions { durability: Some(mode), ..OpenOptions::default() })
            .map_err(|e| format!("cycle {cycle}: reopen failed: {e}"))?;
        let recovered = session.info().map_err(|e| e.to_string())?.last_version;
        let committed = recovered - model.version();
        if committed < acknowledged_commits {
            return Err(format!(
                "cycle {cycle}: lost acknowledged commits: {acknowledged_commits} acknowledged, only {committed} recovered"
            ));
        }
        if committed > intents.iter().filter(|op| op.commits()).count() as u64 {
            return Err(format!("cycle {cycle}: {committed} commits recovered but only {} were attempted", intents.len()));
        }
        // Apply the attempted operations in order until `committed` commits are in;
        // operations that do not commit (flush, compact) ride along.
        let mut applied = 0u64;
        for operation in &intents {
            if applied == committed {
                break;
            }
            if operation.commits() {
                applied += 1;
            }
            model.apply(operation);
        }
        report.operations += committed;
        model.check(&session).map_err(|e| format!("cycle {cycle}: recovered state is not the prefix of {committed} operations: {e}"))?;
        // The database accepts writes after recovery.
        let probe = Operation::Put { key: "probe".into(), value: cycle as i64 };
        probe.run(&session).map_err(|e| format!("cycle {cycle}: write after recovery failed: {e}"))?;
        model.apply(&probe);
        session.close().map_err(|e| format!("cycle {cycle}: close failed: {e}"))?;
    }
    let _ = std::fs::remove_dir_all(&directory);
    Ok(report)
}

/// The child: runs operations until killed, reporting each.
fn child(directory: &Path, seed: &str, mode: &str, start: &str) -> ExitCode {
    let (Ok(seed), Ok(mode), Ok(start)) = (seed.parse::<u64>(), Durability::parse(mode), start.parse::<u64>()) else {
        return usage();
    };
    let session = match Session::open(directory, OpenOptions { durability: Some(mode), ..OpenOptions::default() }) {
        Ok(session) => session,
        Err(error) => {
            eprintln!("child: open failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut rng = Rng::new(seed);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    for index in start.. {
        let operation = workload::next_operation(&mut rng, index);
        let _ = writeln!(out, "intent {}", operation.render());
        let _ = out.flush();
        if let Err(error) = operation.run(&session) {
            eprintln!("child: operation {index} failed: {error}");
            return ExitCode::FAILURE;
        }
        let _ = writeln!(out, "ack {index}");
        let _ = out.flush();
    }
    ExitCode::SUCCESS
}
