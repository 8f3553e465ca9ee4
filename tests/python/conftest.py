"""Shared fixtures for the user-facing test suite of the Python SDK.

Every test gets its own private in-memory database, so tests never see each
other's data and can assert exact versions, sequence numbers and listings.
"""

import time

import pytest

from stratadb import Strata

# Timestamps are microseconds since the Unix epoch. A generous window around the
# wall clock catches wrong units (seconds, milliseconds, nanoseconds) and wrong
# epochs without ever depending on how fast the machine is.
TIMESTAMP_WINDOW_MICROS = 3600 * 1_000_000


@pytest.fixture
def db():
    return Strata.cache()


@pytest.fixture
def assert_recent_timestamp():
    """Return a checker: an int of microseconds since the epoch, close to now."""

    def check(timestamp):
        assert type(timestamp) is int, f"timestamp {timestamp!r} is not an int"
        now_micros = time.time() * 1_000_000
        assert abs(timestamp - now_micros) < TIMESTAMP_WINDOW_MICROS, (
            f"timestamp {timestamp} is not microseconds since the epoch near {now_micros:.0f}"
        )

    return check
