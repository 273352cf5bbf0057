"""The breaker holds across app processes: two servers (as two gunicorn workers) on one database.

Stripe's creates are made to fail through the sandbox knobs; the failures go through one process
and the other takes the gateway off its selector too. After the cool-down exactly one probe goes
through across both (the other process refuses while it runs), and its success offers Stripe
again everywhere. The processes are tests/redis/serve_app.py's (rate limits in process memory
here: nothing in this test needs Redis).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator

import pytest
import requests
from flask import Flask

from checkout.extensions import db
from checkout.models import GatewayBreaker, Order, Payment
from checkout.payments import breaker
from checkout.payments.breaker import TEMPORARILY_UNAVAILABLE, Shown
from tests.blueprints.html_helpers import Element, Form, parse, read_form
from tests.conftest import Sandbox
from tests.reconciliation import quiet
from tests.redis.conftest import serve
from tests.waiting import wait_for

GATEWAY = "stripe"
EMAIL = "shopper@example.com"


@pytest.fixture
def sites(app: Flask, sandbox: Sandbox) -> Iterator[list[str]]:
    quiet(sandbox)
    started: list[subprocess.Popen] = []
    urls = []
    try:
        for _ in range(2):
            process, url = serve(
                sandbox.url,
                app.config["SQLALCHEMY_DATABASE_URI"],
                "memory://",
                BREAKER_FAILURES="3",
                BREAKER_COOLDOWN_SECONDS="2",
                BREAKER_PROBE_LEASE_SECONDS="30",
                GATEWAY_READ_TIMEOUT="10",  # the probe's slow answer must not time out
            )
            started.append(process)
            urls.append(url)
        yield urls
    finally:
        for process in started:
            process.terminate()
            process.wait(10)


@pytest.fixture
def plan(app: Flask, make_product) -> str:
    with app.app_context():
        return f"/checkout/{make_product().slug}"


def page(site: str, plan: str, browser: requests.Session | None = None) -> Element:
    answer = (browser or requests).get(site + plan, timeout=10)
    assert answer.status_code == 200
    return parse(answer.text)


def form_on(site: str, plan: str, browser: requests.Session) -> Form:
    return read_form(page(site, plan, browser).by_id("paymentForm")).fill("email", EMAIL)


def post(site: str, form: Form, browser: requests.Session) -> requests.Response:
    return browser.post(site + form.action, data=form.data(), allow_redirects=False, timeout=15)


def offered(site: str, plan: str) -> bool:
    return not page(site, plan).by_id(f"gateway-{GATEWAY}").has("disabled")


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return db.session.query(Order).count(), db.session.query(Payment).count()


def probe_claimed(app: Flask) -> bool:
    with app.app_context():
        row = db.session.get(GatewayBreaker, GATEWAY, populate_existing=True)
        return row is not None and row.probe_token is not None


def test_failures_through_one_process_open_it_for_both_and_one_probe_closes_it(
    app: Flask, sandbox: Sandbox, sites: list[str], plan: str
) -> None:
    one, other = sites
    sandbox.knobs(GATEWAY, error_rate=1.0)
    for _ in range(3):
        with requests.Session() as shopper:
            form = form_on(one, plan, shopper).choose("gateway", GATEWAY)
            assert post(one, form, shopper).status_code == 503

    # the other process never saw a failure, and takes Stripe off its selector too
    html = page(other, plan)
    assert html.by_id(f"gateway-{GATEWAY}").has("disabled")
    assert TEMPORARILY_UNAVAILABLE in html.by_id(f"gateway-{GATEWAY}-reason").text
    assert not offered(one, plan)
    before = counts(app)
    with requests.Session() as shopper:
        forged = form_on(other, plan, shopper).forge("gateway", GATEWAY)
        refused = post(other, forged, shopper)
    assert refused.status_code == 400 and TEMPORARILY_UNAVAILABLE in refused.text
    assert counts(app) == before

    # Stripe recovers; once the cool-down is over both offer it for the probe
    # (slowly: the probe stays in flight while the others try)
    sandbox.knobs(GATEWAY, error_rate=0.0, latency_ms=4000)
    wait_for(lambda: offered(other, plan), timeout=15)
    with app.app_context():
        assert breaker.snapshot()[GATEWAY] == Shown.HALF_OPEN
    first, second, third = requests.Session(), requests.Session(), requests.Session()
    forms = [
        form_on(site, plan, s).choose("gateway", GATEWAY)
        for site, s in ((one, first), (other, second), (one, third))
    ]
    answers: list[requests.Response] = []
    probe = threading.Thread(target=lambda: answers.append(post(one, forms[0], first)))
    probe.start()
    try:
        wait_for(lambda: probe_claimed(app), timeout=10)
        # while the probe's create is in flight, neither process lets another one through
        for site, form, shopper in ((other, forms[1], second), (one, forms[2], third)):
            refused = post(site, form, shopper)
            assert refused.status_code == 400 and TEMPORARILY_UNAVAILABLE in refused.text
    finally:
        probe.join(20)
        for shopper in (first, second, third):
            shopper.close()
    [went_through] = answers
    assert went_through.status_code == 303 and went_through.headers["Location"].startswith(
        sandbox.url
    )
    assert counts(app) == (before[0] + 1, before[1] + 1)  # one order, one payment: the probe

    # the probe's success closed it: both processes offer Stripe again
    with app.app_context():
        assert breaker.snapshot()[GATEWAY] == Shown.CLOSED
    assert offered(one, plan) and offered(other, plan)
