"""Reads outside the session: committed rows only, on a connection in autocommit mode."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event, select

from checkout.db_reads import read_all, read_one
from checkout.extensions import db
from checkout.models import Product


def test_a_read_sees_what_is_committed_and_not_the_sessions_pending_changes(
    app: Flask, make_product
) -> None:
    plan = make_product(slug="plan", name="Old name")
    make_product(slug="other")
    name_of_plan = select(Product.name).where(Product.slug == "plan")
    with app.app_context():
        db.session.get(Product, plan.id).name = "New name"
        db.session.flush()  # written in the session's transaction, not committed
        assert read_one(name_of_plan).name == "Old name"
        db.session.commit()
        assert read_one(name_of_plan).name == "New name"
        assert {row.slug for row in read_all(select(Product.slug))} == {"plan", "other"}


def test_reads_run_in_autocommit_and_leave_the_session_alone(app: Flask, make_product) -> None:
    make_product(slug="plan")
    levels: list[Any] = []

    def seen(connection: Any, *_args: Any) -> None:
        levels.append(connection.get_execution_options().get("isolation_level"))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            assert read_one(select(Product.slug)).slug == "plan"
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert levels == ["AUTOCOMMIT"]
        assert not db.session().in_transaction()
