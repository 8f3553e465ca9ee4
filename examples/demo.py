"""A tour of StrataDB on a real database directory.

Usage: python examples/demo.py [DIRECTORY]   (default: ./demo-data)

Run it twice: the second run finds the first run's memory, history and events on disk.
"""

import sys

import numpy as np

from stratadb import ConflictError, Strata


def main(path: str) -> None:
    with Strata.open(path) as db:
        runs = db.state_get("demo:runs") or 0
        print(f"opened {path!r}: run #{runs + 1}, {db.info()['total_keys']} live records, "
              f"last version {db.info()['last_version']}")

        # Working memory (KV) with history.
        db.kv_put("user:123", {"name": "Alice", "likes": ["tea", "chess"]})
        db.kv_put("user:123", {"name": "Alice", "likes": ["tea", "chess", "go"]})
        print("kv_get:", db.kv_get("user:123"))
        print("versions of user:123:", [h["version"] for h in db.kv_history("user:123")])

        # Audit trail (events).
        seq = db.event_append("tool_call", {"tool": "search", "query": "weather"})
        print(f"event #{seq}:", db.event_get(seq)["value"])

        # Coordination (compare-and-swap on a state cell).
        db.state_init("demo:runs", 0)
        current = db.state_get_versioned("demo:runs")
        assert db.state_cas("demo:runs", current["value"] + 1, current["version"]) is not None
        assert db.state_cas("demo:runs", 999, current["version"]) is None  # stale: refused

        # Documents with paths.
        db.json_set("config", "$", {"model": "small", "limits": {"tokens": 1000}})
        db.json_set("config", "$.limits.tokens", 2000)
        print("json_get $.limits:", db.json_get("config", "$.limits"))

        # Embeddings.
        if "notes" not in [c["name"] for c in db.vector_list_collections()]:
            db.vector_create_collection("notes", 8, metric="cosine")
        rng = np.random.default_rng(7)
        db.vector_batch_upsert("notes", [
            {"key": f"note-{i}", "vector": rng.standard_normal(8), "metadata": {"i": i}}
            for i in range(100)
        ])
        query = rng.standard_normal(8)
        best = db.vector_search("notes", query, k=3)
        print("nearest notes:", [(hit["key"], round(hit["score"], 3)) for hit in best])

        # Branches: try something on a fork, look at the diff, merge it back.
        experiment = f"experiment-{runs + 1}"
        db.fork_branch(experiment)
        db.set_branch(experiment)
        db.kv_put("user:123", {"name": "Alice", "likes": ["tea"]})
        db.kv_put("scratch", "only on the experiment")
        db.set_branch("default")
        diff = db.diff_branches("default", experiment)
        print("diff default -> experiment:", diff["summary"])
        merged = db.merge_branches(experiment)
        print("merged:", merged)

        # Transactions: all or nothing.
        with db.transaction():
            db.kv_put("balance:a", 50)
            db.kv_put("balance:b", 50)
        try:
            with db.transaction():
                db.kv_put("balance:a", 0)
                raise ConflictError("changed my mind")
        except ConflictError:
            pass
        print("balance:a after a rolled-back transaction:", db.kv_get("balance:a"))

        db.flush()
        print("info:", {k: db.info()[k] for k in ("version", "branch_count", "total_keys", "durability")})

    with Strata.open(path) as db:
        print(f"reopened: runs = {db.state_get('demo:runs')}, "
              f"events = {db.event_len()}, branches = {db.list_branches()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-data")
