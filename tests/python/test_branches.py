"""Branches: creation, switching, forking with full copies, isolation, deletion,
metadata, diffs seen from a to b, and three-way merges."""

import numpy as np
import pytest

from stratadb import ConflictError, ConstraintError, NotFoundError, ValidationError

BRANCH_KEYS = {"id", "status", "created_at", "updated_at", "version", "timestamp", "parent"}
DIFF_ENTRY_KEYS = {"space", "primitive", "key"}


def test_the_default_branch_exists_and_is_current(db):
    assert db.current_branch() == "default"
    assert db.list_branches() == ["default"]
    assert db.branch_exists("default") is True


def test_create_branch_adds_an_empty_branch_without_switching(db):
    db.kv_put("k", 1)
    db.create_branch("experiment")
    assert db.current_branch() == "default"
    assert sorted(db.list_branches()) == ["default", "experiment"]
    assert db.branch_exists("experiment") is True
    db.set_branch("experiment")
    assert db.kv_list() == []
    assert db.kv_get("k") is None
    assert db.event_len() == 0
    assert db.list_spaces() == ["default"]


def test_create_branch_of_an_existing_name_raises_conflict_error(db):
    db.create_branch("b")
    with pytest.raises(ConflictError) as caught:
        db.create_branch("b")
    assert "b" in str(caught.value)
    with pytest.raises(ConflictError):
        db.create_branch("default")


def test_set_branch_switches_the_current_branch(db):
    db.create_branch("test")
    db.set_branch("test")
    assert db.current_branch() == "test"
    db.set_branch("default")
    assert db.current_branch() == "default"


def test_set_branch_to_an_unknown_branch_raises_not_found_error_and_stays_put(db):
    with pytest.raises(NotFoundError) as caught:
        db.set_branch("no-such-branch")
    assert "no-such-branch" in str(caught.value)
    assert db.current_branch() == "default"


def test_branch_exists_is_false_for_unknown_branches(db):
    assert db.branch_exists("nonexistent") is False


def test_branches_isolate_every_primitive(db):
    db.create_branch("other")
    db.kv_put("k", "default-kv")
    db.state_set("c", "default-state")
    db.event_append("e", "default-event")
    db.json_set("j", "$", {"on": "default"})
    db.vector_create_collection("v", 2)
    db.vector_upsert("v", "x", [1.0, 0.0])
    db.set_branch("other")
    assert db.kv_get("k") is None
    assert db.state_get("c") is None
    assert db.event_len() == 0
    assert db.json_get("j", "$") is None
    assert db.vector_list_collections() == []
    db.kv_put("k", "other-kv")
    db.set_branch("default")
    assert db.kv_get("k") == "default-kv"


def test_switching_branch_resets_the_current_space_to_default(db):
    db.set_space("notes")
    db.kv_put("k", 1)
    db.fork_branch("copy")
    db.set_branch("copy")
    assert db.current_space() == "default"
    db.set_space("notes")
    db.set_branch("default")
    assert db.current_space() == "default"


def test_switching_to_a_branch_without_the_current_space_reads_its_default_space(db):
    db.create_branch("fresh")
    db.set_space("only-on-default")
    db.kv_put("k", "space")
    db.set_branch("fresh")
    assert db.current_space() == "default"
    db.kv_put("k", "fresh-default")
    db.set_branch("default")
    db.set_space("only-on-default")
    assert db.kv_get("k") == "space"


# --- fork ------------------------------------------------------------------------


def test_fork_branch_returns_source_destination_and_keys_copied(db):
    for n in range(3):
        db.kv_put(f"k{n}", n)
    result = db.fork_branch("forked")
    assert set(result) == {"source", "destination", "keys_copied"}
    assert result["source"] == "default"
    assert result["destination"] == "forked"
    assert type(result["keys_copied"]) is int
    assert result["keys_copied"] == 3


