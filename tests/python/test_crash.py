"""Crash recovery with real processes: a child Python writes a deterministic sequence
of commits, printing each one as soon as the call returns; the parent waits for N
acknowledgements, kills the child with SIGKILL (nothing runs in it: no close, no
flush, no destructor), reopens the directory and checks that

- every acknowledged write is there with the right value and version;
- the state is exactly a prefix of the sequence: no gaps, and no part of a
  transaction without the rest of it;
- the version counter is at least the last acknowledged version and goes on from the
  recovered state;
- a read-only open of the crashed directory writes nothing and sees the same state;
- the database takes writes after recovery, and they survive another reopen.

"always" promises this on any crash; "standard" and "none" promise it for a process
crash (the data reached the OS before the call returned).
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from disk_support import HANG_GUARD_SECONDS, ChildPython, directory_picture
from stratadb import Strata

# One op per commit, by i % 4: a KV put; a transaction of several keys, two shared
# keys, a state cell and a JSON document; an event; a compare-and-swap increment.
KINDS = 4
TXN_KEYS = 4
PAD = "x" * 3000  # makes a transaction's log record span several pages

WRITER = r"""
import sys
from stratadb import Strata

directory, mode = sys.argv[1], sys.argv[2]
total, compact_every, start = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
PAD = "x" * 3000
options = {} if mode == "toml" else {"durability": mode}
db = Strata.open(directory, **options)
out = sys.stdout
out.write("ready\n")
out.flush()
for i in range(start, total):
    kind = i % 4
    if kind == 0:
        version = db.kv_put(f"kv:{i:05d}", i)
    elif kind == 1:
        db.begin()
        for j in range(4):
            db.kv_put(f"txn:{i:05d}:{j}", {"i": i, "pad": PAD})
        db.kv_put("shared:a", i)
        db.state_set("cell", i)
        db.kv_put("shared:b", i)
        db.json_set("doc", "$.last", i)
        version = db.commit()
    elif kind == 2:
        sequence = db.event_append("op", i)
        version = "seq%d" % sequence
    else:
        current = db.state_get_versioned("counter")
        if current is None:
            version = db.state_cas("counter", 1, None)
        else:
            version = db.state_cas("counter", current["value"] + 1, current["version"])
    out.write(f"ack {i} {version}\n")
    out.flush()
    if compact_every and (i + 1) % compact_every == 0:
        db.compact()
out.write("done\n")
out.flush()
sys.stdin.read()  # wait to be killed; never close the database
"""


def run_writer_and_kill(directory, mode, acknowledgements, total, compact_every=0, start=0):
    """Start the writer at op `start`, read `acknowledgements` acks, SIGKILL it;
    return the acks as (op index, reported version) pairs."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), mode, str(total), str(compact_every), str(start)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(HANG_GUARD_SECONDS, child.kill)
    guard.daemon = True
    guard.start()
    try:

        def next_line():
            line = child.stdout.readline()
            if not line:
                child.wait()
                pytest.fail(f"the writer exited with {child.returncode}: {child.stderr.read()}")
            return line.split()

        assert next_line() == ["ready"]
        acked = []
        while len(acked) < acknowledgements:
            words = next_line()
            assert words[0] == "ack", f"the writer finished after {len(acked)} acks; raise `total`"
            acked.append((int(words[1]), words[2]))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
    finally:
        guard.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()
    for index, (op, version) in enumerate(acked):
        assert op == start + index
        # Every op is one commit, so op i is version i + 1; an event reports its
        # sequence number instead (the i // 4-th event).
        expected = f"seq{op // KINDS}" if op % KINDS == 2 else str(op + 1)
        assert version == expected, f"op {op} was acknowledged as {version}, expected {expected}"
    return acked


