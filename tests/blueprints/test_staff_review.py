"""The review queue that empties: the reason in words with what to do, "Resolve" with a required
note, a new reason flagging the payment again, and notes on any payment. Every form is posted
exactly as rendered, by a support user (support may resolve and write notes)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from checkout.extensions import db
from checkout.gateways.base import Observation
from checkout.models import AuditEntry, Payment, PaymentEvent, StaffRole, StaffUser
from checkout.payments.service import Source, record_observation
from checkout.payments.states import PaymentStatus
from checkout.states import ReviewKind
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.blueprints.test_staff import PASSWORD, login

EMAIL = "support@tollgate.test"


@pytest.fixture
def staff_client(app: Flask, client: FlaskClient) -> FlaskClient:
    user = StaffUser(email=EMAIL, role=StaffRole.SUPPORT)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    assert login(client, EMAIL).status_code == 303
    return client


def _flagged(make_payment: Any, kind: ReviewKind, reason: str, **values: Any) -> str:
    """A payment flagged the way the funnel flags it: the reason, and the kind in gateway_data."""
    row = make_payment(
        needs_review=True,
        review_reason=reason,
        gateway_data={"review_kind": kind.value},
        **values,
    )
    return row.ref


def _forms(client: FlaskClient, url: str, action: str) -> list[Form]:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    return [f for f in map(read_form, parse(page.data).find_all("form")) if f.action == action]


def _queue_form(client: FlaskClient, ref: str) -> Form:
    [form] = _forms(client, "/staff/review", f"/staff/payments/{ref}/resolve")
    return form


def _row(client: FlaskClient, ref: str) -> str:
    table = parse(client.get("/staff/review").data).find(data_testid="review-queue")
    assert table is not None
    [row] = [tr for tr in table.find_all("tr") if tr.get("data-ref") == ref]
    return row.text


def _queued(client: FlaskClient) -> list[str]:
    """The refs in the queue's table, in its order."""
    table = parse(client.get("/staff/review").data).find(data_testid="review-queue")
    return (
        []
        if table is None
        else [tr.get("data-ref") for tr in table.find_all("tr") if tr.get("data-ref")]
    )


def _flag(ref: str) -> tuple[bool, str | None]:
    db.session.expire_all()
    row = db.session.scalar(select(Payment).filter_by(ref=ref))
    return row.needs_review, row.review_reason


def _events(ref: str, kind: str) -> list[PaymentEvent]:
    db.session.expire_all()
    row = db.session.scalar(select(Payment).filter_by(ref=ref))
    query = select(PaymentEvent).filter_by(payment_id=row.id, kind=kind).order_by(PaymentEvent.id)
    return list(db.session.scalars(query))


def _audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).filter_by(action=action)))


@pytest.mark.parametrize(
    ("kind", "meaning", "todo"),
    [
        (ReviewKind.LATE, "Late payment", "Refund it, or keep it and make sure the order"),
        (ReviewKind.UNDERPAID, "Underpaid", "Ask the shopper to pay the rest, or refund"),
        (ReviewKind.OVERPAID, "Overpaid", "Refund the difference"),
        (ReviewKind.PAID_TWICE, "Paid twice", "Refund one of the two payments"),
        (ReviewKind.AUTHORISED_NOT_CAPTURED, "Authorised, not captured", "Capture or void"),
        (ReviewKind.REFUNDED_AT_GATEWAY, "Refunded at the gateway", "gateway dashboard"),
        (ReviewKind.DISPUTED, "Disputed", "gateway dashboard"),
    ],
)
def test_queue_says_why_and_what_to_do(
    make_payment: Any, staff_client: FlaskClient, kind: ReviewKind, meaning: str, todo: str
) -> None:
    ref = _flagged(make_payment, kind, "gateway words for staff")
    text = _row(staff_client, ref)
    assert meaning in text and todo in text and "gateway words for staff" in text
    page = staff_client.get(f"/staff/payments/{ref}").text
    assert meaning in page and todo in page  # the payment page's review box says the same


def test_unknown_kind_reads_as_other_and_unflagged_payments_are_not_listed(
    make_payment: Any, staff_client: FlaskClient
) -> None:
    odd = make_payment(needs_review=True, review_reason="something odd", gateway_data=None).ref
    calm = make_payment().ref
    page = staff_client.get("/staff/review").text
    assert "1 payment flagged for review" in page and calm not in page
    assert _queued(staff_client) == [odd] and "Needs a look" in _row(staff_client, odd)


def test_resolve_needs_a_note_then_clears_the_flag_and_the_queue_shrinks(
    make_payment: Any, staff_client: FlaskClient
) -> None:
    late = _flagged(make_payment, ReviewKind.LATE, "late payment: money arrived after EXPIRED")
    other = _flagged(make_payment, ReviewKind.PAID_TWICE, "order was already paid")
    assert "2 payments flagged for review" in staff_client.get("/staff/review").text
    assert _queued(staff_client) == [late, other]  # oldest first

    empty = _queue_form(staff_client, late).submit(staff_client)  # the textarea left empty
    assert empty.status_code == 303 and empty.headers["Location"] == "/staff/review"
    assert "Write a note" in staff_client.get("/staff/review").text
    assert _flag(late) == (True, "late payment: money arrived after EXPIRED")
    assert _events(late, "resolved") == [] and _audit("resolve") == []

    done = _queue_form(staff_client, late).fill("note", "kept it, delivered the eSIM")
    assert done.submit(staff_client).headers["Location"] == "/staff/review"
    queue = staff_client.get("/staff/review").text
    assert "1 payment flagged for review" in queue and _queued(staff_client) == [other]
    # the flag clears; the reason stays (the funnel compares new reasons with it)
    assert _flag(late) == (False, "late payment: money arrived after EXPIRED")
    [event] = _events(late, "resolved")
    assert event.source == "staff" and event.details["by"] == EMAIL
    assert event.details["reason"] == "late payment: money arrived after EXPIRED"
    assert "kept it, delivered the eSIM" in event.message
    [entry] = _audit("resolve")
    assert entry.staff_email == EMAIL and entry.target == late
    assert entry.details["note"] == "kept it, delivered the eSIM"
    timeline = staff_client.get(f"/staff/payments/{late}").text
    assert "resolved" in timeline and "kept it, delivered the eSIM" in timeline


