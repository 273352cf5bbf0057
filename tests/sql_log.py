"""What SQL an app sends while a block runs: to show a path reads without writing, or that a
row is not read twice."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event

from checkout.extensions import db


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Every statement the app's engine executes (its text), and "COMMIT" for each commit."""
    seen: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()))

    def commit(_conn: Any) -> None:
        seen.append("COMMIT")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def verbs(seen: list[str]) -> list[str]:
    """SELECT / INSERT / UPDATE / COMMIT ... of each statement, in order."""
    return [sql.split(None, 1)[0].upper() for sql in seen]
