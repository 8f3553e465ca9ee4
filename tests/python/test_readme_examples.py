"""Every code example of the user's README, run unchanged against an in-memory
database: the only edit is `Strata.open("/path/to/data")` -> `Strata.cache()`.

The blocks are copied verbatim from spec/stratadb-python-README.md. Blocks after
the quick start use a `db` they do not create; each runs on a fresh `Strata.cache()`.
"""

import textwrap

from stratadb import Strata

QUICK_START = """
from stratadb import Strata

# Open a database (or use Strata.cache() for in-memory)
db = Strata.open("/path/to/data")

# Key-value storage
db.kv_put("user:123", "Alice")
print(db.kv_get("user:123"))  # "Alice"

# Branch isolation (like git branches)
db.create_branch("experiment")
db.set_branch("experiment")
print(db.kv_get("user:123"))  # None - isolated

# Space organization within branches
db.set_space("conversations")
db.kv_put("msg_001", "hello")
"""

NUMPY_INTEGRATION = """
import numpy as np

# Create a collection
db.vector_create_collection("embeddings", 384, metric="cosine")

# Upsert with NumPy array
embedding = np.random.rand(384).astype(np.float32)
db.vector_upsert("embeddings", "doc-1", embedding, metadata={"title": "Hello"})

# Search returns matches with scores
results = db.vector_search("embeddings", embedding, k=10)
for match in results:
    print(f"{match['key']}: {match['score']}")
"""

BRANCH_OPERATIONS = """
# Fork current branch (copies all data)
db.fork_branch("experiment")

# Compare branches
diff = db.diff_branches("default", "experiment")
print(f"Added: {diff['summary']['total_added']}")

# Merge branches
result = db.merge_branches("experiment", strategy="last_writer_wins")
print(f"Keys applied: {result['keys_applied']}")
"""

EVENT_LOG = """
# Append events
db.event_append("tool_call", {"tool": "search", "query": "weather"})
db.event_append("tool_call", {"tool": "calculator", "expr": "2+2"})

# Get by sequence number
event = db.event_get(0)

# List by type
tool_calls = db.event_list("tool_call")
"""

COMPARE_AND_SWAP = """
# Initialize if not exists
db.state_init("counter", 0)

# CAS is version-based - pass expected version, not expected value
# Get current value and its version via state_set (returns version)
version = db.state_set("counter", 1)

# Update only if version matches
new_version = db.state_cas("counter", 2, version)  # (cell, new_value, expected_version)
if new_version is None:
    print("CAS failed - version mismatch")
"""


def run_example(source, namespace=None):
    """Run a README block with the one permitted substitution; return its globals."""
    assert 'Strata.open("/path/to/data")' in source or "Strata.open" not in source
    code = textwrap.dedent(source).replace('Strata.open("/path/to/data")', "Strata.cache()")
    namespace = {} if namespace is None else namespace
    exec(compile(code, "<README example>", "exec"), namespace)
    return namespace


def with_fresh_db():
    return {"db": Strata.cache()}


def test_readme_quick_start_prints_alice_then_none_and_isolates_the_branch(capsys):
    namespace = run_example(QUICK_START)
    assert capsys.readouterr().out.splitlines() == ["Alice", "None"]
    db = namespace["db"]
    assert db.current_branch() == "experiment"
    assert db.current_space() == "conversations"
    assert db.kv_get("msg_001") == "hello"
    db.set_branch("default")
    assert db.kv_get("user:123") == "Alice"
    assert db.kv_get("msg_001") is None


def test_readme_numpy_integration_finds_the_upserted_embedding_first(capsys):
    namespace = run_example(NUMPY_INTEGRATION, with_fresh_db())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    key, score = lines[0].split(": ")
    assert key == "doc-1"
    assert abs(float(score) - 1.0) < 1e-5
    results = namespace["results"]
    assert results[0]["metadata"] == {"title": "Hello"}


def test_readme_branch_operations_on_a_fresh_fork_add_and_apply_nothing(capsys):
    namespace = run_example(BRANCH_OPERATIONS, with_fresh_db())
    assert capsys.readouterr().out.splitlines() == ["Added: 0", "Keys applied: 0"]
    assert namespace["result"]["conflicts"] == []


def test_readme_branch_operations_report_and_merge_changes_made_on_the_fork(capsys):
    namespace = with_fresh_db()
    db = namespace["db"]
    db.kv_put("shared", "base")
    run_example(BRANCH_OPERATIONS.split("# Compare branches")[0], namespace)
    db.set_branch("experiment")
    db.kv_put("new-on-experiment", 1)
    db.kv_put("shared", "changed")
    db.set_branch("default")
    run_example("# Compare branches" + BRANCH_OPERATIONS.split("# Compare branches")[1], namespace)
    assert capsys.readouterr().out.splitlines() == ["Added: 1", "Keys applied: 2"]
    assert db.kv_get("shared") == "changed"
    assert db.kv_get("new-on-experiment") == 1


def test_readme_event_log_reads_events_by_sequence_and_type():
    namespace = run_example(EVENT_LOG, with_fresh_db())
    assert namespace["event"]["value"] == {"tool": "search", "query": "weather"}
    assert namespace["event"]["event_type"] == "tool_call"
    assert [event["value"]["tool"] for event in namespace["tool_calls"]] == ["search", "calculator"]
    assert namespace["db"].event_len() == 2


def test_readme_compare_and_swap_succeeds_with_the_version_from_state_set(capsys):
    namespace = run_example(COMPARE_AND_SWAP, with_fresh_db())
    assert capsys.readouterr().out == ""
    assert namespace["new_version"] is not None
    assert namespace["new_version"] > namespace["version"]
    assert namespace["db"].state_get("counter") == 2


def test_readme_compare_and_swap_prints_a_failure_for_a_stale_version(capsys):
    namespace = with_fresh_db()
    run_example(COMPARE_AND_SWAP, namespace)
    capsys.readouterr()
    namespace["db"].state_set("counter", 3)
    stale = COMPARE_AND_SWAP.split("# Update only if version matches")[1]
    run_example(stale, namespace)
    assert capsys.readouterr().out == "CAS failed - version mismatch\n"
    assert namespace["db"].state_get("counter") == 3
