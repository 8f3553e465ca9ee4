"""One directory opened twice in one process: two handles over one engine, like two
sqlite3 connections. Writes are shared at once; the current branch, the current
space and the transaction belong to each handle."""

import os

import pytest

from stratadb import AccessDeniedError, ConflictError, StateError, Strata


@pytest.fixture
def directory(tmp_path):
    return tmp_path / "db"


@pytest.fixture
def pair(directory):
    first = Strata.open(directory)
    second = Strata.open(directory)
    yield first, second
    first.close()
    second.close()


# --- shared data ------------------------------------------------------------------


def test_a_write_through_one_handle_is_visible_through_the_other_at_once(pair):
    a, b = pair
    a.kv_put("k", b"bytes from a")
    assert b.kv_get("k") == b"bytes from a"
    b.state_set("c", 1)
    assert a.state_get("c") == 1
    a.event_append("t", {"n": 0})
    assert b.event_len() == 1
    assert b.event_get(0)["value"] == {"n": 0}
    b.json_set("d", "$.x", [1, 2])
    assert a.json_get("d", "$.x[1]") == 2
    a.vector_create_collection("v", 2)
    b.vector_upsert("v", "p", [0.5, 0.25], metadata={"m": 1})
    assert a.vector_get("v", "p")["embedding"].tolist() == [0.5, 0.25]
    b.kv_delete("k")
    assert a.kv_get("k") is None
    a.create_branch("made-by-a")
    assert b.branch_exists("made-by-a")


def test_two_handles_share_one_version_counter(pair):
    a, b = pair
    versions = []
    for n in range(10):
        versions.append(a.kv_put(f"a{n}", n))
        versions.append(b.kv_put(f"b{n}", n))
    assert versions == list(range(1, 21))
    assert a.info()["last_version"] == b.info()["last_version"] == 20


@pytest.mark.parametrize(
    "spelling",
    [
        lambda d: str(d),
        lambda d: str(d) + os.sep,
        lambda d: os.path.join(str(d), "."),
        lambda d: os.path.join(str(d.parent), "..", d.parent.name, d.name),
    ],
    ids=["str", "trailing-slash", "dot", "dotdot"],
)
def test_other_spellings_of_the_path_reach_the_same_engine(directory, spelling):
    with Strata.open(directory) as a:
        with Strata.open(spelling(directory)) as b:
            a.kv_put("k", "shared")
            assert b.kv_get("k") == "shared"
            assert b.kv_put("j", 1) == 2


def test_a_path_through_a_symlink_reaches_the_same_engine(directory, tmp_path):
    link = tmp_path / "link"
    with Strata.open(directory) as a:
        link.symlink_to(directory, target_is_directory=True)
        with Strata.open(link) as b:
            b.kv_put("k", "through the link")
            assert a.kv_get("k") == "through the link"


def test_closing_one_handle_leaves_the_other_working(directory):
    a = Strata.open(directory)
    b = Strata.open(directory)
    a.kv_put("k", 1)
    a.close()
    with pytest.raises(StateError):
        a.kv_get("k")
    assert b.kv_get("k") == 1
    assert b.kv_put("k", 2) == 2
    b.close()
    with Strata.open(directory) as c:
        assert [entry["value"] for entry in c.kv_history("k")] == [2, 1]


def test_a_handle_opened_after_the_others_closed_reads_what_they_wrote(directory):
    a = Strata.open(directory)
    b = Strata.open(directory)
    a.kv_put("a", 1)
    b.kv_put("b", 2)
    a.close()
    b.close()
    with Strata.open(directory) as c:
        assert (c.kv_get("a"), c.kv_get("b")) == (1, 2)
        assert c.kv_put("c", 3) == 3


