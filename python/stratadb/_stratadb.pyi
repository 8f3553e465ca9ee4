"""Type stubs for the compiled StrataDB extension module (``stratadb._stratadb``).

Everything here is re-exported by ``stratadb``; import from there. Errors are the
classes of ``stratadb.errors`` (``StrataError`` and its subclasses).
"""

import datetime
import os
from types import TracebackType
from typing import Any, List, Literal, Mapping, Optional, Sequence, Type, TypedDict, Union, final, type_check_only

import numpy as np
import numpy.typing as npt

__all__ = ["Strata", "Transaction", "__version__"]

__version__: str

# ----- values -----------------------------------------------------------------------

#: What a read returns: ``bytes`` for bytes-like input, ``list`` for lists and tuples,
#: ``dict`` with its key order kept.
_StoredValue = Union[None, bool, int, float, str, bytes, list["_StoredValue"], dict[str, "_StoredValue"]]

#: What a write accepts: ``None``, ``bool``, ``int`` (within i64), ``float`` (NaN and
#: inf allowed), ``str``, ``bytes``/``bytearray``/``memoryview``, ``list``/``tuple``
#: and ``dict`` with ``str`` keys, nested at most 128 levels deep. NumPy bool, integer
#: and floating scalars are accepted as ``bool``, ``int`` and ``float``. Anything else
#: raises ``ValidationError`` naming the type and where it sits (``value["a"][3]``).
_ValueLike = Union[
    None,
    bool,
    int,
    float,
    str,
    bytes,
    bytearray,
    memoryview,
    np.bool_,
    np.integer[Any],
    np.floating[Any],
    Sequence["_ValueLike"],
    Mapping[str, "_ValueLike"],
]

#: A vector: a 1-D NumPy array of any float (or integer) dtype, any byte order and
#: any strides, or a list or tuple of numbers. It is copied (as float32) before the
#: call releases the GIL.
_VectorLike = Union[npt.NDArray[Any], Sequence[float]]

_Metric = Literal["cosine", "euclidean", "dot_product"]
_MergeStrategy = Literal["last_writer_wins", "strict"]
_Durability = Literal["always", "standard", "none"]
# A point in the past: a commit version, or a datetime (naive means local time).
_AsOf = Union[int, datetime.datetime]
_FilterOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains"]

# ----- result shapes ----------------------------------------------------------------

@type_check_only
class VersionedValue(TypedDict):
    """One version of a record; ``value`` is None for a delete."""

    value: _StoredValue
    version: int
    timestamp: int

@type_check_only
class _PageKeys(TypedDict):
    keys: list[str]

@type_check_only
class Page(_PageKeys, total=False):
    """One page of keys; ``cursor`` is present only when more keys follow."""

    cursor: str

@type_check_only
class EventRecord(TypedDict):
    """One event; ``version`` is its sequence number."""

    value: _StoredValue
    version: int
    timestamp: int
    event_type: str

@type_check_only
class VectorRecord(TypedDict):
    """A stored vector; ``embedding`` is a new float32 array."""

    key: str
    embedding: npt.NDArray[np.float32]
    metadata: _StoredValue
    version: int
    timestamp: int

@type_check_only
class SearchHit(TypedDict):
    """One search result: cosine similarity, dot product, or 1 / (1 + L2 distance)."""

    key: str
    score: float
    metadata: _StoredValue

@type_check_only
class FilterCondition(TypedDict):
    """One metadata condition of ``vector_search_filtered``."""

    field: str
    op: _FilterOp
    value: _ValueLike

@type_check_only
class _BatchItemRequired(TypedDict):
    key: str
    vector: _VectorLike

@type_check_only
class BatchItem(_BatchItemRequired, total=False):
    """One item of ``vector_batch_upsert``."""

    metadata: _ValueLike

