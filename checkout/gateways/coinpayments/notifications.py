"""CoinPayments IPNs: verified in the vendor's order, then read (protocols.md A.8).

IPNs are HMAC-signed with the account's IPN secret; a verified IPN is used as is (its payload is
authentic), and the funnel refuses regressions when IPNs arrive out of order. The same HMAC
signs our API calls, so `sign` lives here and the client uses it too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from ..base import InboundNotification, InvalidNotification
from ..wire import header
from .statuses import observe_ipn


def sign(key: bytes, body: bytes) -> str:
    """Lowercase hex HMAC-SHA512 of `body`: the API's and the IPN's signature."""
    return hmac.new(key, body, hashlib.sha512).hexdigest()


def parse(
    headers: Mapping[str, str],
    body: bytes,
    *,
    merchant_id: str,
    ipn_secret: bytes,
    default_coin: str,
    redact: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> InboundNotification:
    """Verify an IPN in the vendor's order, then read it (protocols.md A.8).

    HMAC header present -> `merchant` present and ours -> HMAC-SHA512 of the raw body with
    the IPN secret, compared in constant time -> `ipn_mode` is `hmac`. Anything else raises
    InvalidNotification, so nothing changes. `redact` is the client's, so what is stored is
    what the client would store; its result is both the stored payload and the observation's
    raw answer (redacted once per IPN).
    """
    signature = (header(headers, "HMAC") or "").strip().lower()
    if not signature:
        raise InvalidNotification("No HMAC signature sent")
    fields = _form(body)
    merchant = fields.get("merchant", "")
    if not merchant:
        raise InvalidNotification("No Merchant ID passed")
    if not merchant_id or not hmac.compare_digest(merchant.encode(), merchant_id.encode()):
        raise InvalidNotification("No or incorrect Merchant ID passed")
    if not ipn_secret:
        raise InvalidNotification("COINPAYMENTS_IPN_SECRET is not configured")
    expected = sign(ipn_secret, body)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise InvalidNotification("HMAC signature does not match")
    if fields.get("ipn_mode") != "hmac":
        raise InvalidNotification("IPN Mode is not HMAC")
    ipn_id = fields.get("ipn_id", "")
    if not ipn_id:
        raise InvalidNotification("IPN without ipn_id")
    ipn_type = fields.get("ipn_type", "")
    payload = redact(fields)
    if ipn_type != "api":
        # deposits, buttons, withdrawals: authentic, but not payments this shop opened
        return InboundNotification(
            event_id=ipn_id, event_type=ipn_type or "unknown", ignore=True, payload=payload
        )
    txn_id = fields.get("txn_id", "")
    if not txn_id:
        raise InvalidNotification("api IPN without txn_id")
    observation = observe_ipn(fields, default_coin, payload)  # redacted once, stored twice
    return InboundNotification(
        event_id=ipn_id,
        event_type=f"api:{fields.get('status', '?')}"[:64],
        payment_ref=fields.get("invoice") or None,
        gateway_reference=txn_id,
        observation=observation,
        payload=payload,
    )


def _form(body: bytes) -> dict[str, str]:
    """A form-encoded body as a dict (the last of a repeated field wins, as in PHP)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotification("body is not a form-encoded IPN") from exc
    return dict(pairs)
