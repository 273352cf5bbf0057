"""Stripe settings, with the demo keys the sandbox accepts.

The demo values are public on purpose: the sandbox moves no money, and production refuses to
start with TOLLGATE_SANDBOX_URL set, so they can never authenticate anything real.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import Setting

DEFAULT_API_BASE = "https://api.stripe.com"

#: Stripe's basic rate limiter, read requests per second (https://docs.stripe.com/rate-limits):
#: 100 in live mode, 25 in test mode (sandboxes)
LIVE_READS_PER_SECOND = 100.0
TEST_READS_PER_SECOND = 25.0

SANDBOX = {
    "secret_key": "sk_test_tollgate_sandbox_0000000000000000",
    "webhook_secret": "whsec_tollgate_sandbox_0000000000000000",
}

SETTINGS = (
    Setting(
        "STRIPE_SECRET_KEY",
        "",
        "Dashboard > Developers > API keys: the secret key (sk_live_...).",
        required=True,
        secret=True,
        sandbox=SANDBOX["secret_key"],
    ),
    Setting(
        "STRIPE_WEBHOOK_SECRET",
        "",
        "Dashboard > Webhooks > your endpoint PUBLIC_BASE_URL/ipn/stripe > Signing secret.",
        required=True,
        secret=True,
        sandbox=SANDBOX["webhook_secret"],
    ),
    Setting("STRIPE_API_BASE", DEFAULT_API_BASE, "The API host.", sandbox="{sandbox}"),
    Setting("STRIPE_SESSION_LIFETIME", 1800, "Seconds a Checkout Session stays open (1800-86400)."),
    Setting("STRIPE_MAX_NETWORK_RETRIES", 2, "Retries the SDK makes, with idempotency keys."),
    Setting("STRIPE_WEBHOOK_TOLERANCE", 300, "Seconds a webhook signature timestamp may be old."),
    Setting(
        "STRIPE_RATE_LIMIT",
        0.0,
        "Requests/s Stripe allows this account; 0: Stripe's documented 100 live, 25 test mode.",
    ),
)


def rate_limit_for(config: Mapping[str, Any]) -> float:
    """Requests per second Stripe allows us: STRIPE_RATE_LIMIT, or Stripe's limit for the key.

    A test-mode key (sk_test_ / rk_test_) gets the test-mode limit, any other key the live one.
    """
    configured = float(config.get("STRIPE_RATE_LIMIT") or 0)
    if configured > 0:
        return configured
    key = str(config.get("STRIPE_SECRET_KEY") or "")
    if key.startswith(("sk_test_", "rk_test_")):
        return TEST_READS_PER_SECOND
    return LIVE_READS_PER_SECOND