@type_check_only
class CollectionStats(TypedDict):
    """What ``vector_collection_stats`` and ``vector_list_collections`` report."""

    name: str
    dimension: int
    metric: _Metric
    count: int
    index_type: Literal["brute_force"]
    memory_bytes: int

@type_check_only
class ForkReport(TypedDict):
    """What ``fork_branch`` did."""

    source: str
    destination: str
    keys_copied: int

@type_check_only
class BranchInfo(TypedDict):
    """What ``branch_get`` reports; ``version``/``timestamp`` are those of the last change."""

    id: str
    status: Literal["active"]
    created_at: int
    updated_at: int
    version: int
    timestamp: int
    parent: Optional[str]

@type_check_only
class DiffEntry(TypedDict):
    """One record named in a diff or a merge report."""

    space: str
    primitive: str
    key: str

@type_check_only
class DiffSummary(TypedDict):
    total_added: int
    total_removed: int
    total_modified: int

@type_check_only
class DiffReport(TypedDict):
    """Differences seen from ``branch_a`` to ``branch_b`` (added = only in ``branch_b``)."""

    branch_a: str
    branch_b: str
    summary: DiffSummary
    added: list[DiffEntry]
    removed: list[DiffEntry]
    modified: list[DiffEntry]

@type_check_only
class MergeReport(TypedDict):
    """What ``merge_branches`` applied and what conflicted."""

    keys_applied: int
    spaces_merged: int
    conflicts: list[DiffEntry]

@type_check_only
class DatabaseInfo(TypedDict):
    """What ``info`` reports."""

    version: str
    uptime_secs: int
    branch_count: int
    total_keys: int
    path: Optional[str]
    durability: _Durability
    last_version: int
    read_only: bool
    log_bytes: int
    poisoned: Optional[str]
    compaction_error: Optional[str]
    recovery: Optional[RecoveryInfo]

@type_check_only
class RecoveryInfo(TypedDict):
    """What recovery found and did when the database was opened (``info()["recovery"]``)."""

    snapshot_version: Optional[int]
    commits_replayed: int
    segments_replayed: int
    truncated_tail: Optional[str]
    removed_files: List[str]

@type_check_only
class Retention(TypedDict, total=False):
    """How much history to keep: the newest N versions and/or every version current within S seconds."""

    keep_versions: int
    keep_seconds: int

class ExportReport(TypedDict):
    """What ``branch_export`` did."""

    branch_id: str
    path: str
    entry_count: int
    bundle_size: int

class ImportReport(TypedDict):
    """What ``branch_import`` did."""

    branch_id: str
    transactions_applied: int
    keys_written: int

class ValidateReport(TypedDict):
    """What ``branch_validate_bundle`` found; ``problems`` is empty when the bundle is intact."""

    branch_id: str
    format_version: int
    entry_count: int
    checksums_valid: bool
    problems: list[str]

class TransactionInfo(TypedDict):
    """What ``txn_info`` reports about the open transaction."""

    id: int
    status: Literal["active"]
    started_at: int

# ----- classes ------------------------------------------------------------------------

@final
class Transaction:
    """A transaction scope: ``with Transaction(db):`` or ``with db.transaction():``.

    Entering begins a transaction on ``db`` and returns ``db``; leaving commits if the
    block finished normally and rolls back if it raised. The exception always
    propagates. A commit conflict raises ``ConflictError`` from the ``with`` statement.
    """

    def __new__(cls, db: Strata, read_only: bool = False) -> Transaction:
        """Prepare a transaction on ``db`` (it begins when the ``with`` block is entered)."""
    @property
    def db(self) -> Strata:
        """The handle the transaction runs on."""
    @property
    def read_only(self) -> bool:
        """Whether the transaction is begun read-only."""
    def __enter__(self) -> Strata:
        """Begin the transaction; returns the handle."""
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> Literal[False]:
        """Commit on success, roll back on an exception (which propagates)."""

