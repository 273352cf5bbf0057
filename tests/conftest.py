"""Shared fixtures: the app on a throwaway SQLite file, the sandbox on a real port, the site on a
real port (for IPNs and webhooks to reach it), and factories for orders and payments.

With TOLLGATE_TESTS_ON_POSTGRES=1 (`make test-on-postgres`) every `app` is on the throwaway
PostgreSQL instead (tests/postgres/conftest.py): SQLite's 64-bit INTEGER once hid a
PostgreSQL-only money bug from the whole suite.

Gateway clients are driven over real HTTP against the sandbox: the app fixture points them at
it exactly as `make run` does, through TOLLGATE_SANDBOX_URL.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from checkout import create_app
from checkout.extensions import db
from checkout.models import JobState, Order, OutboxJob, Payment, Product
from checkout.payments.states import PaymentStatus
from checkout.sandbox import create_sandbox_app
from checkout.sandbox.env import SandboxEnv, SandboxOptions
from checkout.sandbox.server import ThreadedServer

_TESTS = Path(__file__).parent
ON_POSTGRES = os.environ.get("TOLLGATE_TESTS_ON_POSTGRES") == "1"
# Marks by folder, so `-m "not browser and not postgres"` runs the fast subset. (A `pytestmark`
# in a conftest.py marks nothing: pytest reads it only from test modules.)
_MARKS_BY_FOLDER = {
    "browser": pytest.mark.browser,
    "postgres": pytest.mark.postgres,
    "redis": pytest.mark.redis,
    "fuzz": pytest.mark.postgres,  # hostile input, against the database that refuses NULs
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            folder = item.path.relative_to(_TESTS).parts[0]
        except ValueError:
            continue
        mark = _MARKS_BY_FOLDER.get(folder)
        if mark is not None:
            item.add_marker(mark)


@dataclass
class Sandbox:
    """The running sandbox: its URL, its shared state, and shortcuts for the knobs."""

    url: str
    env: SandboxEnv

    def knobs(self, gateway: str, **values: Any) -> None:
        self.env.knobs[gateway].update(values)

    def advance(self, seconds: float) -> None:
        self.env.clock.advance(seconds)

    def wait_notifications(self, timeout: float = 15.0) -> None:
        assert self.env.notifier.wait_idle(timeout), "sandbox notifications still in flight"


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer(
        create_sandbox_app(SandboxOptions(retry_delays=(0.1, 0.2, 0.5), seed=1234))
    ).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(_sandbox_server: ThreadedServer) -> Iterator[Sandbox]:
    env: SandboxEnv = _sandbox_server.server.app.extensions["sandbox"]
    env.reset()
    yield Sandbox(_sandbox_server.url, env)
    env.notifier.wait_idle(5)
    env.reset()


def make_test_app(sandbox_url: str, database_uri: str, **overrides: Any) -> Flask:
    config = {
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "TOLLGATE_SANDBOX_URL": sandbox_url,
        "GATEWAY_READ_TIMEOUT": 2.0,
        "GATEWAY_CONNECT_TIMEOUT": 1.0,
        "STRIPE_MAX_NETWORK_RETRIES": 0,
        "REFRESH_COALESCE_SECONDS": 5,
    }
    config.update(overrides)
    return create_app("testing", config)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's config."""
    return {}


@pytest.fixture
def app(
    request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path, app_overrides: dict[str, Any]
) -> Iterator[Flask]:
    if ON_POSTGRES:
        application = make_pg_app(sandbox, request.getfixturevalue("pg_url"), **app_overrides)
    else:
        application = make_test_app(
            sandbox.url, f"sqlite:///{tmp_path / 'tollgate.sqlite3'}", **app_overrides
        )
        with application.app_context():
            db.create_all()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_site(app: Flask, sandbox: Sandbox) -> Iterator[str]:
    """Serve the app on a real port so the sandbox's notifications can reach it."""
    server = ThreadedServer(app).start()
    app.config["PUBLIC_BASE_URL"] = server.url
    for name in sandbox.env.gateways:
        sandbox.env.options.notification_urls[name] = f"{server.url}/ipn/{name}"
    yield server.url
    sandbox.env.notifier.wait_idle(5)
    server.stop()


