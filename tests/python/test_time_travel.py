"""Time travel: `as_of=` on every read call, `db.at(as_of)`, `fork_branch(dest,
at=...)`, and retention (`Strata.open(..., retention=...)`, `strata.toml`,
`retention_apply()`, `compact()`), as an agent looking at its memory as it was relies
on them."""

import datetime
import time

import numpy as np
import pytest

from stratadb import NotFoundError, Strata, ValidationError


def moment():
    """A datetime strictly between the commits before and after it."""
    time.sleep(0.002)
    point = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.002)
    return point


@pytest.fixture
def story(db):
    """A database whose every primitive changes after version `v1` and after `t1`."""
    v1 = db.kv_put("k", "old")
    db.state_set("cell", 1)
    db.json_set("doc", "$.a.b", 1)
    db.event_append("tick", {"n": 0})
    db.vector_create_collection("vecs", 2, "euclidean")
    db.vector_upsert("vecs", "near", [0.0, 0.0], {"tag": "first"})
    mark = db.kv_put("marker", True)
    t1 = moment()
    db.kv_put("k", "new")
    db.kv_put("added", 1)
    db.state_set("cell", 2)
    db.json_set("doc", "$.a.b", 2)
    db.event_append("tick", {"n": 1})
    db.vector_upsert("vecs", "near", [9.0, 9.0])
    db.vector_upsert("vecs", "far", [1.0, 1.0])
    db.space_create("later")
    return {"v1": v1, "mark": mark, "t1": t1}


@pytest.mark.parametrize("point", ["mark", "t1"])
def test_every_read_call_answers_as_of_a_version_or_a_datetime(db, story, point):
    as_of = story[point]
    assert db.kv_get("k", as_of=as_of) == "old"
    assert db.kv_get("added", as_of=as_of) is None
    assert db.kv_list(as_of=as_of) == ["k", "marker"]
    assert db.kv_list("ma", as_of=as_of) == ["marker"]
    assert db.state_get("cell", as_of=as_of) == 1
    assert db.json_get("doc", "$.a.b", as_of=as_of) == 1
    assert db.json_list(10, as_of=as_of)["keys"] == ["doc"]
    assert db.event_len(as_of=as_of) == 1
    assert db.event_get(0, as_of=as_of)["value"] == {"n": 0}
    assert db.event_get(1, as_of=as_of) is None
    assert [e["value"] for e in db.event_list("tick", as_of=as_of)] == [{"n": 0}]
    past = db.vector_get("vecs", "near", as_of=as_of)
    assert past["embedding"].tolist() == [0.0, 0.0] and past["metadata"] == {"tag": "first"}
    hits = db.vector_search("vecs", np.array([0.0, 0.0]), 5, as_of=as_of)
    assert [h["key"] for h in hits] == ["near"]
    assert db.list_spaces(as_of=as_of) == ["default"]
    # The present is unchanged by all of this.
    assert db.kv_get("k") == "new"
    assert [h["key"] for h in db.vector_search("vecs", [0.0, 0.0], 5)] == ["far", "near"]
    assert db.list_spaces() == ["default", "later"]


def test_as_of_none_is_the_present_and_version_zero_is_before_everything(db, story):
    assert db.kv_get("k", as_of=None) == "new"
    assert db.kv_get("k", as_of=0) is None
    assert db.event_len(as_of=0) == 0


def test_a_naive_datetime_is_local_time(db):
    db.kv_put("k", 1)
    time.sleep(0.002)
    naive_now = datetime.datetime.now()
    time.sleep(0.002)
    db.kv_put("k", 2)
    assert db.kv_get("k", as_of=naive_now) == 1
    assert db.kv_get("k", as_of=datetime.datetime(2000, 1, 1)) is None


def test_at_returns_a_read_only_view_that_keeps_its_point(db, story):
    view = db.at(story["mark"])
    assert view.as_of == ("version", story["mark"])
    assert (view.branch, view.space) == ("default", "default")
    db.kv_put("k", "newest")
    assert view.kv_get("k") == "old"
    assert view.kv_list() == ["k", "marker"]
    assert view.state_get("cell") == 1
    assert view.json_get("doc", "$") == {"a": {"b": 1}}
    assert view.event_len() == 1 and view.event_list("tick")[0]["value"] == {"n": 0}
    assert view.vector_get("vecs", "far") is None
    assert view.list_spaces() == ["default"]
    assert not hasattr(view, "kv_put")
    assert "as of version" in repr(view)


