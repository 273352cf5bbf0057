"""Reads that need no transaction: one SELECT on an autocommit connection, outside the session.

The shopper's busiest pages (the catalogue, the checkout page, the status page and its JSON poll)
show what one SELECT returns. Through the ORM session that SELECT pays for a transaction it does
not need: psycopg sends BEGIN before it and the session's teardown sends ROLLBACK after it, two
more round trips and the database's CPU for each, and the ORM builds and tracks entities only
to read their attributes once. One statement in autocommit mode sees one consistent snapshot of
committed rows (PostgreSQL's READ COMMITTED takes a snapshot per statement; SQLite reads one
WAL snapshot per statement), which is all such a page needs. docs/benchmarks.md ("Web") has
the figures.

Only for reads whose rows are shown and not acted on. Anything that decides a write (a claim,
a transition, a refund) reads through `db.session` inside the transaction that writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import Engine, Executable, Row

from .extensions import db

_READER = "tollgate_autocommit_reader"


def read_one(statement: Executable, params: Mapping[str, Any] | None = None) -> Row[Any] | None:
    """The statement's first row, or None."""
    with _reader().connect() as connection:
        return connection.execute(statement, params or {}).first()


def read_all(statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row[Any]]:
    """All the statement's rows."""
    with _reader().connect() as connection:
        return connection.execute(statement, params or {}).all()


def _reader() -> Engine:
    """The app's engine in autocommit mode: same pool, connections lent without a transaction
    (the pool puts the isolation level back when one is returned)."""
    extensions = current_app.extensions
    reader = extensions.get(_READER)
    if reader is None:
        reader = extensions[_READER] = db.engine.execution_options(isolation_level="AUTOCOMMIT")
    return reader