_slugs = itertools.count(1)


@pytest.fixture
def make_product(app: Flask):
    def factory(price: int = 1250, currency: str = "USD", **values: Any) -> Product:
        n = next(_slugs)
        product = Product(
            slug=values.pop("slug", f"plan-{n}"),
            name=values.pop("name", f"Test plan {n}"),
            region=values.pop("region", "Testland"),
            data_mb=values.pop("data_mb", 1024),
            validity_days=values.pop("validity_days", 7),
            price=price,
            currency=currency,
            **values,
        )
        db.session.add(product)
        db.session.commit()
        return product

    return factory


@pytest.fixture
def make_order(make_product):
    def factory(
        price: int = 1250, currency: str = "USD", email: str = "shopper@example.com"
    ) -> Order:
        product = make_product(price=price, currency=currency)
        order = Order(product_id=product.id, email=email, amount=price, currency=currency)
        db.session.add(order)
        db.session.commit()
        return order

    return factory


@pytest.fixture
def make_payment(make_order):
    """A payment row as the funnel would leave it, without calling any gateway."""

    def factory(
        gateway: str = "coinpayments",
        status: PaymentStatus = PaymentStatus.PENDING,
        amount: int = 1250,
        currency: str = "USD",
        **values: Any,
    ) -> Payment:
        order = make_order(price=amount, currency=currency)
        payment = Payment(
            order_id=order.id,
            gateway=gateway,
            amount=amount,
            currency=currency,
            status=status,
            **values,
        )
        db.session.add(payment)
        db.session.commit()
        return payment

    return factory


class Deliveries(Sequence[tuple[str, str]]):
    """Every order the outbox delivered, as (paying payment ref, order ref), read when looked at.

    An order counts once its issue_esim job is done. Looking checks "exactly once" on both sides:
    the job key allows one issue_esim job per order, and the provider sandbox must have sold
    exactly one eSIM for each delivered order's ref.
    """

    def __init__(self, app: Flask, bought: Counter[str]) -> None:
        self._app = app
        self._bought = bought
        self._after = 0  # only jobs written after the last clear() count

    def clear(self) -> None:
        with self._app.app_context():
            self._after = db.session.scalar(select(func.max(OutboxJob.id))) or 0

    def _rows(self) -> list[tuple[str, str]]:
        with self._app.app_context():
            rows = db.session.execute(
                select(Payment.ref, Order.ref)
                .select_from(OutboxJob)
                .join(Order, Order.id == OutboxJob.order_id)
                .join(Payment, Payment.id == Order.paid_by_payment_id)
                .where(OutboxJob.kind == "issue_esim", OutboxJob.state == JobState.DONE)
                .where(OutboxJob.id > self._after)
                .order_by(OutboxJob.id)
            ).all()
        delivered = [(payment_ref, order_ref) for payment_ref, order_ref in rows]
        oversold = {ref: n for _, ref in delivered if (n := self._bought[ref]) != 1}
        assert not oversold, f"eSIMs sold per delivered order ref: {oversold}"
        return delivered

    def __getitem__(self, index: Any) -> Any:
        return self._rows()[index]

    def __len__(self) -> int:
        return len(self._rows())

    def __eq__(self, other: object) -> bool:
        return self._rows() == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return repr(self._rows())


@pytest.fixture
def fulfilments(app: Flask, _sandbox_server: ThreadedServer) -> Deliveries:
    """The orders delivered through the outbox and the provider sandbox (see Deliveries)."""
    return Deliveries(app, _sandbox_server.server.app.extensions["sandbox_esim"].bought)


def sandbox_get(sandbox: Sandbox, path: str) -> requests.Response:
    return requests.get(sandbox.url + path, timeout=5)


# The throwaway PostgreSQL's fixtures, for `app` under ON_POSTGRES (tests/postgres always uses
# them). Imported last, as that module imports this one's helpers.
from tests.postgres.conftest import make_pg_app, pg_server, pg_template, pg_url  # noqa: E402, F401
