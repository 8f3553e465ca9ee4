"""KV store: put, get, delete, listing, history, versioned reads and paging."""

import pytest

VERSIONED_KEYS = {"value", "version", "timestamp"}


def test_kv_put_returns_increasing_versions(db):
    versions = [db.kv_put(f"k{n}", n) for n in range(5)] + [db.kv_put("k0", "again")]
    assert all(type(version) is int for version in versions)
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


def test_kv_put_returns_consecutive_versions_for_consecutive_writes(db):
    first = db.kv_put("a", 1)
    assert db.kv_put("b", 2) == first + 1
    assert db.kv_put("a", 3) == first + 2


def test_kv_get_returns_the_stored_value(db):
    db.kv_put("user:123", "Alice")
    assert db.kv_get("user:123") == "Alice"


def test_kv_get_of_a_missing_key_returns_none(db):
    assert db.kv_get("missing") is None


def test_kv_put_overwrites_the_previous_value(db):
    db.kv_put("k", "one")
    db.kv_put("k", {"two": 2})
    assert db.kv_get("k") == {"two": 2}


def test_kv_delete_returns_true_when_the_key_existed(db):
    db.kv_put("k", 1)
    assert db.kv_delete("k") is True


def test_kv_delete_returns_false_for_a_missing_or_already_deleted_key(db):
    assert db.kv_delete("never") is False
    db.kv_put("k", 1)
    db.kv_delete("k")
    assert db.kv_delete("k") is False


def test_kv_delete_hides_the_key_from_get_list_and_versioned_get(db):
    db.kv_put("k", 1)
    db.kv_put("other", 2)
    db.kv_delete("k")
    assert db.kv_get("k") is None
    assert db.kv_list() == ["other"]
    assert db.kv_get_versioned("k") is None


def test_kv_put_after_delete_brings_the_key_back(db):
    db.kv_put("k", 1)
    db.kv_delete("k")
    db.kv_put("k", 2)
    assert db.kv_get("k") == 2
    assert db.kv_list() == ["k"]


def test_kv_a_stored_none_is_a_present_key(db):
    db.kv_put("k", None)
    assert db.kv_list() == ["k"]
    assert db.kv_get_versioned("k")["value"] is None
    assert db.kv_delete("k") is True


def test_kv_list_returns_all_keys_sorted(db):
    for key in ["b:2", "a:1", "c", "b:1", "B", "ключ", "_u"]:
        db.kv_put(key, 0)
    keys = db.kv_list()
    assert type(keys) is list
    assert keys == sorted(["b:2", "a:1", "c", "b:1", "B", "ключ", "_u"])


def test_kv_list_filters_by_prefix(db):
    for key in ["user:1", "user:10", "user:2", "item:1", "use"]:
        db.kv_put(key, 0)
    assert db.kv_list("user:") == ["user:1", "user:10", "user:2"]
    assert db.kv_list(prefix="item:") == ["item:1"]
    assert db.kv_list("zzz") == []


def test_kv_list_of_an_empty_store_is_an_empty_list(db):
    assert db.kv_list() == []


def test_kv_history_lists_every_version_newest_first(db, assert_recent_timestamp):
    v1 = db.kv_put("h", "one")
    v2 = db.kv_put("h", [2])
    v3 = db.kv_put("h", {"three": 3})
    history = db.kv_history("h")
    assert type(history) is list
    assert [entry["value"] for entry in history] == [{"three": 3}, [2], "one"]
    assert [entry["version"] for entry in history] == [v3, v2, v1]
    for entry in history:
        assert set(entry) == VERSIONED_KEYS
        assert_recent_timestamp(entry["timestamp"])


def test_kv_history_records_a_delete_as_an_entry_with_value_none(db):
    db.kv_put("h", "alive")
    db.kv_delete("h")
    history = db.kv_history("h")
    assert len(history) == 2
    assert history[0]["value"] is None
    assert history[1]["value"] == "alive"
    assert history[0]["version"] > history[1]["version"]


def test_kv_history_of_a_key_that_never_existed_is_none(db):
    db.kv_put("other", 1)
    assert db.kv_history("never") is None


def test_kv_history_is_kept_for_a_deleted_key(db):
    db.kv_put("h", 1)
    db.kv_delete("h")
    assert db.kv_history("h") is not None


