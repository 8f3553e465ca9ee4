"""Databases in a directory: `Strata.open` with str and pathlib paths, strata.toml
and the durability modes, everything surviving close and reopen (with and without a
compaction), the version counter continuing across restarts, and close / the
context manager."""

import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from stratadb import IoError, StateError, Strata, StrataError, ValidationError

MODES = ["always", "standard", "none"]


def configured_durability(directory):
    """The durability value of the (uncommented) line in the directory's strata.toml."""
    text = (Path(directory) / "strata.toml").read_text()
    values = re.findall(r'^\s*durability\s*=\s*"([^"]*)"\s*$', text, re.MULTILINE)
    assert len(values) == 1, f"strata.toml should set durability exactly once:\n{text}"
    return values[0]


# --- creating a directory ----------------------------------------------------------


@pytest.mark.parametrize("as_path", [str, Path], ids=["str", "pathlib"])
def test_open_creates_the_directory_and_a_strata_toml_saying_standard(tmp_path, as_path):
    directory = tmp_path / "parent" / "db"
    db = Strata.open(as_path(directory))
    assert directory.is_dir()
    assert (directory / "strata.toml").is_file()
    assert configured_durability(directory) == "standard"
    db.close()


@pytest.mark.parametrize("as_path", [str, Path], ids=["str", "pathlib"])
def test_info_reports_the_directory_and_the_durability_in_force(tmp_path, as_path):
    directory = tmp_path / "db"
    with Strata.open(as_path(directory)) as db:
        info = db.info()
        assert info["path"] is not None
        assert os.path.realpath(info["path"]) == os.path.realpath(directory)
        assert info["durability"] == "standard"
        assert info["read_only"] is False
        assert info["last_version"] == 0


def test_a_relative_path_opens_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Strata.open("relative-db") as db:
        db.kv_put("k", 1)
        assert os.path.realpath(db.info()["path"]) == os.path.realpath(tmp_path / "relative-db")
    assert (tmp_path / "relative-db" / "strata.toml").is_file()


def test_a_new_database_starts_empty_with_only_the_default_branch_and_space(tmp_path):
    with Strata.open(tmp_path / "db") as db:
        assert db.list_branches() == ["default"]
        assert db.list_spaces() == ["default"]
        assert db.kv_list() == []
        assert db.event_len() == 0
        assert db.kv_put("first", 1) == 1


def test_opening_an_existing_strata_toml_never_rewrites_it(tmp_path):
    directory = tmp_path / "db"
    directory.mkdir()
    text = '# mine\ndurability = "none"\nsome_future_setting = 7\n'
    (directory / "strata.toml").write_text(text)
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
    assert (directory / "strata.toml").read_text() == text


# --- durability ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_durability_argument_is_in_force_and_not_written_to_strata_toml(tmp_path, mode):
    directory = tmp_path / "db"
    with Strata.open(directory, durability=mode) as db:
        assert db.info()["durability"] == mode
        version = db.kv_put("k", mode)
    assert configured_durability(directory) == "standard"
    with Strata.open(directory) as db:
        assert db.info()["durability"] == "standard"
        assert db.kv_get("k") == mode
        assert db.kv_get_versioned("k")["version"] == version


@pytest.mark.parametrize("mode", MODES)
def test_the_durability_in_strata_toml_decides_without_an_argument(tmp_path, mode):
    directory = tmp_path / "db"
    directory.mkdir()
    (directory / "strata.toml").write_text(f'durability = "{mode}"\n')
    with Strata.open(directory) as db:
        assert db.info()["durability"] == mode
        db.kv_put("k", 1)
    with Strata.open(str(directory)) as db:
        assert db.info()["durability"] == mode
        assert db.kv_get("k") == 1


@pytest.mark.parametrize(("configured", "requested"), [("none", "always"), ("always", "none"), ("always", "standard")])
def test_the_durability_argument_overrides_strata_toml(tmp_path, configured, requested):
    directory = tmp_path / "db"
    directory.mkdir()
    (directory / "strata.toml").write_text(f'durability = "{configured}"\n')
    with Strata.open(directory, durability=requested) as db:
        assert db.info()["durability"] == requested
    assert configured_durability(directory) == configured


@pytest.mark.parametrize("bad", ["fast", "", "Always", "STANDARD", "sync", "always "])
def test_an_invalid_durability_argument_raises_validation_error_and_creates_nothing(tmp_path, bad):
    directory = tmp_path / "db"
    with pytest.raises(ValidationError) as caught:
        Strata.open(directory, durability=bad)
    assert "durability" in str(caught.value)
    assert f'"{bad}"' in str(caught.value), "the message should quote the rejected value"
    assert not directory.exists()


