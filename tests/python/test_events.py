"""Event log: dense 0-based sequence numbers per branch and space, reads by
sequence and by type, paging, and payloads of any value."""

import pytest

EVENT_KEYS = {"value", "version", "timestamp", "event_type"}


def test_event_append_returns_dense_zero_based_sequence_numbers_across_types(db):
    sequences = [
        db.event_append("tool_call", {"tool": "search"}),
        db.event_append("observation", {"text": "sunny"}),
        db.event_append("tool_call", {"tool": "calculator"}),
    ]
    assert sequences == [0, 1, 2]
    assert all(type(sequence) is int for sequence in sequences)


def test_event_get_returns_value_version_timestamp_and_event_type(db, assert_recent_timestamp):
    db.event_append("first", {"n": 0})
    sequence = db.event_append("tool_call", {"tool": "search", "query": "weather"})
    event = db.event_get(sequence)
    assert set(event) == EVENT_KEYS
    assert event["value"] == {"tool": "search", "query": "weather"}
    assert event["event_type"] == "tool_call"
    assert event["version"] == sequence == 1
    assert_recent_timestamp(event["timestamp"])


def test_event_get_out_of_range_returns_none(db):
    assert db.event_get(0) is None
    db.event_append("t", {})
    assert db.event_get(1) is None
    assert db.event_get(10**6) is None


def test_event_list_returns_only_that_type_in_sequence_order(db):
    db.event_append("click", {"x": 10})
    db.event_append("scroll", {"y": 100})
    db.event_append("click", {"x": 20})
    db.event_append("click", {"x": 30})
    clicks = db.event_list("click")
    assert [event["value"] for event in clicks] == [{"x": 10}, {"x": 20}, {"x": 30}]
    assert [event["version"] for event in clicks] == [0, 2, 3]
    assert all(event["event_type"] == "click" for event in clicks)


def test_event_list_entries_are_the_same_as_event_get(db):
    for n in range(3):
        db.event_append("t", {"n": n})
    assert db.event_list("t") == [db.event_get(n) for n in range(3)]


def test_event_list_of_an_unknown_type_is_empty(db):
    db.event_append("known", {})
    assert db.event_list("unknown") == []


def test_event_len_counts_events_of_every_type(db):
    assert db.event_len() == 0
    db.event_append("a", {"m": 1})
    db.event_append("b", {"m": 2})
    db.event_append("a", {"m": 3})
    assert db.event_len() == 3
    assert type(db.event_len()) is int


def test_event_timestamps_are_taken_at_append(db, assert_recent_timestamp):
    for n in range(3):
        db.event_append("t", n)
    for event in db.event_list("t"):
        assert_recent_timestamp(event["timestamp"])


@pytest.mark.parametrize(
    "payload",
    [None, 5, -2.5, "text", True, [1, "a", None], b"\x00raw", {"nested": {"list": [1, {"deep": True}]}}, {}],
    ids=["none", "int", "float", "str", "bool", "list", "bytes", "dict", "empty-dict"],
)
def test_event_payload_may_be_any_value(db, payload):
    sequence = db.event_append("any", payload)
    assert db.event_get(sequence)["value"] == payload
    assert db.event_list("any")[0]["value"] == payload


def test_event_sequences_are_per_space(db):
    db.event_append("t", {"space": "default"})
    db.event_append("t", {"space": "default"})
    db.set_space("other")
    assert db.event_len() == 0
    assert db.event_append("t", {"space": "other"}) == 0
    assert db.event_get(1) is None
    db.set_space("default")
    assert db.event_len() == 2
    assert db.event_append("t", {}) == 2


def test_event_sequences_are_per_branch(db):
    db.event_append("t", {})
    db.create_branch("side")
    db.set_branch("side")
    assert db.event_len() == 0
    assert db.event_append("t", {"branch": "side"}) == 0
    db.set_branch("default")
    assert db.event_append("t", {}) == 1


# --- paging ---------------------------------------------------------------------


def _append_ticks(db, count):
    for n in range(count):
        db.event_append("tick", {"i": n})
        db.event_append("tock", {"i": n})


def test_event_list_paginated_without_limit_or_after_returns_all_of_the_type(db):
    _append_ticks(db, 3)
    assert db.event_list_paginated("tick") == db.event_list("tick")


def test_event_list_paginated_returns_the_first_limit_events(db):
    _append_ticks(db, 5)
    events = db.event_list_paginated("tick", limit=3)
    assert type(events) is list
    assert [event["value"]["i"] for event in events] == [0, 1, 2]
    assert [event["version"] for event in events] == [0, 2, 4]
    for event in events:
        assert set(event) == EVENT_KEYS


def test_event_list_paginated_after_returns_events_with_a_greater_sequence(db):
    _append_ticks(db, 5)
    events = db.event_list_paginated("tick", after=4)
    assert [event["version"] for event in events] == [6, 8]
    assert db.event_list_paginated("tick", after=5) == events


def test_event_list_paginated_walks_every_event_exactly_once(db):
    _append_ticks(db, 7)
    seen = []
    after = None
    for _ in range(10):
        page = db.event_list_paginated("tick", 3, after)
        if not page:
            break
        seen.extend(page)
        after = page[-1]["version"]
    assert seen == db.event_list("tick")
    assert [event["value"]["i"] for event in seen] == list(range(7))


def test_event_list_paginated_after_the_last_event_is_empty(db):
    _append_ticks(db, 2)
    assert db.event_list_paginated("tick", limit=10, after=3) == []
    assert db.event_list_paginated("missing-type", limit=10) == []
