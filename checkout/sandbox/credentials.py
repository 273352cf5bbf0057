"""The demo credentials the sandbox accepts, and that the site uses in sandbox mode.

They are public on purpose: the sandbox moves no money. Production refuses to start with
TOLLGATE_SANDBOX_URL set, so these can never authenticate anything real.
"""

COINPAYMENTS = {
    "public_key": "sandbox_public_key_0123456789abcdef",
    "private_key": "sandbox_private_key_fedcba9876543210",
    "merchant_id": "sandboxmerchant000000000000000001",
    "ipn_secret": "sandbox-ipn-secret",
}
MPGS = {
    "merchant_id": "TESTTOLLGATE01",
    "api_password": "sandbox-api-password-0123456789",
    "notification_secret": "SANDBOXNOTIFICATIONSECRET0123456",
}
STRIPE = {
    "secret_key": "sk_test_tollgate_sandbox_0000000000000000",
    "webhook_secret": "whsec_tollgate_sandbox_0000000000000000",
}