def test_fork_branch_stays_on_the_current_branch(db):
    db.fork_branch("forked")
    assert db.current_branch() == "default"
    assert db.branch_exists("forked")


def test_fork_branch_copies_every_space_and_primitive(db):
    db.kv_put("k", "kv")
    db.state_set("c", "state")
    db.event_append("tool_call", {"n": 1})
    db.json_set("j", "$", {"doc": [1, 2]})
    db.vector_create_collection("vecs", 2, metric="euclidean")
    db.vector_upsert("vecs", "v", [3.0, 4.0], metadata={"m": 1})
    db.set_space("notes")
    db.kv_put("in-notes", "yes")
    db.set_space("default")

    db.fork_branch("copy")
    db.set_branch("copy")

    assert db.kv_get("k") == "kv"
    assert db.state_get("c") == "state"
    assert db.event_len() == 1
    assert db.event_get(0)["value"] == {"n": 1}
    assert db.event_get(0)["event_type"] == "tool_call"
    assert db.json_get("j", "$.doc[1]") == 2
    stats = db.vector_collection_stats("vecs")
    assert (stats["dimension"], stats["metric"], stats["count"]) == (2, "euclidean", 1)
    vector = db.vector_get("vecs", "v")
    np.testing.assert_array_equal(vector["embedding"], [3.0, 4.0])
    assert vector["metadata"] == {"m": 1}
    assert [match["key"] for match in db.vector_search("vecs", [3.0, 4.0], 1)] == ["v"]
    assert sorted(db.list_spaces()) == ["default", "notes"]
    db.set_space("notes")
    assert db.kv_get("in-notes") == "yes"


def test_fork_branch_copies_history(db):
    db.kv_put("h", 1)
    db.kv_put("h", 2)
    db.kv_put("gone", "soon")
    db.kv_delete("gone")
    db.state_set("c", "a")
    db.state_set("c", "b")
    db.json_set("j", "$", {"v": 1})
    db.json_set("j", "$.v", 2)
    histories = (db.kv_history("h"), db.kv_history("gone"), db.state_history("c"), db.json_history("j"))
    db.fork_branch("copy")
    db.set_branch("copy")
    assert (db.kv_history("h"), db.kv_history("gone"), db.state_history("c"), db.json_history("j")) == histories
    assert db.kv_history("gone")[0]["value"] is None


def test_fork_branch_copies_are_independent_both_ways(db):
    db.kv_put("shared", "original")
    db.fork_branch("forked")
    db.kv_put("shared", "changed-on-default")
    db.set_branch("forked")
    assert db.kv_get("shared") == "original"
    db.kv_put("shared", "changed-on-fork")
    db.kv_put("only-fork", 1)
    db.set_branch("default")
    assert db.kv_get("shared") == "changed-on-default"
    assert db.kv_get("only-fork") is None


def test_fork_branch_continues_the_event_sequence(db):
    db.event_append("t", 0)
    db.event_append("t", 1)
    db.fork_branch("forked")
    db.set_branch("forked")
    assert db.event_append("t", 2) == 2


def test_fork_branch_onto_an_existing_name_raises_conflict_error(db):
    db.create_branch("taken")
    with pytest.raises(ConflictError):
        db.fork_branch("taken")
    with pytest.raises(ConflictError):
        db.fork_branch("default")


def test_fork_of_an_empty_branch_copies_zero_keys(db):
    assert db.fork_branch("empty-copy")["keys_copied"] == 0


# --- delete --------------------------------------------------------------------


def test_delete_branch_removes_it_and_its_data(db):
    db.create_branch("tmp")
    db.set_branch("tmp")
    db.kv_put("k", 1)
    db.set_branch("default")
    db.delete_branch("tmp")
    assert db.branch_exists("tmp") is False
    assert "tmp" not in db.list_branches()
    with pytest.raises(NotFoundError):
        db.set_branch("tmp")
    db.create_branch("tmp")
    db.set_branch("tmp")
    assert db.kv_get("k") is None


