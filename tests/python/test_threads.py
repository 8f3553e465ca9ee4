"""Several Python threads sharing one handle: every write lands exactly once,
versions stay unique, and compare-and-swap increments are never lost.

A variant with one handle per thread needs `Strata.open` of one shared path and
lives with the on-disk tests.
"""

from thread_support import run_in_threads

THREADS = 6
WRITES_PER_THREAD = 300
INCREMENTS_PER_THREAD = 100


def test_threads_sharing_a_handle_each_write_lands_once_with_unique_versions(db):
    versions = [[] for _ in range(THREADS)]

    def worker(index):
        for n in range(WRITES_PER_THREAD):
            versions[index].append(db.kv_put(f"t{index}:{n:04d}", [index, n]))

    assert run_in_threads(THREADS, worker) == []
    for per_thread in versions:
        assert per_thread == sorted(per_thread), "one thread saw its versions go backwards"
    every_version = [version for per_thread in versions for version in per_thread]
    assert len(set(every_version)) == THREADS * WRITES_PER_THREAD
    assert len(db.kv_list()) == THREADS * WRITES_PER_THREAD
    for index in range(THREADS):
        for n in (0, WRITES_PER_THREAD // 2, WRITES_PER_THREAD - 1):
            assert db.kv_get(f"t{index}:{n:04d}") == [index, n]


def test_threads_incrementing_a_cell_with_cas_retries_lose_no_increment(db):
    db.state_init("counter", 0)
    successes = [[] for _ in range(THREADS)]

    def worker(index):
        done = 0
        while done < INCREMENTS_PER_THREAD:
            current = db.state_get_versioned("counter")
            new_version = db.state_cas("counter", current["value"] + 1, current["version"])
            if new_version is not None:
                assert new_version > current["version"]
                successes[index].append(new_version)
                done += 1

    assert run_in_threads(THREADS, worker) == []
    total = THREADS * INCREMENTS_PER_THREAD
    assert db.state_get("counter") == total
    every_version = [version for per_thread in successes for version in per_thread]
    assert len(every_version) == total
    assert len(set(every_version)) == total
    for per_thread in successes:
        assert per_thread == sorted(per_thread)
    assert db.state_get_versioned("counter")["version"] == max(every_version)


def test_threads_appending_events_get_dense_unique_sequence_numbers(db):
    sequences = [[] for _ in range(THREADS)]

    def worker(index):
        for n in range(WRITES_PER_THREAD):
            sequences[index].append(db.event_append(f"thread-{index}", n))

    assert run_in_threads(THREADS, worker) == []
    every_sequence = sorted(sequence for per_thread in sequences for sequence in per_thread)
    assert every_sequence == list(range(THREADS * WRITES_PER_THREAD))
    assert db.event_len() == THREADS * WRITES_PER_THREAD
    for index in range(THREADS):
        events = db.event_list(f"thread-{index}")
        assert [event["value"] for event in events] == list(range(WRITES_PER_THREAD))
        assert [event["version"] for event in events] == sequences[index]


def test_threads_mixing_primitives_share_one_version_counter(db):
    db.vector_create_collection("vecs", 2)
    versions = [[] for _ in range(THREADS)]

    def worker(index):
        for n in range(50):
            versions[index].append(db.kv_put(f"k{index}:{n}", n))
            versions[index].append(db.state_set(f"c{index}", n))
            versions[index].append(db.json_set(f"d{index}", "$.n", n))
            versions[index].append(db.vector_upsert("vecs", f"v{index}", [1.0, float(n)]))

    assert run_in_threads(THREADS, worker) == []
    every_version = [version for per_thread in versions for version in per_thread]
    assert len(set(every_version)) == len(every_version)
    for per_thread in versions:
        assert per_thread == sorted(per_thread)
    for index in range(THREADS):
        assert db.state_get(f"c{index}") == 49
        assert db.json_get(f"d{index}", "$") == {"n": 49}


def test_readers_in_threads_see_only_whole_values_while_a_writer_updates(db):
    db.kv_put("pair", {"left": 0, "right": 0})
    torn = []

    def worker(index):
        if index == 0:
            for n in range(1, 1000):
                db.kv_put("pair", {"left": n, "right": n})
        else:
            for _ in range(1000):
                value = db.kv_get("pair")
                if value["left"] != value["right"]:
                    torn.append(value)

    assert run_in_threads(THREADS, worker) == []
    assert torn == []
    assert db.kv_get("pair") == {"left": 999, "right": 999}
