"""Helpers to seal webhooks as HyperPay does and to reach the sandbox's own routes."""

from __future__ import annotations

from typing import Any

import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def seal(plaintext: bytes, hex_key: str, iv: bytes = b"\x01" * 12) -> tuple[bytes, dict[str, str]]:
    """A webhook as HyperPay sends it: hex ciphertext body, IV and tag headers in hex."""
    sealed = AESGCM(bytes.fromhex(hex_key)).encrypt(iv, plaintext, None)
    headers = {
        "X-Initialization-Vector": iv.hex().upper(),
        "X-Authentication-Tag": sealed[-16:].hex().upper(),
    }
    return sealed[:-16].hex().upper().encode(), headers


def helper(sandbox: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    response = requests.request(
        method, f"{sandbox.url}/_sandbox/copyandpay{path}", timeout=5, **kwargs
    )
    assert response.status_code == 200, response.text
    return response
