"""Webhooks: `{"type": "PAYMENT", "payload": <the payment>}` sealed with AES-256-GCM.

The body is the hex ciphertext as text/plain; `X-Initialization-Vector` and
`X-Authentication-Tag` carry the 12-byte IV and the 16-byte tag in hex; the key is the 64-hex
secret of the webhook. The real gateway retries failed deliveries for up to 30 days.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..common import deliver
from .store import NAME, CopyAndPayStore


def send(store: CopyAndPayStore, record: dict[str, Any]) -> bool:
    """Queue one encrypted PAYMENT notification to the configured webhook URL."""
    plaintext = json.dumps({"type": "PAYMENT", "payload": record}).encode()
    body, iv, tag = seal(plaintext, store.webhook_key, secrets.token_bytes(12))

    def headers(attempt: int) -> dict[str, str]:
        return {
            "Content-Type": "text/plain",
            "X-Initialization-Vector": iv,
            "X-Authentication-Tag": tag,
        }

    return deliver(
        store.env, NAME, store.env.options.notification_urls.get(NAME, ""), body.encode(), headers
    )


def seal(plaintext: bytes, hex_key: str, iv: bytes) -> tuple[str, str, str]:
    """(body, IV, tag) in upper-case hex: GCM's output split into ciphertext and 16-byte tag."""
    sealed = AESGCM(bytes.fromhex(hex_key)).encrypt(iv, plaintext, None)
    return sealed[:-16].hex().upper(), iv.hex().upper(), sealed[-16:].hex().upper()
