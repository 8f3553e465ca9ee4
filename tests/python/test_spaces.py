"""Spaces: the current space, creation on first use, listing, existence,
deletion rules and data isolation between spaces of one branch."""

import numpy as np
import pytest

from stratadb import ConstraintError


def test_the_default_space_exists_and_is_current(db):
    assert db.current_space() == "default"
    assert db.list_spaces() == ["default"]
    assert db.space_exists("default") is True


def test_set_space_switches_and_creates_the_space_on_first_use(db):
    db.set_space("conversations")
    assert db.current_space() == "conversations"
    assert db.space_exists("conversations") is True
    assert sorted(db.list_spaces()) == ["conversations", "default"]


def test_set_space_back_to_default(db):
    db.set_space("other")
    db.set_space("default")
    assert db.current_space() == "default"


def test_space_create_makes_a_space_without_switching_to_it(db):
    db.space_create("myspace")
    assert db.space_exists("myspace") is True
    assert "myspace" in db.list_spaces()
    assert db.current_space() == "default"


def test_space_exists_is_false_for_unknown_spaces(db):
    assert db.space_exists("no_such_space") is False


def test_list_spaces_returns_a_list_of_names(db):
    db.space_create("b")
    db.set_space("a")
    spaces = db.list_spaces()
    assert type(spaces) is list
    assert sorted(spaces) == ["a", "b", "default"]


def test_spaces_isolate_every_primitive(db):
    db.kv_put("key", "value1")
    db.state_set("cell", "s1")
    db.event_append("e", "first")
    db.json_set("doc", "$", {"in": "default"})
    db.vector_create_collection("vecs", 2)
    db.vector_upsert("vecs", "v", [1.0, 0.0])

    db.set_space("other")
    assert db.kv_get("key") is None
    assert db.kv_list() == []
    assert db.state_get("cell") is None
    assert db.event_len() == 0
    assert db.json_get("doc", "$") is None
    assert db.vector_list_collections() == []

    db.kv_put("key", "value2")
    db.set_space("default")
    assert db.kv_get("key") == "value1"
    assert db.kv_list() == ["key"]


def test_collections_of_the_same_name_in_two_spaces_are_independent(db):
    db.set_space("va")
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", [1.0, 0.0])
    db.set_space("vb")
    db.vector_create_collection("c", 3, metric="euclidean")
    db.vector_upsert("c", "k", [0.0, 0.0, 1.0])
    db.set_space("va")
    np.testing.assert_array_equal(db.vector_get("c", "k")["embedding"], [1.0, 0.0])
    assert db.vector_collection_stats("c")["dimension"] == 2
    assert [match["key"] for match in db.vector_search("c", [1.0, 0.0], 5)] == ["k"]


def test_delete_space_of_an_empty_space_removes_it(db):
    db.space_create("tmp")
    db.delete_space("tmp")
    assert db.space_exists("tmp") is False
    assert "tmp" not in db.list_spaces()


@pytest.mark.parametrize("primitive", ["kv", "state", "event", "json", "vector"])
def test_delete_space_of_a_non_empty_space_raises_constraint_error_and_keeps_the_data(db, primitive):
    db.set_space("full")
    if primitive == "kv":
        db.kv_put("k", 1)
    elif primitive == "state":
        db.state_set("k", 1)
    elif primitive == "event":
        db.event_append("k", 1)
    elif primitive == "json":
        db.json_set("k", "$", 1)
    else:
        db.vector_create_collection("k", 2)
    db.set_space("default")
    with pytest.raises(ConstraintError) as caught:
        db.delete_space("full")
    assert "full" in str(caught.value)
    assert db.space_exists("full") is True


def test_delete_space_force_removes_a_non_empty_space_and_its_data(db):
    db.set_space("full")
    db.kv_put("k", 1)
    db.json_set("d", "$", {})
    db.event_append("t", {})
    db.set_space("default")
    db.delete_space_force("full")
    assert db.space_exists("full") is False
    assert "full" not in db.list_spaces()
    db.set_space("full")
    assert db.kv_get("k") is None
    assert db.json_get("d", "$") is None
    assert db.event_len() == 0


def test_delete_space_force_leaves_other_spaces_alone(db):
    db.kv_put("k", "default")
    db.set_space("keep")
    db.kv_put("k", "keep")
    db.set_space("drop")
    db.kv_put("k", "drop")
    db.set_space("default")
    db.delete_space_force("drop")
    assert db.kv_get("k") == "default"
    db.set_space("keep")
    assert db.kv_get("k") == "keep"


def test_the_default_space_cannot_be_deleted(db):
    with pytest.raises(ConstraintError):
        db.delete_space("default")
    with pytest.raises(ConstraintError):
        db.delete_space_force("default")
    assert db.space_exists("default") is True


def test_the_default_space_cannot_be_deleted_even_when_empty_or_not_current(db):
    db.set_space("elsewhere")
    with pytest.raises(ConstraintError):
        db.delete_space_force("default")
    db.set_space("default")
    assert db.space_exists("default") is True


def test_spaces_belong_to_their_branch(db):
    db.space_create("only-here")
    db.create_branch("other")
    db.set_branch("other")
    assert db.space_exists("only-here") is False
    assert db.list_spaces() == ["default"]


def test_delete_space_in_one_branch_leaves_the_fork_alone(db):
    db.set_space("s")
    db.kv_put("k", "kept")
    db.set_space("default")
    db.fork_branch("copy")
    db.delete_space_force("s")
    db.set_branch("copy")
    db.set_space("s")
    assert db.kv_get("k") == "kept"