@pytest.mark.parametrize(
    "text",
    [
        'durability = "fast"\n',
        "durability = 5\n",
        "durability = \n",
        'durability = ["always"]\n',
        "this is not toml\n",
        'durability = "always"\ndurability = "none"\n',
    ],
    ids=["unknown-mode", "not-a-string", "missing-value", "array", "garbage", "duplicate-key"],
)
def test_a_bad_strata_toml_raises_an_error_naming_the_file(tmp_path, text):
    directory = tmp_path / "db"
    directory.mkdir()
    (directory / "strata.toml").write_text(text)
    with pytest.raises(StrataError) as caught:
        Strata.open(directory)
    assert "strata.toml" in str(caught.value)
    assert str(directory) in str(caught.value) or os.path.realpath(directory) in str(caught.value)
    assert (directory / "strata.toml").read_text() == text, "the bad file was rewritten"


def test_a_bad_strata_toml_that_is_then_fixed_opens_so_the_failed_open_left_no_lock(tmp_path):
    directory = tmp_path / "db"
    directory.mkdir()
    (directory / "strata.toml").write_text('durability = "fast"\n')
    with pytest.raises(StrataError):
        Strata.open(directory)
    (directory / "strata.toml").write_text('durability = "none"\n')
    with Strata.open(directory) as db:
        assert db.info()["durability"] == "none"
        assert db.kv_put("k", 1) == 1


def test_a_strata_toml_that_is_not_utf8_raises_an_error_naming_the_file(tmp_path):
    directory = tmp_path / "db"
    directory.mkdir()
    (directory / "strata.toml").write_bytes(b'durability = "\xff\xfe"\n')
    with pytest.raises(StrataError) as caught:
        Strata.open(directory)
    assert "strata.toml" in str(caught.value)


# --- everything survives a reopen ----------------------------------------------------

BYTES = bytes(range(256))
NESTED = {
    "none": None,
    "bool": True,
    "int": -(2**63),
    "big": 2**63 - 1,
    "float": 1.5,
    "inf": float("-inf"),
    "text": "héllo \u2603",
    "bytes": b"\x00\x01\xff",
    "list": [1, [2, [3, b"deep"]], {"k": None}],
    "order": {"z": 1, "a": 2, "m": 3},
}


def populate(db):
    """Write every primitive, with history, spaces, branches, a fork and a merge."""
    # KV with history and a delete.
    db.kv_put("kv:history", 1)
    db.kv_put("kv:history", "two")
    db.kv_put("kv:history", BYTES)
    db.kv_put("kv:nested", NESTED)
    db.kv_put("kv:deleted", "soon gone")
    db.kv_delete("kv:deleted")
    db.kv_put("kv:bytearray", bytearray(b"from a bytearray"))
    # State cells.
    db.state_set("cell:set", {"n": 1})
    db.state_init("cell:init", 0)
    current = db.state_get_versioned("cell:init")
    db.state_cas("cell:init", current["value"] + 1, current["version"])
    db.state_set("cell:deleted", 1)
    db.state_delete("cell:deleted")
    # Events of several types.
    db.event_append("tool_call", {"tool": "search", "n": 0})
    db.event_append("observation", b"raw bytes payload")
    db.event_append("tool_call", {"tool": "fetch", "n": 1})
    db.event_append("note", None)
    # JSON documents with paths and history.
    db.json_set("doc:config", "$", {"limits": {"tokens": 1000}, "tags": ["a", "b", "c"]})
    db.json_set("doc:config", "$.limits.tokens", 2000)
    db.json_set("doc:config", "$.tags[1]", "B")
    db.json_set("doc:config", "$['with space']", BYTES[:8])
    db.json_delete("doc:config", "$.tags[0]")
    db.json_set("doc:gone", "$", {"x": 1})
    db.json_delete("doc:gone", "$")
    # Vectors in two collections, with metadata, a batch and a delete.
    rng = np.random.default_rng(7)
    db.vector_create_collection("notes", 8)
    db.vector_create_collection("points", 3, metric="euclidean")
    for n in range(5):
        db.vector_upsert("notes", f"n{n}", rng.standard_normal(8).astype(np.float32), metadata={"n": n, "b": b"m"})
    db.vector_upsert("notes", "n0", rng.standard_normal(8), metadata=None)  # float64 in, replaces
    db.vector_batch_upsert(
        "points",
        [
            {"key": "origin", "vector": [0.0, 0.0, 0.0], "metadata": {"name": "origin"}},
            {"key": "x", "vector": np.array([1.0, 0.0, 0.0], dtype=np.float32)},
            {"key": "tiny", "vector": [1e-30, -3.4e38, 0.1]},
        ],
    )
    db.vector_delete("notes", "n4")
    # Spaces.
    db.set_space("scratch")
    db.kv_put("kv:history", "same key, other space")
    db.event_append("space-event", 1)
    db.state_set("cell:set", "other space")
    db.vector_create_collection("notes", 2, metric="dot_product")
    db.vector_upsert("notes", "only-here", [2.0, 3.0])
    db.space_create("empty-space")
    db.set_space("default")
    # Branches: an empty one, a fork that diverges, and a merge back.
    db.create_branch("empty")
    db.fork_branch("feature")
    db.set_branch("feature")
    db.kv_put("kv:feature-only", "feature")
    db.kv_put("kv:history", "changed on feature")
    db.json_set("doc:config", "$.limits.tokens", 3000)
    db.event_append("tool_call", {"tool": "feature"})
    db.set_branch("default")
    db.kv_put("kv:default-only", "default")
    db.merge_branches("feature")
    db.fork_branch("after-merge")