def test_kv_history_versions_match_what_put_returned(db):
    versions = [db.kv_put("h", n) for n in range(4)]
    other = db.kv_put("x", "interleaved")
    versions.append(db.kv_put("h", 4))
    assert [entry["version"] for entry in db.kv_history("h")] == list(reversed(versions))
    assert other not in versions


def test_kv_get_versioned_returns_value_version_and_timestamp(db, assert_recent_timestamp):
    version = db.kv_put("k", {"a": 1})
    result = db.kv_get_versioned("k")
    assert set(result) == VERSIONED_KEYS
    assert result["value"] == {"a": 1}
    assert type(result["version"]) is int
    assert result["version"] == version
    assert_recent_timestamp(result["timestamp"])


def test_kv_get_versioned_follows_the_latest_write(db):
    db.kv_put("k", 1)
    latest = db.kv_put("k", 2)
    result = db.kv_get_versioned("k")
    assert result["value"] == 2
    assert result["version"] == latest


def test_kv_get_versioned_of_a_missing_key_is_none(db):
    assert db.kv_get_versioned("missing") is None


def test_kv_get_versioned_timestamp_matches_history(db):
    db.kv_put("k", 1)
    assert db.kv_get_versioned("k") == db.kv_history("k")[0]


# --- paging ---------------------------------------------------------------------


def _collect_pages(db, prefix, limit):
    pages = []
    page = db.kv_list_paginated(prefix, limit)
    pages.append(page)
    while "cursor" in page:
        assert len(pages) <= 100, "paging does not terminate"
        page = db.kv_list_paginated(prefix, limit, cursor=page["cursor"])
        pages.append(page)
    return pages


def test_kv_list_paginated_without_limit_returns_every_key_and_no_cursor(db):
    for key in ["c", "a", "b"]:
        db.kv_put(key, 0)
    page = db.kv_list_paginated()
    assert page == {"keys": ["a", "b", "c"]}


def test_kv_list_paginated_returns_at_most_limit_keys_and_a_str_cursor_when_more_follow(db):
    for n in range(5):
        db.kv_put(f"k{n}", n)
    page = db.kv_list_paginated(None, 2)
    assert set(page) == {"keys", "cursor"}
    assert page["keys"] == ["k0", "k1"]
    assert type(page["cursor"]) is str


def test_kv_list_paginated_has_no_cursor_when_exactly_limit_keys_remain(db):
    for n in range(4):
        db.kv_put(f"k{n}", n)
    assert db.kv_list_paginated(None, 4) == {"keys": ["k0", "k1", "k2", "k3"]}
    first = db.kv_list_paginated(None, 2)
    assert db.kv_list_paginated(None, 2, cursor=first["cursor"]) == {"keys": ["k2", "k3"]}


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10, 11])
def test_kv_list_paginated_with_cursor_covers_every_key_exactly_once_in_order(db, limit):
    keys = sorted(f"key:{n:02d}" for n in range(10))
    for key in reversed(keys):
        db.kv_put(key, key)
    pages = _collect_pages(db, None, limit)
    seen = [key for page in pages for key in page["keys"]]
    assert seen == keys
    assert all(len(page["keys"]) <= limit for page in pages)
    assert "cursor" not in pages[-1]


def test_kv_list_paginated_respects_the_prefix_across_pages(db):
    for n in range(7):
        db.kv_put(f"user:{n}", n)
        db.kv_put(f"item:{n}", n)
    pages = _collect_pages(db, "user:", 3)
    assert [key for page in pages for key in page["keys"]] == [f"user:{n}" for n in range(7)]
    assert len(pages) == 3


def test_kv_list_paginated_accepts_keyword_arguments(db):
    for n in range(3):
        db.kv_put(f"p{n}", n)
    first = db.kv_list_paginated(prefix="p", limit=2)
    assert first["keys"] == ["p0", "p1"]
    rest = db.kv_list_paginated(prefix="p", limit=2, cursor=first["cursor"])
    assert rest == {"keys": ["p2"]}


def test_kv_list_paginated_of_an_empty_store_is_empty_without_cursor(db):
    assert db.kv_list_paginated(None, 5) == {"keys": []}
