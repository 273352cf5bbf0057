"""The status page and its JSON twin after payment: the eSIM delivered (code, ICCID, QR code),
being prepared, delayed by a failing provider, dead-lettered or refused; when polling stops, and
that a page left open polls a bounded number of times.

The outbox rows are built directly for each state: the worker itself is tested elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from checkout.blueprints import fulfilment_view
from checkout.extensions import db
from checkout.fulfilment import qr
from checkout.fulfilment.jobs import JobKind, new_job
from checkout.models import JobState, OrderStatus, OutboxJob, Payment, utcnow
from checkout.payments.states import PaymentStatus
from tests.blueprints.html_helpers import Element, parse

LPA = "LPA:1$smdp.esim-provider.test$K7Q2-M9XW-4TZP"
ICCID = "8944500102198304826"
PREPARING = "Paid: your eSIM is being prepared"
DELAYED = "Paid: we could not issue your eSIM yet, we will e-mail you"
PROBLEM = "provider refused: plan EU-7D out of stock (provider code OUT_OF_STOCK)"


def _paid(make_payment, paid_ago: timedelta = timedelta(seconds=5), **order: Any) -> Payment:
    """A card payment that paid its order `paid_ago`, with no code issued unless given."""
    payment = make_payment(gateway="stripe", status=PaymentStatus.COMPLETED)
    paid_at = utcnow() - paid_ago
    payment.completed_at = paid_at
    payment.order.status = OrderStatus.PAID
    payment.order.paid_at = paid_at
    payment.order.paid_by_payment_id = payment.id
    for name, value in order.items():
        setattr(payment.order, name, value)
    db.session.commit()
    return payment


def _job(payment: Payment, state: str, attempts: int = 0, **values: Any) -> OutboxJob:
    job = new_job(JobKind.ISSUE_ESIM, payment.order)
    job.state = state
    job.attempts = attempts
    for name, value in values.items():
        setattr(job, name, value)
    db.session.add(job)
    db.session.commit()
    return job


def _look(client: FlaskClient, payment: Payment) -> tuple[Element, dict[str, Any]]:
    """The page and its JSON twin, fetched one after the other as the page's script does."""
    page = client.get(f"/status/{payment.ref}")
    assert page.status_code == 200
    data = client.get(f"/status/{payment.ref}.json")
    assert data.status_code == 200
    return parse(page.data), data.get_json()


def _notice(page: Element) -> str:
    found = page.find(data_testid="fulfilment-notice")
    assert found is not None, "no fulfilment notice on the page"
    return found.text


def _meta_refresh(page: Element) -> Element | None:
    return page.find("head").find("meta", http_equiv="refresh")


def _assert_stopped(page: Element, data: dict[str, Any]) -> None:
    """Neither the script nor the no-script refresh polls again."""
    assert page.by_id("status").get("data-final") == "true"
    assert page.by_id("status").get("data-poll-seconds") is None
    assert _meta_refresh(page) is None
    assert data["final"] is True and data["poll_seconds"] is None


def _assert_polling(page: Element, data: dict[str, Any]) -> None:
    assert page.by_id("status").get("data-final") == "false"
    assert _meta_refresh(page) is not None
    assert data["final"] is False and data["poll_seconds"] >= fulfilment_view.MIN_POLL_SECONDS


def test_delivered_shows_code_iccid_and_the_qr_code_and_stops_polling(
    client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment, fulfilment_code=LPA, esim_iccid=ICCID)
    _job(payment, JobState.DONE, attempts=1, done_at=utcnow())
    page, data = _look(client, payment)

    assert page.find("span", class_="badge").text == "Paid"
    assert page.find(data_testid="activation-code").text == LPA
    assert page.find(data_testid="esim-iccid").text == ICCID
    tile = page.find(data_testid="activation-qr")
    svg = tile.find("svg", class_="qr-code")
    assert svg is not None and svg.get("role") == "img"
    assert qr.svg(LPA) in client.get(f"/status/{payment.ref}").get_data(as_text=True)
    assert tile.find("figcaption").text == (
        "Scan this with your phone's camera in Settings → Mobile data → Add eSIM"
    )
    assert page.find(data_testid="fulfilment-notice") is None
    assert "eSIM is ready" in page.text
    _assert_stopped(page, data)

    assert data["fulfilment"] == "delivered"
    assert (data["fulfilment_code"], data["esim_iccid"]) == (LPA, ICCID)
    assert data["status_words"] == "Paid" and data["fulfilment_refused"] is False


