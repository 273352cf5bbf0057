"""The staff dashboard at /staff/: its numbers are the rows' numbers, per period.

Rows are written directly (several gateways, statuses, days and currencies), then the page is
read as a person and a screen reader would: the SVG bars carry each value, the tables beside
them hold the same numbers, and the period chosen in the form filters all of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.gateways.registry import label_for
from checkout.models import PaymentEvent, StaffUser, SweepRun, utcnow
from checkout.payments.states import PaymentStatus as S
from tests.blueprints.html_helpers import Element, parse
from tests.blueprints.test_staff import PASSWORD, login

EMAIL = "agent@tollgate.test"
TODAY = utcnow().date()


def _at(days_ago: int, seconds: int = 0) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(0, 30), tzinfo=UTC) + (
        timedelta(seconds=seconds)
    )


@pytest.fixture
def staff_client(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        user = StaffUser(email=EMAIL)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    assert login(client, EMAIL).status_code == 303
    return client


@pytest.fixture
def rows(app: Flask, make_payment) -> dict[str, str]:
    """The payments, events and sweep runs every test reads; refs by a short name."""

    def pay(name, gateway, status, days_ago, paid_after=None, amount=1000, currency="USD", **v):
        if paid_after is not None:
            v["completed_at"] = _at(days_ago, paid_after)
        made[name] = make_payment(gateway, status, amount, currency, created_at=_at(days_ago), **v)

    made: dict = {}
    with app.app_context():
        pay("s1", "stripe", S.COMPLETED, 0, 60, 1000)
        pay("s2", "stripe", S.COMPLETED, 0, 180, 2500)
        pay("s3", "stripe", S.FAILED, 0)
        pay("m1", "mpgs", S.PENDING, 0)
        pay("c1", "coinpayments", S.COMPLETED, 0, 600, 5000, "EUR")
        pay("c2", "coinpayments", S.EXPIRED, 0)
        pay("m2", "mpgs", S.COMPLETED, 3, 120, 700)
        pay("m3", "mpgs", S.REFUNDED, 3, 240, 300, late=True, needs_review=True)
        pay("s4", "stripe", S.COMPLETED, 20, 30, 999, "GBP")
        pay("old", "stripe", S.COMPLETED, 40, 10, 10000)
        pay("waiting", "coinpayments", S.PENDING, 40, needs_review=True)
        events = [
            ("s1", 0, "error"),
            ("s1", 0, "error"),
            ("s1", 0, "transition"),
            ("s2", 0, "note"),  # ours, not a gateway answer
            ("m2", 3, "error"),
            ("m2", 3, "transition"),
            ("m3", 3, "transition"),
            ("m3", 3, "refused"),
        ]
        for name, days_ago, kind in events:
            db.session.add(
                PaymentEvent(
                    payment_id=made[name].id, created_at=_at(days_ago, 5), source="poll", kind=kind
                )
            )
        start = utcnow() - timedelta(hours=1)
        db.session.add_all(
            [
                SweepRun(
                    trigger="cli",
                    started_at=start,
                    finished_at=start + timedelta(seconds=95),
                    checked=40,
                    changed=3,
                    errors=2,
                ),
                SweepRun(trigger="url", started_at=start + timedelta(minutes=30), checked=7),
            ]
        )
        db.session.commit()
        return {name: p.ref for name, p in made.items()}


def _page(client: FlaskClient, period: str | None = None) -> Element:
    """The dashboard, after following the period's link (None: as opened)."""
    response = client.get("/staff/")
    assert response.status_code == 200
    if period is not None:
        links = parse(response.data).find("ul", data_testid="periods").find_all("a")
        [href] = [a.get("href") for a in links if a.get("href").endswith(f"period={period}")]
        response = client.get(href)
        assert response.status_code == 200
    return parse(response.data)


def _bars(page: Element, chart: str) -> dict[tuple[str | None, str | None], int]:
    svg = page.find("svg", data_chart=chart)
    assert svg is not None, chart
    assert svg.get("role") == "img" and svg.find("title") is not None
    return {
        (r.get("data-category"), r.get("data-series")): int(r.get("data-value") or 0)
        for r in svg.find_all("rect")
        if r.has("data-value")
    }


def _table(page: Element, testid: str) -> list[list[str]]:
    table = page.find("table", data_testid=testid)
    assert table is not None, testid
    return [
        [cell.text for cell in tr.iter() if cell.tag in ("th", "td")] for tr in table.find_all("tr")
    ]


def _label(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).strftime("%d %b")