def test_a_read_only_handle_beside_a_writer_sees_its_writes_and_cannot_write(directory):
    with Strata.open(directory) as writer:
        writer.kv_put("k", 1)
        with Strata.open(directory, read_only=True) as reader:
            assert reader.kv_get("k") == 1
            writer.kv_put("k", 2)
            assert reader.kv_get("k") == 2
            assert reader.info()["read_only"] is True
            with pytest.raises(AccessDeniedError):
                reader.kv_put("k", 3)
            with pytest.raises(AccessDeniedError):
                reader.state_set("c", 1)
            with pytest.raises(AccessDeniedError):
                reader.create_branch("b")
            assert writer.info()["read_only"] is False
            assert writer.kv_put("k", 4) == 3


# --- per-handle branch and space -----------------------------------------------------


def test_each_handle_has_its_own_current_branch(pair):
    a, b = pair
    a.kv_put("k", "default")
    a.fork_branch("feature")
    a.set_branch("feature")
    assert a.current_branch() == "feature"
    assert b.current_branch() == "default"
    a.kv_put("k", "feature")
    assert b.kv_get("k") == "default"
    b.set_branch("feature")
    assert b.kv_get("k") == "feature"
    a.set_branch("default")
    assert b.current_branch() == "feature"
    assert a.kv_get("k") == "default"


def test_each_handle_has_its_own_current_space(pair):
    a, b = pair
    a.set_space("private")
    a.kv_put("k", "in private")
    assert b.current_space() == "default"
    assert b.kv_get("k") is None
    b.kv_put("k", "in default")
    assert a.kv_get("k") == "in private"
    assert b.space_exists("private")
    b.set_space("private")
    assert b.kv_get("k") == "in private"


def test_a_new_handle_starts_at_the_default_branch_and_space(directory):
    with Strata.open(directory) as a:
        a.create_branch("elsewhere")
        a.set_branch("elsewhere")
        a.set_space("s")
        with Strata.open(directory) as b:
            assert b.current_branch() == "default"
            assert b.current_space() == "default"


# --- per-handle transactions --------------------------------------------------------


def test_a_transaction_on_one_handle_is_invisible_to_the_other_until_commit(pair):
    a, b = pair
    a.kv_put("existing", "old")
    a.begin()
    a.kv_put("new", 1)
    a.kv_put("existing", "new")
    a.event_append("t", "e")
    assert a.txn_is_active() is True
    assert b.txn_is_active() is False
    assert b.txn_info() is None
    assert a.kv_get("new") == 1
    assert b.kv_get("new") is None
    assert b.kv_get("existing") == "old"
    assert b.kv_list() == ["existing"]
    assert b.event_len() == 0
    version = a.commit()
    assert version == 2
    assert b.kv_get("new") == 1
    assert b.kv_get("existing") == "new"
    assert b.kv_get_versioned("new")["version"] == version
    assert b.event_len() == 1


def test_both_handles_can_hold_transactions_on_disjoint_keys_and_both_commit(pair):
    a, b = pair
    a.begin()
    b.begin()
    a.kv_put("a", 1)
    b.kv_put("b", 2)
    # a reads b's key (not yet committed, and a commits first); b reads only its own.
    assert a.kv_get("b") is None
    assert b.kv_get("b") == 2
    first = a.commit()
    assert b.kv_get("b") == 2
    second = b.commit()
    assert (first, second) == (1, 2)
    assert a.kv_get("b") == 2 and b.kv_get("a") == 1


def test_a_transaction_sees_a_snapshot_taken_at_begin(pair):
    a, b = pair
    a.kv_put("k", "before")
    a.begin()
    b.kv_put("k", "after begin")
    b.kv_put("other", 1)
    assert a.kv_get("k") == "before"
    assert a.kv_get("other") is None
    a.rollback()
    assert a.kv_get("k") == "after begin"


