"""Hostile-input tests run against PostgreSQL, the database that refuses NULs and surrogates.

tests/postgres's `app`, re-exported so these tests get it on a fresh copy of the migrated template
(the server and template fixtures it needs come from tests/conftest.py).
"""

from __future__ import annotations

from tests.postgres.conftest import app  # noqa: F401
