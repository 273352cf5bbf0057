"""A sandbox with the COPYandPAY emulator registered, and helpers to seal webhooks.

Until the sandbox app registers COPYandPAY itself, these tests run their own sandbox server
(the shared one has already served requests, so no blueprint can be added to it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from checkout.sandbox import copyandpay, create_sandbox_app
from checkout.sandbox.env import SandboxOptions
from checkout.sandbox.server import ThreadedServer


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[ThreadedServer]:
    app = create_sandbox_app(SandboxOptions(retry_delays=(0.1, 0.2, 0.5), seed=1234))
    if "sandbox_copyandpay" not in app.extensions:
        copyandpay.register(app, app.extensions["sandbox"])
    server = ThreadedServer(app).start()
    yield server
    server.stop()


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