def test_commit_raises_conflict_when_the_other_handle_committed_a_key_it_read(pair):
    a, b = pair
    a.kv_put("balance", 100)
    last = a.kv_put("unrelated", 0)
    a.begin()
    balance = a.kv_get("balance")
    a.kv_put("withdrawal", 30)
    a.kv_put("balance-after", balance - 30)
    b.kv_put("balance", 50)
    with pytest.raises(ConflictError) as caught:
        a.commit()
    assert "balance" in str(caught.value)
    assert a.txn_is_active() is False
    assert b.kv_get("withdrawal") is None
    assert b.kv_get("balance-after") is None
    assert a.kv_get("balance") == 50
    # Nothing was applied: the next version follows b's write directly.
    assert a.kv_put("next", 1) == last + 2


def test_commit_raises_conflict_when_the_other_handle_committed_a_key_it_wrote(pair):
    a, b = pair
    a.begin()
    a.state_set("cell", "from a")
    a.kv_put("also-from-a", 1)
    b.state_set("cell", "from b")
    with pytest.raises(ConflictError):
        a.commit()
    assert b.state_get("cell") == "from b"
    assert a.state_get("cell") == "from b"
    assert a.kv_get("also-from-a") is None
    assert [entry["value"] for entry in a.state_history("cell")] == ["from b"]


def test_a_conflict_from_a_transaction_of_the_other_handle(pair):
    a, b = pair
    a.kv_put("k", 0)
    a.begin()
    b.begin()
    a.kv_put("k", a.kv_get("k") + 1)
    b.kv_put("k", b.kv_get("k") + 1)
    b.commit()
    with pytest.raises(ConflictError):
        a.commit()
    assert a.kv_get("k") == 1
    assert len(a.kv_history("k")) == 2


def test_a_conflicting_context_manager_raises_and_applies_nothing(pair):
    a, b = pair
    a.json_set("doc", "$", {"n": 0})
    with pytest.raises(ConflictError):
        with a.transaction():
            n = a.json_get("doc", "$.n")
            a.json_set("doc", "$.n", n + 1)
            a.kv_put("side-effect", True)
            b.json_set("doc", "$.n", 10)
    assert a.json_get("doc", "$.n") == 10
    assert a.kv_get("side-effect") is None
    assert a.txn_is_active() is False


def test_rollback_discards_the_writes_for_both_handles_and_after_reopen(directory):
    a = Strata.open(directory)
    b = Strata.open(directory)
    a.kv_put("k", "committed")
    a.begin()
    a.kv_put("k", "rolled back")
    a.kv_put("new", 1)
    a.rollback()
    assert a.kv_get("k") == "committed"
    assert b.kv_get("k") == "committed"
    assert a.kv_get("new") is None
    assert b.kv_put("after", 1) == 2
    a.close()
    b.close()
    with Strata.open(directory) as c:
        assert c.kv_get("k") == "committed"
        assert c.kv_get("new") is None
        assert len(c.kv_history("k")) == 1


def test_a_committed_transaction_survives_reopen_as_one_version(directory):
    with Strata.open(directory) as a, Strata.open(directory) as b:
        with a.transaction():
            a.kv_put("x", 1)
            a.state_set("y", 2)
            a.event_append("z", 3)
        b.kv_put("after", 4)
    with Strata.open(directory) as c:
        assert c.kv_get_versioned("x")["version"] == 1
        assert c.state_get_versioned("y")["version"] == 1
        assert c.kv_get_versioned("after")["version"] == 2
        assert c.event_get(0)["value"] == 3


def test_closing_a_handle_with_an_open_transaction_does_not_touch_the_other(directory):
    a = Strata.open(directory)
    b = Strata.open(directory)
    a.begin()
    a.kv_put("from-a", 1)
    b.begin()
    b.kv_put("from-b", 2)
    a.close()
    assert b.txn_is_active() is True
    assert b.commit() == 1
    assert b.kv_get("from-a") is None
    assert b.kv_get("from-b") == 2
    b.close()


def test_reading_a_missing_key_conflicts_when_the_other_handle_creates_it(pair):
    a, b = pair
    a.begin()
    assert a.kv_get("lease") is None
    a.kv_put("lease", "a")
    b.kv_put("lease", "b")
    with pytest.raises(ConflictError):
        a.commit()
    assert b.kv_get("lease") == "b"
