"""HyperPay's AES-256-GCM webhooks: the documents' known-answer vector, then our own deliveries."""

from __future__ import annotations

import json

import pytest

from checkout.gateways.base import InvalidNotification
from checkout.gateways.copyandpay.notifications import decrypt, parse

from .conftest import seal

# The decryption example of the OPPWA webhook documents (docs/copyandpay.md, "Webhooks").
DOC_KEY = "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f"
DOC_HEADERS = {
    "X-Initialization-Vector": "000000000000000000000000",
    "X-Authentication-Tag": "CE573FB7A41AB78E743180DC83FF09BD",
}
DOC_BODY = b"0A3471C72D9BE49A8520F79C66BBD9A12FF9"
KEY = "6f1b5e3c9a2d4f7081b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
ENTITY = "8ac7a4c87011ca7ec0b7a9d000000001"


def payment_event(**payload: object) -> bytes:
    body = {
        "id": "8ac7a4a1000000010000000200000003",
        "paymentType": "DB",
        "amount": "92.00",
        "currency": "SAR",
        "merchantTransactionId": "P-REF-1",
        "ndc": "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6.sbx01-vm-tx01",
        "result": {"code": "000.000.000", "description": "Transaction succeeded"},
        "card": {"bin": "420000", "last4Digits": "0000", "holder": "Jane Jones"},
        "authentication": {"entityId": ENTITY},
        **payload,
    }
    return json.dumps({"type": "PAYMENT", "payload": body}).encode()


def test_the_documented_vector_decrypts() -> None:
    assert decrypt(DOC_HEADERS, DOC_BODY, DOC_KEY) == b'{"type":"PAYMENT"}'


def test_a_payment_webhook_names_our_payment_and_only_triggers_a_look_up() -> None:
    body, headers = seal(payment_event(), KEY)
    inbound = parse(headers, body, KEY, ENTITY)
    assert inbound.payment_ref == "P-REF-1"
    assert inbound.gateway_reference == "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6.sbx01-vm-tx01"
    assert inbound.observation is None
    assert inbound.event_id == "8ac7a4a1000000010000000200000003/000.000.000"
    assert inbound.event_type == "PAYMENT.DB"
    assert not inbound.ignore
    assert "card" not in inbound.payload["payload"]
    assert "Jane" not in json.dumps(inbound.payload)


def test_pending_then_success_of_one_transaction_are_two_events() -> None:
    body, headers = seal(payment_event(result={"code": "000.200.000"}), KEY)
    pending = parse(headers, body, KEY, ENTITY)
    body, headers = seal(payment_event(), KEY)
    assert pending.event_id != parse(headers, body, KEY, ENTITY).event_id


def test_the_json_wrapper_is_accepted() -> None:
    body, headers = seal(payment_event(), KEY)
    wrapped = json.dumps({"encryptedBody": body.decode()}).encode()
    assert parse(headers, wrapped, KEY, ENTITY).payment_ref == "P-REF-1"


def test_another_entitys_payment_is_stored_and_ignored() -> None:
    body, headers = seal(payment_event(authentication={"entityId": "someone-else"}), KEY)
    assert parse(headers, body, KEY, ENTITY).ignore


def test_other_types_are_ignored() -> None:
    body, headers = seal(json.dumps({"type": "REGISTRATION", "action": "CREATED"}).encode(), KEY)
    inbound = parse(headers, body, KEY, ENTITY)
    assert inbound.ignore
    assert inbound.event_type == "REGISTRATION"


def _tampered_tag(headers: dict[str, str]) -> dict[str, str]:
    tag = headers["X-Authentication-Tag"]
    flipped = ("0" if tag[0] != "0" else "1") + tag[1:]
    return {**headers, "X-Authentication-Tag": flipped}


@pytest.mark.parametrize(
    "forge",
    [
        lambda body, headers: (body, _tampered_tag(headers)),  # bad tag
        lambda body, headers: (body[:-2] + (b"00" if body[-2:] != b"00" else b"11"), headers),
        lambda body, headers: (b"not hex at all", headers),  # garbage
        lambda body, headers: (b"\xff\xfe", headers),  # not text
        lambda body, headers: (body, {"X-Authentication-Tag": headers["X-Authentication-Tag"]}),
        lambda body, headers: (body, {**headers, "X-Authentication-Tag": "CE57"}),  # short tag
        lambda body, headers: (b'{"encryptedBody": 5}', headers),
        lambda body, headers: (b"{not json", headers),
    ],
)
def test_forged_or_broken_deliveries_are_invalid(forge) -> None:
    body, headers = seal(payment_event(), KEY)
    with pytest.raises(InvalidNotification):
        forged_body, forged_headers = forge(body, headers)
        parse(forged_headers, forged_body, KEY, ENTITY)


def test_a_delivery_under_another_key_is_invalid() -> None:
    body, headers = seal(payment_event(), DOC_KEY)
    with pytest.raises(InvalidNotification):
        parse(headers, body, KEY, ENTITY)


@pytest.mark.parametrize("key", ["", "abc", "zz" * 32, "00" * 16])
def test_a_missing_or_malformed_key_refuses_everything(key: str) -> None:
    body, headers = seal(payment_event(), KEY)
    with pytest.raises(InvalidNotification):
        parse(headers, body, key, ENTITY)


def test_a_decrypted_body_that_is_not_an_object_is_invalid() -> None:
    body, headers = seal(b"[1, 2, 3]", KEY)
    with pytest.raises(InvalidNotification):
        parse(headers, body, KEY, ENTITY)
