"""Two outbox workers on PostgreSQL, each with its own app and sessions, on 200 paid orders:
`FOR UPDATE SKIP LOCKED` claims give every job to exactly one of them, and the provider sells
exactly one eSIM per order.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from sqlalchemy import select

from checkout.extensions import db
from checkout.fulfilment import outbox
from checkout.gateways.base import Observation
from checkout.models import JobState, Order, OutboxJob
from checkout.money import Money
from checkout.payments.service import Source, record_observation
from checkout.payments.states import PaymentStatus
from tests.conftest import Sandbox
from tests.postgres.conftest import make_pg_app


def test_two_workers_deliver_200_paid_orders_each_exactly_once(
    app: Flask, sandbox: Sandbox, _sandbox_server: Any, pg_url: str, make_payment
) -> None:
    app.config["OUTBOX_KICK"] = "off"  # the workers alone deliver
    paid = Observation(PaymentStatus.COMPLETED, "100", paid=Money(1250, "USD"))
    with app.app_context():
        for _ in range(200):
            assert record_observation(make_payment(), paid, Source.IPN).fulfilled
    second = make_pg_app(sandbox, pg_url, OUTBOX_KICK="off")

    ran: dict[str, int] = {}
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def work(name: str, application: Flask) -> None:
        try:
            with application.app_context():
                start.wait()
                ran[name] = sum(outbox.run_once(limit=10) for _ in range(40))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    workers = [
        threading.Thread(target=work, args=(name, application))
        for name, application in (("one", app), ("two", second))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)

    assert failures == []
    assert ran["one"] > 0 and ran["two"] > 0  # both took part
    with app.app_context():
        issue = db.session.scalars(select(OutboxJob).where(OutboxJob.kind == "issue_esim")).all()
        assert len(issue) == 200
        assert {(job.state, job.attempts) for job in issue} == {(JobState.DONE, 1)}
        orders = db.session.scalars(select(Order)).all()
        assert all(order.fulfilment_code for order in orders)
        assert len({order.esim_iccid for order in orders}) == 200
        refs = [order.ref for order in orders]
    bought = _sandbox_server.server.app.extensions["sandbox_esim"].bought
    assert {ref: bought[ref] for ref in refs} == dict.fromkeys(refs, 1)
    with second.app_context():
        db.session.remove()
        db.engine.dispose()
