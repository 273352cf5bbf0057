"""After paying in Chromium, the status page follows the eSIM: "being prepared" while the outbox
has not run, then, without a reload by the shopper, the activation QR code and code once the
worker delivers, or "support will contact you" when the provider is out of stock; and it stops
polling in both cases."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect

from checkout.extensions import db
from checkout.fulfilment import outbox
from checkout.models import Payment
from tests.browser.stripe_pages import pay_with_stripe
from tests.browser.test_accessibility import FAILING_IMPACTS, audit, describe
from tests.conftest import Sandbox

PLAN = "europe-5gb"  # the `site` fixture's plan; the provider sells by our product slug


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # No kick after the paying request: the page must show the wait, and the test plays the
    # scheduled worker, so the page's own polling is what brings the code on screen.
    return {"OUTBOX_KICK": "off"}


def _run_worker(app: Flask) -> str:
    """One pass of the outbox worker, as the scheduler runs it; returns the order's ref."""
    with app.app_context():
        assert outbox.run_once() >= 1
        return db.session.scalar(db.select(Payment)).order.ref


def _assert_accessible(page: Page) -> None:
    failing = [v for v in audit(page) if v["impact"] in FAILING_IMPACTS]
    assert not failing, describe(failing)


def _polls_after(page: Page, seconds: float) -> list[str]:
    """The JSON polls the page makes in the next `seconds` (it polls every 3 s at first)."""
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith(".json") else None)
    page.wait_for_timeout(seconds * 1000)
    return polls


def test_the_qr_code_and_code_appear_once_the_outbox_delivers(
    page: Page, site: str, app: Flask, sandbox: Sandbox
) -> None:
    pay_with_stripe(page, site)
    notice = page.get_by_test_id("fulfilment-notice")
    expect(notice).to_contain_text("Paid: your eSIM is being prepared")
    expect(page.locator("svg.qr-code")).to_have_count(0)

    order_ref = _run_worker(app)

    qr_code = page.get_by_role("img", name="eSIM activation QR code")
    expect(qr_code).to_be_visible(timeout=15_000)
    sold = requests.get(f"{sandbox.url}/_sandbox/esim/orders", timeout=5).json()[order_ref]
    assert sold["bought"] == 1
    [esim] = sold["esims"]
    expect(page.get_by_test_id("activation-code")).to_have_text(esim["lpa"])
    expect(page.get_by_test_id("esim-iccid")).to_have_text(esim["iccid"])
    expect(
        page.get_by_text("Scan this with your phone's camera in Settings → Mobile data → Add eSIM")
    ).to_be_visible()
    expect(notice).to_have_count(0)
    assert _polls_after(page, 4.5) == []
    _assert_accessible(page)


def test_out_of_stock_says_support_will_contact_and_stops_polling(
    page: Page, site: str, app: Flask, sandbox: Sandbox
) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/esim/stock", json={"plan": PLAN, "in_stock": False}, timeout=5
    ).raise_for_status()
    pay_with_stripe(page, site)
    expect(page.get_by_test_id("fulfilment-notice")).to_contain_text("being prepared")

    _run_worker(app)

    notice = page.get_by_test_id("fulfilment-notice")
    expect(notice).to_contain_text("support will contact you", timeout=15_000)
    expect(notice).to_contain_text("Paid: we could not issue your eSIM yet, we will e-mail you")
    expect(page.get_by_test_id("activation-code")).to_have_count(0)
    assert _polls_after(page, 4.5) == []
    _assert_accessible(page)
