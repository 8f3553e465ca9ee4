"""Values and keys: what goes in comes back with the same type, and anything the
store cannot represent is refused with a ValidationError that says what and where.

The values table of the contract holds for every primitive that stores a value:
KV values, state cells, event payloads and JSON documents.
"""

import math

import pytest

from stratadb import ValidationError

# --- helpers -----------------------------------------------------------------


def _kv_round_trip(db, value):
    db.kv_put("value-key", value)
    return db.kv_get("value-key")


def _state_round_trip(db, value):
    db.state_set("value-cell", value)
    return db.state_get("value-cell")


def _event_round_trip(db, value):
    sequence = db.event_append("value-event", value)
    return db.event_get(sequence)["value"]


def _json_round_trip(db, value):
    db.json_set("value-doc", "$", value)
    return db.json_get("value-doc", "$")


ROUND_TRIPS = [
    pytest.param(_kv_round_trip, id="kv"),
    pytest.param(_state_round_trip, id="state"),
    pytest.param(_event_round_trip, id="event"),
    pytest.param(_json_round_trip, id="json"),
]


def _kv_write(db, value):
    return db.kv_put("value-key", value)


def _state_write(db, value):
    return db.state_set("value-cell", value)


def _event_write(db, value):
    return db.event_append("value-event", value)


def _json_write(db, value):
    return db.json_set("value-doc", "$", value)


def _vector_metadata_write(db, value):
    db.vector_create_collection("value-vectors", 2)
    return db.vector_upsert("value-vectors", "v", [1.0, 0.0], metadata={"m": value})


WRITES = [
    pytest.param(_kv_write, id="kv"),
    pytest.param(_state_write, id="state"),
    pytest.param(_event_write, id="event"),
    pytest.param(_json_write, id="json"),
    pytest.param(_vector_metadata_write, id="vector-metadata"),
]


def assert_identical(expected, actual, where="value"):
    """Equal, with exactly the same types all the way down and dict order kept."""
    assert type(actual) is type(expected), (
        f"{where}: expected {type(expected).__name__} {expected!r}, got {type(actual).__name__} {actual!r}"
    )
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: key order {list(actual)} != {list(expected)}"
        for key in expected:
            assert_identical(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for index, (item_expected, item_actual) in enumerate(zip(expected, actual)):
            assert_identical(item_expected, item_actual, f"{where}[{index}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), f"{where}: expected nan, got {actual!r}"
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"
        if isinstance(expected, float):
            assert math.copysign(1.0, actual) == math.copysign(1.0, expected)


def nested_lists(levels):
    """`levels` lists nested in each other, the innermost one empty."""
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


def nested_dicts(levels):
    """`levels` dicts nested in each other, the innermost one empty."""
    value = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


class Opaque:
    """A user-defined class the store cannot know how to represent."""


# --- values that round trip ----------------------------------------------------

ROUND_TRIP_VALUES = [
    pytest.param(None, id="none"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(0, id="zero"),
    pytest.param(-17, id="negative-int"),
    pytest.param(2**63 - 1, id="i64-max"),
    pytest.param(-(2**63), id="i64-min"),
    pytest.param(1.5, id="float"),
    pytest.param(1.0, id="integral-float"),
    pytest.param(-2.25e-300, id="tiny-float"),
    pytest.param("", id="empty-str"),
    pytest.param("héllo wörld ✓ 🙂 日本", id="unicode-str"),
    pytest.param("a\x00b", id="str-with-nul"),
    pytest.param(b"\x00\x01\xfe\xff", id="bytes"),
    pytest.param(b"", id="empty-bytes"),
    pytest.param([1, "x", None, 2.5, True], id="mixed-list"),
    pytest.param([1, 2, 3], id="small-int-list"),
    pytest.param([True, False], id="bool-list"),
    pytest.param([], id="empty-list"),
    pytest.param({}, id="empty-dict"),
    pytest.param({"z": 1, "a": 2, "m": 3}, id="unsorted-dict"),
    pytest.param(
        {"user": {"name": "Ada", "tags": ["x", "y"], "blob": b"\x00\xff"}, "scores": [[1, 2], [3.5]], "ok": None},
        id="nested",
    ),
]


@pytest.mark.parametrize("value", ROUND_TRIP_VALUES)
@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_values_round_trip_with_their_exact_types(db, round_trip, value):
    assert_identical(value, round_trip(db, value))


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_nan_round_trips_as_nan(db, round_trip):
    result = round_trip(db, float("nan"))
    assert type(result) is float
    assert math.isnan(result)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_infinities_round_trip(db, round_trip):
    assert round_trip(db, [float("inf"), float("-inf")]) == [math.inf, -math.inf]


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_negative_zero_keeps_its_sign(db, round_trip):
    assert_identical(-0.0, round_trip(db, -0.0))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(bytearray(b"ab\x00"), id="bytearray"),
        pytest.param(memoryview(b"ab\x00"), id="memoryview"),
    ],
)
@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_bytes_like_values_come_back_as_bytes(db, round_trip, value):
    assert_identical(b"ab\x00", round_trip(db, value))


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_tuples_come_back_as_lists(db, round_trip):
    result = round_trip(db, (1, ("a", 2.5), (), (300, -1)))
    assert_identical([1, ["a", 2.5], [], [300, -1]], result)


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_dict_key_order_is_kept_at_every_level(db, round_trip):
    keys = [f"key{n}" for n in (7, 3, 9, 1, 8, 2, 6, 4, 5, 0)]
    value = {key: {inner: index for index, inner in enumerate(reversed(keys))} for key in keys}
    assert_identical(value, round_trip(db, value))


def test_a_bool_is_not_read_back_as_an_int_nor_an_int_as_a_bool(db):
    db.kv_put("t", True)
    db.kv_put("one", 1)
    assert db.kv_get("t") is True
    assert type(db.kv_get("one")) is int


# --- values that are refused ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [2**63, -(2**63) - 1, 10**20, [0, {"big": 2**64}]],
    ids=["2**63", "-2**63-1", "10**20", "nested-2**64"],
)
def test_ints_outside_i64_raise_validation_error(db, value):
    with pytest.raises(ValidationError):
        db.kv_put("k", value)
    assert db.kv_get("k") is None


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        pytest.param({1, 2}, "set", id="set"),
        pytest.param(frozenset({1}), "frozenset", id="frozenset"),
        pytest.param(object(), "object", id="object"),
        pytest.param(Opaque(), "Opaque", id="user-class"),
        pytest.param(1 + 2j, "complex", id="complex"),
    ],
)
def test_unsupported_types_raise_validation_error_naming_the_type(db, value, type_name):
    with pytest.raises(ValidationError) as caught:
        db.kv_put("k", value)
    assert type_name in str(caught.value)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        pytest.param({1: "a"}, "int", id="int-key"),
        pytest.param({(1, 2): "a"}, "tuple", id="tuple-key"),
        pytest.param({None: "a"}, "None", id="none-key"),
        pytest.param({b"k": "a"}, "bytes", id="bytes-key"),
    ],
)
def test_dict_keys_that_are_not_str_raise_validation_error_naming_their_type(db, value, type_name):
    with pytest.raises(ValidationError) as caught:
        db.kv_put("k", value)
    assert type_name in str(caught.value)


