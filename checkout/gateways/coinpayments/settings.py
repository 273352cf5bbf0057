"""CoinPayments' settings, with the demo account the sandbox accepts.

The demo values are public on purpose: the sandbox moves no money, and production refuses to
start with TOLLGATE_SANDBOX_URL set, so they can never authenticate anything real.
"""

from __future__ import annotations

from ..base import Setting

DEFAULT_API_URL = "https://www.coinpayments.net/api.php"

SANDBOX = {
    "public_key": "sandbox_public_key_0123456789abcdef",
    "private_key": "sandbox_private_key_fedcba9876543210",
    "merchant_id": "sandboxmerchant000000000000000001",
    "ipn_secret": "sandbox-ipn-secret",
}

SETTINGS = (
    Setting(
        "COINPAYMENTS_API_URL", DEFAULT_API_URL, "The API endpoint.", sandbox="{sandbox}/api.php"
    ),
    Setting(
        "COINPAYMENTS_PUBLIC_KEY",
        "",
        "Account > API Keys: the public key.",
        required=True,
        sandbox=SANDBOX["public_key"],
    ),
    Setting(
        "COINPAYMENTS_PRIVATE_KEY",
        "",
        "Account > API Keys: the private key, which signs every call.",
        required=True,
        secret=True,
        sandbox=SANDBOX["private_key"],
    ),
    Setting(
        "COINPAYMENTS_MERCHANT_ID",
        "",
        "Account > Account Settings: the Merchant ID.",
        required=True,
        sandbox=SANDBOX["merchant_id"],
    ),
    Setting(
        "COINPAYMENTS_IPN_SECRET",
        "",
        "Account > Account Settings: the IPN Secret (IPNs are only sent once it is set).",
        required=True,
        secret=True,
        sandbox=SANDBOX["ipn_secret"],
    ),
    Setting(
        "COINPAYMENTS_CURRENCY2",
        "BTC",
        "The coin shoppers send (LTCT is CoinPayments' test coin).",
        sandbox="LTCT",
    ),
    # the sandbox has no limit of its own; docs/rate-limits.md
    Setting(
        "COINPAYMENTS_RATE_LIMIT",
        10.0,
        "Requests/s CoinPayments allows us (none published: our choice); sweep takes 70%.",
        sandbox=1000.0,
    ),
)
