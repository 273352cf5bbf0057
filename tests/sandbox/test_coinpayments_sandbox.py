"""The CoinPayments sandbox is faithful to the real API (shared/protocols.md section A).

These tests speak raw HTTP to it, not through our client: the envelopes, the HMAC over the bytes
as received (chunked too), the 25-id limit, the types of the numbers, the hosted page's actions,
expiry on the sandbox clock, and the signed IPNs it sends with retries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from flask import Flask, Response, request

from checkout.sandbox import credentials
from checkout.sandbox.server import ThreadedServer

ACCOUNT = credentials.COINPAYMENTS
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def signed(fields: dict[str, str], key: str = ACCOUNT["private_key"]) -> tuple[bytes, dict]:
    body = urlencode(fields).encode()
    digest = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
    return body, {**FORM, "HMAC": digest}


def main_fields(cmd: str, **extra: str) -> dict[str, str]:
    return {"version": "1", "key": ACCOUNT["public_key"], "cmd": cmd, "format": "json", **extra}


def api(sandbox, cmd: str, **extra: str) -> requests.Response:
    body, headers = signed(main_fields(cmd, **extra))
    return requests.post(f"{sandbox.url}/api.php", data=body, headers=headers, timeout=5)


def create(sandbox, ipn_url: str = "", **extra: str) -> dict[str, Any]:
    fields = {
        "amount": "12.50",
        "currency1": "USD",
        "currency2": "LTCT",
        "buyer_email": "shopper@example.com",
        "item_name": "Europe 5 GB",
        "invoice": "pay_test",
        "custom": "ord_test",
        "ipn_url": ipn_url,
        "success_url": "https://shop.example/status/pay_test/return",
        "cancel_url": "https://shop.example/status/pay_test/cancel",
        **extra,
    }
    response = api(sandbox, "create_transaction", **fields)
    envelope = response.json()
    assert envelope["error"] == "ok", envelope
    return envelope["result"]


def act(result: dict[str, Any], action: str) -> requests.Response:
    return requests.post(
        result["checkout_url"],
        data={"action": action},
        headers={"Accept": "application/json"},
        timeout=5,
    )


def info(sandbox, txn_id: str) -> dict[str, Any]:
    envelope = api(sandbox, "get_tx_info", txid=txn_id).json()
    assert envelope["error"] == "ok", envelope
    return envelope["result"]


# -- an IPN receiver on a real port ------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, then 200

    def ipns(self) -> list[dict[str, str]]:
        return [dict(parse_qsl(body.decode())) for _, body in self.posts]


@pytest.fixture(scope="module")
def _receiver_server() -> Iterator[tuple[ThreadedServer, list[Receiver]]]:
    holder: list[Receiver] = []
    lock = threading.Lock()
    app = Flask("ipn-receiver")

    @app.post("/ipn")
    def ipn() -> Response:
        receiver = holder[-1]
        with lock:
            receiver.posts.append((dict(request.headers), request.get_data()))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
        return Response("IPN OK", status)

    server = ThreadedServer(app).start()
    yield server, holder
    server.stop()


@pytest.fixture
def receiver(_receiver_server) -> Receiver:
    server, holder = _receiver_server
    holder.append(Receiver(f"{server.url}/ipn"))
    return holder[-1]


# -- the API envelope and authentication -------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "key", "headers", "error"),
    [
        (main_fields("get_tx_info", txid="x"), None, {}, "No HMAC signature sent."),
        (
            {**main_fields("get_tx_info"), "key": "nope"},
            None,
            None,
            "Invalid API public key passed!",
        ),
        (main_fields("get_tx_info", txid="x"), "wrong", None, "HMAC signature does not match"),
        ({**main_fields("get_tx_info"), "version": "2"}, None, None, "Invalid API version"),
        (main_fields("withdraw_everything"), None, None, "Invalid command!"),
        (main_fields("get_tx_info", txid="CPNOPE"), None, None, "Invalid payment ID!"),
        (main_fields("create_transaction", amount="1"), None, None, "Missing required field"),
    ],
)
def test_errors_are_http_200_envelopes_with_an_empty_array(sandbox, fields, key, headers, error):
    body, signed_headers = signed(fields, key or ACCOUNT["private_key"])
    sent = headers if headers is not None else signed_headers

    response = requests.post(f"{sandbox.url}/api.php", data=body, headers=sent, timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    envelope = response.json()
    assert envelope["error"].startswith(error)
    assert envelope["result"] == []


def test_hmac_covers_the_raw_bytes_not_a_reencoded_form(sandbox):
    # the same fields in another order and spelling: the signature of one is not the other's
    body_a = (
        b"cmd=get_tx_info&txid=CPNOPE&version=1&format=json&key=" + ACCOUNT["public_key"].encode()
    )
    body_b = body_a.replace(b"cmd=get_tx_info&", b"") + b"&cmd=get_tx_info"
    signature_a = hmac.new(ACCOUNT["private_key"].encode(), body_a, hashlib.sha512).hexdigest()

    right = requests.post(
        f"{sandbox.url}/api.php", data=body_a, headers={**FORM, "HMAC": signature_a}, timeout=5
    )
    wrong = requests.post(
        f"{sandbox.url}/api.php", data=body_b, headers={**FORM, "HMAC": signature_a}, timeout=5
    )

    assert right.json()["error"] == "Invalid payment ID!"  # authenticated, then looked up
    assert wrong.json()["error"] == "HMAC signature does not match"


def test_a_chunked_body_is_verified_over_the_bytes_received(sandbox):
    body, headers = signed(main_fields("get_tx_info", txid=create(sandbox)["txn_id"]))
    chunks = [body[:17], body[17:60], body[60:]]

    response = requests.post(
        f"{sandbox.url}/api.php", data=iter(chunks), headers=headers, timeout=5
    )

    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.json()["error"] == "ok"
    assert response.json()["result"]["status"] == 0


def test_create_result_is_typed_like_the_real_api(sandbox):
    result = create(sandbox, item_name="Japan 3 GB")

    assert re.fullmatch(r"CP[A-Z0-9]{24}", result["txn_id"])
    assert result["amount"] == "0.15625000"  # a string with 8 decimals
    assert result["confirms_needed"] == "2"  # a string
    assert result["timeout"] == 3600 and isinstance(result["timeout"], int)
    key = re.search(r"key=([0-9a-f]{32})$", result["checkout_url"]).group(1)
    assert result["checkout_url"].endswith(
        f"/index.php?cmd=checkout&id={result['txn_id']}&key={key}"
    )
    assert result["status_url"].endswith(f"/index.php?cmd=status&id={result['txn_id']}&key={key}")
    assert result["qrcode_url"].endswith(f"/qrgen.php?id={result['txn_id']}&key={key}")


def test_get_tx_info_is_typed_and_accepts_pmtid(sandbox):
    txn_id = create(sandbox)["txn_id"]

    by_txid = info(sandbox, txn_id)
    by_pmtid = api(sandbox, "get_tx_info", pmtid=txn_id).json()["result"]

    assert by_txid == by_pmtid
    for name in ("time_created", "time_expires", "status", "amount", "received", "recv_confirms"):
        assert isinstance(by_txid[name], int), name
    assert by_txid["time_expires"] - by_txid["time_created"] == 3600
    assert (by_txid["amount"], by_txid["amountf"], by_txid["coin"]) == (
        15625000,
        "0.15625000",
        "LTCT",
    )
    assert by_txid["status_text"] == "Waiting for buyer funds..."
    assert "checkout" not in by_txid
    assert "checkout" in api(sandbox, "get_tx_info", txid=txn_id, full="1").json()["result"]


def test_get_tx_info_multi_is_keyed_by_id_with_per_item_errors(sandbox):
    ids = [create(sandbox)["txn_id"] for _ in range(2)]

    result = api(sandbox, "get_tx_info_multi", txid="|".join([*ids, "CPNOPE"])).json()["result"]

    assert set(result) == {*ids, "CPNOPE"}
    assert all(result[i]["error"] == "ok" and result[i]["status"] == 0 for i in ids)
    assert result["CPNOPE"] == {"error": "Invalid payment ID!"}


def test_more_than_25_ids_is_an_error_envelope_and_25_is_fine(sandbox):
    ids = [f"CPFAKE{n:020d}" for n in range(26)]

    too_many = api(sandbox, "get_tx_info_multi", txid="|".join(ids)).json()
    just_right = api(sandbox, "get_tx_info_multi", txid="|".join(ids[:25])).json()

    assert too_many == {"error": "Too many payment IDs! (max 25)", "result": []}
    assert just_right["error"] == "ok" and len(just_right["result"]) == 25


def test_stringified_numbers_setting(sandbox):
    requests.post(
        f"{sandbox.url}/_sandbox/coinpayments/settings", json={"stringify_numbers": True}, timeout=5
    )

    result = info(sandbox, create(sandbox)["txn_id"])

    assert (result["status"], result["amount"], result["received"]) == ("0", "15625000", "0")


# -- the hosted page ---------------------------------------------------------------------------


def test_the_page_names_its_controls_and_refuses_a_wrong_key(sandbox):
    result = create(sandbox)

    page = requests.get(result["checkout_url"], timeout=5)
    wrong = requests.get(result["checkout_url"][:-4] + "0000", timeout=5)

    assert page.status_code == 200
    for label in ("Send full amount", "Send too little", "Send too late", "Let it expire"):
        assert f">{label}</button>" in page.text
    assert ">Return to shop</a>" in page.text
    assert 'href="https://shop.example/status/pay_test/return"' in page.text
    assert 'href="https://shop.example/status/pay_test/cancel"' in page.text
    assert 'data-seconds-left="3600"' in page.text
    assert "0.15625000 LTCT" in page.text
    assert "pay_test" not in page.text.replace("/status/pay_test/", "")  # our refs stay hidden
    assert wrong.status_code == 404


def test_paying_in_full_then_confirming_sends_signed_ipns_0_to_1_to_100(sandbox, receiver):
    result = create(sandbox, ipn_url=receiver.url)
    page = requests.post(result["checkout_url"], data={"action": "send_full"}, timeout=5)

    assert page.status_code == 200 and ">Add a confirmation</button>" in page.text
    assert act(result, "confirm").json()["confirms"] == 1
    done = act(result, "confirm").json()
    sandbox.wait_notifications()

    assert (done["status"], done["status_text"]) == (100, "Complete")
    ipns = receiver.ipns()
    assert [(i["status"], i["received_confirms"]) for i in ipns] == [
        ("1", "0"),
        ("1", "1"),
        ("100", "2"),
    ]
    for headers, body in receiver.posts:
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        expected = hmac.new(ACCOUNT["ipn_secret"].encode(), body, hashlib.sha512).hexdigest()
        assert headers["Hmac"] == expected
    assert len({i["ipn_id"] for i in ipns}) == 3
    last = ipns[-1]
    assert {k: last[k] for k in last if k not in ("ipn_id", "fee", "send_tx")} == {
        "ipn_version": "1.0",
        "ipn_type": "api",
        "ipn_mode": "hmac",
        "merchant": ACCOUNT["merchant_id"],
        "txn_id": result["txn_id"],
        "status": "100",
        "status_text": "Complete",
        "currency1": "USD",
        "currency2": "LTCT",
        "amount1": "12.50",
        "amount2": "0.15625000",
        "email": "shopper@example.com",
        "item_name": "Europe 5 GB",
        "invoice": "pay_test",
        "custom": "ord_test",
        "received_amount": "0.15625000",
        "received_confirms": "2",
    }
    assert last["fee"] == "0.00078125" and len(last["send_tx"]) == 64
    assert info(sandbox, result["txn_id"])["status"] == 100


def test_expiry_follows_the_sandbox_clock_and_keeps_partial_coins(sandbox, receiver):
    result = create(sandbox, ipn_url=receiver.url)
    act(result, "send_short")

    sandbox.advance(3599)
    assert info(sandbox, result["txn_id"])["status"] == 0
    sandbox.advance(2)
    expired = info(sandbox, result["txn_id"])
    sandbox.wait_notifications()

    assert (expired["status"], expired["status_text"]) == (-1, "Cancelled / Timed Out")
    assert expired["received"] == 7812500
    assert [(i["status"], i["received_amount"]) for i in receiver.ipns()] == [
        ("0", "0.07812500"),
        ("-1", "0.07812500"),
    ]
    assert act(result, "send_full").status_code == 409


def test_coins_after_expiry_complete_the_transaction(sandbox, receiver):
    result = create(sandbox, ipn_url=receiver.url)

    late = act(result, "send_late").json()
    sandbox.wait_notifications()

    assert late["status"] == 100
    assert [i["status"] for i in receiver.ipns()] == ["-1", "100"]


def test_auto_confirm_advances_with_the_clock(sandbox, receiver):
    requests.post(
        f"{sandbox.url}/_sandbox/coinpayments/settings",
        json={"auto_confirm_seconds": 60, "confirms_needed": 3},
        timeout=5,
    )
    result = create(sandbox, ipn_url=receiver.url)
    act(result, "send_full")

    sandbox.advance(125)
    assert info(sandbox, result["txn_id"])["recv_confirms"] == 2
    sandbox.advance(60)
    assert info(sandbox, result["txn_id"])["status"] == 100


def test_notifications_knob_off_sends_nothing(sandbox, receiver):
    sandbox.knobs("coinpayments", notifications=False)
    result = create(sandbox, ipn_url=receiver.url)

    act(result, "send_full")
    sandbox.wait_notifications()

    assert receiver.posts == []


def test_a_failing_receiver_is_retried_with_the_same_ipn(sandbox, receiver):
    receiver.statuses = [500, 503]
    result = create(sandbox, ipn_url=receiver.url)

    act(result, "send_full")
    sandbox.wait_notifications()

    assert [i["ipn_id"] for i in receiver.ipns()] == [receiver.ipns()[0]["ipn_id"]] * 3
    (delivery,) = sandbox.env.notifier.log
    assert [status for _, status in delivery.attempts] == [500, 503, 200]
    assert delivery.done


def test_notify_attempts_caps_the_retries(sandbox, receiver):
    sandbox.knobs("coinpayments", notify_attempts=2)
    receiver.statuses = [500] * 5
    result = create(sandbox, ipn_url=receiver.url)

    act(result, "send_full")
    sandbox.wait_notifications()

    assert len(receiver.posts) == 2
    assert not sandbox.env.notifier.log[0].done


def test_actions_that_do_not_apply_are_refused(sandbox):
    result = create(sandbox)

    refused = act(result, "confirm")
    unknown = act(result, "print_money")

    assert refused.status_code == 409
    assert "no coins are waiting" in refused.json()["error"]
    assert unknown.status_code == 409
    assert info(sandbox, result["txn_id"])["status"] == 0
