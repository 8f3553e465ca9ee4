"""One benchmark run in this process: a workload against one target, figures as JSON.

    python workloads.py --target ours|peer|sqlite|dict|numpy|hnswlib|fsync \
        --workload NAME --records N --dir SCRATCH [--seconds S] [--budget B]

`ours` and `peer` both mean "the `stratadb` package this interpreter imports": the
runner starts this script with the interpreter of the matching virtual environment,
so both execute the very same calls. Only calls the published 0.6.0 also has are
used (no close(), no context manager, no transactions); durability is chosen through
`strata.toml`, which both packages read. The baselines (`sqlite`, `dict`, `numpy`,
`hnswlib`, `fsync`) do the same work with their own means where that makes sense;
`dict` is the floor of the KV loops: a plain Python dict, one C call per operation.

The last line printed is one JSON object: the figures, plus `rss_start_mb` (resident
size once the target is imported and opened) and `rss_peak_mb` (the high-water mark).
Slow phases stop at `--budget` seconds after at least one operation; the figures then
report the operations actually done.
"""

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time

DB_TARGETS = ("ours", "peer")
NOTE = "an agent remembers a small fact about this user"  # ~48 bytes of text
EVENT_TYPES = 10
VECTOR_DIM = 384
JSON_DOCS = 1000
FORK_REPEATS = 5


# ---------------------------------------------------------------- shared helpers

def key(i):
    return "key:%08d" % i


def value(i):
    """A small dict (about 100 bytes as compact JSON), built the same way for everyone."""
    return {"id": i, "user": "user-%06d" % (i % 1000000), "score": i * 0.5, "active": True, "note": NOTE}


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


class Clock:
    """Accumulates the time spent inside timed calls, and knows the phase budget."""

    def __init__(self, budget):
        self.budget = budget
        self.start = time.perf_counter()

    def over(self, done):
        return done > 0 and time.perf_counter() - self.start > self.budget


def open_strata(path, durability):
    """Open a database with `durability` chosen through strata.toml (both packages read it)."""
    from stratadb import Strata

    os.makedirs(path, exist_ok=True)
    config = os.path.join(path, "strata.toml")
    if not os.path.exists(config):
        with open(config, "w") as f:
            f.write('durability = "%s"\n' % durability)
    return Strata.open(path)


def open_sqlite(path, synchronous):
    import sqlite3

    os.makedirs(os.path.dirname(path), exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=%s" % synchronous)
    return conn


SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, payload TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, seq);
CREATE TABLE IF NOT EXISTS cells (name TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS docs (key TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


def sqlite_db(scratch, synchronous="NORMAL"):
    conn = open_sqlite(os.path.join(scratch, "db.sqlite"), synchronous)
    conn.executescript(SQLITE_SCHEMA)
    return conn


class SqliteKV:
    """The KV calls the workloads use, on a sqlite3 table (one transaction per write)."""

    def __init__(self, conn):
        self.conn = conn

    def kv_put(self, k, v):
        self.conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (k, json.dumps(v)))

    def kv_get(self, k):
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (k,)).fetchone()
        return None if row is None else json.loads(row[0])


class DictKV:
    """The floor of the KV loops: the same loop with one call into a plain Python dict per
    operation (no copy, no encoding, no log). No store can be called faster from Python."""

    def __init__(self):
        store = {}
        self.kv_put = store.__setitem__
        self.kv_get = store.get


# ---------------------------------------------------------------- workloads

def w_kv(a):
    """kv_put of N small dicts ("standard" / synchronous=NORMAL), then N random kv_get hits."""
    n = a.records
    if a.target in DB_TARGETS:
        db = open_strata(os.path.join(a.dir, "db"), "standard")
    elif a.target == "sqlite":
        db = SqliteKV(sqlite_db(a.dir))
    elif a.target == "dict":
        db = DictKV()
    else:
        raise Unsupported
    order = list(range(n))
    random.Random(7).shuffle(order)
    out = {"rss_start_mb": current_rss_mb()}
    put = db.kv_put
    t = time.perf_counter()
    for i in range(n):
        put(key(i), value(i))
    out["put_ops"] = n / (time.perf_counter() - t)
    get = db.kv_get
    misses = 0
    t = time.perf_counter()
    for i in order:
        if get(key(i)) is None:
            misses += 1
    out["get_ops"] = n / (time.perf_counter() - t)
    out["get_misses"] = misses
    out["put_us"] = 1e6 / out["put_ops"]
    out["get_us"] = 1e6 / out["get_ops"]
    out["records"] = n
    return out


