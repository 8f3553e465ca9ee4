"""The exception hierarchy, and that every failure surfaces as the right
StrataError subclass (never a bare RuntimeError or a panic) with a message that
names what was wrong."""

import pytest

from stratadb import (
    AccessDeniedError,
    ConflictError,
    ConstraintError,
    IoError,
    NotFoundError,
    StateError,
    StrataError,
    ValidationError,
)

HIERARCHY = [
    (NotFoundError, (StrataError, LookupError)),
    (ValidationError, (StrataError, ValueError)),
    (ConflictError, (StrataError,)),
    (StateError, (StrataError,)),
    (ConstraintError, (StrataError, ValueError)),
    (AccessDeniedError, (StrataError, PermissionError)),
    (IoError, (StrataError, OSError)),
]
ALL_ERRORS = [error for error, _ in HIERARCHY]


def test_strata_error_is_an_exception():
    assert issubclass(StrataError, Exception)
    assert not issubclass(StrataError, RuntimeError)


@pytest.mark.parametrize(("error", "bases"), HIERARCHY, ids=[error.__name__ for error, _ in HIERARCHY])
def test_each_error_derives_from_strata_error_and_its_builtin_category(error, bases):
    for base in bases:
        assert issubclass(error, base), f"{error.__name__} is not a {base.__name__}"


def test_errors_are_not_runtime_errors_and_not_each_other():
    for error in ALL_ERRORS:
        assert not issubclass(error, RuntimeError)
        for other in ALL_ERRORS:
            if other is not error:
                assert not issubclass(error, other), f"{error.__name__} is a {other.__name__}"


def test_conflict_and_state_errors_are_not_value_errors():
    assert not issubclass(ConflictError, ValueError)
    assert not issubclass(StateError, ValueError)


def _closed(db):
    db.close()
    db.kv_get("k")


def _merge_strict_conflict(db):
    db.kv_put("k", 0)
    db.fork_branch("src")
    db.kv_put("k", "target")
    db.set_branch("src")
    db.kv_put("k", "source")
    db.set_branch("default")
    db.merge_branches("src", strategy="strict")


def _non_empty_space(db):
    db.set_space("full")
    db.kv_put("k", 1)
    db.set_space("default")
    db.delete_space("full")


def _wrong_dimension(db):
    db.vector_create_collection("c", 3)
    db.vector_upsert("c", "k", [1.0])


FAILURES = [
    pytest.param(lambda db: db.set_branch("ghost"), NotFoundError, id="unknown-branch"),
    pytest.param(lambda db: db.vector_upsert("ghost", "k", [1.0]), NotFoundError, id="unknown-collection"),
    pytest.param(lambda db: db.kv_put("", 1), ValidationError, id="empty-key"),
    pytest.param(lambda db: db.kv_put("k", {1, 2}), ValidationError, id="set-value"),
    pytest.param(lambda db: db.kv_put("k", 2**63), ValidationError, id="int-too-big"),
    pytest.param(lambda db: db.json_get("d", "$.a["), ValidationError, id="bad-json-path"),
    pytest.param(lambda db: db.vector_create_collection("c", 2, metric="l2"), ValidationError, id="bad-metric"),
    pytest.param(lambda db: db.create_branch("bad name"), ValidationError, id="bad-branch-name"),
    pytest.param(lambda db: (db.create_branch("b"), db.create_branch("b")), ConflictError, id="duplicate-branch"),
    pytest.param(
        lambda db: (db.vector_create_collection("c", 2), db.vector_create_collection("c", 2)),
        ConflictError,
        id="duplicate-collection",
    ),
    pytest.param(_merge_strict_conflict, ConflictError, id="strict-merge"),
    pytest.param(lambda db: (db.begin(), db.begin()), StateError, id="second-begin"),
    pytest.param(_closed, StateError, id="closed-handle"),
    pytest.param(lambda db: db.delete_branch("default"), ConstraintError, id="delete-default-branch"),
    pytest.param(_non_empty_space, ConstraintError, id="delete-non-empty-space"),
    pytest.param(lambda db: db.delete_space("default"), ConstraintError, id="delete-default-space"),
    pytest.param(_wrong_dimension, ConstraintError, id="wrong-dimension"),
]


@pytest.mark.parametrize(("action", "expected"), FAILURES)
def test_failures_raise_the_documented_strata_error(db, action, expected):
    with pytest.raises(StrataError) as caught:
        action(db)
    assert type(caught.value) is expected, f"got {type(caught.value).__name__}: {caught.value}"
    assert str(caught.value), "the error has no message"


def test_not_found_errors_can_be_caught_as_lookup_error(db):
    with pytest.raises(LookupError):
        db.set_branch("ghost")


def test_validation_errors_can_be_caught_as_value_error(db):
    with pytest.raises(ValueError):
        db.kv_put("", 1)


def test_constraint_errors_can_be_caught_as_value_error(db):
    with pytest.raises(ValueError):
        db.delete_space("default")


# --- messages name the value -----------------------------------------------------


def test_unknown_branch_message_names_the_branch(db):
    with pytest.raises(NotFoundError) as caught:
        db.set_branch("missing-branch-xyz")
    assert "missing-branch-xyz" in str(caught.value)


def test_unknown_collection_message_names_the_collection(db):
    with pytest.raises(NotFoundError) as caught:
        db.vector_search("missing-collection-xyz", [1.0], 1)
    assert "missing-collection-xyz" in str(caught.value)


def test_duplicate_branch_message_names_the_branch(db):
    db.create_branch("twice-xyz")
    with pytest.raises(ConflictError) as caught:
        db.create_branch("twice-xyz")
    assert "twice-xyz" in str(caught.value)


def test_wrong_dimension_message_names_collection_and_both_dimensions(db):
    db.vector_create_collection("docs", 384)
    with pytest.raises(ConstraintError) as caught:
        db.vector_upsert("docs", "k", [0.5, 0.5])
    message = str(caught.value)
    assert "docs" in message
    assert "384" in message
    assert "2" in message.replace("384", "")


def test_bad_name_message_names_the_name(db):
    with pytest.raises(ValidationError) as caught:
        db.set_space("no spaces allowed")
    assert "no spaces allowed" in str(caught.value)


def test_key_too_long_message_names_the_limit(db):
    with pytest.raises(ValidationError) as caught:
        db.kv_put("k" * 2000, 1)
    assert "1024" in str(caught.value)


def test_bad_metric_message_names_the_metric(db):
    with pytest.raises(ValidationError) as caught:
        db.vector_create_collection("c", 2, metric="hamming")
    assert "hamming" in str(caught.value)


def test_unsupported_value_message_names_the_type(db):
    with pytest.raises(ValidationError) as caught:
        db.state_set("c", {"ok": [1, frozenset()]})
    assert "frozenset" in str(caught.value)


def test_a_failed_call_leaves_the_handle_usable(db):
    with pytest.raises(NotFoundError):
        db.set_branch("ghost")
    with pytest.raises(ValidationError):
        db.kv_put("k", object())
    db.kv_put("k", "fine")
    assert db.kv_get("k") == "fine"
    assert db.current_branch() == "default"