def recovered_prefix(db, total, later_commits=0):
    """Check that the database holds exactly ops 0..p-1 of the writer's sequence, each
    whole and with its version; return p."""
    present = []
    for i in range(total):
        kind = i % KINDS
        if kind == 0:
            record = db.kv_get_versioned(f"kv:{i:05d}")
            if record is not None:
                assert (record["value"], record["version"]) == (i, i + 1)
        elif kind == 1:
            records = [db.kv_get_versioned(f"txn:{i:05d}:{j}") for j in range(TXN_KEYS)]
            if any(r is not None for r in records):
                assert [(r["value"], r["version"]) for r in records if r is not None] == [
                    ({"i": i, "pad": PAD}, i + 1)
                ] * TXN_KEYS, f"transaction {i} is only partly there"
            record = records[0]
        elif kind == 2:
            record = db.event_get(i // KINDS)
            if record is not None:
                assert (record["value"], record["event_type"]) == (i, "op")
        else:
            history = db.state_history("counter") or []
            count = i // KINDS + 1
            matching = [entry for entry in history if entry["value"] == count]
            record = matching[0] if matching else None
            if record is not None:
                assert record["version"] == i + 1
        present.append(record is not None)
    prefix = present.index(False) if False in present else total
    assert not any(present[prefix:]), (
        f"ops 0..{prefix - 1} are there, but so are later ops "
        f"{[i for i in range(prefix, total) if present[i]][:10]}: not a prefix"
    )
    # The records several ops overwrite hold the last op of the prefix that wrote them.
    ops = range(prefix)
    transactions = [i for i in ops if i % KINDS == 1]
    last_txn = transactions[-1] if transactions else None
    assert db.kv_get("shared:a") == last_txn
    assert db.kv_get("shared:b") == last_txn
    assert db.state_get("cell") == last_txn
    assert db.json_get("doc", "$.last") == last_txn
    if last_txn is not None:
        assert db.kv_get_versioned("shared:a")["version"] == db.kv_get_versioned("shared:b")["version"] == last_txn + 1
        assert [entry["value"] for entry in db.kv_history("shared:a")] == transactions[::-1]
    increments = [i for i in ops if i % KINDS == 3]
    assert db.state_get("counter") == (len(increments) or None)
    assert db.event_len() == len([i for i in ops if i % KINDS == 2])
    assert db.kv_list("kv:") == [f"kv:{i:05d}" for i in ops if i % KINDS == 0]
    assert db.kv_list("txn:") == [f"txn:{i:05d}:{j}" for i in transactions for j in range(TXN_KEYS)]
    assert db.info()["last_version"] == prefix + later_commits
    return prefix


def check_after_crash(directory, acked, total):
    """Everything the module docstring promises, for one crashed directory."""
    # A read-only look first: it must see the same prefix and change no file.
    before = directory_picture(directory)
    with Strata.open(directory, read_only=True) as reader:
        read_only_prefix = recovered_prefix(reader, total)
    assert directory_picture(directory) == before, "a read-only open changed the directory"

    with Strata.open(directory) as db:
        prefix = recovered_prefix(db, total)
        assert prefix == read_only_prefix
        assert prefix >= len(acked), f"only {prefix} ops survived, but {len(acked)} were acknowledged"
        acked_versions = [int(version) for _, version in acked if not version.startswith("seq")]
        assert db.info()["last_version"] >= max(acked_versions, default=0)
        # The database takes writes after recovery, continuing the counter (in
        # another space, so the sequence in the default space stays checkable).
        db.set_space("after")
        base = db.info()["last_version"]  # creating the space may be a commit
        assert base in (prefix, prefix + 1)
        assert db.kv_put("kv", "recovered") == base + 1
        db.begin()
        db.kv_put("txn:a", 1)
        db.kv_put("txn:b", 2)
        assert db.commit() == base + 2
        assert db.event_append("op", "after") == 0
    with Strata.open(directory) as db:
        assert recovered_prefix(db, total, later_commits=base + 3 - prefix) == prefix
        db.set_space("after")
        record = db.kv_get_versioned("kv")
        assert (record["value"], record["version"]) == ("recovered", base + 1)
        assert (db.kv_get("txn:a"), db.kv_get("txn:b")) == (1, 2)
        assert db.kv_get_versioned("txn:b")["version"] == base + 2
        assert db.event_get(0)["value"] == "after"
        assert db.info()["last_version"] == base + 3
    return prefix


@pytest.mark.parametrize("acknowledgements", [0, 1, 57, 300])
def test_sigkill_in_always_mode_keeps_every_acknowledged_write_and_a_clean_prefix(tmp_path, acknowledgements):
    directory = tmp_path / "db"
    total = acknowledgements + 200
    acked = run_writer_and_kill(directory, "always", acknowledgements, total)
    check_after_crash(directory, acked, total)


def test_sigkill_in_always_mode_with_compactions_along_the_way(tmp_path):
    directory = tmp_path / "db"
    total = 400
    acked = run_writer_and_kill(directory, "always", 130, total, compact_every=25)
    prefix = check_after_crash(directory, acked, total)
    assert prefix >= 130


@pytest.mark.parametrize("acknowledgements", [0, 1, 333, 1000])
def test_sigkill_in_standard_mode_keeps_every_returned_write(tmp_path, acknowledgements):
    """The default mode, from strata.toml: a write returns once the OS has it, so a
    process kill loses nothing that returned."""
    directory = tmp_path / "db"
    total = acknowledgements + 3000
    acked = run_writer_and_kill(directory, "toml", acknowledgements, total)
    with Strata.open(directory, read_only=True) as db:
        assert db.info()["durability"] == "standard"
    check_after_crash(directory, acked, total)


def test_sigkill_in_none_mode_keeps_every_returned_write(tmp_path):
    directory = tmp_path / "db"
    total = 3500
    acked = run_writer_and_kill(directory, "none", 500, total)
    check_after_crash(directory, acked, total)


def test_sigkill_in_standard_mode_with_compactions_along_the_way(tmp_path):
    directory = tmp_path / "db"
    total = 3000
    acked = run_writer_and_kill(directory, "standard", 700, total, compact_every=200)
    check_after_crash(directory, acked, total)


def test_repeated_crashes_of_one_directory_keep_a_growing_prefix(tmp_path):
    """Crash, recover, resume the sequence in a new writer where the recovered state
    ends, crash again: the log repaired by one recovery takes the next writer's
    commits, and every crash keeps everything acknowledged before it."""
    directory = tmp_path / "db"
    total = 600
    prefix = 0
    for acknowledgements in (35, 50, 0, 65):
        acked = run_writer_and_kill(directory, "always", acknowledgements, total, start=prefix)
        with Strata.open(directory) as db:
            recovered = recovered_prefix(db, total)
        assert recovered >= prefix + len(acked)
        prefix = recovered
    check_after_crash(directory, [], total)


# --- a torn last record ----------------------------------------------------------------


def killed_writer_with_a_torn_last_record(directory, commits, cut_bytes):
    """A writer process makes `commits` commits and is killed (no closing sync
    marker); then the last log record loses its last `cut_bytes` bytes, as a write
    torn by a crash would. Returns the segment and its length after the cut."""
    with ChildPython() as child:
        child.value(f"db = Strata.open({str(directory)!r})")
        for n in range(commits):
            assert child.value(f"result = db.kv_put('k{n:03d}', {n})") == n + 1
        child.kill()
    segments = sorted((directory / "wal").iterdir())
    segment = segments[-1]
    torn_length = segment.stat().st_size - cut_bytes
    with open(segment, "r+b") as file:
        file.truncate(torn_length)
    return segment, torn_length


def test_a_torn_last_record_is_cut_off_and_the_commits_before_it_survive(tmp_path):
    directory = tmp_path / "db"
    segment, torn_length = killed_writer_with_a_torn_last_record(directory, 20, cut_bytes=3)
    before = directory_picture(directory)
    with Strata.open(directory, read_only=True) as reader:
        assert reader.kv_list() == [f"k{n:03d}" for n in range(19)]
        assert reader.info()["last_version"] == 19
    assert directory_picture(directory) == before, "a read-only open repaired the log"
    with Strata.open(directory) as db:
        assert db.kv_list() == [f"k{n:03d}" for n in range(19)]
        assert db.info()["last_version"] == 19
        assert segment.stat().st_size < torn_length, "the torn bytes were not cut off"
        assert db.kv_put("k019", "again") == 20
    with Strata.open(directory) as db:
        assert db.kv_get("k019") == "again"
        assert db.info()["last_version"] == 20


def test_a_torn_last_record_is_reported_in_info_recovery(tmp_path):
    """README, Durability: a torn record at the end of the log "is cut off and
    reported in info()["recovery"]"."""
    directory = tmp_path / "db"
    segment, torn_length = killed_writer_with_a_torn_last_record(directory, 5, cut_bytes=3)
    with Strata.open(directory) as db:
        info = db.info()
        valid_length = segment.stat().st_size
    assert "recovery" in info, f"info() has no 'recovery' entry: {sorted(info)}"
    report = str(info["recovery"])
    assert segment.name in report, report
    assert str(valid_length) in report, f"the report does not give the offset {valid_length}: {report}"


# --- read-only opens beside a running writer ---------------------------------------------


def read_only_opens_beside_a_writer(directory, total, compact_every, open_once, keep_going):
    """Runs a writer process ("always" mode, compacting every `compact_every` commits,
    0 for never) while `open_once(acknowledged)` opens the directory read-only again and
    again, as long as `keep_going(results)` holds; then kills the writer with SIGKILL.
    Returns the acks and what each open returned (a count of commits it saw)."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), "always", str(total), str(compact_every), "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(HANG_GUARD_SECONDS, child.kill)
    guard.daemon = True
    guard.start()
    acked = []
    finished = threading.Event()

    def drain():
        # Reads acks as fast as the writer makes them, so it never waits for us.
        for line in child.stdout:
            words = line.split()
            if words[0] == "ack":
                acked.append((int(words[1]), words[2]))
            elif words[0] == "done":
                break
        finished.set()

    results = []
    try:
        assert child.stdout.readline().split() == ["ready"]
        reader_thread = threading.Thread(target=drain, daemon=True)
        reader_thread.start()
        while not finished.is_set() and keep_going(results):
            acknowledged = len(acked)
            seen = open_once(len(results))
            assert seen >= acknowledged
            results.append(seen)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        reader_thread.join(timeout=HANG_GUARD_SECONDS)
    finally:
        guard.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout, child.stderr):
            stream.close()
    assert child.returncode == -signal.SIGKILL
    assert results == sorted(results)
    final = check_after_crash(directory, acked, total)
    assert final >= results[-1]


def test_read_only_opens_beside_a_writer_process_see_a_prefix_holding_every_ack(tmp_path):
    """A writer process runs flat out while we open the directory read-only again and
    again: each open sees a whole prefix of the sequence holding every commit
    acknowledged before it began, even with the log growing under it."""
    directory = tmp_path / "db"
    total = 3000  # "always" mode keeps the writer from finishing before we are done

    def open_once(_index):
        with Strata.open(directory, read_only=True) as reader:
            return recovered_prefix(reader, total)

    read_only_opens_beside_a_writer(directory, total, 0, open_once, lambda results: len(results) < 25)


def test_read_only_opens_beside_a_compacting_writer_process_see_a_prefix_holding_every_ack(tmp_path):
    """The same with a writer that compacts every few commits: a compaction replaces the
    MANIFEST and then removes the snapshot and segments the old one named, so a
    read-only open that read the old MANIFEST finds them gone. It must start over from
    the new one instead of failing. (The test above meets a compaction only when its
    opens run long enough for the log to reach the automatic threshold: rarely.)"""
    directory = tmp_path / "db"
    total = 3000

    def open_once(index):
        # Cheap opens (the version only), many of them: the writer compacts several
        # times during each; every 50th also checks the whole prefix.
        with Strata.open(directory, read_only=True) as reader:
            version = reader.info()["last_version"]
            if index % 50 == 0:
                assert recovered_prefix(reader, total) == version
            return version

    deadline = time.monotonic() + 4
    read_only_opens_beside_a_writer(directory, total, 3, open_once, lambda _results: time.monotonic() < deadline)
