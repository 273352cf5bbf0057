"""The staff payments list: filters as SQL, keyset pages, counts per status, the CSV stream,
the sweeps page and the staff layout.

Request tests use the rendered filter form (a GET form, so filters stay in the URL) and follow
the rendered Next / Previous links. Every combination of filters is also checked against the
same rows filtered in Python; tests/postgres/test_staff_queries.py runs that check on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.extensions import db
from checkout.models import AuditEntry, Payment, StaffRole, StaffUser, SweepRun
from checkout.payments import staff_queries
from checkout.states import PaymentStatus
from tests.blueprints.html_helpers import Form, parse, read_form
from tests.blueprints.test_staff import PASSWORD, login

DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def support_client(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        user = StaffUser(email="support@tollgate.test", role=StaffRole.SUPPORT)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    assert login(client, "support@tollgate.test").status_code == 303
    return client


# (gateway, status, amount, currency, email, gateway reference, review, late, refunded, days ago)
ROWS: list[tuple[Any, ...]] = [
    ("stripe", "COMPLETED", 1250, "USD", "Ann@Example.com", "pi_AAA", False, False, 0, 0),
    ("stripe", "COMPLETED", 1250, "USD", "bob@example.com", "pi_BBB", True, False, 500, 0),
    ("mpgs", "FAILED", 990, "EUR", "carl_x@example.com", "SESSION0001", False, False, 0, 1),
    ("mpgs", "COMPLETED", 5000, "EUR", "dora%@example.com", "SESSION0002", True, True, 0, 2),
    ("coinpayments", "EXPIRED", 1250, "USD", "eve@example.com", "CPABC", False, False, 0, 3),
    ("coinpayments", "COMPLETED", 700, "USD", "FRED@example.com", "CPDEF", True, True, 700, 3),
    ("coinpayments", "PENDING", 300, "JPY", "gil@example.com", None, False, False, 0, 5),
    ("stripe", "REFUNDED", 8000, "USD", "hal@example.com", "pi_HHH", False, False, 8000, 9),
]


@pytest.fixture
def seeded(app: Flask, make_payment: Any) -> list[dict[str, Any]]:
    """The ROWS as payments, with ties in created_at and amount so keyset pages meet them."""
    facts = []
    with app.app_context():
        for gateway, status, amount, currency, email, ref, review, late, refunded, ago in ROWS:
            payment = make_payment(
                gateway=gateway,
                status=PaymentStatus(status),
                amount=amount,
                currency=currency,
                gateway_reference=ref,
                needs_review=review,
                late=late,
                refunded_amount=refunded,
                created_at=DAY - timedelta(days=ago),
            )
            payment.order.email = email
            db.session.commit()
            facts.append(_facts(payment))
    return facts


def _facts(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "ref": p.ref,
        "order_ref": p.order.ref,
        "email": p.order.email,
        "gateway": p.gateway,
        "status": str(p.status),
        "amount": p.amount,
        "currency": p.currency,
        "gateway_reference": p.gateway_reference,
        "review": p.needs_review,
        "late": p.late,
        "refunded": p.refunded_amount,
        "created_at": p.created_at,
    }


def _expected(rows: list[dict[str, Any]], args: dict[str, str]) -> list[str]:
    """The refs the filter should give, in its order, computed in Python from the seed."""

    def keep(r: dict[str, Any]) -> bool:
        text = args.get("q", "").lower()
        fields = (r["ref"], r["order_ref"], r["gateway_reference"] or "", r["email"])
        minor = {"USD": 100, "EUR": 100, "JPY": 1}.get(args.get("currency", ""), 100)
        day = r["created_at"].date()
        return all(
            (
                not args.get("status") or r["status"] == args["status"],
                not args.get("gateway") or r["gateway"] == args["gateway"],
                not args.get("review") or r["review"],
                not args.get("late") or r["late"],
                not args.get("refunded") or r["refunded"] > 0,
                not args.get("from") or day >= date.fromisoformat(args["from"]),
                not args.get("to") or day <= date.fromisoformat(args["to"]),
                not args.get("currency") or r["currency"] == args["currency"],
                not args.get("min") or r["amount"] >= Decimal(args["min"]) * minor,
                not args.get("max") or r["amount"] <= Decimal(args["max"]) * minor,
                not text or any(text in f.lower() for f in fields),
            )
        )

    key, descending = staff_queries.SORTS[args.get("sort", "newest")]
    chosen = [r for r in rows if keep(r)]
    chosen.sort(key=lambda r: (r[key], r["id"]), reverse=descending)
    return [r["ref"] for r in chosen]


def _filter_form(client: FlaskClient, url: str = "/staff/payments") -> Form:
    page = client.get(url)
    assert page.status_code == 200, page.data
    return read_form(parse(page.data).find("form", data_testid="payment-filters"))


def _fill(form: Form, args: dict[str, str]) -> Form:
    for name, value in args.items():
        if name in ("review", "late", "refunded"):
            form.tick(name)
        elif name in ("status", "gateway", "currency", "sort"):
            form.select(name, value)
        else:
            form.fill(name, value)
    return form


def _listed(client: FlaskClient, response: Any) -> list[str]:
    """Every ref the list shows, following the rendered Next links to the last page."""
    refs: list[str] = []
    while True:
        assert response.status_code == 200, response.data
        page = parse(response.data)
        table = page.find("table", data_testid="payments")
        refs += [tr.get("data-ref") for tr in table.find_all("tr")[1:]] if table else []
        following = page.find("a", rel="next")
        if following is None:
            return refs
        response = client.get(following.get("href"))


#: Each filter with the value it is combined with (amounts in the chosen currency).
FILTERS = {
    "status": "COMPLETED",
    "gateway": "coinpayments",
    "review": "1",
    "late": "1",
    "refunded": "1",
    "from": "2026-03-07",
    "to": "2026-03-09",
    "currency": "USD",
    "min": "7.00",
    "max": "12.50",
}
TEXTS = ["", "EXAMPLE.COM", "cpdef", "_x", "%"]


def _every_combination() -> list[dict[str, str]]:
    """Every subset of FILTERS (amounts only with the currency), each with a search text and a
    sort order taken in turn, so every text and every sort meets many subsets."""
    names = list(FILTERS)
    found = []
    for size in range(len(names) + 1):
        for subset in itertools.combinations(names, size):
            if ("min" in subset or "max" in subset) and "currency" not in subset:
                continue
            args = {name: FILTERS[name] for name in subset}
            n = len(found)
            if text := TEXTS[n % len(TEXTS)]:
                args["q"] = text
            args["sort"] = list(staff_queries.SORTS)[n % len(staff_queries.SORTS)]
            found.append(args)
    return found


def test_every_filter_combination_selects_the_same_rows_as_python(
    app: Flask, seeded: list[dict[str, Any]]
) -> None:
    """The SQL of each combination against the same filter in Python, every page walked."""
    combinations = _every_combination()
    assert len(combinations) == 640
    with app.app_context():
        for args in combinations:
            wanted = staff_queries.read_filter(args, ["stripe", "mpgs", "coinpayments"])
            refs: list[str] = []
            cursor = None
            while True:
                found = staff_queries.page(wanted, after=cursor, size=3)
                refs += [p.ref for p in found.payments]
                if found.next_cursor is None:
                    break
                cursor = found.next_cursor
            assert refs == _expected(seeded, args), args
            by_status = staff_queries.counts(wanted)
            assert sum(by_status.values()) == len(_expected(seeded, {**args, "status": ""}))


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"status": "COMPLETED"},
        {"gateway": "mpgs"},
        {"review": "1", "late": "1"},
        {"refunded": "1", "sort": "amount_asc"},
        {"from": "2026-03-07", "to": "2026-03-09"},
        {"currency": "USD", "min": "7", "max": "12.50", "sort": "amount_desc"},
        {"currency": "JPY", "min": "300"},
        {"q": "example.COM", "sort": "oldest"},
        {"q": "%"},  # a literal percent sign: only dora%@
        {"q": "_x"},  # a literal underscore: only carl_x@
        {"q": "session000"},
        {"status": "COMPLETED", "gateway": "coinpayments", "review": "1", "q": "fred"},
    ],
)
def test_the_filter_form_lists_exactly_the_matching_payments(
    support_client: FlaskClient,
    seeded: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    args: dict[str, str],
) -> None:
    monkeypatch.setattr(staff_queries, "PAGE_SIZE", 2)
    response = _fill(_filter_form(support_client), args).submit(support_client)
    assert set(args.items()) <= set(response.request.args.items(multi=True))  # in the URL
    assert _listed(support_client, response) == _expected(seeded, args)


def test_next_and_previous_links_walk_the_same_pages_back(
    support_client: FlaskClient, seeded: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staff_queries, "PAGE_SIZE", 3)
    response = _fill(_filter_form(support_client), {"sort": "amount_desc"}).submit(support_client)
    pages = []
    while True:
        page = parse(response.data)
        pages.append([tr.get("data-ref") for tr in page.find("table").find_all("tr")[1:]])
        assert (page.find("a", rel="prev") is None) == (len(pages) == 1)
        following = page.find("a", rel="next")
        if following is None:
            break
        assert "after=" in following.get("href") and "sort=amount_desc" in following.get("href")
        response = support_client.get(following.get("href"))
    assert [ref for p in pages for ref in p] == _expected(seeded, {"sort": "amount_desc"})
    assert len(pages) == 3
    back = []
    while (previous := parse(response.data).find("a", rel="prev")) is not None:
        response = support_client.get(previous.get("href"))
        back.append([tr.get("data-ref") for tr in parse(response.data).find_all("tr")[1:]])
    assert back == pages[-2::-1]


def test_counts_per_status_follow_the_other_filters(
    support_client: FlaskClient, seeded: list[dict[str, Any]]
) -> None:
    args = {"currency": "USD", "status": "COMPLETED"}
    page = parse(_fill(_filter_form(support_client), args).submit(support_client).data)
    tabs = page.find("ul", data_testid="status-counts")
    shown = {s.get("data-count"): int(s.text) for s in tabs.find_all("span")}
    assert shown == {
        "all": 5,
        "CREATED": 0,
        "PENDING": 0,
        "COMPLETED": 3,
        "FAILED": 0,
        "EXPIRED": 1,
        "CANCELLED": 0,
        "REFUNDED": 1,
    }
    labels = [a.text for a in tabs.find_all("a")]
    assert "Paid 3" in labels and "Refunded 1" in labels  # words, never the raw enum value
    current = tabs.find("a", aria_current="page")
    assert current.text == "Paid 3"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"min": "5"}, "Amount from: choose a currency too"),
        ({"currency": "JPY", "max": "1.5"}, "Amount to: '1.5' has more decimals than JPY allows"),
        ({"currency": "USD", "min": "ten"}, "Amount from: not an amount"),
        ({"from": "2026-03-09", "to": "2026-03-01"}, "the range ends before it starts"),
        ({"currency": "EUR", "min": "9", "max": "1"}, "the range ends below where it starts"),
    ],
)
def test_filters_that_cannot_be_applied_are_refused_in_words(
    support_client: FlaskClient, seeded: list[dict[str, Any]], args: dict[str, str], message: str
) -> None:
    response = _fill(_filter_form(support_client), args).submit(support_client)
    assert response.status_code == 400
    page = parse(response.data)
    errors = [e.text for e in page.find_all(data_testid="filter-error")]
    assert any(message in e for e in errors), errors
    assert page.find("table", data_testid="payments") is None
    form = read_form(page.find("form", data_testid="payment-filters"))
    assert {n: v for n, v in form.data() if v and n != "sort"} == args  # kept to be corrected
    csv_answer = support_client.get("/staff/payments.csv", query_string=args)
    assert csv_answer.status_code == 400 and message.encode() in csv_answer.data


def test_a_hand_edited_page_link_is_refused(support_client: FlaskClient) -> None:
    answer = support_client.get("/staff/payments?after=not-a-cursor")
    assert answer.status_code == 400
    assert b"That page link is broken" in answer.data


@pytest.mark.parametrize(
    "args",
    [{}, {"status": "COMPLETED", "sort": "amount_asc"}, {"q": "EXAMPLE", "refunded": "1"}],
)
def test_the_csv_streams_exactly_the_filtered_rows(
    support_client: FlaskClient,
    seeded: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    args: dict[str, str],
) -> None:
    monkeypatch.setattr(staff_queries, "PAGE_SIZE", 2)
    monkeypatch.setattr(staff_queries, "STREAM_CHUNK", 3)
    listing = _fill(_filter_form(support_client), args).submit(support_client)
    listed = _listed(support_client, listing)
    link = parse(listing.data).find("a", data_testid="export-csv")
    answer = support_client.get(link.get("href"))
    assert answer.status_code == 200 and answer.is_streamed
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [line["payment_ref"] for line in lines] == listed == _expected(seeded, args)
    by_ref = {line["payment_ref"]: line for line in lines}
    for row in seeded:
        if row["ref"] in by_ref:
            line = by_ref[row["ref"]]
            assert line["email"] == row["email"] and line["status"] == row["status"]
            assert line["gateway_reference"] == (row["gateway_reference"] or "")
    if "pi_BBB" in [line["gateway_reference"] for line in lines]:
        bob = next(line for line in lines if line["gateway_reference"] == "pi_BBB")
        assert (bob["amount"], bob["refunded"], bob["needs_review"]) == ("12.50", "5.00", "yes")
    exports = db.session.scalars(db.select(AuditEntry).filter_by(action="export")).all()
    assert [(e.staff_email, e.target) for e in exports] == [
        ("support@tollgate.test", "payments.csv")
    ]


def test_csv_cells_never_run_as_spreadsheet_formulas(
    app: Flask, support_client: FlaskClient, make_payment: Any
) -> None:
    with app.app_context():
        payment = make_payment(gateway="stripe", gateway_reference="=HYPERLINK(1)")
        payment.order.email = "+1@example.com"
        db.session.commit()
    [line] = list(csv.DictReader(io.StringIO(support_client.get("/staff/payments.csv").text)))
    assert line["gateway_reference"] == "'=HYPERLINK(1)" and line["email"] == "'+1@example.com"


def test_rows_show_gateway_labels_and_status_words(
    support_client: FlaskClient, seeded: list[dict[str, Any]]
) -> None:
    table = parse(support_client.get("/staff/payments").data).find("table", data_testid="payments")
    cells = table.text
    assert "Stripe" in cells and "Paid" in cells and "Refunded" in cells
    assert "COMPLETED" not in cells and "coinpayments" not in cells


def test_the_staff_layout_has_its_own_navigation(support_client: FlaskClient) -> None:
    page = parse(support_client.get("/staff/payments").data)
    nav = page.find("nav", aria_label="Staff")
    links = {a.text: a.get("href") for a in nav.find_all("a")}
    assert links["Payments"] == "/staff/payments" and links["Sweeps"] == "/staff/sweeps"
    assert links["Fulfilment"] == "/staff/fulfilment" and links["Dashboard"] == "/staff/"
    assert links["Review queue"] == "/staff/review"
    assert "Staff users" not in links and "Audit log" not in links  # admins only
    assert nav.find("a", aria_current="page").text == "Payments"
    assert page.find("nav", aria_label="Main") is None  # the shopper's navigation
    assert "support@tollgate.test" in page.find(data_testid="signed-in").text


def test_admins_also_see_staff_users_and_the_audit_log(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        user = StaffUser(email="admin@tollgate.test", role=StaffRole.ADMIN)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    login(client, "admin@tollgate.test")
    nav = parse(client.get("/staff/sweeps").data).find("nav", aria_label="Staff")
    assert [a.text for a in nav.find_all("a")] == [
        "Dashboard",
        "Payments",
        "Review queue",
        "Fulfilment",
        "Sweeps",
        "Gateways",
        "Audit log",
        "Staff users",
    ]
    for link in nav.find_all("a"):
        assert client.get(link.get("href")).status_code == 200, link.get("href")


def test_the_sweeps_page_lists_runs_newest_first(app: Flask, support_client: FlaskClient) -> None:
    with app.app_context():
        db.session.add_all(
            [
                SweepRun(
                    trigger="cli",
                    started_at=DAY,
                    finished_at=DAY + timedelta(seconds=3),
                    checked=12,
                    changed=2,
                    errors=1,
                ),
                SweepRun(trigger="url", started_at=DAY + timedelta(hours=1)),
            ]
        )
        db.session.commit()
    table = parse(support_client.get("/staff/sweeps").data).find("table", data_testid="sweeps")
    rows = [[td.text for td in tr.find_all("td")] for tr in table.find_all("tr")[1:]]
    assert rows[0][1:3] == ["url", "running"]
    assert rows[1][1:6] == ["cli", "3.0 s", "12", "2", "0"] and rows[1][6] == "1"


def test_the_list_and_export_need_a_login(client: FlaskClient) -> None:
    for path in ("/staff/payments", "/staff/payments.csv", "/staff/sweeps"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/staff/login")


def test_the_payment_page_lists_the_orders_payments_and_staff_actions(
    app: Flask, support_client: FlaskClient, make_payment: Any
) -> None:
    with app.app_context():
        first = make_payment(gateway="stripe", status=PaymentStatus.FAILED)
        second = Payment(
            order_id=first.order_id,
            gateway="coinpayments",
            amount=1250,
            currency="USD",
            status=PaymentStatus.COMPLETED,
            refunded_amount=250,
        )
        db.session.add(second)
        db.session.flush()
        first.order.paid_by_payment_id = second.id
        db.session.add_all(
            [
                AuditEntry(
                    staff_email="admin@tollgate.test",
                    action="refund",
                    target=second.ref,
                    ip="10.0.0.9",
                    details={"amount": "2.50 USD"},
                    at=DAY,
                ),
                AuditEntry(staff_email="support@tollgate.test", action="note", target=first.ref),
            ]
        )
        db.session.commit()
        refs = first.ref, second.ref
    page = parse(support_client.get(f"/staff/payments/{refs[1]}").data)
    table = page.find("table", data_testid="order-payments")
    rows = {tr.get("data-ref"): tr.text for tr in table.find_all("tr")[1:]}
    assert list(rows) == list(refs)
    assert "Failed" in rows[refs[0]] and "Stripe" in rows[refs[0]]
    assert "(this one)" in rows[refs[1]] and "paid the order" in rows[refs[1]]
    assert "2.50 USD" in rows[refs[1]] and "Paid" in rows[refs[1]]
    assert table.find("a").get("href") == f"/staff/payments/{refs[0]}"
    actions = page.find("table", data_testid="staff-actions")
    [entry] = [[td.text for td in tr.find_all("td")] for tr in actions.find_all("tr")[1:]]
    assert entry == [
        "2026-03-10 12:00:00",
        "admin@tollgate.test",
        "refund",
        "10.0.0.9",
        "amount: 2.50 USD",
    ]
    heading = page.find("h2", id="facts").text
    assert "coinpayments" not in heading  # the registry's label, not the plugin name
