"""The benchmark suite's one entry: our package against the published stratadb==0.6.0.

    python3 bench/run.py            # the full run (about 20-30 minutes on 2 cores)
    python3 bench/run.py --quick    # a smoke run with tiny sizes (about a minute)

It creates two virtual environments from this repository's own files: bench/.venv-peer
(stratadb==0.6.0) and bench/.venv-ours (this repository, a release build through
maturin, sharing the repository's target/ directory). Then it runs each workload of
workloads.py in a process of its own, alternating ours and the peer (A B A B) and
running the baselines (sqlite3, NumPy, hnswlib, a bare write+fsync loop) beside them,
`--reps` times each, and writes the medians with every raw figure to
bench/results/results.json, and the table and charts (report.py) to bench/results/.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
VENVS = {"ours": os.path.join(BENCH, ".venv-ours"), "peer": os.path.join(BENCH, ".venv-peer")}
PEER_PACKAGE = "stratadb==0.6.0"
SOURCE_NOTE = os.path.join(VENVS["ours"], "stratadb-source.txt")
# Baseline variants: a target name mapped to (workloads.py target, extra environment).
VARIANTS = {"numpy-1t": ("numpy", {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})}
DB_TARGETS = ("ours", "peer")


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def python_of(venv):
    return os.path.join(venv, "bin", "python")


def pins(*names):
    """The pinned requirement lines of requirements.txt for `names`."""
    lines = []
    with open(os.path.join(BENCH, "requirements.txt")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line and line.split("==")[0].lower() in names:
                lines.append(line)
    return lines


def sh(cmd, **kw):
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def setup(args):
    """Create both environments (if missing) and (re)install our package from source."""
    for name, venv in VENVS.items():
        if not os.path.exists(python_of(venv)):
            sh([sys.executable, "-m", "venv", venv])
            sh([python_of(venv), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
            if name == "peer":
                sh([python_of(venv), "-m", "pip", "install", "--quiet", PEER_PACKAGE] + pins("numpy"))
            else:
                sh([python_of(venv), "-m", "pip", "install", "--quiet", "-r", os.path.join(BENCH, "requirements.txt")])
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    source = REPO
    if args.ours_ref:
        # A clean export of one commit, for measuring it while the tree is being edited.
        source = os.path.join(args.scratch, "source-" + args.ours_ref.replace("/", "_"))
        shutil.rmtree(source, ignore_errors=True)
        os.makedirs(source)
        archive = subprocess.run(["git", "-C", REPO, "archive", args.ours_ref], check=True, stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", source], input=archive, check=True)
    # pip builds the wheel with maturin in release mode; cargo reuses target/.
    sh([python_of(VENVS["ours"]), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", source], env=env)
    with open(SOURCE_NOTE, "w") as f:
        f.write(describe_source(args.ours_ref) + "\n")


def describe_source(ref):
    """Which commit our installed package was built from (recorded beside the venv)."""
    git = lambda *a: subprocess.run(["git", "-C", REPO] + list(a), stdout=subprocess.PIPE,  # noqa: E731
                                    stderr=subprocess.DEVNULL, text=True).stdout.strip()
    if ref:
        return "%s (%s)" % (git("rev-parse", "--short", ref), ref)
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + (" plus uncommitted changes" if dirty else "")


def machine():
    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def first(text, field):
        for line in text.splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
        return "unknown"

    def out(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        except OSError:
            return ""

    mem_kb = int(first(read("/proc/meminfo"), "MemTotal").split()[0] or 0)
    versions = {}
    for name, venv in VENVS.items():
        versions[name] = out([python_of(venv), "-c", "import stratadb, sys; print(stratadb.__version__)"])
    py = out([python_of(VENVS["ours"]), "-c", "import sys; print(sys.version.split()[0])"])
    source = read(SOURCE_NOTE).strip() or "unknown"
    return {
        "cpu": first(read("/proc/cpuinfo"), "model name"),
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 2**20, 1),
        "disk": out(["findmnt", "-n", "-T", BENCH, "-o", "SOURCE,FSTYPE"]) or "unknown",
        "kernel": platform.release(),
        "python": py,
        "packages": versions,
        "commit": source,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def plan(args):
    """(workload, records, targets) for every job; the sweep reuses main-table jobs."""
    r = args.records
    vec = args.vectors
    jobs = [
        ("kv", r, ("ours", "peer", "sqlite", "dict")),
        ("kv_always", 0, ("ours", "peer", "sqlite", "fsync")),
        ("events", r, ("ours", "peer", "sqlite")),
        ("state", r, ("ours", "peer", "sqlite")),
        ("json", r, ("ours", "peer", "sqlite")),
        ("branches", r, DB_TARGETS),
        ("reopen", r, ("ours", "peer", "sqlite")),
        ("disk", r, ("ours", "peer", "sqlite")),
    ] + [("vectors", v, ("ours", "peer", "numpy", "numpy-1t", "hnswlib")) for v in vec]
    if not args.no_sweep:
        for s in args.sweep:
            jobs.append(("kv", s, DB_TARGETS))
            jobs.append(("branches", s, DB_TARGETS))
            jobs.append(("vectors", s, DB_TARGETS + ("numpy", "numpy-1t")))
    seen, unique = {}, []
    for workload, size, targets in jobs:
        k = job_key(workload, size)
        if k in seen:
            continue
        seen[k] = True
        if args.only and workload not in args.only:
            continue
        if workload == "vectors" and size > args.hnswlib_max:
            targets = tuple(t for t in targets if t != "hnswlib")
        unique.append((workload, size, targets))
    return unique


def job_key(workload, size):
    return workload if not size else "%s@%d" % (workload, size)


def run_one(args, workload, size, target, rep):
    scratch = os.path.join(args.scratch, "%s-%s-%d" % (job_key(workload, size).replace("@", "-"), target, rep))
    shutil.rmtree(scratch, ignore_errors=True)
    python = python_of(VENVS["peer"] if target == "peer" else VENVS["ours"])
    script_target, extra_env = VARIANTS.get(target, (target, {}))
    env = dict(os.environ, **extra_env)
    cmd = [python, os.path.join(BENCH, "workloads.py"), "--target", script_target, "--workload", workload,
           "--records", str(size or args.records), "--dir", scratch, "--seconds", str(args.seconds),
           "--budget", str(args.budget), "--queries", str(args.queries)]
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=args.timeout,
                              env=env)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            tail = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or [""]
            result = {"error": "exit %d: %s" % (done.returncode, tail[0].strip()[:300])}
        else:
            result = json.loads(lines[-1])
    except subprocess.TimeoutExpired:
        result = {"error": "timed out after %d s" % args.timeout}
    result["wall_s"] = round(time.perf_counter() - started, 2)
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def median_of(runs):
    ok = [r for r in runs if "error" not in r and not r.get("unsupported")]
    if not ok:
        first = runs[0] if runs else {}
        return {"error": first.get("error", "unsupported" if first.get("unsupported") else "no run")}
    med = {}
    for name in ok[0]:
        values = [r[name] for r in ok if name in r]
        if all(isinstance(v, bool) for v in values):
            med[name] = all(values)
        elif all(isinstance(v, (int, float)) for v in values):
            med[name] = statistics.median(values)
        else:
            med[name] = values[0]
    med["runs"] = len(ok)
    return med


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=None, help="records per workload (default 100000)")
    p.add_argument("--vectors", type=lambda s: [int(x) for x in s.split(",")], default=None,
                   help="collection sizes of the vector workload (default records/10,records)")
    p.add_argument("--sweep", type=lambda s: [int(x) for x in s.split(",")], default=None,
                   help="record counts of the scaling sweep (default records/10,records,records*10)")
    p.add_argument("--reps", type=int, default=None,
                   help="runs of each workload per target, median reported (default 3; 1 with --quick)")
    p.add_argument("--big-reps", type=int, default=1,
                   help="runs per target of the sweep sizes above --records (the 1M points take minutes)")
    p.add_argument("--seconds", type=float, default=None, help="length of each always-mode phase")
    p.add_argument("--budget", type=float, default=None, help="seconds after which a slow phase stops")
    p.add_argument("--queries", type=int, default=None, help="vector searches per run")
    p.add_argument("--timeout", type=int, default=1800, help="seconds one run may take")
    p.add_argument("--hnswlib-max", type=int, default=100_000, help="largest collection indexed with hnswlib")
    p.add_argument("--only", type=lambda s: s.split(","), default=None, help="comma-separated workloads")
    p.add_argument("--no-sweep", action="store_true", help="skip the scaling sweep")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of about a minute")
    p.add_argument("--no-setup", action="store_true", help="use the environments as they are")
    p.add_argument("--ours-ref", default=None, help="build our package from this git commit, not the work tree")
    p.add_argument("--out", default=os.path.join(BENCH, "results"), help="where results.* and the charts go")
    args = p.parse_args()
    if args.quick:
        defaults = dict(records=2000, seconds=0.3, budget=1.5, queries=20, reps=1)
        sweep_default = [1000, 2000, 8000]
    else:
        defaults = dict(records=100_000, seconds=3.0, budget=15.0, queries=200, reps=3)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not args.quick:
        sweep_default = [args.records // 10, args.records, args.records * 10]
    args.vectors = args.vectors or [max(1, args.records // 10), args.records]
    args.sweep = args.sweep or sweep_default
    args.scratch = os.path.join(args.out, "tmp")
    os.makedirs(args.scratch, exist_ok=True)

    if not args.no_setup:
        setup(args)
    config = {k: v for k, v in vars(args).items() if k not in ("out", "scratch")}
    results = {"machine": machine(), "config": config, "runs": {}, "median": {}}
    started = time.time()
    for workload, size, targets in plan(args):
        k = job_key(workload, size)
        runs = {t: [] for t in targets}
        reps = args.reps if size <= args.records else args.big_reps
        for rep in range(reps):
            for target in targets:  # A B A B: ours, peer (then the baselines), repeated
                r = run_one(args, workload, size, target, rep)
                runs[target].append(r)
                log("%-18s %-8s rep %d: %s" % (k, target, rep + 1, short(r)))
        results["runs"][k] = runs
        results["median"][k] = {t: median_of(rs) for t, rs in runs.items()}
    results["elapsed_s"] = round(time.time() - started, 1)
    shutil.rmtree(args.scratch, ignore_errors=True)

    path = os.path.join(args.out, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    # The report needs matplotlib, which the environment of our package has.
    subprocess.run([python_of(VENVS["ours"]), os.path.join(BENCH, "report.py"), path, args.out], check=True)
    log("done in %.0f s: %s, results.md and charts in %s" % (results["elapsed_s"], path, args.out))


def short(r):
    if "error" in r:
        return "ERROR " + r["error"][-200:]
    keep = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
            if k not in ("package_version",) and not isinstance(v, bool)}
    return json.dumps(keep)[:220]


if __name__ == "__main__":
    main()