def test_bad_as_of_values_are_refused_with_the_rule(db):
    v = db.kv_put("k", 1)
    with pytest.raises(ValidationError, match="not been committed"):
        db.kv_get("k", as_of=v + 100)
    with pytest.raises(ValidationError, match="version"):
        db.kv_get("k", as_of=-1)
    for bad in ["yesterday", 1.5, True, datetime.date(2020, 1, 1)]:
        with pytest.raises(ValidationError, match="as_of"):
            db.kv_get("k", as_of=bad)


def test_as_of_reads_inside_a_transaction_see_committed_history(db):
    v = db.kv_put("k", 1)
    db.kv_put("k", 2)
    with db.transaction():
        db.kv_put("k", 3)
        assert db.kv_get("k", as_of=v) == 1
        assert db.kv_get("k") == 3


def test_time_travel_survives_compact_and_reopen(tmp_path):
    path = str(tmp_path / "db")
    with Strata.open(path) as db:
        v1 = db.kv_put("k", b"\x00old")
        db.event_append("tick", {"n": 0})
        t1 = moment()
        db.kv_put("k", b"new")
        db.event_append("tick", {"n": 1})
        db.compact()
        db.kv_put("k", b"newest")
    with Strata.open(path) as db:
        assert db.kv_get("k", as_of=v1) == b"\x00old"
        assert db.kv_get("k", as_of=t1) == b"\x00old"
        assert db.event_len(as_of=t1) == 1
        assert db.kv_get("k") == b"newest"


def test_fork_at_a_past_version_or_datetime(db, story):
    for name, at in [("by-version", story["mark"]), ("by-time", story["t1"])]:
        report = db.fork_branch(name, at=at)
        assert report == {"source": "default", "destination": name, "keys_copied": report["keys_copied"]}
        db.set_branch(name)
        assert db.kv_get("k") == "old"
        assert db.kv_get("added") is None
        assert db.event_len() == 1
        assert db.list_spaces() == ["default"]
        assert db.vector_get("vecs", "far") is None
        # The fork is a branch of its own: writes continue its history.
        db.kv_put("k", "fork")
        assert db.event_append("tick", {"n": "fork"}) == 1
        db.set_branch("default")
        assert db.kv_get("k") == "new"
    assert db.fork_branch("plain") ["keys_copied"] >= 8


def test_fork_at_a_future_version_is_refused_and_creates_nothing(db):
    db.kv_put("k", 1)
    with pytest.raises(ValidationError):
        db.fork_branch("x", at=10_000)
    assert not db.branch_exists("x")


def test_retention_option_keeps_the_newest_versions_and_refuses_older_reads(tmp_path):
    path = str(tmp_path / "db")
    with Strata.open(path, retention={"keep_versions": 2}) as db:
        versions = [db.kv_put("k", i) for i in range(5)]
        db.event_append("tick", {})
        db.retention_apply()
        assert [h["value"] for h in db.kv_history("k")] == [4, 3]
        assert db.kv_get("k", as_of=versions[3]) == 3
        with pytest.raises(NotFoundError, match="retention"):
            db.kv_get("k", as_of=versions[1])
        assert db.event_len() == 1
        db.compact()
    with Strata.open(path) as db:
        assert [h["value"] for h in db.kv_history("k")] == [4, 3]
        with pytest.raises(NotFoundError):
            db.kv_get("k", as_of=versions[0])


def test_retention_from_strata_toml_is_enforced_by_compact(tmp_path):
    path = tmp_path / "db"
    path.mkdir()
    (path / "strata.toml").write_text('durability = "standard"\n[retention]\nkeep_versions = 1\n')
    with Strata.open(str(path)) as db:
        for i in range(3):
            db.state_set("cell", i)
        assert len(db.state_history("cell")) == 3
        db.compact()
        assert [h["value"] for h in db.state_history("cell")] == [2]


def test_default_retention_keeps_all_history(db):
    for i in range(4):
        db.kv_put("k", i)
    db.retention_apply()
    assert len(db.kv_history("k")) == 4


def test_bad_retention_settings_are_refused_naming_the_rule(tmp_path):
    for bad, match in [
        ({"keep_versions": 0}, "keep_versions = 0"),
        ({"keep_days": 3}, "keep_days"),
        ({"keep_seconds": -1}, "keep_seconds"),
        ("forever", "retention must be a dict"),
    ]:
        with pytest.raises(ValidationError, match=match):
            Strata.open(str(tmp_path / "db"), retention=bad)
    with pytest.raises(ValidationError, match="keep_versions"):
        Strata.cache(retention={"keep_versions": 0})
