"""Vector collections: creation, upserts from NumPy arrays and lists, reads,
search with correct scores for each metric, batches, deletes, statistics and
metadata-filtered search."""

import math

import numpy as np
import pytest

from stratadb import ConflictError, ConstraintError, NotFoundError, ValidationError

STATS_KEYS = {"name", "dimension", "metric", "count", "index_type", "memory_bytes"}
GET_KEYS = {"key", "embedding", "metadata", "version", "timestamp"}
MATCH_KEYS = {"key", "score", "metadata"}


# --- expected scores, computed independently with NumPy in float64 ---------------


def cosine(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def dot_product(a, b):
    return float(np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64))


def euclidean(a, b):
    difference = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(1.0 / (1.0 + np.linalg.norm(difference)))


SCORERS = {"cosine": cosine, "dot_product": dot_product, "euclidean": euclidean}


def assert_search_matches_numpy(results, stored, query, k, scorer):
    """Results are the k best by `scorer`, best first, each with the right score."""
    expected = {key: scorer(vector, query) for key, vector in stored.items()}
    assert len(results) == min(k, len(stored))
    scores = [match["score"] for match in results]
    assert scores == sorted(scores, reverse=True), "results are not best first"
    for match in results:
        assert type(match["score"]) is float
        assert match["score"] == pytest.approx(expected[match["key"]], rel=1e-4, abs=1e-5)
    returned = {match["key"] for match in results}
    excluded = [score for key, score in expected.items() if key not in returned]
    if excluded:
        worst_returned = min(expected[key] for key in returned)
        assert worst_returned >= max(excluded) - 1e-5, "a better vector was left out"


@pytest.fixture
def random_vectors():
    rng = np.random.default_rng(20240607)
    return {f"v{n:02d}": rng.standard_normal(16).astype(np.float32) for n in range(40)}


# --- collections ----------------------------------------------------------------


def test_vector_create_collection_defaults_to_cosine(db):
    db.vector_create_collection("embeddings", 384)
    stats = db.vector_collection_stats("embeddings")
    assert stats["metric"] == "cosine"
    assert stats["dimension"] == 384


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot_product"])
def test_vector_create_collection_records_name_dimension_and_metric(db, metric):
    db.vector_create_collection("c", 7, metric=metric)
    stats = db.vector_collection_stats("c")
    assert stats["name"] == "c"
    assert stats["dimension"] == 7
    assert stats["metric"] == metric
    assert stats["count"] == 0


def test_vector_create_collection_takes_the_metric_positionally(db):
    db.vector_create_collection("c", 3, "euclidean")
    assert db.vector_collection_stats("c")["metric"] == "euclidean"


def test_vector_create_collection_with_an_unknown_metric_raises_validation_error(db):
    with pytest.raises(ValidationError) as caught:
        db.vector_create_collection("c", 3, metric="manhattan")
    assert "manhattan" in str(caught.value)
    assert db.vector_list_collections() == []


def test_vector_create_collection_with_an_existing_name_raises_conflict_error(db):
    db.vector_create_collection("docs", 3)
    db.vector_upsert("docs", "k", [1.0, 2.0, 3.0])
    with pytest.raises(ConflictError) as caught:
        db.vector_create_collection("docs", 3)
    assert "docs" in str(caught.value)
    with pytest.raises(ConflictError):
        db.vector_create_collection("docs", 5, metric="euclidean")
    stats = db.vector_collection_stats("docs")
    assert (stats["dimension"], stats["metric"], stats["count"]) == (3, "cosine", 1)


def test_vector_create_collection_with_dimension_zero_raises_validation_error(db):
    with pytest.raises(ValidationError):
        db.vector_create_collection("c", 0)


def test_vector_list_collections_returns_the_stats_of_every_collection(db):
    assert db.vector_list_collections() == []
    db.vector_create_collection("a", 2)
    db.vector_create_collection("b", 3, metric="dot_product")
    db.vector_upsert("b", "k", [1.0, 1.0, 1.0])
    collections = db.vector_list_collections()
    assert type(collections) is list
    by_name = {info["name"]: info for info in collections}
    assert set(by_name) == {"a", "b"}
    for info in collections:
        assert set(info) == STATS_KEYS
    assert (by_name["b"]["dimension"], by_name["b"]["metric"], by_name["b"]["count"]) == (3, "dot_product", 1)
    assert by_name["b"] == db.vector_collection_stats("b")