@pytest.mark.parametrize(
    ("state", "attempts"),
    [(JobState.PENDING, 0), (JobState.RUNNING, 1)],
    ids=["queued", "first-attempt-running"],
)
def test_job_on_its_way_says_being_prepared_and_keeps_polling(
    client: FlaskClient, make_payment, state: str, attempts: int
) -> None:
    payment = _paid(make_payment)
    _job(payment, state, attempts=attempts, lease_until=utcnow() + timedelta(seconds=60))
    page, data = _look(client, payment)

    assert _notice(page).startswith(PREPARING)
    assert page.find(data_testid="fulfilment-polling") is not None
    assert page.find(data_testid="activation-code") is None
    assert page.find("svg", class_="qr-code") is None
    _assert_polling(page, data)
    assert data["fulfilment"] == "preparing" and data["preparing_fulfilment"] is True
    assert data["poll_seconds"] == fulfilment_view.MIN_POLL_SECONDS  # just paid: quick
    assert data["fulfilment_code"] is None and data["esim_iccid"] is None


def test_retrying_says_we_will_email_and_polls_at_the_next_attempt(
    client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment)
    next_try = utcnow() + timedelta(seconds=120)
    _job(
        payment,
        JobState.PENDING,
        attempts=2,
        last_error="provider answered 503",
        next_attempt_at=next_try,
    )
    page, data = _look(client, payment)

    assert _notice(page).startswith(DELAYED)
    assert "We keep trying" in _notice(page)
    assert "support will contact you" not in _notice(page)
    _assert_polling(page, data)
    assert data["fulfilment"] == "delayed"
    # slowly: not before the outbox tries again (the page's own meta refresh too)
    assert 115 <= data["poll_seconds"] <= 121
    assert page.by_id("status").get("data-poll-seconds") == str(data["poll_seconds"])
    assert _meta_refresh(page).get("content").startswith(f"{data['poll_seconds']};")
    # the error is for staff, not for the shopper
    assert "503" not in client.get(f"/status/{payment.ref}").get_data(as_text=True)
    assert "503" not in client.get(f"/status/{payment.ref}.json").get_data(as_text=True)


def test_retrying_far_in_the_future_still_checks_within_the_cap(
    client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment)
    _job(
        payment,
        JobState.PENDING,
        attempts=5,
        last_error="timeout",
        next_attempt_at=utcnow() + timedelta(hours=2),
    )
    data = client.get(f"/status/{payment.ref}.json").get_json()
    assert data["final"] is False
    assert data["poll_seconds"] == fulfilment_view.MAX_RETRY_WAIT_SECONDS


def test_dead_letter_says_we_will_email_and_stops_polling(
    client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment)
    _job(payment, JobState.DEAD, attempts=8, last_error="provider answered 500")
    page, data = _look(client, payment)

    assert _notice(page).startswith(DELAYED)
    assert "support will contact you" not in _notice(page)
    assert page.find(data_testid="fulfilment-polling") is None
    _assert_stopped(page, data)
    assert data["fulfilment"] == "failed" and data["fulfilment_refused"] is False
    assert data["fulfilment_code"] is None


def test_refusal_says_support_will_contact_and_stops_polling(
    client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment, fulfilment_problem=PROBLEM)
    _job(payment, JobState.DEAD, attempts=1, last_error=PROBLEM)
    page, data = _look(client, payment)

    assert _notice(page).startswith(DELAYED)
    assert "support will contact you" in _notice(page)
    _assert_stopped(page, data)
    assert data["fulfilment"] == "failed" and data["fulfilment_refused"] is True
    for url in (f"/status/{payment.ref}", f"/status/{payment.ref}.json"):
        assert "OUT_OF_STOCK" not in client.get(url).get_data(as_text=True)


