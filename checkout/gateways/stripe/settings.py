"""Stripe settings, with the demo keys the sandbox accepts.

The demo values are public on purpose: the sandbox moves no money, and production refuses to
start with TOLLGATE_SANDBOX_URL set, so they can never authenticate anything real.
"""

from __future__ import annotations

from ..base import Setting

DEFAULT_API_BASE = "https://api.stripe.com"

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
)
