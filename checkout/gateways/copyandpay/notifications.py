"""HyperPay's encrypted webhooks: AES-256-GCM, read only to learn which payment to look up.

The body is the hex-encoded ciphertext (or, with the back office's JSON wrapper, an object
`{"encryptedBody": "<hex>"}`); the IV and the authentication tag come hex-encoded in the
`X-Initialization-Vector` and `X-Authentication-Tag` headers; the key is the 64-hex-digit secret
of the webhook. A tag that does not verify means a forged or corrupted delivery: it changes
nothing. Delivery order is not guaranteed and one transaction may be reported pending, then
successful, so a notification never carries a status here: it only triggers a fresh look-up.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..base import InboundNotification, InvalidNotification
from ..wire import header, notification_object, object_at, text_at
from .statuses import redact_record, result_of

IV_HEADER = "X-Initialization-Vector"
TAG_HEADER = "X-Authentication-Tag"
TAG_BYTES = 16  # GCM's full 128-bit tag; a shorter one would weaken the check


def _unhex(text: str, what: str) -> bytes:
    try:
        return binascii.unhexlify(text.strip())
    except (binascii.Error, ValueError) as exc:
        raise InvalidNotification(f"{what} is not hexadecimal") from exc


def webhook_key(hex_key: str) -> bytes:
    """The configured key as 32 bytes; InvalidNotification when it is missing or malformed."""
    if not hex_key:
        raise InvalidNotification("no COPYANDPAY_WEBHOOK_KEY is configured")
    key = _unhex(hex_key, "COPYANDPAY_WEBHOOK_KEY")
    if len(key) != 32:
        raise InvalidNotification("COPYANDPAY_WEBHOOK_KEY is not 64 hexadecimal digits")
    return key


def ciphertext_of(body: bytes) -> bytes:
    """The hex ciphertext of a delivery, raw or inside the JSON wrapper, as bytes."""
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise InvalidNotification("notification body is not hexadecimal text") from exc
    if text.startswith("{"):
        try:
            wrapper = json.loads(text)
        except ValueError as exc:
            raise InvalidNotification("notification body is not JSON") from exc
        text = wrapper.get("encryptedBody") if isinstance(wrapper, dict) else None
        if not isinstance(text, str):
            raise InvalidNotification("notification wrapper has no encryptedBody")
    return _unhex(text, "notification body")


def decrypt(headers: Mapping[str, str], body: bytes, hex_key: str) -> bytes:
    """The plaintext of a delivery; InvalidNotification unless the tag verifies under our key."""
    key = webhook_key(hex_key)
    iv_text, tag_text = header(headers, IV_HEADER), header(headers, TAG_HEADER)
    if not iv_text or not tag_text:
        raise InvalidNotification(f"{IV_HEADER} or {TAG_HEADER} header missing")
    iv, tag = _unhex(iv_text, IV_HEADER), _unhex(tag_text, TAG_HEADER)
    if not iv:
        raise InvalidNotification(f"{IV_HEADER} is empty")
    if len(tag) != TAG_BYTES:
        raise InvalidNotification(f"{TAG_HEADER} is not {TAG_BYTES} bytes")
    try:
        return AESGCM(key).decrypt(iv, ciphertext_of(body) + tag, None)
    except InvalidTag as exc:
        raise InvalidNotification("notification does not decrypt under our key") from exc


def parse(
    headers: Mapping[str, str], body: bytes, hex_key: str, entity_id: str
) -> InboundNotification:
    """Decrypt and read one webhook: which payment it names, and nothing it claims about it."""
    plaintext = decrypt(headers, body, hex_key)
    data = notification_object(plaintext)
    kind = text_at(data, "type") or ""
    event_id = "sha256:" + hashlib.sha256(plaintext).hexdigest()
    if kind != "PAYMENT":
        # REGISTRATION, SCHEDULE, RISK or the back office's test message: stored, not acted on.
        return InboundNotification(event_id, kind or "(no type)", ignore=True, payload=_kept(data))
    payload = object_at(data, "payload")
    code, _ = result_of(payload)
    transaction = text_at(payload, "id")
    return InboundNotification(
        event_id=f"{transaction}/{code}" if transaction and code else event_id,
        event_type=f"PAYMENT.{text_at(payload, 'paymentType') or '?'}",
        ignore=not _our_entity(payload, entity_id),
        payment_ref=text_at(payload, "merchantTransactionId"),
        gateway_reference=text_at(payload, "ndc"),
        observation=None,  # no order, possibly several finals: look the payment up instead
        payload=_kept(data),
    )


def _our_entity(payload: Mapping[str, Any], entity_id: str) -> bool:
    """Whether the payload is for our entity (or names none).

    A webhook set on a parent entity also receives its children's payments: authentic, but not
    this channel's, so they are stored and ignored rather than refused (a refusal is retried).
    """
    authentication = payload.get("authentication")
    named = authentication.get("entityId") if isinstance(authentication, Mapping) else None
    return named in (None, "", entity_id)


def _kept(data: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {k: data[k] for k in ("type", "action") if k in data}
    if isinstance(data.get("payload"), Mapping):
        kept["payload"] = redact_record(data["payload"])
    return kept
