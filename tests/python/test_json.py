"""JSON documents: paths for reading and writing, deletes, history, versioned
reads, listing with cursors, and clear errors for malformed paths."""

import pytest

from stratadb import ValidationError

VERSIONED_KEYS = {"value", "version", "timestamp"}


@pytest.fixture
def doc(db):
    db.json_set(
        "doc",
        "$",
        {"a": {"b": 1, "c": [10, 20, 30]}, "tags": ["x", "y", "z"], "a b": "spaced", "n": None},
    )
    return db


def test_json_set_returns_a_version_and_json_get_of_root_returns_the_document(db):
    version = db.json_set("config", "$", {"theme": "dark", "lang": "en"})
    assert type(version) is int
    assert db.json_get("config", "$") == {"theme": "dark", "lang": "en"}


def test_json_set_returns_increasing_versions(db):
    first = db.json_set("d", "$", {"v": 1})
    second = db.json_set("d", "$.v", 2)
    third = db.json_set("e", "$", 3)
    assert first < second < third


def test_json_get_of_a_nested_member(doc):
    assert doc.json_get("doc", "$.a.b") == 1
    assert doc.json_get("doc", "$.a") == {"b": 1, "c": [10, 20, 30]}


def test_json_get_of_a_bracket_quoted_member(doc):
    assert doc.json_get("doc", "$['a b']") == "spaced"


def test_json_get_of_array_elements_by_index(doc):
    assert doc.json_get("doc", "$.tags[0]") == "x"
    assert doc.json_get("doc", "$.a.c[2]") == 30


def test_json_get_of_array_elements_by_negative_index(doc):
    assert doc.json_get("doc", "$.tags[-1]") == "z"
    assert doc.json_get("doc", "$.a.c[-3]") == 10


def test_json_index_works_on_arrays_of_small_ints(db):
    db.json_set("d", "$", {"t": [1, 2, 3]})
    assert db.json_get("d", "$.t[1]") == 2
    db.json_set("d", "$.t[0]", 9)
    assert db.json_get("d", "$.t") == [9, 2, 3]


def test_json_get_of_a_member_whose_value_is_null_returns_none(doc):
    assert doc.json_get("doc", "$.n") is None


def test_json_get_of_a_missing_document_is_none(db):
    assert db.json_get("missing", "$") is None
    assert db.json_get("missing", "$.a.b") is None


def test_json_get_of_a_missing_path_is_none(doc):
    assert doc.json_get("doc", "$.nope") is None
    assert doc.json_get("doc", "$.a.nope.deeper") is None
    assert doc.json_get("doc", "$.tags[10]") is None
    assert doc.json_get("doc", "$.tags[-10]") is None


def test_json_set_of_a_member_changes_only_that_member(doc):
    doc.json_set("doc", "$.a.b", {"new": True})
    assert doc.json_get("doc", "$.a") == {"b": {"new": True}, "c": [10, 20, 30]}
    assert doc.json_get("doc", "$.tags") == ["x", "y", "z"]


def test_json_set_of_an_array_element_replaces_it(doc):
    doc.json_set("doc", "$.tags[1]", "Y")
    doc.json_set("doc", "$.a.c[-1]", 99)
    assert doc.json_get("doc", "$.tags") == ["x", "Y", "z"]
    assert doc.json_get("doc", "$.a.c") == [10, 20, 99]


def test_json_set_of_a_bracket_quoted_member(db):
    db.json_set("d", "$", {})
    db.json_set("d", "$['with space']", 1)
    assert db.json_get("d", "$") == {"with space": 1}


def test_json_set_creates_missing_intermediate_objects(doc):
    doc.json_set("doc", "$.x.y.z", 5)
    assert doc.json_get("doc", "$.x") == {"y": {"z": 5}}
    assert doc.json_get("doc", "$.x.y.z") == 5


def test_json_set_below_root_of_a_missing_document_creates_it(db):
    db.json_set("fresh", "$.a.b", 5)
    assert db.json_get("fresh", "$") == {"a": {"b": 5}}


def test_json_set_of_root_replaces_the_whole_document(doc):
    doc.json_set("doc", "$", {"only": "this"})
    assert doc.json_get("doc", "$") == {"only": "this"}
    doc.json_set("doc", "$", [1, "two"])
    assert doc.json_get("doc", "$") == [1, "two"]
    doc.json_set("doc", "$", "scalar")
    assert doc.json_get("doc", "$") == "scalar"


def test_json_set_keeps_member_order(db):
    db.json_set("d", "$", {"z": 1, "a": 2})
    db.json_set("d", "$.m", 3)
    assert list(db.json_get("d", "$")) == ["z", "a", "m"]


def test_json_delete_of_a_member_removes_only_that_member(doc):
    result = doc.json_delete("doc", "$.a.b")
    assert type(result) is int
    assert doc.json_get("doc", "$.a") == {"c": [10, 20, 30]}
    assert doc.json_get("doc", "$.a.b") is None


def test_json_delete_of_an_array_element_removes_it(doc):
    doc.json_delete("doc", "$.tags[0]")
    assert doc.json_get("doc", "$.tags") == ["y", "z"]
    doc.json_delete("doc", "$.tags[-1]")
    assert doc.json_get("doc", "$.tags") == ["y"]


