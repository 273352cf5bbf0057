"""The issue_esim handler against the sandbox's provider, run as the outbox worker runs it.

Each test commits after a handler returns and rolls back after it raises, as the worker does,
so what survives a failure is what a real failure leaves behind.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import requests
from sqlalchemy import select

from checkout.extensions import db
from checkout.fulfilment import outbox
from checkout.fulfilment.jobs import HANDLERS, JobKind, JobRefused, JobRetry, new_job
from checkout.fulfilment.provider import EsimProvider
from checkout.models import JobState, Order, OrderStatus, OutboxJob
from checkout.states import PaymentStatus


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"ESIM_PROVIDER_TIMEOUT": 0.5}


@pytest.fixture
def paid_order(app, make_order) -> Order:
    order = make_order()
    order.status = OrderStatus.PAID
    db.session.commit()
    return order


@pytest.fixture
def job(paid_order: Order) -> OutboxJob:
    row = new_job(JobKind.ISSUE_ESIM, paid_order)
    db.session.add(row)
    db.session.commit()
    return row


def _run(job: OutboxJob) -> list[OutboxJob]:
    """One attempt as the worker makes it: the handler, then commit; or rollback and re-raise."""
    try:
        follow_ups = list(HANDLERS[JobKind.ISSUE_ESIM](job))
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return follow_ups


def _reloaded(order: Order) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order.id)


def _bought(sandbox) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/esim/orders", timeout=5).json()


def _stock(sandbox, plan: str, in_stock: bool) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/esim/stock", json={"plan": plan, "in_stock": in_stock}, timeout=5
    ).raise_for_status()


def test_the_handler_is_registered_when_the_app_starts(tmp_path) -> None:
    script = (
        "from checkout import create_app\n"
        "from checkout.fulfilment.jobs import HANDLERS, JobKind\n"
        f"create_app('testing', {{'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/x.db'}})\n"
        "print(HANDLERS[JobKind.ISSUE_ESIM].__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert out.stdout.strip() == "checkout.fulfilment.esim"


def test_issuing_keeps_the_providers_esim_and_asks_for_the_receipt(job, paid_order, sandbox):
    follow_ups = _run(job)

    order = _reloaded(paid_order)
    sold = _bought(sandbox)[order.ref]
    assert sold["bought"] == 1
    assert sold["plan"] == order.product.slug
    assert order.fulfilment_code == sold["esims"][0]["lpa"]
    assert order.esim_iccid == sold["esims"][0]["iccid"]
    assert order.fulfilment_problem is None
    assert [(j.kind, j.key, j.order_id) for j in follow_ups] == [
        (JobKind.SEND_RECEIPT, f"send_receipt:{order.ref}", order.id)
    ]


def test_running_again_keeps_the_first_code_and_buys_nothing(job, paid_order, sandbox) -> None:
    _run(job)
    first = _reloaded(paid_order).fulfilment_code

    follow_ups = _run(job)

    assert _reloaded(paid_order).fulfilment_code == first
    assert _bought(sandbox)[paid_order.ref]["bought"] == 1
    assert [j.kind for j in follow_ups] == [JobKind.SEND_RECEIPT]


def test_a_crash_before_the_commit_then_a_rerun_gets_the_same_esim(job, paid_order, sandbox):
    HANDLERS[JobKind.ISSUE_ESIM](job)
    db.session.rollback()  # the worker died before recording "done": nothing of ours was kept
    assert _reloaded(paid_order).fulfilment_code is None

    _run(job)

    order = _reloaded(paid_order)
    assert order.esim_iccid == _bought(sandbox)[order.ref]["esims"][0]["iccid"]
    assert _bought(sandbox)[order.ref]["bought"] == 1


def test_out_of_stock_flags_the_order_and_refuses(job, paid_order, sandbox) -> None:
    _stock(sandbox, paid_order.product.slug, False)

    with pytest.raises(JobRefused, match="out_of_stock"):
        _run(job)

    order = _reloaded(paid_order)
    assert "out_of_stock" in order.fulfilment_problem
    assert order.fulfilment_code is None and order.esim_iccid is None
    assert _bought(sandbox) == {}


def test_a_retry_after_restock_issues_and_clears_the_problem(job, paid_order, sandbox) -> None:
    _stock(sandbox, paid_order.product.slug, False)
    with pytest.raises(JobRefused):
        _run(job)
    _stock(sandbox, paid_order.product.slug, True)

    _run(job)

    order = _reloaded(paid_order)
    assert order.fulfilment_code and order.fulfilment_problem is None


@pytest.mark.parametrize(
    "knobs",
    [{"error_rate": 1.0}, {"malformed_rate": 1.0}, {"timeout_rate": 1.0, "hang_seconds": 1.5}],
    ids=["5xx", "not JSON", "timeout"],
)
def test_provider_trouble_is_retried_later(job, paid_order, sandbox, knobs) -> None:
    sandbox.knobs("esim", **knobs)

    with pytest.raises(JobRetry, match="eSIM provider unavailable"):
        _run(job)

    order = _reloaded(paid_order)
    assert order.fulfilment_code is None and order.fulfilment_problem is None


def test_a_refused_key_is_retried_with_a_message_saying_what_to_fix(app, job, paid_order):
    app.extensions["tollgate_esim_provider"] = EsimProvider(
        base_url=app.config["ESIM_PROVIDER_URL"],
        api_key="not-the-key",
        connect_timeout=1.0,
        read_timeout=1.0,
    )

    with pytest.raises(JobRetry, match="ESIM_PROVIDER_API_KEY"):
        _run(job)

    order = _reloaded(paid_order)
    assert order.fulfilment_code is None and order.fulfilment_problem is None


def test_an_order_that_is_not_paid_gets_no_esim(app, make_order, sandbox) -> None:
    order = make_order()
    job = new_job(JobKind.ISSUE_ESIM, order)
    db.session.add(job)
    db.session.commit()

    with pytest.raises(JobRefused, match="not paid"):
        _run(job)

    assert _bought(sandbox) == {}
    assert db.session.scalars(select(Order.fulfilment_code)).all() == [None]


def test_through_the_outbox_the_job_is_done_and_the_receipt_queued(app, job, paid_order, sandbox):
    assert outbox.run_once() >= 1

    db.session.expire_all()
    jobs = {j.kind: j for j in db.session.scalars(select(OutboxJob))}
    assert jobs[JobKind.ISSUE_ESIM].state == JobState.DONE
    assert JobKind.SEND_RECEIPT in jobs
    assert (
        _reloaded(paid_order).fulfilment_code == _bought(sandbox)[paid_order.ref]["esims"][0]["lpa"]
    )


def test_through_the_outbox_out_of_stock_is_dead_at_once_and_the_flag_stays(
    app, job, paid_order, sandbox
):
    _stock(sandbox, paid_order.product.slug, False)

    outbox.run_once()

    db.session.expire_all()
    dead = db.session.get(OutboxJob, job.id)
    assert (dead.state, dead.attempts) == (JobState.DEAD, 1)
    assert "out_of_stock" in dead.last_error
    assert "out_of_stock" in _reloaded(paid_order).fulfilment_problem
    assert outbox.state_of(paid_order) == "dead"


def test_an_order_refunded_before_its_esim_was_issued_gets_none(
    job, paid_order, make_payment, sandbox
) -> None:
    refunded = make_payment(status=PaymentStatus.REFUNDED)
    paid_order.paid_by_payment_id = refunded.id
    db.session.commit()

    with pytest.raises(JobRefused, match="refunded before its eSIM was issued"):
        _run(job)

    assert _reloaded(paid_order).fulfilment_code is None
    assert _bought(sandbox) == {}
