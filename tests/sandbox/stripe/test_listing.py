"""`GET /v1/checkout/sessions` at the emulator, against Stripe's API reference (docs/stripe.md).

Raw HTTP where the wire shape matters (the list object, error bodies), the official SDK where a
client would page through it.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from checkout.sandbox import credentials
from tests.sandbox.test_stripe_sandbox import session_params

KEY = credentials.STRIPE["secret_key"]
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def client(sandbox) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


def open_sessions(client: stripe.StripeClient, n: int) -> list[str]:
    """`n` sessions, oldest first."""
    return [
        client.v1.checkout.sessions.create(params=session_params(client_reference_id=f"p{i}")).id
        for i in range(n)
    ]


def get(sandbox, query: str) -> requests.Response:
    return requests.get(f"{sandbox.url}/v1/checkout/sessions?{query}", headers=AUTH, timeout=5)


def test_the_list_object_newest_first_ten_by_default(sandbox, client) -> None:
    ids = open_sessions(client, 12)
    answer = get(sandbox, "")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"object", "data", "has_more", "url"}
    assert (body["object"], body["url"], body["has_more"]) == (
        "list",
        "/v1/checkout/sessions",
        True,
    )
    assert [s["id"] for s in body["data"]] == ids[::-1][:10]
    assert all(s["object"] == "checkout.session" for s in body["data"])


def test_pages_with_starting_after_and_ending_before(sandbox, client) -> None:
    ids = open_sessions(client, 7)
    newest_first = ids[::-1]
    first = client.v1.checkout.sessions.list(params={"limit": 3})
    assert [s.id for s in first.data] == newest_first[:3] and first.has_more
    second = client.v1.checkout.sessions.list(
        params={"limit": 3, "starting_after": first.data[-1].id}
    )
    assert [s.id for s in second.data] == newest_first[3:6] and second.has_more
    last = client.v1.checkout.sessions.list(
        params={"limit": 3, "starting_after": second.data[-1].id}
    )
    assert [s.id for s in last.data] == newest_first[6:] and not last.has_more
    # ending_before: the objects just newer than the cursor, still newest first
    back = client.v1.checkout.sessions.list(params={"limit": 2, "ending_before": newest_first[4]})
    assert [s.id for s in back.data] == newest_first[2:4] and back.has_more
    # the SDK's auto-paging walks every page with starting_after
    every = client.v1.checkout.sessions.list(params={"limit": 2}).auto_paging_iter()
    assert [s.id for s in every] == newest_first


def test_pagination_over_more_than_a_hundred(sandbox, client) -> None:
    ids = open_sessions(client, 130)
    first = get(sandbox, "limit=100").json()
    assert len(first["data"]) == 100 and first["has_more"]
    rest = get(sandbox, f"limit=100&starting_after={first['data'][-1]['id']}").json()
    assert len(rest["data"]) == 30 and not rest["has_more"]
    assert [s["id"] for s in first["data"] + rest["data"]] == ids[::-1]


def test_filters_by_status_and_created_range(sandbox, client) -> None:
    [old] = open_sessions(client, 1)
    sandbox.advance(10)
    [paid, left, gone] = open_sessions(client, 3)
    sandbox.advance(10)
    [new] = open_sessions(client, 1)
    requests.post(
        f"{sandbox.url}/c/pay/{paid}",
        data={"cardNumber": "4242424242424242", "cardExpiry": "12/40", "cardCvc": "123"},
        allow_redirects=False,
        timeout=5,
    )
    client.v1.checkout.sessions.expire(gone)
    created = client.v1.checkout.sessions.retrieve(paid).created

    def listed(**params: Any) -> list[str]:
        return [s.id for s in client.v1.checkout.sessions.list(params=params).data]

    window = {"gte": created, "lte": created}
    assert listed(created=window) == [gone, left, paid]
    assert listed(created=window, status="complete") == [paid]
    assert listed(created=window, status="expired") == [gone]
    assert listed(created=window, status="open") == [left]
    assert listed(created={"gt": created}) == [new]
    assert listed(created={"lt": created}) == [old]
    assert listed(created=created) == [gone, left, paid]
    assert listed(status="open") == [new, left, old]


def test_expanding_the_payment_intent_of_each_listed_session(sandbox, client) -> None:
    [session_id] = open_sessions(client, 1)
    requests.post(
        f"{sandbox.url}/c/pay/{session_id}",
        data={"cardNumber": "4242424242424242", "cardExpiry": "12/40", "cardCvc": "123"},
        allow_redirects=False,
        timeout=5,
    )
    plain = get(sandbox, "").json()["data"][0]
    assert plain["payment_intent"].startswith("pi_")
    expanded = get(sandbox, "expand[]=data.payment_intent").json()["data"][0]
    assert expanded["payment_intent"]["object"] == "payment_intent"
    assert expanded["payment_intent"]["status"] == "succeeded"
    assert expanded["status"] == "complete" and expanded["payment_status"] == "paid"


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        ("limit=0", "limit", "This value must be greater than or equal to 1."),
        ("limit=101", "limit", "This value must be less than or equal to 100."),
        ("limit=ten", "limit", "Invalid integer: ten"),
        ("status=paid", "status", "Invalid status: must be one of complete, expired, or open"),
        ("created[gte]=soon", "created[gte]", "Invalid integer: soon"),
        ("created[since]=1", "created[since]", "Received unknown parameter: created[since]"),
        ("colour=red", "colour", "Received unknown parameter: colour"),
        ("expand[]=payment_intent", "expand", "This property cannot be expanded (payment_intent)."),
        ("starting_after=cs_nope", "starting_after", "No such checkout.session: 'cs_nope'"),
    ],
)
def test_invalid_parameters_get_stripes_400(sandbox, query: str, param: str, message: str) -> None:
    answer = get(sandbox, query)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"] == message


def test_both_cursors_at_once_are_refused(sandbox, client) -> None:
    a, b = open_sessions(client, 2)
    answer = get(sandbox, f"starting_after={a}&ending_before={b}")
    assert answer.status_code == 400
    assert "starting_after and ending_before" in answer.json()["error"]["message"]


def test_the_list_needs_the_secret_key(sandbox) -> None:
    answer = requests.get(f"{sandbox.url}/v1/checkout/sessions", timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_the_throttle_knob_answers_stripes_429(sandbox, client) -> None:
    sandbox.knobs("stripe", throttle_rate=1.0)
    answer = get(sandbox, "")
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limit"
    assert answer.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    with pytest.raises(stripe.RateLimitError):
        client.v1.checkout.sessions.list()
