"""Threads on a database directory: each thread with its own handle from
`Strata.open(same_path)`, plus threads sharing one handle, in "standard" and
"always" mode. Every write lands exactly once, versions are unique and increasing,
compare-and-swap increments are never lost, and it all survives a reopen."""

import threading

import pytest

from stratadb import ConflictError, StateError, Strata
from thread_support import DEADLOCK_GUARD_SECONDS, run_in_threads

# (threads with their own handle, threads sharing one handle, writes or increments
# per thread): "always" fsyncs every commit, so it does fewer.
SIZES = {"standard": (4, 2, 150), "always": (3, 2, 60)}


class Handles:
    """Own handles for the first `own` threads, one shared handle for the rest."""

    def __init__(self, directory, mode, own, shared):
        self.own = [Strata.open(directory, durability=mode) for _ in range(own)]
        self.shared = Strata.open(directory, durability=mode)
        self.count = own + shared

    def for_thread(self, index):
        return self.own[index] if index < len(self.own) else self.shared

    def close(self):
        for handle in self.own:
            handle.close()
        self.shared.close()


@pytest.mark.parametrize("mode", ["standard", "always"])
def test_threads_with_own_and_shared_handles_put_each_write_once(tmp_path, mode):
    own, shared, per_thread = SIZES[mode]
    directory = tmp_path / "db"
    handles = Handles(directory, mode, own, shared)
    versions = [[] for _ in range(handles.count)]

    def worker(index):
        db = handles.for_thread(index)
        for n in range(per_thread):
            versions[index].append(db.kv_put(f"t{index}:{n:04d}", [index, n]))

    assert run_in_threads(handles.count, worker) == []
    total = handles.count * per_thread
    for per_thread_versions in versions:
        assert per_thread_versions == sorted(per_thread_versions), "a thread saw its versions go backwards"
    every_version = sorted(version for per in versions for version in per)
    assert every_version == list(range(1, total + 1)), "versions are not exactly 1..total"
    assert handles.shared.info()["last_version"] == total
    handles.close()

    with Strata.open(directory) as db:
        assert len(db.kv_list()) == total
        for index, per in enumerate(versions):
            for n, version in enumerate(per):
                record = db.kv_get_versioned(f"t{index}:{n:04d}")
                assert record["value"] == [index, n]
                assert record["version"] == version
        assert db.kv_put("after", 1) == total + 1


@pytest.mark.parametrize("mode", ["standard", "always"])
def test_cas_increments_from_threads_with_own_and_shared_handles_are_counted_once(tmp_path, mode):
    own, shared, increments = SIZES[mode]
    directory = tmp_path / "db"
    handles = Handles(directory, mode, own, shared)
    init_version = handles.shared.state_init("counter", 0)
    successes = [[] for _ in range(handles.count)]

    def worker(index):
        db = handles.for_thread(index)
        while len(successes[index]) < increments:
            current = db.state_get_versioned("counter")
            new_version = db.state_cas("counter", current["value"] + 1, current["version"])
            if new_version is not None:
                assert new_version > current["version"]
                successes[index].append((new_version, current["value"] + 1))

    assert run_in_threads(handles.count, worker) == []
    total = handles.count * increments
    every = sorted(success for per in successes for success in per)
    # Each increment landed once: the winners' versions are distinct and their
    # values are exactly 1..total, in version order.
    assert [value for _, value in every] == list(range(1, total + 1))
    assert len({version for version, _ in every}) == total
    for per in successes:
        assert per == sorted(per)
    for db in handles.own + [handles.shared]:
        assert db.state_get("counter") == total
    history = handles.shared.state_history("counter")
    assert [entry["value"] for entry in history] == list(range(total, -1, -1))
    assert [entry["version"] for entry in history] == [version for version, _ in reversed(every)] + [init_version]
    handles.close()

    with Strata.open(directory) as db:
        assert db.state_get("counter") == total
        assert db.state_history("counter") == history


def test_transactions_from_threads_with_their_own_handles_are_serializable(tmp_path):
    """Each thread moves one unit between two accounts in a transaction, retrying on
    a conflict; the sum never changes and every transfer lands once."""
    directory = tmp_path / "db"
    threads, transfers = 4, 40
    handles = [Strata.open(directory) for _ in range(threads)]
    handles[0].kv_put("left", 1000)
    handles[0].kv_put("right", 0)
    conflicts = [0] * threads

    def worker(index):
        db = handles[index]
        done = 0
        while done < transfers:
            db.begin()
            left, right = db.kv_get("left"), db.kv_get("right")
            db.kv_put("left", left - 1)
            db.kv_put("right", right + 1)
            db.kv_put(f"log:{index}:{done}", [left, right])
            try:
                db.commit()
            except ConflictError:
                conflicts[index] += 1
                continue
            done += 1

    assert run_in_threads(threads, worker) == []
    total = threads * transfers
    db = handles[0]
    assert db.kv_get("left") == 1000 - total
    assert db.kv_get("right") == total
    assert len(db.kv_list("log:")) == total
    seen = sorted(tuple(db.kv_get(key)) for key in db.kv_list("log:"))
    # Every transfer read a distinct state: exactly the states 0..total-1, each once.
    assert seen == sorted((1000 - n, n) for n in range(total))
    assert db.info()["last_version"] == 2 + total
    for handle in handles:
        handle.close()
    with Strata.open(directory) as db:
        assert (db.kv_get("left"), db.kv_get("right")) == (1000 - total, total)
        assert len(db.kv_history("left")) == total + 1


def test_closing_a_shared_handle_while_threads_write_stops_them_with_state_error(tmp_path):
    """Every write that returned before the close is kept; every call after it raises
    StateError; nothing crashes or hangs."""
    directory = tmp_path / "db"
    threads = 4
    db = Strata.open(directory)
    returned = [[] for _ in range(threads)]
    endings = [None] * threads
    started = threading.Barrier(threads + 1)
    warmed_up = threading.Semaphore(0)  # released by each thread after its 20th write

    def worker(index):
        started.wait(timeout=DEADLOCK_GUARD_SECONDS)
        n = 0
        try:
            while True:
                version = db.kv_put(f"t{index}:{n:06d}", n)
                returned[index].append((n, version))
                n += 1
                if n == 20:
                    warmed_up.release()
        except BaseException as error:  # noqa: BLE001 - checked below
            endings[index] = error
            if n < 20:
                warmed_up.release()  # failed early: do not keep the main thread waiting

    workers = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in workers:
        thread.start()
    started.wait(timeout=DEADLOCK_GUARD_SECONDS)
    # Close once every thread has had 20 writes acknowledged (and is still writing).
    for _ in range(threads):
        assert warmed_up.acquire(timeout=DEADLOCK_GUARD_SECONDS), "a writer never got going"
    db.close()
    for thread in workers:
        thread.join(timeout=DEADLOCK_GUARD_SECONDS)
    assert not any(thread.is_alive() for thread in workers), "a writer never stopped"
    assert all(isinstance(ending, StateError) for ending in endings), endings

    with Strata.open(directory) as reopened:
        for index, per in enumerate(returned):
            for n, version in per:
                record = reopened.kv_get_versioned(f"t{index}:{n:06d}")
                assert record is not None, f"write {index}:{n} returned version {version} but is gone"
                assert (record["value"], record["version"]) == (n, version)