def test_delete_branch_of_default_raises_constraint_error(db):
    db.create_branch("elsewhere")
    db.set_branch("elsewhere")
    with pytest.raises(ConstraintError):
        db.delete_branch("default")
    assert db.branch_exists("default") is True


def test_delete_branch_of_the_current_branch_raises_constraint_error(db):
    db.create_branch("current")
    db.set_branch("current")
    with pytest.raises(ConstraintError):
        db.delete_branch("current")
    assert db.branch_exists("current") is True
    assert db.current_branch() == "current"


def test_delete_branch_of_an_unknown_branch_raises_not_found_error(db):
    with pytest.raises(NotFoundError):
        db.delete_branch("never")


# --- metadata ------------------------------------------------------------------


def test_branch_get_returns_the_documented_fields(db, assert_recent_timestamp):
    info = db.branch_get("default")
    assert set(info) == BRANCH_KEYS
    assert info["id"] == "default"
    assert type(info["status"]) is str
    assert type(info["version"]) is int
    assert_recent_timestamp(info["created_at"])
    assert_recent_timestamp(info["updated_at"])
    assert_recent_timestamp(info["timestamp"])
    assert info["parent"] is None


def test_branch_get_of_a_fork_names_its_parent(db):
    db.fork_branch("child")
    info = db.branch_get("child")
    assert info["id"] == "child"
    assert info["parent"] == "default"


def test_branch_get_of_an_unknown_branch_is_none(db):
    assert db.branch_get("no_such_branch") is None


def test_list_branches_lists_every_branch(db):
    db.create_branch("b1")
    db.fork_branch("b2")
    branches = db.list_branches()
    assert type(branches) is list
    assert sorted(branches) == ["b1", "b2", "default"]


# --- diff ----------------------------------------------------------------------


def _entries(diff, kind):
    for entry in diff[kind]:
        assert set(entry) == DIFF_ENTRY_KEYS
    return {(entry["space"], entry["key"]) for entry in diff[kind]}


def test_diff_branches_reports_added_removed_and_modified_keys_from_a_to_b(db):
    db.kv_put("kept", 1)
    db.kv_put("changed", 1)
    db.kv_put("removed", 1)
    db.fork_branch("b")
    db.set_branch("b")
    db.kv_put("changed", 2)
    db.kv_delete("removed")
    db.kv_put("added", 1)
    diff = db.diff_branches("default", "b")
    assert set(diff) == {"branch_a", "branch_b", "summary", "added", "removed", "modified"}
    assert diff["branch_a"] == "default"
    assert diff["branch_b"] == "b"
    assert _entries(diff, "added") == {("default", "added")}
    assert _entries(diff, "removed") == {("default", "removed")}
    assert _entries(diff, "modified") == {("default", "changed")}
    assert diff["summary"] == {"total_added": 1, "total_removed": 1, "total_modified": 1}


def test_diff_branches_in_the_other_direction_swaps_added_and_removed(db):
    db.kv_put("removed", 1)
    db.fork_branch("b")
    db.set_branch("b")
    db.kv_delete("removed")
    db.kv_put("added", 1)
    diff = db.diff_branches("b", "default")
    assert _entries(diff, "added") == {("default", "removed")}
    assert _entries(diff, "removed") == {("default", "added")}
    assert diff["modified"] == []


def test_diff_branches_names_the_space_and_tells_primitives_apart(db):
    db.fork_branch("b")
    db.set_branch("b")
    db.set_space("notes")
    db.kv_put("same-name", 1)
    db.state_set("same-name", 1)
    db.json_set("same-name", "$", 1)
    diff = db.diff_branches("default", "b")
    added = diff["added"]
    assert {entry["space"] for entry in added} == {"notes"}
    assert {entry["key"] for entry in added} == {"same-name"}
    assert len({entry["primitive"] for entry in added}) == 3
    assert all(type(entry["primitive"]) is str for entry in added)
    assert diff["summary"]["total_added"] == 3


