"""Hostile-input tests run against PostgreSQL, the database that refuses NULs and surrogates.

The PostgreSQL fixtures are tests/postgres's, re-exported so these tests get the same `app` on a
fresh copy of the migrated template.
"""

from __future__ import annotations

from tests.postgres.conftest import app, pg_server, pg_template, pg_url  # noqa: F401
