"""Database-level calls on an in-memory database: ping, info, maintenance calls,
close and the context manager, and the one database-wide version counter."""

import pytest

import stratadb
from stratadb import StateError, Strata

INFO_KEYS = {"version", "uptime_secs", "branch_count", "total_keys", "path", "durability"}


def test_ping_returns_the_package_version(db):
    version = db.ping()
    assert type(version) is str
    assert version == stratadb.__version__


def test_info_has_the_documented_keys_and_types(db):
    info = db.info()
    assert set(info) >= INFO_KEYS
    assert info["version"] == db.ping()
    assert type(info["uptime_secs"]) is int
    assert info["uptime_secs"] >= 0
    assert type(info["branch_count"]) is int
    assert type(info["total_keys"]) is int


def test_info_of_an_in_memory_database_has_no_path(db):
    assert db.info()["path"] is None


def test_info_branch_count_follows_the_branches(db):
    assert db.info()["branch_count"] == 1
    db.create_branch("a")
    db.fork_branch("b")
    assert db.info()["branch_count"] == 3
    db.delete_branch("a")
    assert db.info()["branch_count"] == 2


def test_info_total_keys_counts_live_keys(db):
    assert db.info()["total_keys"] == 0
    for key in ["a", "b", "c"]:
        db.kv_put(key, 1)
    db.kv_put("a", 2)
    assert db.info()["total_keys"] == 3
    db.kv_delete("b")
    assert db.info()["total_keys"] == 2


@pytest.mark.parametrize("call", ["flush", "compact", "retention_apply"])
def test_maintenance_calls_succeed_on_an_in_memory_database_and_keep_the_data(db, call):
    db.kv_put("k", 1)
    db.kv_put("k", 2)
    db.state_set("c", "s")
    db.json_set("d", "$", {"a": 1})
    db.event_append("t", "e")
    getattr(db, call)()
    assert db.kv_get("k") == 2
    assert db.state_get("c") == "s"
    assert db.json_get("d", "$.a") == 1
    assert db.event_get(0)["value"] == "e"
    assert db.kv_put("after", 1) > db.kv_get_versioned("k")["version"]


def test_cache_databases_are_private_to_their_handle(db):
    other = Strata.cache()
    db.kv_put("k", "mine")
    assert other.kv_get("k") is None
    assert other.list_branches() == ["default"]


# --- versions --------------------------------------------------------------------


def test_the_version_counter_starts_at_one(db):
    assert db.kv_put("first", 1) == 1


def test_versions_are_one_counter_across_primitives(db):
    versions = [
        db.kv_put("k", 1),
        db.state_set("c", 1),
        db.json_set("d", "$", {}),
        db.kv_put("k", 2),
        db.state_cas("c", 2, db.state_get_versioned("c")["version"]),
        db.json_set("d", "$.a", 1),
    ]
    assert versions == list(range(versions[0], versions[0] + len(versions)))


def test_versions_keep_increasing_across_branches_and_spaces(db):
    versions = [db.kv_put("k", 0)]
    db.create_branch("b")
    db.set_branch("b")
    versions.append(db.kv_put("k", 1))
    db.set_space("s")
    versions.append(db.state_set("c", 1))
    db.set_branch("default")
    versions.append(db.kv_put("k", 2))
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


def test_event_appends_and_vector_writes_consume_versions(db):
    db.vector_create_collection("v", 2)
    first = db.kv_put("k", 1)
    db.event_append("t", {})
    vector_version = db.vector_upsert("v", "x", [1.0, 0.0])
    last = db.kv_put("k", 2)
    assert (vector_version, last) == (first + 2, first + 3)


# --- close and the context manager -------------------------------------------------

CALLS_AFTER_CLOSE = [
    ("kv_put", ("k", 1)),
    ("kv_get", ("k",)),
    ("kv_delete", ("k",)),
    ("kv_list", ()),
    ("kv_history", ("k",)),
    ("state_set", ("c", 1)),
    ("state_get", ("c",)),
    ("state_cas", ("c", 1, None)),
    ("event_append", ("t", {})),
    ("event_get", (0,)),
    ("event_len", ()),
    ("json_set", ("d", "$", 1)),
    ("json_get", ("d", "$")),
    ("json_list", (10,)),
    ("vector_create_collection", ("v", 2)),
    ("vector_list_collections", ()),
    ("vector_search", ("v", [1.0, 0.0], 1)),
    ("create_branch", ("b",)),
    ("set_branch", ("default",)),
    ("list_branches", ()),
    ("fork_branch", ("f",)),
    ("set_space", ("s",)),
    ("list_spaces", ()),
    ("begin", ()),
    ("ping", ()),
    ("info", ()),
    ("flush", ()),
    ("compact", ()),
]


@pytest.mark.parametrize(("method", "args"), CALLS_AFTER_CLOSE, ids=[name for name, _ in CALLS_AFTER_CLOSE])
def test_every_call_after_close_raises_state_error(db, method, args):
    db.kv_put("k", 1)
    db.close()
    with pytest.raises(StateError):
        getattr(db, method)(*args)


def test_closing_twice_is_fine(db):
    db.close()
    db.close()
    with pytest.raises(StateError):
        db.kv_get("k")


def test_the_context_manager_yields_the_handle_and_closes_it():
    with Strata.cache() as handle:
        assert isinstance(handle, Strata)
        handle.kv_put("k", "v")
        assert handle.kv_get("k") == "v"
    with pytest.raises(StateError):
        handle.kv_get("k")


def test_the_context_manager_closes_and_reraises_on_exception():
    class Boom(Exception):
        pass

    with pytest.raises(Boom), Strata.cache() as handle:
        handle.kv_put("k", 1)
        raise Boom
    with pytest.raises(StateError):
        handle.kv_put("k", 2)
