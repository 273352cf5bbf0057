"""MPGS settings, with the demo merchant the sandbox accepts.

The demo values are public on purpose: the sandbox moves no money, and production refuses to
start with TOLLGATE_SANDBOX_URL set, so they can never authenticate anything real.
"""

from __future__ import annotations

from ..base import Setting

SANDBOX = {
    "merchant_id": "TESTTOLLGATE01",
    "api_password": "sandbox-api-password-0123456789",
    "notification_secret": "SANDBOXNOTIFICATIONSECRET0123456",
}

SETTINGS = (
    Setting(
        "MPGS_BASE_URL",
        "https://ap-gateway.mastercard.com",
        "Your acquirer's gateway host, e.g. https://ksa.gateway.mastercard.com.",
        sandbox="{sandbox}",
    ),
    Setting("MPGS_API_VERSION", 100, "The REST API version (63 and later use INITIATE_CHECKOUT)."),
    Setting(
        "MPGS_MERCHANT_ID",
        "",
        "Your merchant id (the API user is merchant.<id>).",
        required=True,
        sandbox=SANDBOX["merchant_id"],
    ),
    Setting(
        "MPGS_API_PASSWORD",
        "",
        "Merchant Administration > Admin > Integration Settings > API password.",
        required=True,
        secret=True,
        sandbox=SANDBOX["api_password"],
    ),
    Setting("MPGS_MERCHANT_NAME", "Tollgate", "Shown on the hosted payment page."),
    Setting("MPGS_SESSION_TIMEOUT", 900, "Seconds the shopper has on the hosted page."),
    Setting(
        "MPGS_NOTIFICATION_SECRET",
        "",
        "Merchant Administration > Webhook Notifications secret (X-Notification-Secret).",
        required=True,
        secret=True,
        sandbox=SANDBOX["notification_secret"],
    ),
    Setting("MPGS_OPERATION", "PURCHASE", "PURCHASE only (see docs/mpgs.md)."),
    Setting(
        "MPGS_CURRENCIES",
        "",
        "Currencies your merchant profile takes, comma-separated (e.g. SAR,USD); empty: any.",
    ),
    # the sandbox has no limit of its own; docs/rate-limits.md
    Setting(
        "MPGS_RATE_LIMIT",
        20.0,
        "Requests/s MPGS allows us (Mastercard publishes none: our choice); sweep takes 70%.",
        sandbox=1000.0,
    ),
)