def vector_dump(db, collection):
    stats = db.vector_collection_stats(collection)
    dimension = stats["dimension"]
    hits = db.vector_search(collection, np.ones(dimension, dtype=np.float32), max(stats["count"], 1))
    # memory_bytes measures the live layout, which a reopen rebuilds without the holes
    # deletes left, so it may differ; it is not part of the stored state.
    stats = {**stats, "memory_bytes": stats["memory_bytes"] > 0 or stats["count"] == 0}
    records = {}
    for hit in hits:
        record = db.vector_get(collection, hit["key"])
        embedding = record.pop("embedding")
        assert isinstance(embedding, np.ndarray)
        assert embedding.dtype == np.float32
        records[hit["key"]] = {**record, "embedding": embedding.tobytes()}
    return {"stats": stats, "hits": hits, "records": records}


def dump(db):
    """Everything readable through the API, for every branch and space."""
    everything = {"branches": db.list_branches()}
    for branch in db.list_branches():
        db.set_branch(branch)
        per_branch = {"branch_get": db.branch_get(branch), "spaces": db.list_spaces()}
        for space in db.list_spaces():
            db.set_space(space)
            per_branch[space] = {
                "kv": {key: db.kv_history(key) for key in db.kv_list()},
                "kv_deleted": db.kv_history("kv:deleted"),
                "cells": {cell: db.state_history(cell) for cell in db.state_list()},
                "cell_deleted": db.state_history("cell:deleted"),
                "events": [db.event_get(seq) for seq in range(db.event_len())],
                "tool_calls": db.event_list("tool_call"),
                "documents": {
                    key: (db.json_history(key), db.json_get_versioned(key))
                    for key in db.json_list(1000)["keys"]
                },
                "doc_gone": db.json_history("doc:gone"),
                "vectors": {
                    stats["name"]: vector_dump(db, stats["name"]) for stats in db.vector_list_collections()
                },
            }
        everything[branch] = per_branch
    db.set_branch("default")
    everything["diffs"] = [
        db.diff_branches("default", "feature"),
        db.diff_branches("empty", "after-merge"),
    ]
    return everything