def test_validation_error_says_where_the_bad_value_sits(db):
    with pytest.raises(ValidationError) as caught:
        db.kv_put("k", {"a": [0, 1, 2, {1, 2}]})
    message = str(caught.value)
    assert '["a"][3]' in message or "['a'][3]" in message, message
    assert "set" in message


def test_validation_error_says_where_a_bad_dict_key_sits(db):
    with pytest.raises(ValidationError) as caught:
        db.kv_put("k", {"outer": {"inner": [None, {7: "x"}]}})
    message = str(caught.value)
    assert '["outer"]["inner"][1]' in message or "['outer']['inner'][1]" in message, message
    assert "int" in message


@pytest.mark.parametrize("write", WRITES)
def test_every_primitive_refuses_unsupported_values(db, write):
    with pytest.raises(ValidationError):
        write(db, {"ok": 1, "bad": {1, 2}})


def test_a_refused_value_leaves_the_previous_value_in_place(db):
    version = db.kv_put("k", "good")
    with pytest.raises(ValidationError):
        db.kv_put("k", ["fine", object()])
    assert db.kv_get("k") == "good"
    assert db.kv_get_versioned("k")["version"] == version
    assert len(db.kv_history("k")) == 1


# --- nesting depth -------------------------------------------------------------


@pytest.mark.parametrize("build", [nested_lists, nested_dicts], ids=["lists", "dicts"])
@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_nesting_of_128_levels_is_accepted(db, round_trip, build):
    value = build(128)
    assert round_trip(db, value) == value


@pytest.mark.parametrize("build", [nested_lists, nested_dicts], ids=["lists", "dicts"])
@pytest.mark.parametrize("write", WRITES)
def test_nesting_deeper_than_128_levels_raises_validation_error(db, write, build):
    with pytest.raises(ValidationError):
        write(db, build(130))


@pytest.mark.parametrize("build", [nested_lists, nested_dicts], ids=["lists", "dicts"])
def test_absurdly_deep_nesting_raises_validation_error_and_the_database_keeps_working(db, build):
    with pytest.raises(ValidationError):
        db.kv_put("deep", build(100_000))
    assert db.kv_get("deep") is None
    db.kv_put("after", 1)
    assert db.kv_get("after") == 1


