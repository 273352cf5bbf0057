"""The staff payments list's SQL on PostgreSQL: every filter combination, the pages, the counts
and the streamed CSV (a server-side cursor there), the same tests as on SQLite."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from checkout.extensions import db
from tests.blueprints.test_staff_payments import (  # noqa: F401  (fixtures and tests run here)
    seeded,
    support_client,
    test_counts_per_status_follow_the_other_filters,
    test_every_filter_combination_selects_the_same_rows_as_python,
    test_next_and_previous_links_walk_the_same_pages_back,
    test_the_csv_streams_exactly_the_filtered_rows,
    test_the_filter_form_lists_exactly_the_matching_payments,
)


def test_the_csv_reads_through_a_server_side_cursor(
    app: Flask,
    support_client: FlaskClient,  # noqa: F811  (the imported fixture)
    seeded: list[dict[str, Any]],  # noqa: F811
) -> None:
    """On PostgreSQL the export's SELECT runs on a named (server-side) cursor, fetched in chunks,
    so 100,000 rows are never in the worker's memory at once."""
    cursors: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "gateway_reference" in statement and "LIMIT" not in statement:
            cursors.append(type(cursor).__name__)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = support_client.get("/staff/payments.csv")
        assert answer.is_streamed and len(answer.get_data(as_text=True).splitlines()) == 9
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert cursors == ["ServerCursor"]
