"""The exceptions raised by StrataDB.

Every error the database raises is a :class:`StrataError`. Each subclass also
derives from the built-in exception a Python user would reach for, so
``except LookupError`` or ``except ValueError`` keep working::

    StrataError(Exception)
    ├── NotFoundError(StrataError, LookupError)       a branch, collection, ... does not exist
    ├── ValidationError(StrataError, ValueError)      malformed input: bad key, path, value type
    ├── ConflictError(StrataError)                    a concurrent change or an existing name
    ├── StateError(StrataError)                       not valid now: closed handle, transaction state
    ├── ConstraintError(StrataError, ValueError)      well formed but breaks a rule: dimension, non-empty space
    ├── AccessDeniedError(StrataError, PermissionError)  the database was opened read-only
    └── IoError(StrataError, OSError)                 the disk failed, a file is damaged, the directory is locked

The compiled module raises these classes directly (it imports this module once,
the first time it raises).
"""

__all__ = [
    "StrataError",
    "NotFoundError",
    "ValidationError",
    "ConflictError",
    "StateError",
    "ConstraintError",
    "AccessDeniedError",
    "IoError",
]


class StrataError(Exception):
    """Base class of every error raised by StrataDB."""


class NotFoundError(StrataError, LookupError):
    """A named thing (branch, collection, ...) does not exist."""


class ValidationError(StrataError, ValueError):
    """The input is malformed: a bad key, path, name, value type or vector."""


class ConflictError(StrataError):
    """A concurrent change or an existing name prevents the operation."""


class StateError(StrataError):
    """The call is not valid in the handle's current state (closed, transaction)."""


class ConstraintError(StrataError, ValueError):
    """The input is well formed but breaks a constraint (dimension, non-empty space)."""


class AccessDeniedError(StrataError, PermissionError):
    """The database was opened read-only, or the transaction is read-only."""


class IoError(StrataError, OSError):
    """The disk failed, a file is damaged, or the directory is locked by another process."""
