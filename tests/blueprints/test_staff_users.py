"""Staff users and roles: the admin page adds, deactivates, reactivates and changes the role of
staff accounts (posted exactly as rendered), support staff are refused it, and a deactivation or
a role change ends the user's open sessions on their next request.

Two browsers at once: no request context stays pushed (pytest-flask's, or its client's last
one, would be shared by every request and Flask-Login caches the user on it), so database reads
open their own app context.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import AuditEntry, StaffRole, StaffUser
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.blueprints.test_staff import PASSWORD, login

ADMIN = "admin@tollgate.test"
SUPPORT = "support@tollgate.test"


@pytest.fixture
def _push_request_context() -> None:
    """Replaces pytest-flask's: each request of each browser gets its own context."""


def make_staff(app: Flask, email: str, role: str) -> None:
    with app.app_context():
        user = StaffUser(email=email, role=role)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()


@pytest.fixture
def admin_client(app: Flask) -> FlaskClient:
    """A browser logged in as the admin (not pytest-flask's client, which keeps contexts)."""
    client = app.test_client()
    make_staff(app, ADMIN, StaffRole.ADMIN)
    make_staff(app, SUPPORT, StaffRole.SUPPORT)
    assert login(client, ADMIN).status_code == 303
    return client


@pytest.fixture
def support_client(app: Flask, admin_client: FlaskClient) -> FlaskClient:
    """A second browser, logged in as the support user."""
    other = app.test_client()
    assert login(other, SUPPORT).status_code == 303
    return other


def user_form(client: FlaskClient, action: str) -> Form:
    page = client.get("/staff/users")
    assert page.status_code == 200
    [form] = [f for f in map(read_form, parse(page.data).find_all("form")) if f.action == action]
    return form


def stored(app: Flask, email: str) -> StaffUser:
    with app.app_context():
        user = db.session.scalar(db.select(StaffUser).filter_by(email=email))
        assert user is not None
        db.session.expunge(user)
        return user


def audit(app: Flask, prefix: str = "user_") -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.scalars(db.select(AuditEntry).order_by(AuditEntry.id)))
        db.session.expunge_all()
        return [e for e in entries if e.action.startswith(prefix)]


def test_support_is_refused_the_users_page_and_admin_is_not(
    admin_client: FlaskClient, support_client: FlaskClient
) -> None:
    refused = support_client.get("/staff/users")
    assert refused.status_code == 403
    assert "Not allowed for your role" in refused.text and "admin role" in refused.text
    page = admin_client.get("/staff/users")
    assert page.status_code == 200 and SUPPORT in page.text


def test_add_with_a_generated_password_shown_once(app: Flask, admin_client: FlaskClient) -> None:
    form = user_form(admin_client, "/staff/users").fill("email", "New@Tollgate.test")
    answer = form.submit(admin_client)
    assert answer.status_code == 200
    [generated] = [
        el.text
        for el in parse(answer.data).find_all("code", **{"data-testid": "generated-password"})
    ]
    assert len(generated) >= 12
    assert generated not in admin_client.get("/staff/users").text  # shown once
    user = stored(app, "new@tollgate.test")
    assert user.role == StaffRole.SUPPORT and user.active and user.check_password(generated)
    [entry] = audit(app)
    assert entry.action == "user_add"
    assert entry.staff_email == ADMIN and entry.target == "new@tollgate.test"
    assert generated not in str(entry.details)
    assert login(app.test_client(), "new@tollgate.test", generated).status_code == 303


def test_add_with_a_typed_password_and_the_refusals(app: Flask, admin_client: FlaskClient) -> None:
    short = user_form(admin_client, "/staff/users").fill("email", "x@tollgate.test")
    short = short.fill("password", "too short")
    answer = short.submit(admin_client)
    assert answer.status_code == 400 and "at least 12 characters" in answer.text
    taken = user_form(admin_client, "/staff/users").fill("email", SUPPORT.upper())
    answer = taken.submit(admin_client)
    assert answer.status_code == 400 and "already has a staff account" in answer.text
    form = user_form(admin_client, "/staff/users").fill("email", "x@tollgate.test")
    answer = form.select("role", StaffRole.ADMIN).fill("password", PASSWORD).submit(admin_client)
    assert answer.status_code == 200 and "generated-password" not in answer.text
    user = stored(app, "x@tollgate.test")
    assert user.role == StaffRole.ADMIN and user.check_password(PASSWORD)


def test_deactivating_a_logged_in_user_ends_their_session(
    app: Flask, admin_client: FlaskClient, support_client: FlaskClient
) -> None:
    assert support_client.get("/staff/").status_code == 200
    target = stored(app, SUPPORT).id
    done = user_form(admin_client, f"/staff/users/{target}/deactivate").submit(admin_client)
    assert done.status_code == 303
    assert "their open sessions have ended" in admin_client.get("/staff/users").text
    ended = support_client.get("/staff/")
    assert ended.status_code == 302 and ended.location.startswith("/staff/login")
    assert login(app.test_client(), SUPPORT).status_code == 401

    again = user_form(admin_client, f"/staff/users/{target}/reactivate").submit(admin_client)
    assert again.status_code == 303
    assert login(app.test_client(), SUPPORT).status_code == 303
    assert support_client.get("/staff/").status_code == 302  # the old session stays ended
    assert [(e.action, e.target, e.staff_email) for e in audit(app)] == [
        ("user_deactivate", SUPPORT, ADMIN),
        ("user_reactivate", SUPPORT, ADMIN),
    ]


def test_a_role_change_ends_the_session_and_the_new_one_has_the_new_role(
    app: Flask, admin_client: FlaskClient, support_client: FlaskClient
) -> None:
    assert support_client.get("/staff/users").status_code == 403
    target = stored(app, SUPPORT).id
    form = user_form(admin_client, f"/staff/users/{target}/role").select("role", StaffRole.ADMIN)
    assert form.submit(admin_client).status_code == 303
    assert stored(app, SUPPORT).role == StaffRole.ADMIN
    ended = support_client.get("/staff/users")
    assert ended.status_code == 302 and ended.location.startswith("/staff/login")
    assert login(support_client, SUPPORT).status_code == 303
    assert support_client.get("/staff/users").status_code == 200
    [entry] = audit(app)
    assert (
        entry.action == "user_role"
        and entry.details == {"old": "support", "new": "admin"}
        and entry.staff_email == ADMIN
    )


def test_an_admin_cannot_demote_or_deactivate_themselves(
    app: Flask, admin_client: FlaskClient
) -> None:
    me = stored(app, ADMIN).id
    actions_on_me = {f"/staff/users/{me}/role", f"/staff/users/{me}/deactivate"}
    page = parse(admin_client.get("/staff/users").data)
    assert not actions_on_me & {read_form(f).action for f in page.find_all("form")}
    assert "Another admin can change your account" in page.text
