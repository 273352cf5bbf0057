"""IPNs: form-encoded, HMAC-SHA512 signed with the IPN secret, retried by `env.notifier`.

Follows protocols.md A.8: every field of an `ipn_type=api` IPN is sent as a string, and the
`HMAC` header covers the exact body bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from .. import credentials
from ..common import deliver
from ..env import SandboxEnv
from .coins import f8, fee
from .store import NAME, Txn

ACCOUNT = credentials.COINPAYMENTS


def send_ipn(env: SandboxEnv, txn: Txn) -> None:
    """Queue one signed IPN describing `txn` now (call with the store lock held)."""
    body = urlencode(ipn_fields(txn)).encode()
    signature = hmac.new(ACCOUNT["ipn_secret"].encode(), body, hashlib.sha512).hexdigest()
    deliver(
        env,
        NAME,
        txn.ipn_url,
        body,
        lambda _attempt: {"Content-Type": "application/x-www-form-urlencoded", "HMAC": signature},
    )


def ipn_fields(txn: Txn) -> dict[str, str]:
    """All fields of an `ipn_type=api` IPN (protocols.md A.8.3 and A.8.4), as strings."""
    fields: dict[str, str] = {
        "ipn_version": "1.0",
        "ipn_type": "api",
        "ipn_mode": "hmac",
        "ipn_id": secrets.token_hex(16),
        "merchant": ACCOUNT["merchant_id"],
        "txn_id": txn.txn_id,
        "status": str(txn.status),
        "status_text": txn.status_text,
        "currency1": txn.currency1,
        "currency2": txn.currency2,
        "amount1": txn.amount1,
        "amount2": f8(txn.due),
        "fee": fee(txn.due),
        "email": txn.buyer_email,
        "received_amount": f8(txn.received),
        "received_confirms": str(txn.confirms),
    }
    fields.update(txn.extra)
    if txn.status >= 100 and txn.send_tx:
        fields["send_tx"] = txn.send_tx
    return fields
