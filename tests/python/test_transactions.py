"""Transactions on one handle: lifecycle, one version per commit, read-your-writes,
rollback that really discards, and the two context managers.

Isolation against other handles and commit conflicts need a second handle on the
same engine (two `Strata.open` of one path); they are tested with the on-disk suite.
"""

import pytest

from stratadb import StateError, StrataError, Transaction


class Boom(Exception):
    """An application error raised inside a transaction block."""


def test_no_transaction_is_active_on_a_new_handle(db):
    assert db.txn_is_active() is False
    assert db.txn_info() is None


def test_begin_makes_a_transaction_active_and_commit_ends_it(db):
    db.begin()
    assert db.txn_is_active() is True
    db.commit()
    assert db.txn_is_active() is False
    assert db.txn_info() is None


def test_rollback_ends_the_transaction(db):
    db.begin()
    db.rollback()
    assert db.txn_is_active() is False
    assert db.txn_info() is None


def test_txn_info_has_id_status_and_start_time(db, assert_recent_timestamp):
    db.begin()
    info = db.txn_info()
    assert set(info) == {"id", "status", "started_at"}
    assert type(info["status"]) is str
    assert_recent_timestamp(info["started_at"])
    db.rollback()


def test_each_transaction_gets_its_own_id(db):
    db.begin()
    first = db.txn_info()["id"]
    db.commit()
    db.begin()
    second = db.txn_info()["id"]
    db.rollback()
    assert first != second


def test_commit_makes_the_writes_visible_and_returns_an_int_version(db):
    before = db.kv_put("before", 1)
    db.begin()
    db.kv_put("tx_key", "tx_val")
    version = db.commit()
    assert type(version) is int
    assert version > before
    assert db.kv_get("tx_key") == "tx_val"


def test_a_transaction_is_one_version_whatever_it_contains(db):
    db.begin()
    db.kv_put("a", 1)
    db.kv_put("b", 2)
    db.kv_put("a", 3)
    db.state_set("cell", "x")
    db.json_set("doc", "$", {"n": 1})
    version = db.commit()
    assert db.kv_get_versioned("a")["version"] == version
    assert db.kv_get_versioned("b")["version"] == version
    assert db.state_get_versioned("cell")["version"] == version
    assert db.json_get_versioned("doc")["version"] == version
    assert db.kv_put("after", 1) == version + 1


def test_a_committed_transaction_adds_one_history_entry_per_key(db):
    db.kv_put("a", "before")
    db.begin()
    db.kv_put("a", "first")
    db.kv_put("a", "second")
    version = db.commit()
    history = db.kv_history("a")
    assert [entry["value"] for entry in history] == ["second", "before"]
    assert history[0]["version"] == version


def test_reads_inside_a_transaction_see_its_own_writes(db):
    db.kv_put("existing", "old")
    db.kv_put("doomed", "here")
    db.begin()
    db.kv_put("new", "mine")
    db.kv_put("existing", "updated")
    db.kv_delete("doomed")
    db.state_set("cell", 7)
    db.json_set("doc", "$", {"a": {"b": 1}})
    db.json_set("doc", "$.a.c", 2)
    assert db.kv_get("new") == "mine"
    assert db.kv_get("existing") == "updated"
    assert db.kv_get("doomed") is None
    assert db.kv_list() == ["existing", "new"]
    assert db.state_get("cell") == 7
    assert db.json_get("doc", "$.a") == {"b": 1, "c": 2}
    db.commit()
    assert db.kv_list() == ["existing", "new"]


def test_event_appends_inside_a_transaction_are_readable_and_committed(db):
    db.event_append("t", "outside")
    db.begin()
    assert db.event_append("t", "inside-1") == 1
    assert db.event_append("t", "inside-2") == 2
    assert db.event_len() == 3
    assert db.event_get(2)["value"] == "inside-2"
    db.commit()
    assert [event["value"] for event in db.event_list("t")] == ["outside", "inside-1", "inside-2"]


