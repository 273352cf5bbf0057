"""The staff console's view of fulfilment: an order's outbox jobs on its payment page, the Retry
button of a dead job (posted exactly as rendered, CSRF on), and the list of stuck jobs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.fulfilment.jobs import JobKind, new_job
from checkout.models import (
    AuditEntry,
    JobState,
    Order,
    OrderStatus,
    OutboxJob,
    Payment,
    PaymentEvent,
    Product,
    StaffUser,
    utcnow,
)
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Element, Form, parse, read_form
from tests.blueprints.test_staff import PASSWORD, login
from tests.conftest import Sandbox, make_test_app

EMAIL = "agent@tollgate.test"
LPA = "LPA:1$smdp.esim-provider.test$K7Q2-M9XW-4TZP"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"OUTBOX_KICK": "off"}  # no delivery on retry: the test sees the job queued again


@pytest.fixture
def staff_client(app: Flask, client: FlaskClient) -> FlaskClient:
    user = StaffUser(email=EMAIL)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    assert login(client, EMAIL).status_code == 303
    return client


def _paid(make_payment, **order: Any) -> Payment:
    payment = make_payment(gateway="stripe", status=PaymentStatus.COMPLETED)
    payment.completed_at = utcnow()
    payment.order.status = OrderStatus.PAID
    payment.order.paid_at = utcnow()
    payment.order.paid_by_payment_id = payment.id
    for name, value in order.items():
        setattr(payment.order, name, value)
    db.session.commit()
    return payment


def _job(payment: Payment, kind: JobKind, state: str, attempts: int = 0, **values: Any):
    job = new_job(kind, payment.order)
    job.state, job.attempts = state, attempts
    for name, value in values.items():
        setattr(job, name, value)
    db.session.add(job)
    db.session.commit()
    return job


def _page(client: FlaskClient, url: str) -> Element:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return parse(response.data)


def _rows(table: Element) -> list[list[str]]:
    return [[td.text for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]


def _retry_forms(page: Element) -> list[Form]:
    return [read_form(f) for f in page.find_all("form") if "/retry" in (f.get("action") or "")]


def _notes(payment: Payment) -> list[str]:
    return [
        e.message
        for e in db.session.scalars(
            db.select(PaymentEvent).filter_by(payment_id=payment.id, kind="note")
        )
    ]


def test_payment_page_lists_the_orders_fulfilment_jobs(
    staff_client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment, fulfilment_code=LPA, esim_iccid="8944500102198304826")
    done_at = utcnow() - timedelta(minutes=3)
    next_try = utcnow() + timedelta(minutes=2)
    _job(payment, JobKind.ISSUE_ESIM, JobState.DONE, attempts=1, done_at=done_at)
    _job(
        payment,
        JobKind.SEND_RECEIPT,
        JobState.PENDING,
        attempts=3,
        last_error="SMTP 421 try again later",
        next_attempt_at=next_try,
    )
    page = _page(staff_client, f"/staff/payments/{payment.ref}")

    rows = _rows(page.find(data_testid="jobs"))
    assert rows == [
        ["issue_esim", "done", "1", "", "—", done_at.strftime("%Y-%m-%d %H:%M:%S"), ""],
        [
            "send_receipt",
            "pending, retrying",
            "3",
            "SMTP 421 try again later",
            next_try.strftime("%Y-%m-%d %H:%M:%S"),
            "—",
            "",
        ],
    ]
    assert _retry_forms(page) == []  # nothing dead: nothing to retry
    assert LPA in page.text and "8944500102198304826" in page.text


def test_an_unpaid_order_has_no_jobs(staff_client: FlaskClient, make_payment) -> None:
    payment = make_payment(gateway="stripe", status=PaymentStatus.PENDING)
    page = _page(staff_client, f"/staff/payments/{payment.ref}")
    assert page.find(data_testid="jobs") is None
    assert "No fulfilment jobs" in page.text


def test_retry_a_dead_job_queues_it_and_notes_who_did(
    staff_client: FlaskClient, make_payment
) -> None:
    problem = "provider refused: plan out of stock"
    payment = _paid(make_payment, fulfilment_problem=problem)
    job = _job(payment, JobKind.ISSUE_ESIM, JobState.DEAD, attempts=1, last_error=problem)
    page = _page(staff_client, f"/staff/payments/{payment.ref}")
    assert page.find(data_testid="fulfilment-problem").text == problem
    [form] = _retry_forms(page)
    assert form.method == "post" and "csrf_token" in form.hidden()

    answer = form.submit(staff_client)
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/staff/payments/{payment.ref}"

    db.session.expire_all()
    job = db.session.get(OutboxJob, job.id)
    assert job.state == JobState.PENDING and job.next_attempt_at <= utcnow()
    assert job.lease_until is None
    [note] = _notes(payment)
    assert note == (
        f"fulfilment job issue_esim retried by {EMAIL} after 1 attempts; last error: {problem}"
    )
    [event] = db.session.scalars(db.select(PaymentEvent).filter_by(payment_id=payment.id))
    assert event.source == "staff"
    [audit] = db.session.scalars(db.select(AuditEntry).filter_by(action="job_retry"))
    assert (audit.staff_email, audit.target) == (EMAIL, payment.ref)
    assert audit.details == {"job": job.id, "kind": "issue_esim", "attempts": 1}

    after = _page(staff_client, f"/staff/payments/{payment.ref}")
    assert "The issue_esim job is queued again." in after.text
    assert _retry_forms(after) == []


def test_a_second_press_on_a_stale_page_changes_nothing(
    staff_client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment)
    job = _job(payment, JobKind.SEND_RECEIPT, JobState.DEAD, attempts=10, last_error="SMTP down")
    [form] = _retry_forms(_page(staff_client, f"/staff/payments/{payment.ref}"))
    assert form.submit(staff_client).status_code == 303
    assert form.submit(staff_client).status_code == 303  # the same page, pressed again

    page = _page(staff_client, f"/staff/payments/{payment.ref}")
    assert "not dead any more" in page.text
    assert len(_notes(payment)) == 1
    db.session.expire_all()
    assert db.session.get(OutboxJob, job.id).state == JobState.PENDING


def test_retry_needs_the_forms_csrf_token(sandbox: Sandbox, tmp_path: Path) -> None:
    """CSRF on, as in production (an app of its own: the test app turns it off), and requests
    made outside its app context, so each has its own `g` as in a real server."""
    guarded = make_test_app(
        sandbox.url,
        f"sqlite:///{tmp_path / 'csrf.sqlite3'}",
        WTF_CSRF_ENABLED=True,
        OUTBOX_KICK="off",
    )
    with guarded.app_context():
        db.create_all()
        user = StaffUser(email=EMAIL)
        user.set_password(PASSWORD)
        product = Product(
            slug="eu",
            name="EU",
            region="EU",
            data_mb=1024,
            validity_days=7,
            price=1250,
            currency="USD",
        )
        order = Order(product=product, email="a@example.com", amount=1250, currency="USD")
        db.session.add_all([user, order])
        db.session.flush()
        payment = Payment(
            order_id=order.id,
            gateway="stripe",
            amount=1250,
            currency="USD",
            status=PaymentStatus.COMPLETED,
        )
        db.session.add(payment)
        db.session.flush()
        order.status, order.paid_by_payment_id = OrderStatus.PAID, payment.id
        job = _job(payment, JobKind.ISSUE_ESIM, JobState.DEAD, attempts=10, last_error="x")
        ref, job_id = payment.ref, job.id
    client = guarded.test_client()
    assert login(client, EMAIL).status_code == 303
    [form] = _retry_forms(_page(client, f"/staff/payments/{ref}"))
    assert form.forge("csrf_token", None).submit(client).status_code == 400
    with guarded.app_context():
        assert db.session.get(OutboxJob, job_id).state == JobState.DEAD
        assert db.session.scalar(db.select(PaymentEvent).filter_by(kind="note")) is None
    [form] = _retry_forms(_page(client, f"/staff/payments/{ref}"))
    assert form.submit(client).status_code == 303  # the same form with its token goes through
    with guarded.app_context():
        assert db.session.get(OutboxJob, job_id).state == JobState.PENDING
        db.session.remove()
        db.engine.dispose()


def test_a_job_can_only_be_retried_through_its_own_orders_payment(
    staff_client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment)
    other = _paid(make_payment)
    job = _job(payment, JobKind.ISSUE_ESIM, JobState.DEAD, attempts=10, last_error="timeout")
    [form] = _retry_forms(_page(staff_client, f"/staff/payments/{payment.ref}"))
    wrong = form.action.replace(payment.ref, other.ref)  # the form's fields, another payment
    assert staff_client.post(wrong, data=dict(form.data())).status_code == 404
    db.session.expire_all()
    assert db.session.get(OutboxJob, job.id).state == JobState.DEAD


def test_stuck_jobs_newest_first_with_links_to_their_payments(
    staff_client: FlaskClient, make_payment
) -> None:
    now = utcnow()
    made = {}
    for name, kind, state, attempts, values in [
        ("dead", JobKind.ISSUE_ESIM, JobState.DEAD, 10, {"last_error": "HTTP 500"}),
        ("retrying", JobKind.SEND_RECEIPT, JobState.PENDING, 2, {"last_error": "SMTP 421"}),
        ("lapsed", JobKind.ISSUE_ESIM, JobState.RUNNING, 1, {"lease_until": now - timedelta(1)}),
        ("leased", JobKind.ISSUE_ESIM, JobState.RUNNING, 1, {"lease_until": now + timedelta(1)}),
        ("queued", JobKind.ISSUE_ESIM, JobState.PENDING, 0, {}),
        ("done", JobKind.ISSUE_ESIM, JobState.DONE, 1, {"done_at": now}),
    ]:
        payment = _paid(make_payment)
        age = timedelta(minutes=len(made))  # the first made is the newest
        made[name] = (
            payment,
            _job(payment, kind, state, attempts, created_at=now - age, **values),
        )

    nav = _page(staff_client, "/staff/")
    assert nav.find("a", href="/staff/fulfilment").text == "Fulfilment"
    page = _page(staff_client, "/staff/fulfilment")
    table = page.find(data_testid="stuck-jobs")
    shown = [int(tr.get("data-job-id")) for tr in table.find("tbody").find_all("tr")]
    assert shown == [made[name][1].id for name in ("dead", "retrying", "lapsed")]
    rows = _rows(table)
    assert [row[1:4] for row in rows] == [
        ["issue_esim", "dead", "10"],
        ["send_receipt", "pending, retrying", "2"],
        ["issue_esim", "running, lease ran out", "1"],
    ]
    links = [tr.find("a").get("href") for tr in table.find("tbody").find_all("tr")]
    assert links == [
        f"/staff/payments/{made[name][0].ref}" for name in ("dead", "retrying", "lapsed")
    ]


def test_no_stuck_jobs(staff_client: FlaskClient) -> None:
    page = _page(staff_client, "/staff/fulfilment")
    assert page.find(data_testid="stuck-jobs") is None
    assert "No stuck jobs" in page.text


def test_fulfilment_pages_need_a_login(client: FlaskClient, make_payment) -> None:
    payment = _paid(make_payment)
    job = _job(payment, JobKind.ISSUE_ESIM, JobState.DEAD, attempts=10, last_error="timeout")
    for method, path in [
        ("get", "/staff/fulfilment"),
        ("post", f"/staff/payments/{payment.ref}/jobs/{job.id}/retry"),
    ]:  # no page to read a form from without a login: a bare request, as a script would send
        answer = getattr(client, method)(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/staff/login?next="), path
    db.session.expire_all()
    assert db.session.get(OutboxJob, job.id).state == JobState.DEAD
    assert _notes(payment) == []
