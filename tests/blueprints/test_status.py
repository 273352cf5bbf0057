"""`/status/<ref>.json`: a shopper's open tab costs a read; only a due look-up writes; the poll's
rate limit never refuses the polling that static/js/status.js does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from checkout.blueprints.status import POLL_LIMIT, POLL_WINDOW_SECONDS
from checkout.extensions import limiter
from checkout.payments.states import PaymentStatus
from tests.conftest import Sandbox
from tests.reconciliation import GatewayCalls, checked_ago, open_payments, quiet
from tests.sql_log import statements, verbs

STATUS_JS = Path(__file__).resolve().parents[2] / "static" / "js" / "status.js"


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


def test_a_poll_within_the_window_is_one_read(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        checked_ago(ref, 1)
    calls = GatewayCalls().watch(app, "coinpayments")
    client = app.test_client()
    with statements(app) as seen:
        answer = client.get(f"/status/{ref}.json")
    assert answer.status_code == 200
    assert answer.json["status"] == PaymentStatus.PENDING.value
    assert verbs(seen) == ["SELECT"]  # payment, order and product together; no claim, no commit
    assert calls.total == 0


@pytest.mark.parametrize("path", ["/status/{ref}", "/status/{ref}.json"])
def test_the_shoppers_views_never_read_the_gateways_secrets(
    app: Flask, sandbox: Sandbox, path: str
) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    with app.app_context():
        checked_ago(ref, 1)
    with statements(app) as seen:
        assert app.test_client().get(path.format(ref=ref)).status_code == 200
    assert seen and not any("gateway_secret" in sql or "last_raw" in sql for sql in seen)


def test_a_due_poll_claims_and_looks_up_once(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "coinpayments", 1)
    window = app.config["REFRESH_COALESCE_SECONDS"]
    with app.app_context():
        checked_ago(ref, window + 1)
    calls = GatewayCalls().watch(app, "coinpayments")
    client = app.test_client()
    with statements(app) as due:
        assert client.get(f"/status/{ref}.json").status_code == 200
    with statements(app) as after:
        assert client.get(f"/status/{ref}.json").status_code == 200
    assert calls.calls["coinpayments"] == 1
    assert "UPDATE" in verbs(due) and "COMMIT" in verbs(due)
    assert verbs(after) == ["SELECT"]  # the look-up just made is within the window


def test_final_payments_are_read_without_a_claim(app: Flask, sandbox: Sandbox) -> None:
    [ref] = open_payments(app, "stripe", 1)
    with app.app_context():
        checked_ago(ref, 3600, status="CANCELLED")
    with statements(app) as seen:
        assert app.test_client().get(f"/status/{ref}.json").json["final"] is True
    assert verbs(seen) == ["SELECT"]


def _polls_per_minute_per_tab() -> int:
    """What static/js/status.js does in a visible tab: one poll every `delay` ms."""
    delay = int(re.search(r"var delay = (\d+);", STATUS_JS.read_text()).group(1))
    return 60_000 // delay


def test_several_tabs_polling_as_the_page_does_never_get_429(app: Flask, make_payment) -> None:
    payment = make_payment(status=PaymentStatus.COMPLETED)
    client = app.test_client()
    ten_tabs_for_a_minute = 10 * _polls_per_minute_per_tab()
    codes = {
        client.get(f"/status/{payment.ref}.json").status_code for _ in range(ten_tabs_for_a_minute)
    }
    assert codes == {200}


def test_shoppers_behind_one_address_poll_on_their_own_budgets(app: Flask, make_payment) -> None:
    refs = [make_payment(status=PaymentStatus.COMPLETED).ref for _ in range(4)]
    client = app.test_client()
    per_shopper = 10 * _polls_per_minute_per_tab()
    codes = {
        client.get(f"/status/{ref}.json").status_code for ref in refs for _ in range(per_shopper)
    }
    assert codes == {200}


def test_the_poll_is_still_rate_limited(app: Flask, make_payment) -> None:
    payment = make_payment(status=PaymentStatus.COMPLETED)
    client = app.test_client()
    url = f"/status/{payment.ref}.json"
    codes = [client.get(url).status_code for _ in range(POLL_LIMIT)]
    refused = client.get(url)
    assert codes == [200] * POLL_LIMIT
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "Slow down"
    assert int(refused.headers["Retry-After"]) == POLL_WINDOW_SECONDS
    other = client.get(url, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200  # per address too


def test_with_limits_off_the_poll_is_never_refused(app: Flask, make_payment) -> None:
    payment = make_payment(status=PaymentStatus.COMPLETED)
    limiter.enabled = False
    try:
        codes = {
            app.test_client().get(f"/status/{payment.ref}.json").status_code
            for _ in range(POLL_LIMIT + 1)
        }
    finally:
        limiter.enabled = True
    assert codes == {200}