def test_rollback_discards_every_write(db):
    db.kv_put("kept", "original")
    db.kv_put("deleted-in-txn", "still-here")
    db.state_set("cell", 1)
    db.begin()
    db.kv_put("kept", "changed")
    db.kv_put("new", "never")
    db.kv_delete("deleted-in-txn")
    db.state_set("cell", 2)
    db.json_set("doc", "$", {"never": True})
    db.event_append("t", "never")
    db.rollback()
    assert db.kv_get("kept") == "original"
    assert db.kv_get("new") is None
    assert db.kv_get("deleted-in-txn") == "still-here"
    assert db.state_get("cell") == 1
    assert db.json_get("doc", "$") is None
    assert db.event_len() == 0
    assert db.kv_list() == ["deleted-in-txn", "kept"]
    assert len(db.kv_history("kept")) == 1
    assert db.kv_history("new") is None


def test_event_sequence_stays_dense_after_a_rollback(db):
    db.event_append("t", 0)
    db.begin()
    db.event_append("t", "discarded")
    db.rollback()
    assert db.event_append("t", 1) == 1


def test_a_second_begin_raises_state_error_and_keeps_the_first_transaction(db):
    db.begin()
    db.kv_put("k", 1)
    with pytest.raises(StateError):
        db.begin()
    assert db.txn_is_active() is True
    db.commit()
    assert db.kv_get("k") == 1


def test_commit_without_a_transaction_raises_state_error(db):
    with pytest.raises(StateError):
        db.commit()


def test_a_handle_can_run_transactions_one_after_another(db):
    db.begin()
    db.kv_put("k", 1)
    first = db.commit()
    db.begin()
    db.kv_put("k", 2)
    db.rollback()
    db.begin()
    db.kv_put("k", 3)
    third = db.commit()
    assert third > first
    assert db.kv_get("k") == 3
    assert [entry["value"] for entry in db.kv_history("k")] == [3, 1]


def test_a_read_only_transaction_reads_and_refuses_writes(db):
    db.kv_put("k", "v")
    db.begin(read_only=True)
    assert db.txn_is_active() is True
    assert db.kv_get("k") == "v"
    with pytest.raises(StrataError):
        db.kv_put("k", "changed")
    db.commit()
    assert db.kv_get("k") == "v"


# --- context managers ------------------------------------------------------------


def test_with_db_transaction_commits_on_success(db):
    with db.transaction():
        db.kv_put("ctx", "value")
        assert db.txn_is_active() is True
    assert db.txn_is_active() is False
    assert db.kv_get("ctx") == "value"


def test_with_transaction_class_commits_on_success(db):
    with Transaction(db):
        db.kv_put("ctx", "value")
        db.kv_put("ctx2", "value2")
    assert db.txn_is_active() is False
    assert db.kv_get_versioned("ctx")["version"] == db.kv_get_versioned("ctx2")["version"]


@pytest.mark.parametrize("style", ["method", "class"])
def test_transaction_context_rolls_back_on_exception_and_reraises_it(db, style):
    db.kv_put("safe", "original")
    error = Boom("boom")
    with pytest.raises(Boom) as caught, db.transaction() if style == "method" else Transaction(db):
        db.kv_put("safe", "changed")
        db.kv_put("new", "never")
        raise error
    assert caught.value is error
    assert db.txn_is_active() is False
    assert db.kv_get("safe") == "original"
    assert db.kv_get("new") is None


@pytest.mark.parametrize("style", ["method", "class"])
def test_transaction_context_does_not_swallow_base_exceptions(db, style):
    with pytest.raises(KeyboardInterrupt), db.transaction() if style == "method" else Transaction(db):
        db.kv_put("k", 1)
        raise KeyboardInterrupt
    assert db.txn_is_active() is False
    assert db.kv_get("k") is None


def test_nested_transaction_context_raises_state_error_and_the_outer_rolls_back(db):
    with pytest.raises(StateError), db.transaction():
        db.kv_put("outer", 1)
        with db.transaction():
            db.kv_put("inner", 2)
    assert db.txn_is_active() is False
    assert db.kv_get("outer") is None
    assert db.kv_get("inner") is None


def test_transaction_context_can_be_used_repeatedly(db):
    for n in range(3):
        with db.transaction():
            db.kv_put(f"k{n}", n)
    assert db.kv_list() == ["k0", "k1", "k2"]