def check_values(db):
    """Spot checks of the dump with exact Python types."""
    assert db.current_branch() == "default"
    assert db.current_space() == "default"
    assert db.kv_get("kv:history") == "changed on feature"
    history = db.kv_history("kv:history")
    assert [entry["value"] for entry in history] == ["changed on feature", BYTES, "two", 1]
    assert type(history[1]["value"]) is bytes
    assert db.kv_get("kv:nested") == NESTED
    assert list(db.kv_get("kv:nested")["order"]) == ["z", "a", "m"]
    assert type(db.kv_get("kv:nested")["list"][1][1][1]) is bytes
    assert db.kv_get("kv:bytearray") == b"from a bytearray"
    assert type(db.kv_get("kv:bytearray")) is bytes
    assert db.kv_get("kv:deleted") is None
    assert db.kv_history("kv:deleted")[0]["value"] is None
    assert db.state_get("cell:init") == 1
    assert db.state_get("cell:deleted") is None
    assert [e["value"] for e in db.event_list("tool_call")] == [
        {"tool": "search", "n": 0},
        {"tool": "fetch", "n": 1},
        {"tool": "feature"},
    ]
    assert db.event_get(1)["value"] == b"raw bytes payload"
    assert db.json_get("doc:config", "$") == {
        "limits": {"tokens": 3000},
        "tags": ["B", "c"],
        "with space": BYTES[:8],
    }
    assert db.json_get("doc:gone", "$") is None
    assert db.vector_get("notes", "n4") is None
    assert db.vector_get("points", "origin")["metadata"] == {"name": "origin"}
    tiny = db.vector_get("points", "tiny")["embedding"]
    assert tiny.tolist() == np.array([1e-30, -3.4e38, 0.1], dtype=np.float32).tolist()
    assert db.vector_get("notes", "n1")["metadata"] == {"n": 1, "b": b"m"}
    assert db.kv_get("kv:feature-only") == "feature"
    assert db.branch_exists("empty")
    db.set_space("scratch")
    assert db.kv_get("kv:history") == "same key, other space"
    assert db.vector_get("notes", "only-here")["embedding"].tolist() == [2.0, 3.0]
    db.set_space("default")
    assert sorted(db.list_spaces()) == ["default", "empty-space", "scratch"]
    db.set_branch("empty")
    assert db.kv_list() == []
    db.set_branch("default")


@pytest.mark.parametrize("as_path", [str, Path], ids=["str", "pathlib"])
@pytest.mark.parametrize("compaction", ["no-compact", "compact", "compact-then-more-writes"])
def test_every_primitive_round_trips_through_close_and_reopen(tmp_path, as_path, compaction):
    directory = as_path(tmp_path / "db")
    db = Strata.open(directory)
    populate(db)
    if compaction != "no-compact":
        db.compact()
    if compaction == "compact-then-more-writes":
        db.kv_put("kv:after-compact", [1, 2, 3])
        db.set_branch("feature")
        db.event_append("tool_call", {"tool": "after compact"})
        db.set_branch("default")
    check_values(db)
    before = dump(db)
    last_version = db.info()["last_version"]
    db.close()

    db = Strata.open(directory)
    check_values(db)
    assert dump(db) == before
    assert db.info()["last_version"] == last_version
    assert db.info()["total_keys"] > 0
    db.close()