def w_kv_always(a):
    """kv_put in "always" mode (fsync per commit) for --seconds, with 1 and with 4 threads."""
    out = {}
    if a.target in DB_TARGETS:
        db = open_strata(os.path.join(a.dir, "db"), "always")
        make_put = lambda: db.kv_put  # noqa: E731  one handle shared by the threads
    elif a.target == "sqlite":
        path = os.path.join(a.dir, "db.sqlite")
        sqlite_db(a.dir, "FULL").close()

        def make_put():
            conn = open_sqlite(path, "FULL")
            return SqliteKV(conn).kv_put
    elif a.target == "fsync":
        path = os.path.join(a.dir, "loop.bin")
        record = json.dumps(value(0)).encode() + b"\n"

        def make_put():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

            # fdatasync where the OS has it, as our log does: the same durability
            # (the data and the length a read needs), without the timestamps.
            sync = getattr(os, "fdatasync", os.fsync)

            def put(_k, _v):
                os.write(fd, record)
                sync(fd)
            return put
    else:
        raise Unsupported
    out["rss_start_mb"] = current_rss_mb()
    for threads in (1, 4):
        if a.target == "fsync" and threads != 1:
            continue
        counts = [0] * threads
        stop = time.perf_counter() + a.seconds
        puts = [make_put() for _ in range(threads)]

        def loop(slot):
            put, i = puts[slot], 0
            base = slot * 10_000_000 + threads * 100_000_000
            while time.perf_counter() < stop:
                put(key(base + i), value(i))
                i += 1
            counts[slot] = i

        t = time.perf_counter()
        workers = [threading.Thread(target=loop, args=(s,)) for s in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        out["put_ops_%dt" % threads] = sum(counts) / (time.perf_counter() - t)
    return out


def w_events(a):
    """event_append of N dict payloads over 10 types (rate overall and over the last
    1,000), then event_list of one type (a tenth of the log)."""
    n = a.records
    tail = min(1000, max(1, n // 10))
    if a.target in DB_TARGETS:
        db = open_strata(os.path.join(a.dir, "db"), "standard")
        append, listing = db.event_append, db.event_list
    elif a.target == "sqlite":
        conn = sqlite_db(a.dir)

        def append(kind, payload):
            return conn.execute("INSERT INTO events (type, payload, ts) VALUES (?, ?, ?)",
                                (kind, json.dumps(payload), time.time_ns() // 1000)).lastrowid

        def listing(kind):
            rows = conn.execute("SELECT seq, payload, ts FROM events WHERE type = ? ORDER BY seq", (kind,))
            return [{"value": json.loads(p), "version": s, "timestamp": ts} for s, p, ts in rows]
    else:
        raise Unsupported
    types = ["type%d" % t for t in range(EVENT_TYPES)]
    out = {"rss_start_mb": current_rss_mb()}
    t0 = time.perf_counter()
    t_tail = t0
    for i in range(n):
        if i == n - tail:
            t_tail = time.perf_counter()
        append(types[i % EVENT_TYPES], value(i))
    t1 = time.perf_counter()
    out["append_ops"] = n / (t1 - t0)
    out["append_tail_ops"] = tail / (t1 - t_tail)
    out["tail_over_overall"] = out["append_tail_ops"] / out["append_ops"]
    times, clock, got = [], Clock(a.budget), 0
    for _ in range(3):
        t = time.perf_counter()
        got = len(listing("type3"))
        times.append(time.perf_counter() - t)
        if clock.over(len(times)):
            break
    out["list_ms"] = sorted(times)[len(times) // 2] * 1e3
    out["list_len"] = got
    return out


def w_state(a):
    """state_cas increments: 1 thread, 2 threads contending on one cell, stale CAS."""
    n = a.records
    out = {}
    if a.target in DB_TARGETS:
        db = open_strata(os.path.join(a.dir, "db"), "standard")
        handles = lambda: db  # noqa: E731
    elif a.target == "sqlite":
        path = os.path.join(a.dir, "db.sqlite")
        sqlite_db(a.dir).close()
        handles = lambda: SqliteCells(open_sqlite(path, "NORMAL"))  # noqa: E731
        db = handles()
    else:
        raise Unsupported
    out["rss_start_mb"] = current_rss_mb()

    # One thread: each CAS expects the version the previous one returned.
    first = version = db.state_init("counter", 0)
    clock, done = Clock(a.budget), 0
    t = time.perf_counter()
    while done < n and not clock.over(done):
        version = db.state_cas("counter", done + 1, version)
        if version is None:
            raise RuntimeError("uncontended CAS failed")
        done += 1
    out["cas_1t_ops"] = done / (time.perf_counter() - t)

    # Two threads: read the version and value, CAS value + 1; count the successes.
    per_thread = max(1, n // 10)
    db.state_init("hot", 0)
    wins, tries = [0, 0], [0, 0]
    clock = Clock(a.budget)

    def contend(slot):
        h = handles()
        while wins[slot] < per_thread and not clock.over(wins[0] + wins[1]):
            ver = h.state_init("hot", 0)  # an existing cell: returns its current version
            cur = h.state_get("hot")
            tries[slot] += 1
            if h.state_cas("hot", cur + 1, ver) is not None:
                wins[slot] += 1

    t = time.perf_counter()
    workers = [threading.Thread(target=contend, args=(s,)) for s in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out["cas_2t_ops"] = sum(wins) / (time.perf_counter() - t)
    out["cas_2t_tries"] = sum(tries)
    out["cas_2t_final_ok"] = db.state_get("hot") == sum(wins)

    # Stale: the expected version is the first one, long gone; nothing may change.
    clock, done = Clock(a.budget), 0
    t = time.perf_counter()
    while done < n and not clock.over(done):
        if db.state_cas("counter", -1, first) is not None:
            raise RuntimeError("stale CAS succeeded")
        done += 1
    out["cas_stale_ops"] = done / (time.perf_counter() - t)
    out["cas_stale_done"] = done
    return out


class SqliteCells:
    """state_init / state_get / state_cas on a sqlite3 table with a version column."""

    def __init__(self, conn):
        self.conn = conn

    def state_init(self, cell, v):
        self.conn.execute("INSERT OR IGNORE INTO cells (name, value, version) VALUES (?, ?, 1)", (cell, json.dumps(v)))
        return self.conn.execute("SELECT version FROM cells WHERE name = ?", (cell,)).fetchone()[0]

    def state_get(self, cell):
        row = self.conn.execute("SELECT value FROM cells WHERE name = ?", (cell,)).fetchone()
        return None if row is None else json.loads(row[0])

    def state_cas(self, cell, v, expected):
        cur = self.conn.execute("UPDATE cells SET value = ?, version = version + 1 WHERE name = ? AND version = ?",
                                (json.dumps(v), cell, expected))
        return expected + 1 if cur.rowcount == 1 else None


def w_json(a):
    """json_set and json_get at $.a.b over 1,000 documents (N/5 operations each)."""
    n = max(1, a.records // 5)
    if a.target in DB_TARGETS:
        db = open_strata(os.path.join(a.dir, "db"), "standard")
        jset, jget = db.json_set, db.json_get
        for d in range(JSON_DOCS):
            jset("doc:%d" % d, "$", {"a": {"b": 0, "c": "x"}, "title": "document %d" % d, "body": NOTE})
    elif a.target == "sqlite":
        conn = sqlite_db(a.dir)
        for d in range(JSON_DOCS):
            conn.execute("INSERT INTO docs (key, body) VALUES (?, ?)", ("doc:%d" % d, json.dumps(
                {"a": {"b": 0, "c": "x"}, "title": "document %d" % d, "body": NOTE})))

        def jset(k, _path, v):
            conn.execute("UPDATE docs SET body = json_set(body, '$.a.b', json(?)) WHERE key = ?", (json.dumps(v), k))

        def jget(k, _path):
            row = conn.execute("SELECT json_extract(body, '$.a.b') FROM docs WHERE key = ?", (k,)).fetchone()
            return None if row is None else row[0]
    else:
        raise Unsupported
    keys = ["doc:%d" % (i % JSON_DOCS) for i in range(n)]
    out = {"rss_start_mb": current_rss_mb()}
    t = time.perf_counter()
    for i, k in enumerate(keys):
        jset(k, "$.a.b", i)
    out["set_ops"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for k in keys:
        jget(k, "$.a.b")
    out["get_ops"] = n / (time.perf_counter() - t)
    out["check"] = jget(keys[-1], "$.a.b") == n - 1
    return out


def vector_data(n, queries):
    """Clustered float32 vectors (so that nearest neighbours mean something) and queries."""
    import numpy as np

    rng = np.random.default_rng(42)
    centers = rng.standard_normal((256, VECTOR_DIM), dtype=np.float32)
    data = centers[rng.integers(0, len(centers), n)]
    data += 0.6 * rng.standard_normal((n, VECTOR_DIM), dtype=np.float32)
    q = centers[rng.integers(0, len(centers), queries)] + 0.6 * rng.standard_normal((queries, VECTOR_DIM), dtype=np.float32)
    return np.ascontiguousarray(data), np.ascontiguousarray(q.astype(np.float32))


def exact_top10(unit_data, query):
    import numpy as np

    scores = unit_data @ (query / np.linalg.norm(query))
    idx = np.argpartition(-scores, 10)[:10]
    return idx[np.argsort(-scores[idx])]


def w_vectors(a):
    """384-d cosine vectors: batch upsert of N (batches of 1,000), single upserts,
    search k=10 (queries per second) and recall@10 against exact results."""
    import numpy as np

    n, k, batch = a.records, 10, 1000
    data, queries = vector_data(n, a.queries)
    names = ["v%07d" % i for i in range(n)]
    out = {"rss_start_mb": current_rss_mb()}
    if a.target in DB_TARGETS:
        db = open_strata(os.path.join(a.dir, "db"), "standard")
        db.vector_create_collection("vec", VECTOR_DIM, "cosine")
        spent = 0.0
        for lo in range(0, n, batch):
            items = [{"key": names[i], "vector": data[i]} for i in range(lo, min(n, lo + batch))]
            t = time.perf_counter()
            db.vector_batch_upsert("vec", items)
            spent += time.perf_counter() - t
        out["batch_upsert_ops"] = n / spent
        db.vector_create_collection("single", VECTOR_DIM, "cosine")
        clock, done = Clock(a.budget), 0
        singles = min(n, 2000)
        t = time.perf_counter()
        while done < singles and not clock.over(done):
            db.vector_upsert("single", names[done], data[done])
            done += 1
        out["single_upsert_ops"] = done / (time.perf_counter() - t)
        search = lambda q: [int(h["key"][1:]) for h in db.vector_search("vec", q, k)]  # noqa: E731
    elif a.target == "numpy":
        t = time.perf_counter()
        unit = data / np.linalg.norm(data, axis=1, keepdims=True)
        out["build_s"] = time.perf_counter() - t
        search = lambda q: [int(i) for i in exact_top10(unit, q)]  # noqa: E731
    elif a.target == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="cosine", dim=VECTOR_DIM)
        index.init_index(max_elements=n, ef_construction=100, M=16, random_seed=1)
        t = time.perf_counter()
        index.add_items(data, np.arange(n))
        out["build_s"] = time.perf_counter() - t
        out["batch_upsert_ops"] = n / out["build_s"]
        index.set_ef(64)
        search = lambda q: [int(i) for i in index.knn_query(q, k=k)[0][0]]  # noqa: E731
    else:
        raise Unsupported
    clock, found = Clock(a.budget), []
    t = time.perf_counter()
    for q in queries:
        found.append(search(q))
        if clock.over(len(found)):
            break
    out["search_qps"] = len(found) / (time.perf_counter() - t)
    out["search_ms"] = 1e3 / out["search_qps"]
    out["queries"] = len(found)
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    hits = sum(len(set(f) & set(int(i) for i in exact_top10(unit, q))) for f, q in zip(found, queries))
    out["recall_at_10"] = hits / (k * len(found))
    out["records"] = n
    return out


def w_branches(a):
    """fork_branch of an N-key branch (median of up to 5 forks), then 1,000 changes on
    the fork, diff_branches and merge_branches back."""
    if a.target not in DB_TARGETS:
        raise Unsupported
    n = a.records
    db = open_strata(os.path.join(a.dir, "db"), "standard")
    for i in range(n):
        db.kv_put(key(i), value(i))
    db.flush()
    out = {"rss_start_mb": current_rss_mb()}
    times, clock = [], Clock(a.budget)
    for r in range(FORK_REPEATS):
        t = time.perf_counter()
        db.fork_branch("fork%d" % r)
        times.append(time.perf_counter() - t)
        if clock.over(len(times)):
            break
    out["fork_ms"] = sorted(times)[len(times) // 2] * 1e3
    out["forks"] = len(times)
    changes = min(1000, n)
    step = max(1, n // changes)
    db.set_branch("fork0")
    for c in range(changes):
        db.kv_put(key(c * step), {"changed": c})
    db.set_branch("default")
    t = time.perf_counter()
    diff = db.diff_branches("default", "fork0")
    out["diff_ms"] = (time.perf_counter() - t) * 1e3
    out["diff_modified"] = diff["summary"]["total_modified"]
    t = time.perf_counter()
    merged = db.merge_branches("fork0")
    out["merge_ms"] = (time.perf_counter() - t) * 1e3
    out["merge_applied"] = merged["keys_applied"]
    out["merge_check"] = db.kv_get(key(step)) == {"changed": 1}
    out["records"] = n
    return out


def w_reopen(a):
    """N puts by a writer process that exits after flush() ("clean") or is killed with
    SIGKILL after flush() ("kill"); a fresh process then times open + one read."""
    if a.target not in DB_TARGETS + ("sqlite",):
        raise Unsupported
    out = {}
    for mode in ("clean", "kill"):
        scratch = os.path.join(a.dir, mode)
        child = subprocess.Popen([sys.executable, __file__, "--target", a.target, "--workload", "reopen_write",
                                  "--records", str(a.records), "--dir", scratch, "--mode", mode],
                                 stdout=subprocess.PIPE, text=True)
        line = child.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("writer failed: %r" % line)
        if mode == "kill":
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
        reader = subprocess.run([sys.executable, __file__, "--target", a.target, "--workload", "reopen_read",
                                 "--records", str(a.records), "--dir", scratch],
                                stdout=subprocess.PIPE, text=True, check=True)
        got = json.loads(reader.stdout.strip().splitlines()[-1])
        out["%s_open_ms" % mode] = got["open_ms"]
        out["%s_ok" % mode] = got["ok"]
    return out


def w_reopen_write(a):
    if a.target == "sqlite":
        db = SqliteKV(sqlite_db(a.dir))
    else:
        db = open_strata(os.path.join(a.dir, "db"), "standard")
    for i in range(a.records):
        db.kv_put(key(i), value(i))
    if a.target != "sqlite":
        db.flush()
    print("ready", flush=True)
    if a.mode == "kill":
        time.sleep(600)  # the parent kills us here, mid-life, with the database open
    return None


def w_reopen_read(a):
    t = time.perf_counter()
    if a.target == "sqlite":
        db = SqliteKV(open_sqlite(os.path.join(a.dir, "db.sqlite"), "NORMAL"))
    else:
        from stratadb import Strata
        db = Strata.open(os.path.join(a.dir, "db"))
    last = db.kv_get(key(a.records - 1))
    elapsed = time.perf_counter() - t
    return {"open_ms": elapsed * 1e3, "ok": last == value(a.records - 1)}


def w_disk(a):
    """Bytes in the database directory after N puts and compact(), against the raw
    payload (key bytes + compact JSON of each value)."""
    n = a.records
    raw = sum(len(key(i).encode()) + len(json.dumps(value(i), separators=(",", ":")).encode()) for i in range(n))
    if a.target in DB_TARGETS:
        path = os.path.join(a.dir, "db")
        db = open_strata(path, "standard")
        for i in range(n):
            db.kv_put(key(i), value(i))
        db.compact()
        db.flush()
    elif a.target == "sqlite":
        path = a.dir
        conn = sqlite_db(a.dir)
        kv = SqliteKV(conn)
        for i in range(n):
            kv.kv_put(key(i), value(i))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        raise Unsupported
    size = dir_bytes(path)
    return {"bytes": size, "raw_bytes": raw, "bytes_over_raw": size / raw}


class Unsupported(Exception):
    pass


WORKLOADS = {
    "kv": w_kv, "kv_always": w_kv_always, "events": w_events, "state": w_state, "json": w_json,
    "vectors": w_vectors, "branches": w_branches, "reopen": w_reopen, "disk": w_disk,
    "reopen_write": w_reopen_write, "reopen_read": w_reopen_read,
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True)
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--dir", required=True, help="scratch directory (created; the runner removes it)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each timed always-mode phase")
    p.add_argument("--budget", type=float, default=20.0, help="seconds after which a slow phase stops")
    p.add_argument("--queries", type=int, default=200, help="vector searches to time")
    p.add_argument("--mode", default="clean")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    if a.target in DB_TARGETS:
        import stratadb  # noqa: F401  imported before rss_start_mb is taken
    try:
        out = WORKLOADS[a.workload](a)
    except Unsupported:
        out = {"unsupported": True}
    if out is None:
        return
    if a.target in DB_TARGETS:
        import stratadb
        out["package_version"] = stratadb.__version__
    out["rss_peak_mb"] = rss_mb()
    if "rss_start_mb" in out:
        out["rss_growth_mb"] = out["rss_peak_mb"] - out["rss_start_mb"]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
