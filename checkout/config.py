"""Configuration classes and how the environment overrides them.

The classes hold defaults only. `load_environment()` runs inside create_app(), after `.env` is
loaded, and overrides any setting named in the environment, converted to the default's type. The
testing config ignores the environment entirely, so a developer's live keys in `.env` can never
reach a test run. Every setting is listed with a comment in `.env.example`.

Each gateway declares its own settings (`gateways/<name>/settings.py`); the registry gives them
their defaults before the environment is read. TOLLGATE_SANDBOX_URL points every gateway without
live credentials at the local sandbox with its demo credentials; ProductionConfig refuses to
start that way.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - refused in production

# Environment names that differ from the config key they set.
_ALIASES = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}


class Config:
    SECRET_KEY = DEV_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = ""
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    MAX_CONTENT_LENGTH = 64 * 1024
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    LOG_LEVEL = "INFO"

    TOLLGATE_SANDBOX_URL = ""
    # The gateway plugins, in the order the checkout shows them (see gateways/registry.py).
    GATEWAYS = "coinpayments,mpgs,stripe,copyandpay"
    GATEWAY_CONNECT_TIMEOUT = 3.05
    GATEWAY_READ_TIMEOUT = 15.0
    # seconds one gateway call may take, retries included, and all of one request's calls
    # together; gunicorn.conf.py sets the worker timeout above it (docs/operations.md)
    GATEWAY_TOTAL_SECONDS = 20.0
    # The eSIM provider fulfilment buys from (fulfilment/provider.py; docs/esim-provider.md).
    ESIM_PROVIDER_URL = ""
    ESIM_PROVIDER_API_KEY = ""  # secret; empty under the sandbox: its demo key is used
    ESIM_PROVIDER_TIMEOUT = 15.0  # seconds to wait for an answer before retrying later

    SCHEDULER_ENABLED = False
    # /readyz answers 503, not a warning, when no sweep ran lately (docs/operations.md)
    READYZ_REQUIRE_SCHEDULER = False
    SWEEP_INTERVAL_SECONDS = 60
    SWEEP_WINDOW_HOURS = 48
    SWEEP_GRACE_SECONDS = 300
    SWEEP_WORKERS = 16
    SWEEP_PAGE_SIZE = 200
    SWEEP_LEASE_SECONDS = 300
    SWEEP_TOKEN = ""
    # the sweep's share of each gateway's rate limit, and the longest it waits for a request slot
    # before leaving a payment for the next pass (docs/rate-limits.md)
    SWEEP_RATE_SHARE = 0.7
    SWEEP_RATE_WAIT_SECONDS = 10.0
    # bearer token for GET /metrics; empty: only this host may scrape it (docs/operations.md)
    METRICS_TOKEN = ""
    REFRESH_COALESCE_SECONDS = 5
    # how often a status page polls an expired payment that may still receive money late
    STATUS_LATE_POLL_SECONDS = 30
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # "at most N per minute" over any minute, not per clock minute (docs/operations.md)
    RATELIMIT_STRATEGY = "moving-window"
    # a Redis outage falls back to per-worker memory limits rather than answering 500
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # this many failed staff logins within STAFF_LOCK_SECONDS lock the account that long
    STAFF_LOCK_FAILURES = 10
    STAFF_LOCK_SECONDS = 900

    # the fulfilment outbox (docs/fulfilment.md)
    OUTBOX_INTERVAL_SECONDS = 30
    OUTBOX_MAX_ATTEMPTS = 10
    OUTBOX_BACKOFF_SECONDS = 30
    OUTBOX_BACKOFF_MAX_SECONDS = 3600
    OUTBOX_LEASE_SECONDS = 120
    OUTBOX_KICK = "thread"  # thread | inline | off: how a paying request asks for delivery

    # Outgoing mail: receipts and refund notices (docs/receipts.md). `make run` points an empty
    # SMTP_HOST at the sandbox's local SMTP server.
    SMTP_HOST = ""
    SMTP_PORT = 587
    SMTP_STARTTLS = True
    SMTP_USERNAME = ""
    SMTP_PASSWORD = ""  # secret: never logged or shown
    SMTP_TIMEOUT = 10.0  # seconds to connect and for each answer; a slow server is retried later
    MAIL_FROM = "Tollgate <receipts@tollgate.test>"

    # The gateway circuit breaker on the checkout selector (docs/circuit-breaker.md). It opens
    # after BREAKER_FAILURES transient create failures in a row (0: never), or when more than
    # BREAKER_ERROR_PERCENT of at least BREAKER_MIN_CALLS creates (0: never) in a window failed.
    BREAKER_FAILURES = 5
    BREAKER_ERROR_PERCENT = 50
    BREAKER_MIN_CALLS = 10
    BREAKER_WINDOW_SECONDS = 60
    BREAKER_COOLDOWN_SECONDS = 30  # refused this long, then one probe create is let through
    BREAKER_PROBE_LEASE_SECONDS = 60  # a probe not heard back from by then is given up


class DevelopmentConfig(Config):
    SCHEDULER_ENABLED = True


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing"  # noqa: S105
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = True
    # delivered before the paying call returns, so tests read the result without waiting
    # (docs/fulfilment.md); tests/fulfilment/test_worker.py covers the thread mode
    OUTBOX_KICK = "inline"
    # the breaker never opens by itself, so a test that takes a gateway down meets the gateway's
    # own error on every attempt it makes; breaker tests set their thresholds (circuit-breaker.md)
    BREAKER_FAILURES = 0
    BREAKER_MIN_CALLS = 0


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_environment(config: MutableMapping[str, Any], environ: Mapping[str, str]) -> None:
    """Override settings from the environment, each converted to its default's type."""
    for name, raw in environ.items():
        key = _ALIASES.get(name, name)
        if key not in config or not key.isupper() or raw == "":
            continue
        config[key] = _convert(config[key], raw, name)


def _convert(default: Any, raw: str, name: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, str) or default is None:
        return raw
    raise ValueError(f"{name} cannot be set from the environment")
