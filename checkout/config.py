"""Configuration classes, read from the environment (and `.env` through python-dotenv).

Every setting is listed with a comment in `.env.example`. TOLLGATE_SANDBOX_URL points all three
gateway clients at the local sandbox and fills in its demo credentials; ProductionConfig refuses
to start that way.
"""

from __future__ import annotations

import os
from typing import Any

from .sandbox import credentials as sandbox_credentials


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - refused in production


class Config:
    SECRET_KEY = _env("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", "")
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 64 * 1024)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")

    TOLLGATE_SANDBOX_URL = _env("TOLLGATE_SANDBOX_URL", "")
    GATEWAYS = _env("GATEWAYS", "coinpayments,mpgs,stripe")
    GATEWAY_COINPAYMENTS_ENABLED = _env_bool("GATEWAY_COINPAYMENTS_ENABLED", True)
    GATEWAY_COINPAYMENTS_DISABLED_REASON = _env("GATEWAY_COINPAYMENTS_DISABLED_REASON", "")
    GATEWAY_MPGS_ENABLED = _env_bool("GATEWAY_MPGS_ENABLED", True)
    GATEWAY_MPGS_DISABLED_REASON = _env("GATEWAY_MPGS_DISABLED_REASON", "")
    GATEWAY_STRIPE_ENABLED = _env_bool("GATEWAY_STRIPE_ENABLED", True)
    GATEWAY_STRIPE_DISABLED_REASON = _env("GATEWAY_STRIPE_DISABLED_REASON", "")
    GATEWAY_CONNECT_TIMEOUT = _env_float("GATEWAY_CONNECT_TIMEOUT", 3.05)
    GATEWAY_READ_TIMEOUT = _env_float("GATEWAY_READ_TIMEOUT", 15.0)

    COINPAYMENTS_API_URL = _env("COINPAYMENTS_API_URL", "https://www.coinpayments.net/api.php")
    COINPAYMENTS_PUBLIC_KEY = _env("COINPAYMENTS_PUBLIC_KEY")
    COINPAYMENTS_PRIVATE_KEY = _env("COINPAYMENTS_PRIVATE_KEY")
    COINPAYMENTS_MERCHANT_ID = _env("COINPAYMENTS_MERCHANT_ID")
    COINPAYMENTS_IPN_SECRET = _env("COINPAYMENTS_IPN_SECRET")
    COINPAYMENTS_CURRENCY2 = _env("COINPAYMENTS_CURRENCY2", "BTC")

    MPGS_BASE_URL = _env("MPGS_BASE_URL", "https://ap-gateway.mastercard.com")
    MPGS_API_VERSION = _env_int("MPGS_API_VERSION", 100)
    MPGS_MERCHANT_ID = _env("MPGS_MERCHANT_ID")
    MPGS_API_PASSWORD = _env("MPGS_API_PASSWORD")
    MPGS_MERCHANT_NAME = _env("MPGS_MERCHANT_NAME", "Tollgate")
    MPGS_SESSION_TIMEOUT = _env_int("MPGS_SESSION_TIMEOUT", 900)
    MPGS_NOTIFICATION_SECRET = _env("MPGS_NOTIFICATION_SECRET")
    MPGS_OPERATION = _env("MPGS_OPERATION", "PURCHASE")

    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = _env("STRIPE_API_BASE", "https://api.stripe.com")
    STRIPE_SESSION_LIFETIME = _env_int("STRIPE_SESSION_LIFETIME", 1800)
    STRIPE_MAX_NETWORK_RETRIES = _env_int("STRIPE_MAX_NETWORK_RETRIES", 2)
    STRIPE_WEBHOOK_TOLERANCE = _env_int("STRIPE_WEBHOOK_TOLERANCE", 300)

    SCHEDULER_ENABLED = _env_bool("SCHEDULER_ENABLED", False)
    SWEEP_INTERVAL_SECONDS = _env_int("SWEEP_INTERVAL_SECONDS", 60)
    SWEEP_WINDOW_HOURS = _env_int("SWEEP_WINDOW_HOURS", 48)
    SWEEP_GRACE_SECONDS = _env_int("SWEEP_GRACE_SECONDS", 300)
    SWEEP_WORKERS = _env_int("SWEEP_WORKERS", 8)
    SWEEP_PAGE_SIZE = _env_int("SWEEP_PAGE_SIZE", 200)
    SWEEP_TOKEN = _env("SWEEP_TOKEN")
    REFRESH_COALESCE_SECONDS = _env_int("REFRESH_COALESCE_SECONDS", 5)
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True


class DevelopmentConfig(Config):
    SCHEDULER_ENABLED = _env_bool("SCHEDULER_ENABLED", True)


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing"  # noqa: S105
    WTF_CSRF_ENABLED = False
    SCHEDULER_ENABLED = False
    RATELIMIT_ENABLED = True
    TOLLGATE_SANDBOX_URL = ""


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def apply_sandbox(config: dict[str, Any]) -> list[str]:
    """Point each gateway without live credentials at the sandbox, with its demo credentials.

    A gateway whose secret is set in the environment keeps its real API, so putting live keys in
    `.env` is all it takes to switch one gateway to the real thing. Returns the sandboxed names.
    """
    base = config["TOLLGATE_SANDBOX_URL"].rstrip("/")
    cp, mpgs, stripe = (
        sandbox_credentials.COINPAYMENTS,
        sandbox_credentials.MPGS,
        sandbox_credentials.STRIPE,
    )
    plans = {
        "coinpayments": (
            "COINPAYMENTS_PRIVATE_KEY",
            {
                "COINPAYMENTS_API_URL": f"{base}/api.php",
                "COINPAYMENTS_PUBLIC_KEY": cp["public_key"],
                "COINPAYMENTS_PRIVATE_KEY": cp["private_key"],
                "COINPAYMENTS_MERCHANT_ID": cp["merchant_id"],
                "COINPAYMENTS_IPN_SECRET": cp["ipn_secret"],
                "COINPAYMENTS_CURRENCY2": "LTCT",
            },
        ),
        "mpgs": (
            "MPGS_API_PASSWORD",
            {
                "MPGS_BASE_URL": base,
                "MPGS_MERCHANT_ID": mpgs["merchant_id"],
                "MPGS_API_PASSWORD": mpgs["api_password"],
                "MPGS_NOTIFICATION_SECRET": mpgs["notification_secret"],
            },
        ),
        "stripe": (
            "STRIPE_SECRET_KEY",
            {
                "STRIPE_API_BASE": base,
                "STRIPE_SECRET_KEY": stripe["secret_key"],
                "STRIPE_WEBHOOK_SECRET": stripe["webhook_secret"],
            },
        ),
    }
    sandboxed = []
    for name, (live_key, settings) in plans.items():
        if not config.get(live_key):
            config.update(settings)
            sandboxed.append(name)
    return sandboxed
