"""Roles on the staff routes, the audit log and CSRF on every staff form.

Support staff are refused refunds (both steps, and the manual refund) with the staff 403 page
and nothing moves; every staff action lands in the audit log with who, what, on what and from
where (a failed login with the e-mail tried, never the password); `/staff/audit` is for admins
and its filters and pages work from its own rendered form; and every POST form of the staff pages
is refused without its CSRF token (the 'expired form' page, nothing written): CSRF is on for
every test here, which post the rendered forms with their tokens.

Several browsers at once, so no request context stays pushed (see test_staff_users.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.blueprints import staff_audit_log
from checkout.extensions import db
from checkout.models import AuditEntry, Payment, PaymentEvent, StaffUser
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.blueprints.staff_console import (
    EXPIRED_FORM,
    audit_rows,
    form_to,
    forms_on,
)
from tests.blueprints.test_staff import login
from tests.blueprints.test_staff_users import ADMIN, SUPPORT
from tests.conftest import Sandbox
from tests.reconciliation import open_payments, quiet


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """CSRF on for the whole module: every form here is posted as rendered, token included."""
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def _push_request_context() -> None:
    """Replaces pytest-flask's: each request of each browser gets its own context."""


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def completed(app: Flask, make_payment: Any, gateway: str) -> str:
    with app.app_context():
        return make_payment(gateway=gateway, status=PaymentStatus.COMPLETED, amount=2000).ref


def money_state(app: Flask, ref: str) -> tuple[Any, ...]:
    with app.app_context():
        row = db.session.scalar(db.select(Payment).filter_by(ref=ref))
        assert row is not None
        kinds = [e.kind for e in db.session.scalars(db.select(PaymentEvent))]
        return row.status, row.refunded_amount, kinds


# -- roles -----------------------------------------------------------------------------------


def test_support_is_refused_both_refund_steps_and_nothing_moves(
    app: Flask, make_payment: Any, admin: FlaskClient, support: FlaskClient
) -> None:
    ref = completed(app, make_payment, "stripe")
    page = f"/staff/payments/{ref}"
    before = money_state(app, ref)

    first = form_to(support, page, f"{page}/refund")
    refused = first.submit(support)
    assert refused.status_code == 403 and "Not allowed for your role" in refused.text
    # the admin's first step only asks for confirmation; support cannot post its form either
    asked = form_to(admin, page, f"{page}/refund").submit(admin)
    assert asked.status_code == 200
    forms = [read_form(el) for el in parse(asked.data).find_all("form")]
    [confirm] = [f for f in forms if f.action == f"{page}/refund/confirm"]
    # as support's browser would send it: its own session's token
    confirm = confirm.forge("csrf_token", first.hidden()["csrf_token"])
    refused = confirm.fill("reason", "support tried").submit(support)
    assert refused.status_code == 403
    assert money_state(app, ref) == before
    assert not [row for row in audit_rows(app) if row[1] == "refund"]
    refusals = [row for row in audit_rows(app) if row[1] == "refused"]
    assert [row[2] for row in refusals] == [f"{page}/refund", f"{page}/refund/confirm"]


def test_support_is_refused_a_manual_refund(
    app: Flask, make_payment: Any, admin: FlaskClient, support: FlaskClient
) -> None:
    ref = completed(app, make_payment, "coinpayments")
    page = f"/staff/payments/{ref}"
    before = money_state(app, ref)
    refused = form_to(support, page, f"{page}/manual-refund").submit(support)
    assert refused.status_code == 403
    asked = form_to(admin, page, f"{page}/manual-refund").submit(admin)
    assert asked.status_code == 200  # an admin reaches the confirmation step
    assert money_state(app, ref) == before


# -- the audit log ---------------------------------------------------------------------------


def test_logins_failed_logins_refresh_and_logout_are_audited(
    app: Flask, sandbox: Sandbox, admin: FlaskClient
) -> None:
    [ref] = open_payments(app, "stripe", 1)
    wrong = app.test_client()
    assert login(wrong, "Nobody@Tollgate.test", "a guessed password").status_code == 401
    page = f"/staff/payments/{ref}"
    assert form_to(admin, page, f"{page}/refresh").submit(admin).status_code == 303
    assert form_to(admin, "/staff/users", "/staff/logout").submit(admin).status_code == 303

    rows = audit_rows(app)
    assert [(who, action, target) for who, action, target, _, _ in rows] == [
        (ADMIN, "login", ADMIN),
        ("nobody@tollgate.test", "login_failed", "nobody@tollgate.test"),
        (ADMIN, "refresh", ref),
        (ADMIN, "logout", ADMIN),
    ]
    assert {ip for _, _, _, ip, _ in rows} == {"127.0.0.1"}
    assert rows[0][4] == {"role": "admin"}
    assert rows[2][4]["old_status"] == "PENDING"
    assert "a guessed password" not in repr(rows)