def test_diff_branches_counts_match_the_entry_lists(db):
    for n in range(4):
        db.kv_put(f"k{n}", n)
    db.fork_branch("b")
    db.set_branch("b")
    db.kv_put("k0", "x")
    db.kv_put("k1", "x")
    db.kv_delete("k2")
    db.state_set("s", 1)
    diff = db.diff_branches("default", "b")
    summary = diff["summary"]
    assert summary["total_added"] == len(diff["added"]) == 1
    assert summary["total_removed"] == len(diff["removed"]) == 1
    assert summary["total_modified"] == len(diff["modified"]) == 2


def test_diff_of_identical_branches_is_empty(db):
    db.kv_put("k", 1)
    db.fork_branch("same")
    diff = db.diff_branches("default", "same")
    assert diff["added"] == diff["removed"] == diff["modified"] == []
    assert diff["summary"] == {"total_added": 0, "total_removed": 0, "total_modified": 0}


def test_diff_with_an_unknown_branch_raises_not_found_error(db):
    with pytest.raises(NotFoundError) as caught:
        db.diff_branches("default", "ghost")
    assert "ghost" in str(caught.value)


# --- merge ---------------------------------------------------------------------

MERGE_KEYS = {"keys_applied", "spaces_merged", "conflicts"}


@pytest.fixture
def forked(db):
    """`default` holds base data; `source` is a fork of it; current branch is `default`."""
    db.kv_put("base-only", "base")
    db.kv_put("source-changes", "base")
    db.kv_put("target-changes", "base")
    db.kv_put("both-change", "base")
    db.kv_put("source-deletes", "base")
    db.fork_branch("source")
    return db


def test_merge_applies_keys_changed_only_in_the_source(forked):
    db = forked
    db.set_branch("source")
    db.kv_put("source-changes", "source")
    db.kv_put("source-adds", "new")
    db.set_branch("default")
    result = db.merge_branches("source")
    assert set(result) == MERGE_KEYS
    assert result["keys_applied"] == 2
    assert type(result["spaces_merged"]) is int
    assert result["conflicts"] == []
    assert db.kv_get("source-changes") == "source"
    assert db.kv_get("source-adds") == "new"
    assert db.kv_get("base-only") == "base"


def test_merge_applies_deletes_made_only_in_the_source(forked):
    db = forked
    db.set_branch("source")
    db.kv_delete("source-deletes")
    db.set_branch("default")
    result = db.merge_branches("source")
    assert result["conflicts"] == []
    assert db.kv_get("source-deletes") is None


def test_merge_keeps_keys_changed_only_in_the_target(forked):
    db = forked
    db.kv_put("target-changes", "target")
    db.set_branch("source")
    db.kv_put("source-changes", "source")
    db.set_branch("default")
    result = db.merge_branches("source")
    assert result["conflicts"] == []
    assert db.kv_get("target-changes") == "target"
    assert db.kv_get("source-changes") == "source"


def test_merge_reports_a_key_changed_on_both_sides_as_a_conflict(forked):
    db = forked
    db.kv_put("both-change", "target")
    db.set_branch("source")
    db.kv_put("both-change", "source")
    db.set_branch("default")
    result = db.merge_branches("source", strategy="last_writer_wins")
    assert len(result["conflicts"]) == 1
    conflict = result["conflicts"][0]
    assert set(conflict) == DIFF_ENTRY_KEYS
    assert (conflict["space"], conflict["key"]) == ("default", "both-change")
    assert type(conflict["primitive"]) is str


def test_merge_last_writer_wins_takes_the_later_source_commit(forked):
    db = forked
    db.kv_put("both-change", "target-earlier")
    db.set_branch("source")
    db.kv_put("both-change", "source-later")
    db.set_branch("default")
    result = db.merge_branches("source", strategy="last_writer_wins")
    assert db.kv_get("both-change") == "source-later"
    assert [conflict["key"] for conflict in result["conflicts"]] == ["both-change"]


