"""Branch bundles: `branch_export`, `branch_import`, `branch_validate_bundle` with
the shapes of api.md, a branch moved between two database directories, and hostile
files that must give a clear error and import nothing."""

import os

import numpy as np
import pytest

from stratadb import ConflictError, IoError, NotFoundError, Strata, StrataError, ValidationError

EVERY_VALUE = {
    "none": None,
    "bool": False,
    "int": -(2**63),
    "float": float("inf"),
    "str": "héllo 😀",
    "bytes": b"\x00\xff",
    "list": [1, [2.5, b"x"]],
    "nested": {"z": {"y": []}},
}


def fill(db):
    """Branch 'work': every primitive, two spaces, history, a delete."""
    db.create_branch("work")
    db.set_branch("work")
    db.kv_put("k", 1)
    db.kv_put("k", EVERY_VALUE)
    db.kv_put("gone", "x")
    db.kv_delete("gone")
    db.kv_put("raw", b"\x01\x02")
    db.state_set("cell", {"n": 1})
    db.json_set("doc", "$.a", [1, 2])
    db.event_append("tick", {"n": 0})
    db.event_append("tock", {"payload": b"\x00"})
    db.vector_create_collection("vecs", 3, "cosine")
    db.vector_upsert("vecs", "v", np.array([1.0, 2.0, 3.0]), {"m": "x"})
    db.vector_upsert("vecs", "u", [3.0, 2.0, 1.0])
    db.set_space("notes")
    db.kv_put("in-space", True)
    db.set_space("default")


def snapshot_of(db):
    """Everything readable on the current branch, history included."""
    picture = {}
    for space in db.list_spaces():
        db.set_space(space)
        picture[space] = {
            "kv": {k: db.kv_history(k) for k in db.kv_list()},
            "gone": db.kv_history("gone"),
            "cells": {c: db.state_history(c) for c in db.state_list()},
            "docs": {d: db.json_history(d) for d in db.json_list(100)["keys"]},
            "events": [db.event_get(i) for i in range(db.event_len())],
            "vectors": {
                c["name"]: {
                    key: (r["embedding"].tolist(), r["metadata"], r["version"], r["timestamp"])
                    for key in ("u", "v")
                    if (r := db.vector_get(c["name"], key)) is not None
                }
                for c in db.vector_list_collections()
            },
        }
    db.set_space("default")
    return picture


def test_export_import_round_trips_a_branch_between_two_directories(tmp_path):
    bundle = str(tmp_path / "out" / "work.bundle")
    with Strata.open(str(tmp_path / "a")) as source:
        fill(source)
        expected = snapshot_of(source)
        exported = source.branch_export("work", bundle)
    assert set(exported) == {"branch_id", "path", "entry_count", "bundle_size"}
    assert exported["branch_id"] == "work" and exported["path"] == bundle
    assert exported["bundle_size"] == os.path.getsize(bundle)
    assert exported["entry_count"] > 0

    with Strata.open(str(tmp_path / "b")) as target:
        target.kv_put("local", 1)
        validated = target.branch_validate_bundle(bundle)
        assert {k: validated[k] for k in ("branch_id", "format_version", "entry_count", "checksums_valid")} == {
            "branch_id": "work",
            "format_version": 1,
            "entry_count": exported["entry_count"],
            "checksums_valid": True,
        }
        imported = target.branch_import(bundle)
        assert imported == {"branch_id": "work", "transactions_applied": 1, "keys_written": imported["keys_written"]}
        assert imported["keys_written"] == 9
        target.set_branch("work")
        assert snapshot_of(target) == expected
        assert type(target.kv_get("raw")) is bytes
        assert [h["key"] for h in target.vector_search("vecs", [1.0, 2.0, 3.0], 2)] == ["v", "u"]
    # And after a reopen (the import commit replayed from the log).
    with Strata.open(str(tmp_path / "b")) as target:
        target.set_branch("work")
        assert snapshot_of(target) == expected
        assert target.kv_get("local") is None
        target.set_branch("default")
        assert target.kv_get("local") == 1


def test_importing_an_existing_branch_name_is_a_conflict_unless_renamed(db, tmp_path):
    bundle = str(tmp_path / "default.bundle")
    db.kv_put("k", 1)
    db.branch_export("default", bundle)
    before = db.info()["last_version"] if "last_version" in db.info() else None
    with pytest.raises(ConflictError, match="already exists"):
        db.branch_import(bundle)
    if before is not None:
        assert db.info()["last_version"] == before
    assert db.branch_import(bundle, branch="copy")["branch_id"] == "copy"
    db.set_branch("copy")
    assert db.kv_get("k") == 1


def test_export_errors(db, tmp_path):
    with pytest.raises(NotFoundError, match="nope"):
        db.branch_export("nope", str(tmp_path / "x.bundle"))
    with pytest.raises(IoError):
        db.branch_export("default", str(tmp_path))
    assert not (tmp_path / "x.bundle").exists()


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


def assert_refused(db, path):
    branches = db.list_branches()
    with pytest.raises((ValidationError, IoError)) as caught:
        db.branch_import(path, branch="imported")
    assert type(caught.value) in (ValidationError, IoError)
    assert db.list_branches() == branches
    try:
        report = db.branch_validate_bundle(path)
    except (ValidationError, IoError):
        return
    assert report["checksums_valid"] is False


def test_hostile_bundles_give_clear_errors_and_import_nothing(db, tmp_path):
    db.kv_put("k", {"a": [1, 2, 3]})
    db.event_append("e", {"x": "y" * 100})
    good = tmp_path / "good.bundle"
    db.branch_export("default", str(good))
    data = good.read_bytes()
    assert_refused(db, write(tmp_path, "empty", b""))
    assert_refused(db, write(tmp_path, "garbage", b"not a bundle at all" * 10))
    for cut in (1, 8, 31, 32, len(data) // 2, len(data) - 1):
        assert_refused(db, write(tmp_path, f"cut{cut}", data[:cut]))
    for index in range(0, len(data), max(1, len(data) // 40)):
        flipped = bytearray(data)
        flipped[index] ^= 0x10
        assert_refused(db, write(tmp_path, f"flip{index}", flipped))
    future = bytearray(data)
    future[8] = 9
    with pytest.raises(ValidationError, match="version"):
        db.branch_validate_bundle(write(tmp_path, "future", future))
    with pytest.raises(IoError):
        db.branch_import(str(tmp_path / "missing.bundle"))
    with pytest.raises(IoError):
        db.branch_import(str(tmp_path))
    with pytest.raises(StrataError):
        db.branch_validate_bundle(str(tmp_path / "missing.bundle"))


def test_a_damaged_bundle_validates_as_invalid_with_its_problems(db, tmp_path):
    db.kv_put("k", "v" * 1000)
    path = tmp_path / "b.bundle"
    db.branch_export("default", str(path))
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF
    path.write_bytes(bytes(data))
    report = db.branch_validate_bundle(str(path))
    assert report["branch_id"] == "default"
    assert report["checksums_valid"] is False
    assert report["problems"] and all(isinstance(p, str) for p in report["problems"])