# --- keys ----------------------------------------------------------------------


def _kv_key(db, key):
    return db.kv_put(key, 1)


def _state_key(db, key):
    return db.state_set(key, 1)


def _json_key(db, key):
    return db.json_set(key, "$", 1)


def _event_type_key(db, key):
    return db.event_append(key, {"n": 1})


def _vector_key(db, key):
    if not any(info["name"] == "key-vectors" for info in db.vector_list_collections()):
        db.vector_create_collection("key-vectors", 2)
    return db.vector_upsert("key-vectors", key, [1.0, 0.0])


KEY_WRITES = [
    pytest.param(_kv_key, id="kv-key"),
    pytest.param(_state_key, id="state-cell"),
    pytest.param(_json_key, id="json-doc-key"),
    pytest.param(_event_type_key, id="event-type"),
    pytest.param(_vector_key, id="vector-key"),
]


@pytest.mark.parametrize("write", KEY_WRITES)
def test_empty_keys_raise_validation_error(db, write):
    with pytest.raises(ValidationError):
        write(db, "")


@pytest.mark.parametrize("key", ["x" * 1025, "é" * 513], ids=["1025-ascii-bytes", "1026-utf8-bytes-in-513-chars"])
@pytest.mark.parametrize("write", KEY_WRITES)
def test_keys_longer_than_1024_utf8_bytes_raise_validation_error(db, write, key):
    with pytest.raises(ValidationError):
        write(db, key)


@pytest.mark.parametrize("key", ["x" * 1024, "é" * 512], ids=["1024-ascii", "1024-utf8-bytes"])
@pytest.mark.parametrize("write", KEY_WRITES)
def test_keys_of_exactly_1024_utf8_bytes_are_accepted(db, write, key):
    write(db, key)


@pytest.mark.parametrize("write", KEY_WRITES)
def test_keys_containing_nul_raise_validation_error(db, write):
    with pytest.raises(ValidationError):
        write(db, "a\x00b")


def test_keys_of_exactly_1024_bytes_read_back(db):
    key = "é" * 511 + "xy"
    assert len(key.encode()) == 1024
    db.kv_put(key, "long")
    assert db.kv_get(key) == "long"
    assert db.kv_list() == [key]


def test_keys_may_hold_spaces_slashes_punctuation_and_any_script(db):
    keys = [" leading", "a/b", "user:1", "ключ", "日本", "emoji🙂", "tab\tin"]
    for index, key in enumerate(keys):
        db.kv_put(key, index)
    for index, key in enumerate(keys):
        assert db.kv_get(key) == index


# --- branch, space and collection names ----------------------------------------


def _create_branch(db, name):
    db.create_branch(name)
    return db.branch_exists(name)


def _fork_branch(db, name):
    db.fork_branch(name)
    return db.branch_exists(name)


def _set_space(db, name):
    db.set_space(name)
    return db.space_exists(name)


def _space_create(db, name):
    db.space_create(name)
    return db.space_exists(name)


def _create_collection(db, name):
    db.vector_create_collection(name, 2)
    return db.vector_collection_stats(name)["name"] == name


NAME_CREATES = [
    pytest.param(_create_branch, id="create_branch"),
    pytest.param(_fork_branch, id="fork_branch"),
    pytest.param(_set_space, id="set_space"),
    pytest.param(_space_create, id="space_create"),
    pytest.param(_create_collection, id="vector_create_collection"),
]


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a/b", "ветка", "a*b", "a\x00b", "tab\there", "semi;colon", "q?"],
    ids=["empty", "space", "slash", "cyrillic", "star", "nul", "tab", "semicolon", "question"],
)
@pytest.mark.parametrize("create", NAME_CREATES)
def test_names_outside_the_allowed_characters_raise_validation_error(db, create, name):
    with pytest.raises(ValidationError):
        create(db, name)


@pytest.mark.parametrize("create", NAME_CREATES)
def test_names_longer_than_255_bytes_raise_validation_error(db, create):
    with pytest.raises(ValidationError):
        create(db, "n" * 256)


@pytest.mark.parametrize("create", NAME_CREATES)
def test_names_of_exactly_255_bytes_are_accepted(db, create):
    assert create(db, "n" * 255) is True


@pytest.mark.parametrize("create", NAME_CREATES)
def test_names_may_use_letters_of_both_cases_digits_and_underscore_dot_colon_dash(db, create):
    assert create(db, "Az_09.x:Y-z") is True


def test_a_refused_branch_name_creates_nothing(db):
    with pytest.raises(ValidationError):
        db.create_branch("bad name")
    assert db.list_branches() == ["default"]