def test_json_delete_of_root_deletes_the_document(doc):
    doc.json_set("other", "$", 1)
    result = doc.json_delete("doc", "$")
    assert type(result) is int
    assert doc.json_get("doc", "$") is None
    assert doc.json_get_versioned("doc") is None
    assert doc.json_list(10)["keys"] == ["other"]


def test_json_delete_of_root_appears_in_history_as_none(doc):
    doc.json_delete("doc", "$")
    history = doc.json_history("doc")
    assert history[0]["value"] is None
    assert history[1]["value"]["a"]["b"] == 1


def test_json_set_after_delete_recreates_the_document(doc):
    doc.json_delete("doc", "$")
    doc.json_set("doc", "$", {"back": True})
    assert doc.json_get("doc", "$") == {"back": True}


def test_json_history_lists_whole_documents_newest_first(db, assert_recent_timestamp):
    v1 = db.json_set("h", "$", {"v": 1})
    v2 = db.json_set("h", "$.v", 2)
    v3 = db.json_set("h", "$.w", "added")
    history = db.json_history("h")
    assert [entry["value"] for entry in history] == [{"v": 2, "w": "added"}, {"v": 2}, {"v": 1}]
    assert [entry["version"] for entry in history] == [v3, v2, v1]
    for entry in history:
        assert set(entry) == VERSIONED_KEYS
        assert_recent_timestamp(entry["timestamp"])


def test_json_history_of_a_missing_document_is_none(db):
    assert db.json_history("missing") is None


def test_json_get_versioned_returns_the_whole_document_with_version_and_timestamp(db, assert_recent_timestamp):
    db.json_set("d", "$", {"data": "ok"})
    version = db.json_set("d", "$.more", [1])
    result = db.json_get_versioned("d")
    assert set(result) == VERSIONED_KEYS
    assert result["value"] == {"data": "ok", "more": [1]}
    assert result["version"] == version
    assert_recent_timestamp(result["timestamp"])


def test_json_get_versioned_of_a_missing_document_is_none(db):
    assert db.json_get_versioned("missing") is None


# --- listing --------------------------------------------------------------------


def test_json_list_returns_sorted_keys_without_cursor_when_all_fit(db):
    for key in ["doc2", "doc1", "alpha"]:
        db.json_set(key, "$", {})
    assert db.json_list(100) == {"keys": ["alpha", "doc1", "doc2"]}


def test_json_list_stops_at_limit_and_gives_a_cursor(db):
    for n in range(5):
        db.json_set(f"k{n}", "$", n)
    page = db.json_list(2)
    assert page["keys"] == ["k0", "k1"]
    assert type(page["cursor"]) is str


def test_json_list_has_no_cursor_when_exactly_limit_keys_remain(db):
    for n in range(3):
        db.json_set(f"k{n}", "$", n)
    assert db.json_list(3) == {"keys": ["k0", "k1", "k2"]}


def test_json_list_filters_by_prefix(db):
    for key in ["a1", "a2", "b1", "ab"]:
        db.json_set(key, "$", 0)
    assert db.json_list(10, prefix="a") == {"keys": ["a1", "a2", "ab"]}
    assert db.json_list(10, "b") == {"keys": ["b1"]}


@pytest.mark.parametrize("limit", [1, 2, 4, 9, 10])
def test_json_list_with_cursor_covers_every_key_exactly_once(db, limit):
    keys = [f"doc:{n}" for n in range(9)]
    for key in keys:
        db.json_set(key, "$", {"k": key})
    db.json_set("zzz-other", "$", 0)
    seen = []
    page = db.json_list(limit, prefix="doc:")
    seen.extend(page["keys"])
    for _ in range(20):
        if "cursor" not in page:
            break
        page = db.json_list(limit, prefix="doc:", cursor=page["cursor"])
        assert len(page["keys"]) <= limit
        seen.extend(page["keys"])
    assert seen == keys
    assert "cursor" not in page


# --- malformed paths ------------------------------------------------------------

MALFORMED_PATHS = ["$.a[", "$..a", "$.a[x]", "$.a b", "$[", "$.a]", "$['a"]


@pytest.mark.parametrize("path", MALFORMED_PATHS)
def test_json_get_with_a_malformed_path_raises_validation_error_quoting_the_path(doc, path):
    with pytest.raises(ValidationError) as caught:
        doc.json_get("doc", path)
    assert path in str(caught.value)


@pytest.mark.parametrize("path", MALFORMED_PATHS)
def test_json_set_with_a_malformed_path_raises_validation_error_and_writes_nothing(doc, path):
    before = doc.json_get_versioned("doc")
    with pytest.raises(ValidationError) as caught:
        doc.json_set("doc", path, 1)
    assert path in str(caught.value)
    assert doc.json_get_versioned("doc") == before


@pytest.mark.parametrize("path", MALFORMED_PATHS)
def test_json_delete_with_a_malformed_path_raises_validation_error(doc, path):
    with pytest.raises(ValidationError) as caught:
        doc.json_delete("doc", path)
    assert path in str(caught.value)


def test_json_malformed_path_raises_even_for_a_missing_document(db):
    with pytest.raises(ValidationError):
        db.json_get("missing", "$.a[")
