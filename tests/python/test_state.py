"""State cells: set, get, init, version-based compare-and-swap, history, delete, list."""

VERSIONED_KEYS = {"value", "version", "timestamp"}


def test_state_set_returns_a_version_and_state_get_reads_the_value(db):
    version = db.state_set("status", "running")
    assert type(version) is int
    assert version >= 1
    assert db.state_get("status") == "running"


def test_state_set_returns_increasing_versions(db):
    first = db.state_set("c", 1)
    second = db.state_set("c", 2)
    third = db.state_set("other", 3)
    assert first < second < third


def test_state_get_of_a_missing_cell_is_none(db):
    assert db.state_get("missing") is None


def test_state_init_creates_a_missing_cell_and_returns_its_version(db):
    version = db.state_init("counter", 0)
    assert type(version) is int
    assert db.state_get("counter") == 0
    assert db.state_get_versioned("counter")["version"] == version


def test_state_init_does_not_overwrite_and_returns_the_current_version(db):
    current = db.state_set("counter", 5)
    assert db.state_init("counter", 0) == current
    assert db.state_get("counter") == 5
    assert len(db.state_history("counter")) == 1


def test_state_init_twice_returns_the_same_version(db):
    first = db.state_init("c", "a")
    assert db.state_init("c", "b") == first
    assert db.state_get("c") == "a"


def test_state_cas_with_the_current_version_succeeds_and_returns_the_new_version(db):
    version = db.state_set("c", 1)
    new_version = db.state_cas("c", 2, version)
    assert type(new_version) is int
    assert new_version > version
    assert db.state_get("c") == 2
    assert db.state_get_versioned("c")["version"] == new_version


def test_state_cas_with_a_stale_version_returns_none_and_changes_nothing(db):
    old = db.state_set("c", 1)
    current = db.state_set("c", 2)
    assert db.state_cas("c", 3, old) is None
    assert db.state_get("c") == 2
    assert db.state_get_versioned("c")["version"] == current


def test_state_cas_with_a_version_that_never_existed_returns_none(db):
    current = db.state_set("c", 1)
    assert db.state_cas("c", 2, current + 1000) is None
    assert db.state_get("c") == 1


def test_state_cas_version_is_spent_after_one_success(db):
    version = db.state_set("c", 0)
    assert db.state_cas("c", 1, version) is not None
    assert db.state_cas("c", 2, version) is None
    assert db.state_get("c") == 1


def test_state_cas_chain_using_each_returned_version(db):
    version = db.state_init("c", 0)
    for n in range(1, 6):
        version = db.state_cas("c", n, version)
        assert version is not None
    assert db.state_get("c") == 5


def test_state_cas_with_expected_none_creates_a_missing_cell(db):
    version = db.state_cas("fresh", "created")
    assert type(version) is int
    assert db.state_get("fresh") == "created"
    assert db.state_get_versioned("fresh")["version"] == version


def test_state_cas_with_expected_none_fails_on_an_existing_cell(db):
    db.state_set("c", "kept")
    assert db.state_cas("c", "replaced", None) is None
    assert db.state_cas("c", "replaced") is None
    assert db.state_get("c") == "kept"


def test_state_cas_with_a_version_on_a_missing_cell_returns_none_without_raising(db):
    assert db.state_cas("missing", 1, 1) is None
    assert db.state_get("missing") is None


def test_state_cas_accepts_keyword_arguments(db):
    version = db.state_set("c", 1)
    assert db.state_cas(cell="c", new_value=2, expected_version=version) is not None
    assert db.state_get("c") == 2


def test_state_cas_with_expected_none_succeeds_again_after_delete(db):
    db.state_set("c", 1)
    db.state_delete("c")
    assert db.state_cas("c", 2, None) is not None
    assert db.state_get("c") == 2


def test_state_history_lists_versions_newest_first(db, assert_recent_timestamp):
    v1 = db.state_set("c", "a")
    v2 = db.state_set("c", "b")
    v3 = db.state_cas("c", "c", v2)
    history = db.state_history("c")
    assert [entry["value"] for entry in history] == ["c", "b", "a"]
    assert [entry["version"] for entry in history] == [v3, v2, v1]
    for entry in history:
        assert set(entry) == VERSIONED_KEYS
        assert_recent_timestamp(entry["timestamp"])


def test_state_history_of_a_missing_cell_is_none(db):
    assert db.state_history("missing") is None


def test_state_delete_returns_whether_the_cell_existed(db):
    db.state_set("c", 1)
    assert db.state_delete("c") is True
    assert db.state_delete("c") is False
    assert db.state_delete("never") is False


def test_state_delete_removes_the_cell_and_appears_in_history(db):
    db.state_set("c", 1)
    db.state_delete("c")
    assert db.state_get("c") is None
    assert db.state_get_versioned("c") is None
    assert "c" not in db.state_list()
    history = db.state_history("c")
    assert history[0]["value"] is None
    assert history[1]["value"] == 1


def test_state_list_returns_cell_names_filtered_by_prefix(db):
    for cell in ["st:b", "st:a", "other", "st:c"]:
        db.state_set(cell, 0)
    assert sorted(db.state_list()) == ["other", "st:a", "st:b", "st:c"]
    assert sorted(db.state_list("st:")) == ["st:a", "st:b", "st:c"]
    assert sorted(db.state_list(prefix="st:")) == ["st:a", "st:b", "st:c"]
    assert db.state_list("none:") == []


def test_state_cells_and_kv_keys_are_separate_namespaces(db):
    db.state_set("shared-name", "state")
    db.kv_put("shared-name", "kv")
    assert db.state_get("shared-name") == "state"
    assert db.kv_get("shared-name") == "kv"
    db.kv_delete("shared-name")
    assert db.state_get("shared-name") == "state"
    assert db.state_list() == ["shared-name"]


def test_state_get_versioned_returns_value_version_and_timestamp(db, assert_recent_timestamp):
    version = db.state_set("c", {"x": [1, 2]})
    result = db.state_get_versioned("c")
    assert set(result) == VERSIONED_KEYS
    assert result["value"] == {"x": [1, 2]}
    assert result["version"] == version
    assert type(result["version"]) is int
    assert_recent_timestamp(result["timestamp"])


def test_state_get_versioned_of_a_missing_cell_is_none(db):
    assert db.state_get_versioned("missing") is None


def test_state_get_versioned_feeds_state_cas(db):
    db.state_set("c", 10)
    current = db.state_get_versioned("c")
    assert db.state_cas("c", current["value"] + 1, current["version"]) is not None
    assert db.state_get("c") == 11
