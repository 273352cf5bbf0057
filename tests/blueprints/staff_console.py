"""Signed-in staff clients and the staff console's forms and audit rows, for the staff tests."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import AuditEntry
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.blueprints.test_staff import login

EXPIRED_FORM = "This form had expired"


def browser(app: Flask, email: str) -> FlaskClient:
    """A client of its own, signed in as `email` through the login form."""
    client = app.test_client()
    assert login(client, email).status_code == 303
    return client


def forms_on(client: FlaskClient, url: str) -> list[Form]:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return [read_form(el) for el in parse(page.data).find_all("form")]


def form_to(client: FlaskClient, url: str, action: str) -> Form:
    [form] = [f for f in forms_on(client, url) if f.action == action]
    return form


def audit_rows(app: Flask) -> list[tuple[str, str, str | None, str | None, Any]]:
    with app.app_context():
        entries = db.session.scalars(db.select(AuditEntry).order_by(AuditEntry.id))
        return [(e.staff_email, e.action, e.target, e.ip, e.details) for e in entries]