def _day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def test_today_counts_statuses_conversion_revenue_median_and_errors(
    staff_client: FlaskClient, rows: dict[str, str]
) -> None:
    page = _page(staff_client)  # today is the default

    assert _bars(page, "payments-per-day") == {
        (_label(0), "Paid"): 3,
        (_label(0), "Waiting for payment"): 1,
        (_label(0), "Failed"): 1,
        (_label(0), "Expired"): 1,
    }
    assert _table(page, "payments-per-day-table") == [
        ["Day", "Paid", "Waiting for payment", "Failed", "Expired", "All"],
        [_day(0), "3", "1", "1", "1", "6"],
    ]
    assert _table(page, "conversion-table")[1:] == [
        [label_for("coinpayments"), "2", "1", "50 %"],
        [label_for("mpgs"), "1", "0", "0 %"],
        [label_for("stripe"), "3", "2", "67 %"],
    ]
    conversion = _bars(page, "conversion")
    assert sorted(conversion.values()) == [0, 50, 67]

    assert _bars(page, "revenue-usd") == {(_label(0), "USD"): 3500}
    assert _bars(page, "revenue-eur") == {(_label(0), "EUR"): 5000}
    assert _table(page, "revenue-usd-table")[1:] == [[_day(0), "35.00 USD"]]
    assert page.find("svg", data_chart="revenue-gbp") is None

    median = _table(page, "median-to-paid-table")[1:]
    assert [row[2] for row in median] == ["600", "120"]  # coinpayments, then stripe
    assert sorted(_bars(page, "median-to-paid").values()) == [120, 600]

    errors = _table(page, "errors-per-day-table")[1:]
    assert [row[2:] for row in errors] == [["2", "3", "67 %"]]
    assert set(_bars(page, "errors-per-day").values()) == {2}
    assert "latency is not recorded" in page.text

    assert page.find(data_testid="flagged").text == "2"
    assert page.find(data_testid="late").text == "0"
    oldest = page.find(data_testid="oldest")
    assert rows["waiting"] in oldest.text and "Waiting for payment" in oldest.text

    runs = _table(page, "sweep-runs")
    assert runs[1][1:] == ["url", "7", "0", "0", "running"]
    assert runs[2][1:] == ["cli", "40", "3", "2", "1 min 35 s"]


def test_seven_days_adds_the_older_rows(staff_client: FlaskClient, rows: dict[str, str]) -> None:
    page = _page(staff_client, "7d")
    current = page.find("ul", data_testid="periods").find("a", aria_current="page")
    assert current.text == "7 days"
    bars = _bars(page, "payments-per-day")
    assert bars[(_label(3), "Paid")] == 1 and bars[(_label(3), "Refunded")] == 1
    assert sum(bars.values()) == 8
    assert len(_table(page, "payments-per-day-table")) == 1 + 7  # every day, empty ones too
    assert _bars(page, "revenue-usd") == {(_label(0), "USD"): 3500, (_label(3), "USD"): 1000}
    median = {row[0]: row[2] for row in _table(page, "median-to-paid-table")[1:]}
    assert sorted(median.values()) == ["120", "180", "600"]  # mpgs: (120 + 240) / 2
    conversion = [row[1:] for row in _table(page, "conversion-table")[1:]]
    assert ["3", "2", "67 %"] in conversion and ["2", "1", "50 %"] in conversion
    errors = [row[2:] for row in _table(page, "errors-per-day-table")[1:]]
    assert errors == [["1", "4", "25 %"], ["2", "3", "67 %"]]  # mpgs 3 days ago, stripe today
    assert page.find(data_testid="late").text == "1"


def test_thirty_days_keeps_currencies_apart_and_drops_older_rows(
    staff_client: FlaskClient, rows: dict[str, str]
) -> None:
    page = _page(staff_client, "30d")
    assert sum(_bars(page, "payments-per-day").values()) == 9  # not the two from 40 days ago
    assert _bars(page, "revenue-gbp") == {(_label(20), "GBP"): 999}
    assert 10000 not in _bars(page, "revenue-usd").values()
    median = sorted(int(row[2]) for row in _table(page, "median-to-paid-table")[1:])
    assert median == [60, 180, 600]  # stripe: 30, 60, 180


def test_an_unknown_period_is_today_and_an_empty_period_says_so(
    staff_client: FlaskClient,
) -> None:
    page = parse(staff_client.get("/staff/?period=365d").data)
    current = page.find("ul", data_testid="periods").find("a", aria_current="page")
    assert current.text == "Today"
    assert "Nothing in this period." in page.text
    assert "Nothing was paid in this period." in page.text
    assert "every payment has a final status" in page.find(data_testid="oldest").text


def test_the_search_box_still_finds_a_payment(
    staff_client: FlaskClient, rows: dict[str, str]
) -> None:
    page = staff_client.get(f"/staff/?q={rows['s1']}").get_data(as_text=True)
    assert f"/staff/payments/{rows['s1']}" in page and 'data-chart="' not in page
