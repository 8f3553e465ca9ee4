"""StrataDB: an embedded database for AI agents.

Versioned key-value pairs, state cells, an event log, JSON documents and vectors,
with git-like branches and spaces, in one directory (or in memory)::

    from stratadb import Strata

    with Strata.open("/path/to/data") as db:
        db.kv_put("user:123", "Alice")
        with db.transaction():
            db.state_set("counter", 1)
            db.event_append("tool_call", {"tool": "search"})
"""

from .errors import (
    AccessDeniedError,
    ConflictError,
    ConstraintError,
    IoError,
    NotFoundError,
    StateError,
    StrataError,
    ValidationError,
)
from ._stratadb import Strata, StrataView, Transaction, __version__

__all__ = [
    "Strata",
    "Transaction",
    "StrataView",
    "StrataError",
    "NotFoundError",
    "ValidationError",
    "ConflictError",
    "StateError",
    "ConstraintError",
    "AccessDeniedError",
    "IoError",
    "__version__",
]
