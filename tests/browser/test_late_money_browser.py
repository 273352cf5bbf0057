"""Crypto between "sent" and "paid", in Chromium: the shopper sends too little and the status page
says how much is missing; the deadline passes and the page keeps polling; the rest of the coins
arrive late and the page turns Paid by itself. IPNs are off: the page's own polling does it all."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import Sandbox
from tests.reconciliation import open_payments, payment


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"REFRESH_COALESCE_SECONDS": 1, "STATUS_LATE_POLL_SECONDS": 1}


def _act(sandbox: Sandbox, checkout_url: str, action: str) -> None:
    """Press a button of the sandbox's hosted crypto page, as the shopper's wallet would."""
    query = parse_qs(urlsplit(checkout_url).query)
    answer = requests.post(
        f"{sandbox.url}/index.php",
        data={"id": query["id"][0], "key": query["key"][0], "action": action},
        headers={"Accept": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text[:300]


def test_too_little_then_the_deadline_then_late_coins(
    page: Page, app: Flask, live_site: str, sandbox: Sandbox, fulfilments: list
) -> None:
    sandbox.knobs("coinpayments", notifications=False)
    [ref] = open_payments(app, "coinpayments", 1)
    with app.app_context():
        checkout_url = payment(ref).checkout_url

    page.goto(f"{live_site}/status/{ref}")
    expect(page.get_by_role("heading", name="Send the coins")).to_be_visible()

    _act(sandbox, checkout_url, "send_short")
    expect(page.get_by_role("heading", name="Part of the coins arrived")).to_be_visible(
        timeout=15000
    )
    missing = page.get_by_test_id("coins-missing")
    expect(missing).to_have_text(re.compile(r"^0\.\d{8} LTCT$"))
    expect(page.locator("#status")).to_contain_text("is still missing")
    expect(page.get_by_role("link", name="Pay another way")).to_have_count(0)

    _act(sandbox, checkout_url, "expire")  # the deadline passes with part of the coins in
    expect(page.locator(".status-line")).to_have_text("Expired", timeout=15000)
    status = page.locator("#status")
    expect(status).to_contain_text("arrived before the deadline")
    expect(status).to_contain_text("is still missing")
    expect(status).not_to_contain_text("No payment arrived")
    expect(page.get_by_test_id("late-polling")).to_be_visible()
    expect(status).to_have_attribute("data-final", "true")
    expect(status).to_have_attribute("data-poll-seconds", "1")

    _act(sandbox, checkout_url, "send_late")  # the rest arrives after the deadline
    expect(page.locator(".status-line")).to_have_text("Paid", timeout=20000)
    expect(page.get_by_test_id("activation-code")).to_be_visible(timeout=15000)
    expect(page.get_by_test_id("review-notice")).to_contain_text("after the deadline")

    with app.app_context():
        paid = payment(ref)
        assert (paid.status, paid.late) == ("COMPLETED", True)
        assert fulfilments == [(ref, paid.order.ref)]