def test_a_second_reopen_replays_writes_made_after_the_first_recovery(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        populate(db)
    with Strata.open(directory) as db:
        db.kv_put("kv:second-session", 2)
        db.set_branch("feature")
        db.kv_put("kv:feature-only", "updated in the second session")
        db.set_branch("default")
        before = dump(db)
        last = db.info()["last_version"]
    with Strata.open(directory) as db:
        assert dump(db) == before
        assert db.info()["last_version"] == last
        check_values(db)


def test_float_specials_and_bytes_keep_their_types_after_reopen(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("nan", float("nan"))
        db.kv_put("inf", float("inf"))
        db.kv_put("bytes", b"")
        db.kv_put("memoryview", memoryview(b"mv"))
        db.kv_put("int-looking-float", 3.0)
        db.kv_put("tuple", (1, b"x"))
    with Strata.open(directory) as db:
        assert math.isnan(db.kv_get("nan"))
        assert db.kv_get("inf") == float("inf")
        assert db.kv_get("bytes") == b"" and type(db.kv_get("bytes")) is bytes
        assert db.kv_get("memoryview") == b"mv" and type(db.kv_get("memoryview")) is bytes
        assert type(db.kv_get("int-looking-float")) is float
        assert db.kv_get("tuple") == [1, b"x"]


# --- the version counter ----------------------------------------------------------


@pytest.mark.parametrize("compact", [False, True], ids=["no-compact", "compact"])
def test_the_version_counter_continues_after_reopen(tmp_path, compact):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        versions = [db.kv_put(f"k{n}", n) for n in range(5)]
        db.begin()
        db.kv_put("t1", 1)
        db.kv_put("t2", 2)
        versions.append(db.commit())
        db.event_append("e", 1)
        versions.append(db.vector_create_collection("v", 2))
        versions.append(db.state_set("c", 1))
        if compact:
            db.compact()
    assert versions == [1, 2, 3, 4, 5, 6, 8, 9]
    with Strata.open(directory) as db:
        assert db.info()["last_version"] == 9
        assert db.kv_put("next", 1) == 10
        assert db.kv_get_versioned("t1")["version"] == 6
        assert db.kv_get_versioned("t2")["version"] == 6
    with Strata.open(directory) as db:
        assert db.state_set("c", 2) == 11


def test_versions_never_repeat_across_many_reopens_and_compactions(tmp_path):
    directory = tmp_path / "db"
    seen = []
    for session in range(6):
        with Strata.open(directory) as db:
            seen.append(db.kv_put("k", session))
            assert db.event_append("e", session) == session
            seen.append(db.kv_put("j", session))
            if session % 2:
                db.compact()
    # Three commits per session (the event append is the middle one).
    assert seen == [version for session in range(6) for version in (3 * session + 1, 3 * session + 3)]
    with Strata.open(directory) as db:
        assert [entry["value"] for entry in db.kv_history("k")] == [5, 4, 3, 2, 1, 0]
        assert [event["value"] for event in db.event_list("e")] == list(range(6))
        assert db.info()["last_version"] == 18


def test_a_rolled_back_transaction_consumes_no_version_across_reopen(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        assert db.kv_put("a", 1) == 1
        db.begin()
        db.kv_put("b", 2)
        db.rollback()
    with Strata.open(directory) as db:
        assert db.kv_get("b") is None
        assert db.kv_put("c", 3) == 2


# --- close and the context manager ----------------------------------------------------

CALLS_AFTER_CLOSE = [
    ("kv_put", ("k", 1)),
    ("kv_get", ("k",)),
    ("kv_delete", ("k",)),
    ("kv_list", ()),
    ("kv_history", ("k",)),
    ("kv_get_versioned", ("k",)),
    ("kv_list_paginated", ()),
    ("state_set", ("c", 1)),
    ("state_get", ("c",)),
    ("state_init", ("c", 1)),
    ("state_cas", ("c", 1, None)),
    ("state_history", ("c",)),
    ("state_delete", ("c",)),
    ("state_list", ()),
    ("state_get_versioned", ("c",)),
    ("event_append", ("t", {})),
    ("event_get", (0,)),
    ("event_list", ("t",)),
    ("event_len", ()),
    ("event_list_paginated", ("t",)),
    ("json_set", ("d", "$", 1)),
    ("json_get", ("d", "$")),
    ("json_delete", ("d", "$")),
    ("json_history", ("d",)),
    ("json_get_versioned", ("d",)),
    ("json_list", (10,)),
    ("vector_create_collection", ("w", 2)),
    ("vector_delete_collection", ("v",)),
    ("vector_list_collections", ()),
    ("vector_collection_stats", ("v",)),
    ("vector_upsert", ("v", "x", [1.0, 0.0])),
    ("vector_batch_upsert", ("v", [{"key": "x", "vector": [1.0, 0.0]}])),
    ("vector_get", ("v", "x")),
    ("vector_delete", ("v", "x")),
    ("vector_search", ("v", [1.0, 0.0], 1)),
    ("vector_search_filtered", ("v", [1.0, 0.0], 1)),
    ("current_branch", ()),
    ("set_branch", ("default",)),
    ("create_branch", ("b",)),
    ("fork_branch", ("f",)),
    ("list_branches", ()),
    ("delete_branch", ("other",)),
    ("branch_exists", ("default",)),
    ("branch_get", ("default",)),
    ("diff_branches", ("default", "other")),
    ("merge_branches", ("other",)),
    ("current_space", ()),
    ("set_space", ("s",)),
    ("list_spaces", ()),
    ("space_create", ("s",)),
    ("space_exists", ("default",)),
    ("delete_space", ("s",)),
    ("delete_space_force", ("s",)),
    ("begin", ()),
    ("commit", ()),
    ("rollback", ()),
    ("txn_is_active", ()),
    ("txn_info", ()),
    ("ping", ()),
    ("info", ()),
    ("flush", ()),
    ("compact", ()),
    ("retention_apply", ()),
    ("at", (1,)),
    ("branch_export", ("default", "x.bundle")),
    ("branch_import", ("x.bundle",)),
    ("branch_validate_bundle", ("x.bundle",)),
]


def test_calls_after_close_cover_every_public_method():
    public = {name for name in dir(Strata) if not name.startswith("_")}
    lifetime = {"open", "cache", "close", "transaction"}
    assert public - lifetime == {name for name, _ in CALLS_AFTER_CLOSE}


@pytest.mark.parametrize(("method", "args"), CALLS_AFTER_CLOSE, ids=[name for name, _ in CALLS_AFTER_CLOSE])
def test_every_call_on_a_closed_on_disk_handle_raises_state_error(tmp_path, method, args):
    db = Strata.open(tmp_path / "db")
    db.kv_put("k", 1)
    db.vector_create_collection("v", 2)
    db.create_branch("other")
    db.close()
    with pytest.raises(StateError):
        getattr(db, method)(*args)


def test_a_transaction_context_on_a_closed_handle_raises_state_error(tmp_path):
    db = Strata.open(tmp_path / "db")
    db.close()
    with pytest.raises(StateError):
        with db.transaction():
            pass


def test_closing_twice_is_fine_and_the_data_stays(tmp_path):
    directory = tmp_path / "db"
    db = Strata.open(directory)
    db.kv_put("k", "v")
    assert db.close() is None
    assert db.close() is None
    with Strata.open(directory) as again:
        assert again.kv_get("k") == "v"


def test_after_close_the_directory_opens_again_in_this_process(tmp_path):
    directory = tmp_path / "db"
    for round_number in range(3):
        db = Strata.open(directory)
        db.kv_put("round", round_number)
        db.close()
    db = Strata.open(directory)
    assert [entry["value"] for entry in db.kv_history("round")] == [2, 1, 0]
    db.close()


def test_the_context_manager_yields_the_handle_and_closes_it(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        assert isinstance(db, Strata)
        db.kv_put("k", "v")
    with pytest.raises(StateError):
        db.kv_get("k")
    with Strata.open(directory) as db:
        assert db.kv_get("k") == "v"


def test_the_context_manager_closes_and_reraises_on_an_exception(tmp_path):
    class Boom(Exception):
        pass

    directory = tmp_path / "db"
    with pytest.raises(Boom), Strata.open(directory) as db:
        db.kv_put("k", 1)
        raise Boom
    with pytest.raises(StateError):
        db.kv_put("k", 2)
    with Strata.open(directory) as db:
        assert db.kv_get("k") == 1


def test_close_with_an_open_transaction_discards_it(tmp_path):
    directory = tmp_path / "db"
    db = Strata.open(directory)
    db.kv_put("kept", 1)
    db.begin()
    db.kv_put("uncommitted", 2)
    db.close()
    with Strata.open(directory) as db:
        assert db.kv_get("kept") == 1
        assert db.kv_get("uncommitted") is None
        assert db.kv_put("next", 3) == 2


@pytest.mark.parametrize("mode", MODES)
def test_writes_in_every_mode_are_there_after_close_and_reopen(tmp_path, mode):
    directory = tmp_path / "db"
    with Strata.open(directory, durability=mode) as db:
        for n in range(50):
            db.kv_put(f"k{n:02d}", n)
        db.flush()
        db.kv_put("after-flush", True)
    with Strata.open(directory, durability=mode) as db:
        assert db.kv_list() == ["after-flush"] + [f"k{n:02d}" for n in range(50)]
        assert db.kv_get("k49") == 49
        assert db.kv_get("after-flush") is True
        assert db.info()["last_version"] == 51


def test_the_files_of_the_readme_are_in_the_directory(tmp_path):
    directory = tmp_path / "db"
    with Strata.open(directory) as db:
        db.kv_put("k", 1)
        assert (directory / "LOCK").is_file()
        assert (directory / "LOCK").read_text().strip() == str(os.getpid())
        db.compact()
        db.kv_put("k", 2)
    names = set(os.listdir(directory))
    assert {"strata.toml", "MANIFEST", "wal", "snapshots"} <= names
    segments = os.listdir(directory / "wal")
    assert segments and all(re.fullmatch(r"\d{20}\.log", name) for name in segments)
    snapshots = os.listdir(directory / "snapshots")
    assert len(snapshots) == 1 and re.fullmatch(r"\d{20}\.snap", snapshots[0])
    assert not [name for name in names if name.endswith(".tmp")]


# --- paths that are not database directories ----------------------------------------


def test_an_empty_path_raises_validation_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError):
        Strata.open("")
    assert os.listdir(tmp_path) == []


def test_opening_a_regular_file_raises_io_error_naming_it_and_leaves_it_alone(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database")
    with pytest.raises(IoError) as caught:
        Strata.open(path)
    assert "notes.txt" in str(caught.value)
    assert path.read_text() == "not a database"
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_opening_read_only_a_regular_file_raises_instead_of_giving_an_empty_database(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database")
    with pytest.raises(StrataError) as caught:
        Strata.open(path, read_only=True)
    assert "notes.txt" in str(caught.value)
    assert path.read_text() == "not a database"