def test_the_audit_log_is_for_admins(admin: FlaskClient, support: FlaskClient) -> None:
    refused = support.get("/staff/audit")
    assert refused.status_code == 403 and "admin role" in refused.text
    page = admin.get("/staff/audit")
    assert page.status_code == 200 and SUPPORT in page.text  # support's login is listed


def _entries(app: Flask) -> None:
    with app.app_context():
        for day, who, action, target in [
            (1, "ann@tollgate.test", "refund", "pay_a"),
            (2, "bob@tollgate.test", "note", "pay_b"),
            (3, "ann@tollgate.test", "note", "pay_c"),
            (4, "ann@tollgate.test", "resolve", "pay_c"),
        ]:
            at = datetime(2026, 3, day, 12, tzinfo=UTC)
            db.session.add(AuditEntry(at=at, staff_email=who, action=action, target=target))
        db.session.commit()


def _shown(client: FlaskClient, form: Form) -> list[str]:
    answer = form.submit(client)
    assert answer.status_code == 200
    table = parse(answer.data).find("table", **{"data-testid": "audit-entries"})
    if table is None:
        return []
    return [row.find_all("td")[3].text for row in table.find_all("tr")[1:]]


def test_the_audit_filters_combine(app: Flask, admin: FlaskClient) -> None:
    _entries(app)
    blank = form_to(admin, "/staff/audit", "/staff/audit")
    assert blank.names() == {"who", "action", "target", "from", "to"}

    def search(**fields: str) -> list[str]:
        form = form_to(admin, "/staff/audit", "/staff/audit")
        for name, value in fields.items():
            form = form.select(name, value) if name == "action" else form.fill(name, value)
        return [t for t in _shown(admin, form) if t.startswith("pay_")]

    assert search(who="ANN") == ["pay_c", "pay_c", "pay_a"]
    assert search(who="ann", action="note") == ["pay_c"]
    assert search(target="pay_c") == ["pay_c", "pay_c"]
    assert search(**{"from": "2026-03-02", "to": "2026-03-03"}) == ["pay_c", "pay_b"]
    assert search(who="bob", **{"from": "2026-03-03"}) == []
    assert search(who="%") == []  # LIKE wildcards are escaped


def test_the_audit_log_pages_by_id(
    app: Flask, admin: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _entries(app)
    monkeypatch.setattr(staff_audit_log, "PAGE_SIZE", 2)
    form = form_to(admin, "/staff/audit", "/staff/audit").fill("who", "ann")
    seen: list[str] = []
    answer = form.submit(admin)
    while True:
        doc = parse(answer.data)
        table = doc.find("table", **{"data-testid": "audit-entries"})
        seen += [row.find_all("td")[3].text for row in table.find_all("tr")[1:]]
        older = doc.find("a", rel="next")
        if older is None:
            break
        assert "who=ann" in (older.get("href") or "")
        answer = admin.get(older.get("href"))
    assert [t for t in seen if t.startswith("pay_")] == ["pay_c", "pay_c", "pay_a"]


# -- CSRF on every staff form ----------------------------------------------------------------


def _snapshot(app: Flask) -> tuple[Any, ...]:
    with app.app_context():
        return (
            db.session.scalar(db.select(db.func.count(AuditEntry.id))),
            db.session.scalar(db.select(db.func.count(PaymentEvent.id))),
            [
                (u.email, u.role, u.active, u.session_version)
                for u in db.session.scalars(db.select(StaffUser).order_by(StaffUser.id))
            ],
            [
                (p.status, p.refunded_amount, p.needs_review)
                for p in db.session.scalars(db.select(Payment).order_by(Payment.id))
            ],
        )


@pytest.mark.parametrize(
    "page",
    ["/staff/", "/staff/payments/{ref}", "/staff/review", "/staff/users", "/staff/audit"],
)
def test_every_staff_form_needs_its_csrf_token(
    app: Flask, make_payment: Any, admin: FlaskClient, page: str
) -> None:
    with app.app_context():
        flagged = make_payment(
            gateway="stripe", status=PaymentStatus.COMPLETED, amount=2000, needs_review=True
        )
        flagged.review_reason = "paid twice"
        db.session.commit()
        url = page.format(ref=flagged.ref)
    posts = [f for f in forms_on(admin, url) if f.method == "post"]
    assert posts, f"no POST form on {url}"
    for form in posts:
        before = _snapshot(app)
        answer = form.forge("csrf_token", None).submit(admin)
        assert answer.status_code == 400 and EXPIRED_FORM in answer.text, form.action
        assert _snapshot(app) == before, form.action