@final
class Strata:
    """A handle on a StrataDB database: ``Strata.open(path)`` or ``Strata.cache()``.

    Each handle has its own current branch, current space and transaction. A handle
    may be shared between threads; long operations release the GIL.
    """

    # construction and lifetime
    @staticmethod
    def open(
        path: Union[str, os.PathLike[str]],
        *,
        durability: Optional[_Durability] = None,
        read_only: bool = False,
        retention: Optional[Retention] = None,
    ) -> Strata:
        """Open or create a database directory (durability defaults to strata.toml, else "standard")."""
    @staticmethod
    def cache(*, retention: Optional[Retention] = None) -> Strata:
        """Create a private in-memory database."""
    def close(self) -> None:
        """Flush and release the database; later calls raise StateError. Closing twice is fine."""
    def __enter__(self) -> Strata:
        """Return the handle itself."""
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> Literal[False]:
        """Close the handle."""
    def transaction(self, read_only: bool = False) -> Transaction:
        """A context manager: begin on enter, commit on success, roll back on an exception."""

    # KV
    def kv_put(self, key: str, value: _ValueLike) -> int:
        """Store a value under a key; returns the commit version."""
    def kv_get(self, key: str, *, as_of: Optional[_AsOf] = None) -> _StoredValue:
        """The value of a key, or None if it is missing or deleted."""
    def kv_delete(self, key: str) -> bool:
        """Delete a key; returns whether it existed."""
    def kv_list(self, prefix: Optional[str] = None, *, as_of: Optional[_AsOf] = None) -> list[str]:
        """The live keys starting with prefix, sorted."""
    def kv_history(self, key: str) -> Optional[list[VersionedValue]]:
        """Every version of a key, newest first (deletes have value None); None if it never existed."""
    def kv_get_versioned(self, key: str) -> Optional[VersionedValue]:
        """The value of a key with its version and timestamp, or None."""
    def kv_list_paginated(
        self,
        prefix: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page:
        """One page of keys; pass the returned cursor to continue."""

    # state cells
    def state_set(self, cell: str, value: _ValueLike) -> int:
        """Set a state cell; returns the commit version."""
    def state_get(self, cell: str, *, as_of: Optional[_AsOf] = None) -> _StoredValue:
        """The value of a state cell, or None."""
    def state_init(self, cell: str, value: _ValueLike) -> int:
        """Create a cell only if it is absent; returns its current version either way."""
    def state_cas(self, cell: str, new_value: _ValueLike, expected_version: Optional[int] = None) -> Optional[int]:
        """Set a cell iff its version equals expected_version (None: iff absent); the new version, or None."""
    def state_history(self, cell: str) -> Optional[list[VersionedValue]]:
        """Every version of a cell, newest first; None if it never existed."""
    def state_delete(self, cell: str) -> bool:
        """Delete a state cell; returns whether it existed."""
    def state_list(self, prefix: Optional[str] = None) -> list[str]:
        """The live cell names starting with prefix, sorted."""
    def state_get_versioned(self, cell: str) -> Optional[VersionedValue]:
        """The value of a cell with its version and timestamp, or None."""

    # events
    def event_append(self, event_type: str, payload: _ValueLike) -> int:
        """Append an event; returns its sequence number (0-based, dense per branch and space)."""
    def event_get(self, sequence: int, *, as_of: Optional[_AsOf] = None) -> Optional[EventRecord]:
        """The event with this sequence number, or None."""
    def event_list(self, event_type: str, *, as_of: Optional[_AsOf] = None) -> list[EventRecord]:
        """The events of one type, in sequence order."""
    def event_len(self, *, as_of: Optional[_AsOf] = None) -> int:
        """The number of events in the current branch and space."""
    def event_list_paginated(
        self,
        event_type: str,
        limit: Optional[int] = None,
        after: Optional[int] = None,
    ) -> list[EventRecord]:
        """Events of one type with sequence greater than after, at most limit of them."""

    # JSON documents
    def json_set(self, key: str, path: str, value: _ValueLike) -> int:
        """Set the value at a JSON path ("$" replaces the document); returns the commit version."""
    def json_get(self, key: str, path: str, *, as_of: Optional[_AsOf] = None) -> _StoredValue:
        """The value at a JSON path, or None if the document or the path is missing."""
    def json_delete(self, key: str, path: str) -> int:
        """Delete the document ("$") or the member at path; the version, or 0 if nothing was removed."""
    def json_history(self, key: str) -> Optional[list[VersionedValue]]:
        """Every version of a document, newest first; None if it never existed."""
    def json_get_versioned(self, key: str) -> Optional[VersionedValue]:
        """The whole document with its version and timestamp, or None."""
    def json_list(
        self,
        limit: int,
        prefix: Optional[str] = None,
        cursor: Optional[str] = None,
        *,
        as_of: Optional[_AsOf] = None,
    ) -> Page:
        """One page of document keys; pass the returned cursor to continue."""

    # vectors
    def vector_create_collection(self, collection: str, dimension: int, metric: Optional[_Metric] = None) -> int:
        """Create a collection (metric defaults to "cosine"); returns the commit version."""
    def vector_delete_collection(self, collection: str) -> bool:
        """Delete a collection and its vectors; returns whether it existed."""
    def vector_list_collections(self) -> list[CollectionStats]:
        """The stats of every collection in the current space, sorted by name."""
    def vector_collection_stats(self, collection: str) -> CollectionStats:
        """The stats of one collection."""
    def vector_upsert(
        self,
        collection: str,
        key: str,
        vector: _VectorLike,
        metadata: Optional[_ValueLike] = None,
    ) -> int:
        """Insert or replace a vector; returns the commit version."""
    def vector_batch_upsert(self, collection: str, vectors: Sequence[BatchItem]) -> list[int]:
        """Upsert many vectors in one commit; returns the version once per item."""
    def vector_get(self, collection: str, key: str, *, as_of: Optional[_AsOf] = None) -> Optional[VectorRecord]:
        """A stored vector with its metadata, version and timestamp, or None."""
    def vector_delete(self, collection: str, key: str) -> bool:
        """Delete a vector; returns whether it existed."""
    def vector_search(
        self, collection: str, query: _VectorLike, k: int, *, as_of: Optional[_AsOf] = None
    ) -> list[SearchHit]:
        """The k best matches, best first."""
    def vector_search_filtered(
        self,
        collection: str,
        query: _VectorLike,
        k: int,
        metric: Optional[_Metric] = None,
        filter: Optional[Sequence[FilterCondition]] = None,
    ) -> list[SearchHit]:
        """The k best matches whose metadata meets every condition, optionally under another metric."""

    # branches
    def current_branch(self) -> str:
        """The name of this handle's current branch."""
    def set_branch(self, branch: str) -> None:
        """Switch this handle to another branch; the current space resets to "default"."""
    def create_branch(self, branch: str) -> None:
        """Create an empty branch."""
    def fork_branch(self, destination: str, *, at: Optional[_AsOf] = None) -> ForkReport:
        """Copy the current branch (all spaces, primitives and history), as it is or as it was at `at`, to a new branch."""
    def list_branches(self) -> list[str]:
        """The names of all branches, sorted."""
    def delete_branch(self, branch: str) -> None:
        """Delete a branch (neither "default" nor the current branch)."""
    def branch_exists(self, name: str) -> bool:
        """Whether a branch exists."""
    def branch_get(self, name: str) -> Optional[BranchInfo]:
        """What is known about a branch, or None."""
    def diff_branches(self, branch_a: str, branch_b: str) -> DiffReport:
        """The per-record differences from branch_a to branch_b."""
    def merge_branches(self, source: str, strategy: Optional[_MergeStrategy] = None) -> MergeReport:
        """Three-way merge of source into the current branch, as one commit (default "last_writer_wins")."""

    # spaces
    def current_space(self) -> str:
        """The name of this handle's current space."""
    def set_space(self, space: str) -> None:
        """Switch to a space, creating it on first use."""
    def list_spaces(self, *, as_of: Optional[_AsOf] = None) -> list[str]:
        """The spaces of the current branch, sorted."""
    def space_create(self, space: str) -> None:
        """Create a space if it does not exist."""
    def space_exists(self, space: str) -> bool:
        """Whether a space exists in the current branch."""
    def delete_space(self, space: str) -> None:
        """Delete an empty space; a non-empty one raises ConstraintError."""
    def delete_space_force(self, space: str) -> None:
        """Delete a space and everything in it."""

    # transactions
    def begin(self, read_only: bool = False) -> None:
        """Begin a transaction on this handle; a second begin raises StateError."""
    def commit(self) -> int:
        """Commit the open transaction as one version and return it; ConflictError applies nothing."""
    def rollback(self) -> None:
        """Discard the open transaction's writes."""
    def txn_is_active(self) -> bool:
        """Whether a transaction is open on this handle."""
    def txn_info(self) -> Optional[TransactionInfo]:
        """The open transaction's id, status and start time, or None."""

    # database
    def ping(self) -> str:
        """The package version."""
    def info(self) -> DatabaseInfo:
        """Version, uptime, branch count, live record count, path, durability and more."""
    def flush(self) -> None:
        """Make every acknowledged write durable."""
    def compact(self) -> None:
        """Write a snapshot, remove the log it covers and apply retention."""
    def retention_apply(self) -> None:
        """Apply the retention policy."""

    # time travel and bundles
    def at(self, as_of: _AsOf) -> StrataView:
        """A read-only view of the current branch and space as of a past version (int) or datetime."""
    def branch_export(self, branch: str, path: Union[str, os.PathLike[str]]) -> ExportReport:
        """Write a branch (all spaces, primitives and history) to a bundle file."""
    def branch_import(self, path: Union[str, os.PathLike[str]], *, branch: Optional[str] = None) -> ImportReport:
        """Import the branch a bundle holds (under its own name, or as `branch`), as one commit."""
    def branch_validate_bundle(self, path: Union[str, os.PathLike[str]]) -> ValidateReport:
        """Check every checksum of a bundle without importing it."""

@final
class StrataView:
    """A read-only view of one branch and space as of a past commit (from ``db.at``)."""

    @property
    def as_of(self) -> tuple[Literal["version", "time"], int]:
        """The point: ("version", n) or ("time", microseconds since the epoch)."""
    @property
    def branch(self) -> str:
        """The branch the view reads."""
    @property
    def space(self) -> str:
        """The space the view reads."""
    def kv_get(self, key: str) -> _StoredValue:
        """The value of a key as of the view's point, or None."""
    def kv_list(self, prefix: Optional[str] = None) -> list[str]:
        """The keys live at the view's point, sorted."""
    def state_get(self, cell: str) -> _StoredValue:
        """A state cell's value as of the view's point, or None."""
    def json_get(self, key: str, path: str) -> _StoredValue:
        """The value at a JSON path as of the view's point, or None."""
    def json_list(self, limit: int, prefix: Optional[str] = None, cursor: Optional[str] = None) -> Page:
        """One page of document keys live at the view's point."""
    def event_get(self, sequence: int) -> Optional[EventRecord]:
        """An event appended by the view's point, or None."""
    def event_list(self, event_type: str) -> list[EventRecord]:
        """The events of one type appended by the view's point."""
    def event_len(self) -> int:
        """The number of events appended by the view's point."""
    def vector_get(self, collection: str, key: str) -> Optional[VectorRecord]:
        """A vector as of the view's point, or None."""
    def vector_search(self, collection: str, query: _VectorLike, k: int) -> list[SearchHit]:
        """The k best matches among the vectors as they were at the view's point."""
    def list_spaces(self) -> list[str]:
        """The spaces that existed at the view's point."""