def test_vector_collection_stats_has_the_documented_shape_and_types(db):
    db.vector_create_collection("c", 4)
    for n in range(3):
        db.vector_upsert("c", f"k{n}", [float(n), 1.0, 0.0, 0.0])
    stats = db.vector_collection_stats("c")
    assert set(stats) == STATS_KEYS
    assert stats["name"] == "c"
    assert type(stats["dimension"]) is int
    assert stats["dimension"] == 4
    assert type(stats["count"]) is int
    assert stats["count"] == 3
    assert type(stats["index_type"]) is str
    assert type(stats["memory_bytes"]) is int
    assert stats["memory_bytes"] >= 0


def test_vector_collection_stats_of_an_unknown_collection_raises_not_found_error(db):
    with pytest.raises(NotFoundError) as caught:
        db.vector_collection_stats("nope")
    assert "nope" in str(caught.value)


def test_vector_delete_collection_returns_whether_it_existed(db):
    db.vector_create_collection("gone", 2)
    assert db.vector_delete_collection("gone") is True
    assert db.vector_delete_collection("gone") is False
    assert db.vector_delete_collection("never") is False
    assert db.vector_list_collections() == []


def test_vector_delete_collection_removes_its_vectors_and_the_name_can_be_reused(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", [1.0, 0.0])
    db.vector_delete_collection("c")
    with pytest.raises(NotFoundError):
        db.vector_upsert("c", "k", [1.0, 0.0])
    db.vector_create_collection("c", 3, metric="euclidean")
    assert db.vector_get("c", "k") is None
    assert db.vector_collection_stats("c")["count"] == 0
    assert db.vector_collection_stats("c")["dimension"] == 3


# --- upsert and get -------------------------------------------------------------


@pytest.mark.parametrize(
    "vector",
    [
        pytest.param(np.array([0.5, -1.25, 3.0], dtype=np.float32), id="float32-array"),
        pytest.param(np.array([0.5, -1.25, 3.0], dtype=np.float64), id="float64-array"),
        pytest.param(np.array([0.5, -1.25, 3.0], dtype=np.float16), id="float16-array"),
        pytest.param([0.5, -1.25, 3.0], id="list-of-floats"),
        pytest.param([1, -2, 3], id="list-of-ints"),
    ],
)
def test_vector_upsert_accepts_float_arrays_of_any_dtype_and_lists(db, vector):
    db.vector_create_collection("c", 3)
    db.vector_upsert("c", "k", vector)
    embedding = db.vector_get("c", "k")["embedding"]
    np.testing.assert_array_equal(embedding, np.asarray(vector, dtype=np.float32))


def test_vector_upsert_accepts_a_strided_array_view(db):
    db.vector_create_collection("c", 3)
    backing = np.arange(6, dtype=np.float32)
    db.vector_upsert("c", "k", backing[::2])
    np.testing.assert_array_equal(db.vector_get("c", "k")["embedding"], [0.0, 2.0, 4.0])


def test_vector_upsert_copies_the_input_array(db):
    db.vector_create_collection("c", 2)
    vector = np.array([1.0, 2.0], dtype=np.float32)
    db.vector_upsert("c", "k", vector)
    vector[:] = 0.0
    np.testing.assert_array_equal(db.vector_get("c", "k")["embedding"], [1.0, 2.0])


def test_vector_float64_input_is_stored_as_float32(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", np.array([0.1, 1 / 3], dtype=np.float64))
    embedding = db.vector_get("c", "k")["embedding"]
    assert embedding.dtype == np.float32
    np.testing.assert_array_equal(embedding, np.array([0.1, 1 / 3], dtype=np.float32))


def test_vector_upsert_returns_database_wide_increasing_versions(db):
    db.vector_create_collection("c", 2)
    first = db.vector_upsert("c", "a", [1.0, 0.0])
    between = db.kv_put("k", 1)
    second = db.vector_upsert("c", "b", [0.0, 1.0])
    third = db.vector_upsert("c", "a", [1.0, 1.0])
    assert all(type(version) is int for version in (first, second, third))
    assert first < between < second < third


def test_vector_get_returns_key_embedding_metadata_version_and_timestamp(db, assert_recent_timestamp):
    db.vector_create_collection("c", 4)
    version = db.vector_upsert("c", "doc-1", [1.0, 0.0, 0.5, 0.25], metadata={"title": "Hello", "n": [1, 2]})
    result = db.vector_get("c", "doc-1")
    assert set(result) == GET_KEYS
    assert result["key"] == "doc-1"
    assert isinstance(result["embedding"], np.ndarray)
    assert result["embedding"].dtype == np.float32
    assert result["embedding"].shape == (4,)
    np.testing.assert_array_equal(result["embedding"], [1.0, 0.0, 0.5, 0.25])
    assert result["metadata"] == {"title": "Hello", "n": [1, 2]}
    assert result["version"] == version
    assert_recent_timestamp(result["timestamp"])


def test_vector_get_without_metadata_has_metadata_none(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", [1.0, 0.0])
    result = db.vector_get("c", "k")
    assert "metadata" in result
    assert result["metadata"] is None


def test_vector_get_of_a_missing_key_is_none(db):
    db.vector_create_collection("c", 2)
    assert db.vector_get("c", "missing") is None


def test_vector_metadata_keeps_types_and_key_order(db):
    db.vector_create_collection("c", 2)
    metadata = {"z": b"\x00\x01", "a": [1, 2, 3], "m": {"nested": True}, "f": 2.5, "none": None}
    db.vector_upsert("c", "k", [1.0, 0.0], metadata=metadata)
    stored = db.vector_get("c", "k")["metadata"]
    assert stored == metadata
    assert list(stored) == list(metadata)
    assert type(stored["z"]) is bytes


def test_vector_upsert_of_an_existing_key_replaces_embedding_and_metadata(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", [1.0, 0.0], metadata={"old": True})
    db.vector_upsert("c", "k", [0.0, 1.0], metadata={"new": True})
    result = db.vector_get("c", "k")
    np.testing.assert_array_equal(result["embedding"], [0.0, 1.0])
    assert result["metadata"] == {"new": True}
    assert db.vector_collection_stats("c")["count"] == 1


def test_vector_upsert_without_metadata_clears_earlier_metadata(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", [1.0, 0.0], metadata={"old": True})
    db.vector_upsert("c", "k", [0.0, 1.0])
    assert db.vector_get("c", "k")["metadata"] is None


def test_vector_upsert_of_the_wrong_length_raises_constraint_error_naming_both_dimensions(db):
    db.vector_create_collection("docs", 384)
    with pytest.raises(ConstraintError) as caught:
        db.vector_upsert("docs", "k", [1.0] * 17)
    message = str(caught.value)
    assert "384" in message
    assert "17" in message
    assert "docs" in message
    assert db.vector_collection_stats("docs")["count"] == 0


def test_vector_upsert_of_an_empty_vector_raises_constraint_error(db):
    db.vector_create_collection("c", 3)
    with pytest.raises(ConstraintError):
        db.vector_upsert("c", "k", [])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("as_array", [False, True], ids=["list", "array"])
def test_vector_upsert_with_nan_or_infinity_raises_validation_error(db, bad, as_array):
    db.vector_create_collection("c", 3)
    vector = [1.0, bad, 0.0]
    if as_array:
        vector = np.array(vector, dtype=np.float32)
    with pytest.raises(ValidationError):
        db.vector_upsert("c", "k", vector)
    assert db.vector_get("c", "k") is None


def test_vector_upsert_with_a_float64_that_overflows_float32_raises_validation_error(db):
    db.vector_create_collection("c", 2)
    with pytest.raises(ValidationError):
        db.vector_upsert("c", "k", np.array([1e300, 0.0], dtype=np.float64))


def test_vector_upsert_into_an_unknown_collection_raises_not_found_error(db):
    with pytest.raises(NotFoundError) as caught:
        db.vector_upsert("nope", "k", [1.0, 0.0])
    assert "nope" in str(caught.value)


def test_vector_search_in_an_unknown_collection_raises_not_found_error(db):
    with pytest.raises(NotFoundError):
        db.vector_search("nope", [1.0, 0.0], 3)


def test_vector_delete_returns_whether_the_vector_existed(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", [1.0, 0.0])
    db.vector_upsert("c", "other", [0.0, 1.0])
    assert db.vector_delete("c", "k") is True
    assert db.vector_delete("c", "k") is False
    assert db.vector_delete("c", "never") is False
    assert db.vector_get("c", "k") is None
    assert db.vector_collection_stats("c")["count"] == 1
    assert [match["key"] for match in db.vector_search("c", [1.0, 0.0], 10)] == ["other"]


# --- search ---------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "dot_product", "euclidean"])
def test_vector_search_returns_the_k_best_with_scores_matching_numpy(db, random_vectors, metric):
    db.vector_create_collection("c", 16, metric=metric)
    for key, vector in random_vectors.items():
        db.vector_upsert("c", key, vector)
    query = np.random.default_rng(99).standard_normal(16).astype(np.float32)
    results = db.vector_search("c", query, 5)
    assert_search_matches_numpy(results, random_vectors, query, 5, SCORERS[metric])


@pytest.mark.parametrize("metric", ["cosine", "dot_product", "euclidean"])
def test_vector_search_with_k_larger_than_the_collection_returns_everything_ranked(db, random_vectors, metric):
    db.vector_create_collection("c", 16, metric=metric)
    for key, vector in random_vectors.items():
        db.vector_upsert("c", key, vector)
    query = random_vectors["v07"].astype(np.float64)
    results = db.vector_search("c", query, 1000)
    assert_search_matches_numpy(results, random_vectors, query, 1000, SCORERS[metric])
    assert {match["key"] for match in results} == set(random_vectors)


def test_vector_search_cosine_scores_on_known_vectors(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "same", [2.0, 0.0])
    db.vector_upsert("c", "diagonal", [3.0, 4.0])
    db.vector_upsert("c", "opposite", [-1.0, 0.0])
    results = db.vector_search("c", [1.0, 0.0], 3)
    assert [match["key"] for match in results] == ["same", "diagonal", "opposite"]
    assert [match["score"] for match in results] == pytest.approx([1.0, 0.6, -1.0], abs=1e-6)


def test_vector_search_euclidean_scores_are_one_over_one_plus_distance(db):
    db.vector_create_collection("c", 2, metric="euclidean")
    db.vector_upsert("c", "origin", [0.0, 0.0])
    db.vector_upsert("c", "five-away", [3.0, 4.0])
    db.vector_upsert("c", "two-away", [0.0, 2.0])
    results = db.vector_search("c", [0.0, 0.0], 3)
    assert [match["key"] for match in results] == ["origin", "two-away", "five-away"]
    assert [match["score"] for match in results] == pytest.approx([1.0, 1 / 3, 1 / 6], abs=1e-6)


def test_vector_search_dot_product_scores_are_raw_dot_products(db):
    db.vector_create_collection("c", 2, metric="dot_product")
    db.vector_upsert("c", "a", [1.0, 2.0])
    db.vector_upsert("c", "b", [3.0, 4.0])
    db.vector_upsert("c", "c", [-5.0, 0.0])
    results = db.vector_search("c", [1.0, 1.0], 3)
    assert [match["key"] for match in results] == ["b", "a", "c"]
    assert [match["score"] for match in results] == pytest.approx([7.0, 3.0, -5.0], abs=1e-6)


def test_vector_search_results_have_key_score_and_metadata(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "with", [1.0, 0.0], metadata={"title": "Hello"})
    db.vector_upsert("c", "without", [0.9, 0.1])
    results = db.vector_search("c", np.array([1.0, 0.0], dtype=np.float32), 10)
    assert type(results) is list
    for match in results:
        assert set(match) == MATCH_KEYS
    assert results[0]["key"] == "with"
    assert results[0]["metadata"] == {"title": "Hello"}
    assert results[1]["metadata"] is None


def test_vector_search_accepts_k_as_keyword(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "a", [1.0, 0.0])
    db.vector_upsert("c", "b", [0.0, 1.0])
    assert [match["key"] for match in db.vector_search("c", [1.0, 0.1], k=1)] == ["a"]


def test_vector_search_of_an_empty_collection_is_empty(db):
    db.vector_create_collection("c", 2)
    assert db.vector_search("c", [1.0, 0.0], 5) == []


def test_vector_search_with_a_query_of_the_wrong_length_raises_constraint_error(db):
    db.vector_create_collection("c", 3)
    db.vector_upsert("c", "k", [1.0, 0.0, 0.0])
    with pytest.raises(ConstraintError) as caught:
        db.vector_search("c", [1.0, 0.0], 1)
    assert "3" in str(caught.value)


def test_vector_search_with_a_nan_query_raises_validation_error(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "k", [1.0, 0.0])
    with pytest.raises(ValidationError):
        db.vector_search("c", [math.nan, 0.0], 1)


def test_vector_search_sees_updates_and_deletes(db):
    db.vector_create_collection("c", 2)
    db.vector_upsert("c", "moves", [0.0, 1.0])
    db.vector_upsert("c", "stays", [0.7, 0.7])
    db.vector_upsert("c", "goes", [1.0, 0.01])
    db.vector_delete("c", "goes")
    db.vector_upsert("c", "moves", [1.0, 0.0])
    assert [match["key"] for match in db.vector_search("c", [1.0, 0.0], 10)] == ["moves", "stays"]


# --- batch upsert ---------------------------------------------------------------


def test_vector_batch_upsert_is_one_commit_with_one_version(db):
    db.vector_create_collection("batch", 4)
    before = db.kv_put("before", 1)
    versions = db.vector_batch_upsert(
        "batch",
        [
            {"key": "b1", "vector": [1.0, 0.0, 0.0, 0.0]},
            {"key": "b2", "vector": np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32), "metadata": {"m": 2}},
            {"key": "b3", "vector": np.array([0.0, 0.0, 1.0, 0.0], dtype=np.float64)},
        ],
    )
    assert type(versions) is list
    assert len(versions) == 3
    assert all(type(version) is int for version in versions)
    assert len(set(versions)) == 1
    assert versions[0] > before
    assert db.kv_put("after", 1) == versions[0] + 1
    for key in ["b1", "b2", "b3"]:
        assert db.vector_get("batch", key)["version"] == versions[0]


def test_vector_batch_upsert_stores_every_entry_with_its_metadata(db):
    db.vector_create_collection("batch", 2)
    db.vector_batch_upsert(
        "batch",
        [
            {"key": "a", "vector": [1.0, 0.0], "metadata": {"n": 1}},
            {"key": "b", "vector": [0.0, 1.0]},
        ],
    )
    assert db.vector_collection_stats("batch")["count"] == 2
    assert db.vector_get("batch", "a")["metadata"] == {"n": 1}
    assert db.vector_get("batch", "b")["metadata"] is None
    np.testing.assert_array_equal(db.vector_get("batch", "b")["embedding"], [0.0, 1.0])


def test_vector_batch_upsert_with_one_bad_entry_writes_nothing(db):
    db.vector_create_collection("batch", 2)
    with pytest.raises(ConstraintError):
        db.vector_batch_upsert(
            "batch",
            [
                {"key": "good", "vector": [1.0, 0.0]},
                {"key": "bad", "vector": [1.0, 0.0, 0.0]},
            ],
        )
    assert db.vector_get("batch", "good") is None
    assert db.vector_collection_stats("batch")["count"] == 0


def test_vector_batch_upsert_into_an_unknown_collection_raises_not_found_error(db):
    with pytest.raises(NotFoundError):
        db.vector_batch_upsert("nope", [{"key": "a", "vector": [1.0]}])


# --- filtered search ------------------------------------------------------------

FILTER_ITEMS = {
    "a": ([1.0, 0.0], {"category": "news", "price": 10, "tags": ["x", "y"], "title": "hello world"}),
    "b": ([0.9, 0.1], {"category": "blog", "price": 20, "tags": ["y"], "title": "goodbye"}),
    "c": ([0.7, 0.3], {"category": "news", "price": 30, "tags": ["z"], "title": "world peace"}),
    "d": ([0.5, 0.5], {"category": "docs", "price": 40, "tags": [], "title": "hello again"}),
    "e": ([0.1, 0.9], {"category": "blog", "price": 50, "tags": ["x"], "title": "misc"}),
}
QUERY = [1.0, 0.0]


@pytest.fixture
def filtered(db):
    db.vector_create_collection("items", 2)
    for key, (vector, metadata) in FILTER_ITEMS.items():
        db.vector_upsert("items", key, vector, metadata=metadata)
    return db


def _keys(results):
    return [match["key"] for match in results]


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("category", "eq", "news", ["a", "c"]),
        ("category", "ne", "news", ["b", "d", "e"]),
        ("price", "gt", 20, ["c", "d", "e"]),
        ("price", "gte", 20, ["b", "c", "d", "e"]),
        ("price", "lt", 30, ["a", "b"]),
        ("price", "lte", 30, ["a", "b", "c"]),
        ("category", "in", ["blog", "docs"], ["b", "d", "e"]),
        ("title", "contains", "world", ["a", "c"]),
        ("tags", "contains", "x", ["a", "e"]),
    ],
    ids=["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains-substring", "contains-element"],
)
def test_vector_search_filtered_applies_each_operator(filtered, field, op, value, expected):
    results = filtered.vector_search_filtered("items", QUERY, 10, filter=[{"field": field, "op": op, "value": value}])
    assert _keys(results) == expected
    for match in results:
        assert match["metadata"] == FILTER_ITEMS[match["key"]][1]


def test_vector_search_filtered_requires_every_condition_to_hold(filtered):
    conditions = [
        {"field": "category", "op": "eq", "value": "news"},
        {"field": "price", "op": "gt", "value": 15},
    ]
    assert _keys(filtered.vector_search_filtered("items", QUERY, 10, filter=conditions)) == ["c"]
    conditions.append({"field": "title", "op": "contains", "value": "hello"})
    assert filtered.vector_search_filtered("items", QUERY, 10, filter=conditions) == []


def test_vector_search_filtered_applies_k_after_filtering(filtered):
    results = filtered.vector_search_filtered(
        "items", QUERY, 1, filter=[{"field": "category", "op": "eq", "value": "blog"}]
    )
    assert _keys(results) == ["b"]


def test_vector_search_filtered_without_a_filter_equals_vector_search(filtered):
    assert filtered.vector_search_filtered("items", QUERY, 3) == filtered.vector_search("items", QUERY, 3)


def test_vector_search_filtered_scores_match_the_collection_metric(filtered):
    results = filtered.vector_search_filtered("items", QUERY, 10, filter=[{"field": "price", "op": "gte", "value": 30}])
    for match in results:
        assert match["score"] == pytest.approx(cosine(FILTER_ITEMS[match["key"]][0], QUERY), abs=1e-5)


def test_vector_search_filtered_can_override_the_metric(filtered):
    results = filtered.vector_search_filtered("items", [2.0, 0.0], 10, metric="euclidean")
    assert _keys(results) == ["a", "b", "c", "d", "e"]
    for match in results:
        assert match["score"] == pytest.approx(euclidean(FILTER_ITEMS[match["key"]][0], [2.0, 0.0]), abs=1e-5)


def test_vector_search_filtered_with_an_unknown_operator_raises_validation_error(filtered):
    with pytest.raises(ValidationError) as caught:
        filtered.vector_search_filtered("items", QUERY, 10, filter=[{"field": "price", "op": "between", "value": 1}])
    assert "between" in str(caught.value)