def test_a_reason_that_changed_since_the_page_was_drawn_is_not_resolved_blindly(
    make_payment: Any, staff_client: FlaskClient
) -> None:
    ref = _flagged(make_payment, ReviewKind.UNDERPAID, "gateway holds 5.00 USD")
    form = _queue_form(staff_client, ref).fill("note", "asked the shopper")
    db.session.execute(
        update(Payment).where(Payment.ref == ref).values(review_reason="disputed at the issuer")
    )
    db.session.commit()
    form.submit(staff_client)
    assert "The reason changed" in staff_client.get("/staff/review").text
    assert _flag(ref) == (True, "disputed at the issuer")
    assert _events(ref, "resolved") == []


def test_resolve_from_the_payment_page_goes_back_to_it(
    make_payment: Any, staff_client: FlaskClient
) -> None:
    ref = _flagged(make_payment, ReviewKind.OVERPAID, "gateway holds 20.00 USD")
    page = f"/staff/payments/{ref}"
    [form] = _forms(staff_client, page, f"{page}/resolve")
    answer = form.fill("note", "refunded the difference").submit(staff_client)
    assert answer.headers["Location"] == page
    assert _flag(ref)[0] is False
    assert _forms(staff_client, page, f"{page}/resolve") == []  # no resolve box once resolved


def test_a_new_reason_after_a_resolve_flags_again_and_the_same_one_does_not(
    app: Flask, make_payment: Any, staff_client: FlaskClient
) -> None:
    ref = make_payment(status=PaymentStatus.PENDING).ref

    def observe(review: str, kind: ReviewKind) -> None:
        row = db.session.scalar(select(Payment).filter_by(ref=ref))
        seen = Observation(PaymentStatus.PENDING, "pending", review=review, review_kind=kind)
        record_observation(row, seen, Source.SWEEP)

    observe("refunded 5.00 USD at the gateway", ReviewKind.REFUNDED_AT_GATEWAY)
    assert _flag(ref) == (True, "refunded 5.00 USD at the gateway")
    _queue_form(staff_client, ref).fill("note", "checked the dashboard").submit(staff_client)
    assert _flag(ref)[0] is False

    observe("refunded 5.00 USD at the gateway", ReviewKind.REFUNDED_AT_GATEWAY)  # every sweep
    assert _flag(ref)[0] is False and _queued(staff_client) == []

    observe("disputed: chargeback opened", ReviewKind.DISPUTED)
    assert _flag(ref) == (True, "disputed: chargeback opened")
    assert "Disputed" in _row(staff_client, ref)
    kinds = [e.kind for e in _events(ref, "review")] + [e.kind for e in _events(ref, "resolved")]
    assert kinds == ["review", "review", "resolved"]  # the old flag and its resolve stay


def test_notes_on_any_payment_show_who_and_when_in_the_timeline(
    make_payment: Any, staff_client: FlaskClient
) -> None:
    ref = make_payment(status=PaymentStatus.COMPLETED).ref
    page = f"/staff/payments/{ref}"
    [empty] = _forms(staff_client, page, f"{page}/notes")
    assert empty.submit(staff_client).status_code == 303
    assert "The note is empty" in staff_client.get(page).text
    assert _events(ref, "note") == []

    [form] = _forms(staff_client, page, f"{page}/notes")
    form.fill("note", "shopper phoned: <b>wants</b> a receipt")
    assert form.submit(staff_client).headers["Location"] == page
    [note] = _events(ref, "note")
    assert note.source == "staff" and note.details == {"by": EMAIL}
    assert note.message == "shopper phoned: <b>wants</b> a receipt"
    timeline = parse(staff_client.get(page).data).find(data_testid="timeline")
    assert timeline is not None
    [row] = [tr for tr in timeline.find_all("tr") if "event-note" in (tr.get("class") or "")]
    assert "shopper phoned: <b>wants</b> a receipt" in row.text and EMAIL in row.text
    assert note.created_at.strftime("%Y-%m-%d %H:%M") in row.text
    [entry] = _audit("note")
    assert entry.target == ref and entry.staff_email == EMAIL


def test_review_pages_need_a_login(make_payment: Any, client: FlaskClient) -> None:
    ref = _flagged(make_payment, ReviewKind.LATE, "late")
    for method, path in [
        ("get", "/staff/review"),
        ("post", f"/staff/payments/{ref}/resolve"),
        ("post", f"/staff/payments/{ref}/notes"),
    ]:  # no page to read a form from without a login: a bare request, as a script would send
        answer = getattr(client, method)(path)
        assert answer.status_code == 302 and "/staff/login" in answer.headers["Location"]
    assert _flag(ref)[0] is True