def test_merge_last_writer_wins_keeps_the_later_target_commit(forked):
    db = forked
    db.set_branch("source")
    db.kv_put("both-change", "source-earlier")
    db.set_branch("default")
    db.kv_put("both-change", "target-later")
    result = db.merge_branches("source", strategy="last_writer_wins")
    assert db.kv_get("both-change") == "target-later"
    assert [conflict["key"] for conflict in result["conflicts"]] == ["both-change"]


def test_merge_default_strategy_is_last_writer_wins(forked):
    db = forked
    db.kv_put("both-change", "target-earlier")
    db.set_branch("source")
    db.kv_put("both-change", "source-later")
    db.set_branch("default")
    result = db.merge_branches("source")
    assert db.kv_get("both-change") == "source-later"
    assert len(result["conflicts"]) == 1


def test_merge_strict_with_a_conflict_raises_conflict_error_and_applies_nothing(forked):
    db = forked
    db.kv_put("both-change", "target")
    db.set_branch("source")
    db.kv_put("both-change", "source")
    db.kv_put("source-changes", "source")
    db.kv_put("source-adds", "new")
    db.set_branch("default")
    version_before = db.kv_get_versioned("both-change")["version"]
    with pytest.raises(ConflictError) as caught:
        db.merge_branches("source", strategy="strict")
    assert "both-change" in str(caught.value)
    assert db.kv_get("both-change") == "target"
    assert db.kv_get("source-changes") == "base"
    assert db.kv_get("source-adds") is None
    assert db.kv_get_versioned("both-change")["version"] == version_before


def test_merge_strict_without_conflicts_applies_the_changes(forked):
    db = forked
    db.kv_put("target-changes", "target")
    db.set_branch("source")
    db.kv_put("source-changes", "source")
    db.set_branch("default")
    result = db.merge_branches("source", strategy="strict")
    assert result["conflicts"] == []
    assert db.kv_get("source-changes") == "source"
    assert db.kv_get("target-changes") == "target"


def test_merge_is_one_commit(forked):
    db = forked
    db.set_branch("source")
    db.kv_put("source-changes", "source")
    db.kv_put("source-adds", "new")
    db.state_set("cell", "source")
    db.set_branch("default")
    before = db.kv_put("unrelated", 1)
    db.merge_branches("source")
    versions = {
        db.kv_get_versioned("source-changes")["version"],
        db.kv_get_versioned("source-adds")["version"],
        db.state_get_versioned("cell")["version"],
    }
    assert len(versions) == 1
    (merge_version,) = versions
    assert merge_version > before
    assert db.kv_put("after", 1) == merge_version + 1


def test_merge_applies_every_primitive_and_space(forked):
    db = forked
    db.set_branch("source")
    db.state_set("cell", 1)
    db.json_set("doc", "$", {"merged": True})
    db.set_space("notes")
    db.kv_put("in-notes", "merged")
    db.set_branch("default")
    db.merge_branches("source")
    assert db.state_get("cell") == 1
    assert db.json_get("doc", "$.merged") is True
    db.set_space("notes")
    assert db.kv_get("in-notes") == "merged"


def test_merge_does_not_change_the_source_branch(forked):
    db = forked
    db.kv_put("target-changes", "target")
    db.set_branch("source")
    db.kv_put("source-changes", "source")
    db.set_branch("default")
    db.merge_branches("source")
    db.set_branch("source")
    assert db.kv_get("target-changes") == "base"


def test_merge_with_an_unknown_source_raises_not_found_error(db):
    with pytest.raises(NotFoundError):
        db.merge_branches("ghost")


def test_merge_with_an_unknown_strategy_raises_validation_error(forked):
    with pytest.raises(ValidationError):
        forked.merge_branches("source", strategy="theirs")