def test_staff_retry_of_a_refusal_polls_again_until_it_is_settled(
    client: FlaskClient, make_payment
) -> None:
    """Staff sent the refused job back to the queue (`outbox.retry`: a fresh round of attempts,
    the last error kept): the shopper's page follows it again."""
    payment = _paid(make_payment, fulfilment_problem=PROBLEM)
    _job(payment, JobState.PENDING, attempts=0, last_error=PROBLEM)
    page, data = _look(client, payment)
    assert "support will contact you" in _notice(page)
    _assert_polling(page, data)
    assert data["fulfilment"] == "delayed" and data["fulfilment_refused"] is True


def test_a_page_open_past_the_window_stops_polling(client: FlaskClient, make_payment) -> None:
    payment = _paid(make_payment, paid_ago=fulfilment_view.POLL_WINDOW + timedelta(minutes=1))
    _job(payment, JobState.PENDING, attempts=0)
    page, data = _look(client, payment)
    assert _notice(page).startswith(DELAYED)
    _assert_stopped(page, data)
    assert data["fulfilment"] == "delayed"


def test_paid_with_no_job_row_yet_is_being_prepared(client: FlaskClient, make_payment) -> None:
    page, data = _look(client, _paid(make_payment))
    assert _notice(page).startswith(PREPARING)
    _assert_polling(page, data)


@pytest.mark.parametrize(
    ("paid_ago", "expected"),
    [(5, 3), (100, 10), (400, 40), (1800, 60)],
)
def test_polling_slows_as_time_passes(
    client: FlaskClient, make_payment, paid_ago: int, expected: int
) -> None:
    payment = _paid(make_payment, paid_ago=timedelta(seconds=paid_ago))
    _job(payment, JobState.PENDING)
    assert client.get(f"/status/{payment.ref}.json").get_json()["poll_seconds"] == expected


@pytest.mark.parametrize("retrying", [False, True], ids=["pending", "retrying"])
def test_a_page_left_open_polls_a_bounded_number_of_times(
    client: FlaskClient, make_payment, retrying: bool
) -> None:
    """Follow the server's pace from the moment of payment, as the page's script does, with a
    job that never gets anywhere (a worker that is down, or a provider that keeps failing with
    a short back-off): the page stops by itself after fewer than 100 polls."""
    payment = _paid(make_payment, paid_ago=timedelta(0))
    job = _job(payment, JobState.PENDING)
    paid_at: datetime = payment.order.paid_at
    now, polls = paid_at, 0
    while True:
        if retrying:
            job.attempts, job.last_error = polls + 1, "timeout"
            job.next_attempt_at = now + timedelta(seconds=2)  # a back-off that never grows
        view = fulfilment_view.for_shopper(payment, now)
        if not view.polling:
            break
        polls += 1
        now += timedelta(seconds=view.poll_seconds)
    assert polls < 100
    assert now - paid_at <= fulfilment_view.POLL_WINDOW + timedelta(minutes=1)
    assert view.state == "delayed"


def test_a_payment_that_did_not_pay_the_order_shows_no_fulfilment(
    client: FlaskClient, make_payment
) -> None:
    payment = _paid(make_payment, fulfilment_code=LPA, esim_iccid=ICCID)
    other = Payment(
        order_id=payment.order_id,
        gateway="stripe",
        amount=payment.amount,
        currency=payment.currency,
        status=PaymentStatus.FAILED,
    )
    db.session.add(other)
    db.session.commit()
    page, data = _look(client, other)
    assert data["fulfilment"] is None and data["fulfilment_code"] is None
    assert data["esim_iccid"] is None
    assert page.find(data_testid="fulfilment-notice") is None
    assert page.find(data_testid="activation-qr") is None
