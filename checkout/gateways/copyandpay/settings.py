"""COPYandPAY's settings, with the demo values the sandbox accepts.

HyperPay issues an access token and an entity id per merchant (and per brand group), and the
webhook key is the 64-hex-digit secret shown when a webhook is configured in its back office.
The demo values below are public on purpose: the sandbox moves no money, and production never
reads them (a set secret means live, so the sandbox plan is not used).
"""

from __future__ import annotations

from ..base import Setting

#: HyperPay's live OPPWA host (its test host is https://eu-test.oppwa.com); docs/copyandpay.md
LIVE_BASE_URL = "https://eu-prod.oppwa.com"
DEFAULT_BRANDS = "MADA VISA MASTER"

SANDBOX_ACCESS_TOKEN = "T0dFNGJYQnNaWE5oYm1SaWIzZ3RkRzlzYkdkaGRHVXRZMjl3ZVdGdVpIQmhlUT09"  # noqa: S105 (public demo value)
SANDBOX_ENTITY_ID = "8ac7a4c87011ca7ec0b7a9d000000001"
SANDBOX_WEBHOOK_KEY = "6f1b5e3c9a2d4f7081b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "COPYANDPAY_BASE_URL",
        LIVE_BASE_URL,
        "HyperPay OPPWA host for the API and paymentWidgets.js (test: https://eu-test.oppwa.com)",
        sandbox="{sandbox}",
    ),
    Setting(
        "COPYANDPAY_ACCESS_TOKEN",
        "",
        "HyperPay access token, sent as 'Authorization: Bearer <token>'",
        required=True,
        secret=True,
        sandbox=SANDBOX_ACCESS_TOKEN,
    ),
    Setting(
        "COPYANDPAY_ENTITY_ID",
        "",
        "HyperPay entity id of the card channel, sent with every call",
        required=True,
        sandbox=SANDBOX_ENTITY_ID,
    ),
    Setting(
        "COPYANDPAY_WEBHOOK_KEY",
        "",
        "64 hex digits: the webhook decryption key from HyperPay's back office",
        secret=True,
        sandbox=SANDBOX_WEBHOOK_KEY,
    ),
    Setting(
        "COPYANDPAY_BRANDS",
        DEFAULT_BRANDS,
        "Brands the payment widget offers (data-brands), space-separated",
        sandbox=DEFAULT_BRANDS,
    ),
    # the sandbox has no limit of its own; docs/rate-limits.md
    Setting(
        "COPYANDPAY_RATE_LIMIT",
        20.0,
        "Requests/s HyperPay allows us (none published: our choice); sweep takes 70%.",
        sandbox=1000.0,
    ),
)
