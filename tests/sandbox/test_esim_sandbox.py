"""The eSIM provider emulator on the wire (docs/esim-provider.md), tested with plain HTTP.

These tests do not use our client: they pin what the sandbox answers, so the client tests above
it are checked against the provider's behaviour rather than against themselves.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from checkout.fulfilment.provider import SANDBOX_API_KEY
from checkout.sandbox.common import luhn_ok
from checkout.sandbox.esim.store import SMDP_ADDRESS

HEADERS = {"X-API-Key": SANDBOX_API_KEY}


def _order(sandbox, body: dict[str, Any], headers: dict[str, str] = HEADERS) -> requests.Response:
    return requests.post(f"{sandbox.url}/esim/v1/orders", json=body, headers=headers, timeout=5)


def _bought(sandbox) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/esim/orders", timeout=5).json()


def test_an_order_sells_one_esim_with_its_activation_parts(sandbox) -> None:
    answer = _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a1"})

    assert answer.status_code == 201
    data = answer.json()["data"]
    assert data["id"].startswith("eso_")
    assert (data["reference"], data["plan"], data["quantity"]) == ("ord_a1", "japan-5gb", 1)
    esim = data["esims"][0]
    assert esim["iccid"].startswith("89") and len(esim["iccid"]) == 19
    assert luhn_ok(esim["iccid"])
    assert esim["smdp_address"] == SMDP_ADDRESS
    assert esim["lpa"] == f"LPA:1${SMDP_ADDRESS}${esim['matching_id']}"
    assert _bought(sandbox)["ord_a1"]["bought"] == 1


def test_a_repeated_reference_answers_the_same_esim_and_buys_nothing(sandbox) -> None:
    body = {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a2"}
    first = _order(sandbox, body)
    again = _order(sandbox, body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert _bought(sandbox)["ord_a2"]["bought"] == 1


def test_a_repeated_reference_for_another_plan_is_a_conflict(sandbox) -> None:
    _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a3"})
    other = _order(sandbox, {"plan": "spain-1gb", "quantity": 1, "reference": "ord_a3"})

    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert _bought(sandbox)["ord_a3"]["plan"] == "japan-5gb"


@pytest.mark.parametrize("key", ["", "wrong-key"])
def test_a_missing_or_wrong_api_key_is_401_and_sells_nothing(sandbox, key: str) -> None:
    answer = _order(
        sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a4"}, {"X-API-Key": key}
    )

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert _bought(sandbox) == {}


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 1, "reference": "ord_a5"},
        {"plan": "japan-5gb", "quantity": 1},
        {"plan": "japan-5gb", "quantity": 2, "reference": "ord_a5"},
        {"plan": "japan-5gb", "quantity": 1, "reference": "x" * 65},
    ],
    ids=["no plan", "no reference", "two eSIMs", "long reference"],
)
def test_an_invalid_order_is_422_and_sells_nothing(sandbox, body: dict[str, Any]) -> None:
    answer = _order(sandbox, body)

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"
    assert _bought(sandbox) == {}


def test_out_of_stock_refuses_new_orders_but_replays_the_old_ones(sandbox) -> None:
    sold = _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a6"})
    requests.post(
        f"{sandbox.url}/_sandbox/esim/stock",
        json={"plan": "japan-5gb", "in_stock": False},
        timeout=5,
    )

    refused = _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a7"})
    replayed = _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a6"})
    other_plan = _order(sandbox, {"plan": "spain-1gb", "quantity": 1, "reference": "ord_a8"})

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "out_of_stock"
    assert replayed.status_code == 200 and replayed.json() == sold.json()
    assert other_plan.status_code == 201
    assert set(_bought(sandbox)) == {"ord_a6", "ord_a8"}


def test_stock_comes_back(sandbox) -> None:
    stock = f"{sandbox.url}/_sandbox/esim/stock"
    requests.post(stock, json={"plan": "japan-5gb", "in_stock": False}, timeout=5)
    requests.post(stock, json={"plan": "japan-5gb", "in_stock": True}, timeout=5)

    answer = _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_a9"})

    assert answer.status_code == 201


def test_error_knob_answers_the_providers_5xx_and_sells_nothing(sandbox) -> None:
    sandbox.knobs("esim", error_rate=1.0)

    answer = _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_b1"})

    assert answer.status_code in (500, 503)
    assert answer.json()["error"]["code"] in {"internal_error", "service_unavailable"}
    assert _bought(sandbox) == {}


def test_malformed_knob_answers_a_body_that_is_not_json(sandbox) -> None:
    sandbox.knobs("esim", malformed_rate=1.0)

    answer = _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_b2"})

    assert answer.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        answer.json()


def test_knobs_are_set_over_http_and_survive_a_reset(sandbox) -> None:
    knobs = requests.post(f"{sandbox.url}/_sandbox/knobs/esim", json={"latency_ms": 5}, timeout=5)
    assert knobs.json()["knobs"]["esim"]["latency_ms"] == 5

    sandbox.env.reset()

    assert sandbox.env.knobs["esim"].latency_ms == 0
    assert requests.get(f"{sandbox.url}/_sandbox/", timeout=5).json()["knobs"]["esim"]


def test_reset_forgets_orders_and_stock(sandbox) -> None:
    _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_b3"})
    requests.post(
        f"{sandbox.url}/_sandbox/esim/stock",
        json={"plan": "japan-5gb", "in_stock": False},
        timeout=5,
    )

    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)

    assert _bought(sandbox) == {}
    assert _order(sandbox, {"plan": "japan-5gb", "quantity": 1, "reference": "ord_b4"}).ok


def test_a_forced_answer_is_sent_once(sandbox) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/esim/next-answer",
        json={"status": 429, "body": {"error": {"code": "rate_limited", "message": "slow down"}}},
        timeout=5,
    )
    body = {"plan": "japan-5gb", "quantity": 1, "reference": "ord_b5"}

    assert _order(sandbox, body).status_code == 429
    assert _order(sandbox, body).status_code == 201
