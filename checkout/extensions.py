"""Extension objects, created once and bound to an app in create_app()."""

import logging

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

log = logging.getLogger(__name__)

# Flask-Limiter settings that add limits to routes without a decorator of their own.
_WHOLE_APP_LIMITS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")


def init_limiter(app: Flask) -> None:
    """Bind the limiter; drop its per-request check when no limit covers undecorated routes.

    Flask-Limiter checks every request in a before_request hook, for default, application and
    meta limits; a `@limiter.limit` view checks its own limits in its decorator. Tollgate sets
    only decorated limits, so the hook found nothing to count on every request and cost about
    a tenth of a millisecond doing it (docs/benchmarks.md, "Web"). Configure any of
    _WHOLE_APP_LIMITS and the hook stays.

    The limiter is one object for every app a process builds (the tests build hundreds), and
    Flask-Limiter keeps the whole-app limits it read from an earlier app's config when the next
    has none; so they are cleared first, and each app gets exactly its own.
    """
    limiter.limit_manager.set_default_limits([])
    limiter.limit_manager.set_application_limits([])
    limiter._meta_limits = []
    limiter.init_app(app)
    if any(app.config.get(name) for name in _WHOLE_APP_LIMITS):
        return
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks[:] = [hook for hook in hooks if hook != limiter._check_request_limit]


def memory_storage_problem(storage_uri: str, web_concurrency: str | None) -> str | None:
    """Why in-process limit storage is wrong for this deployment, or None when it is fine.

    Memory storage counts per process, so N workers let N times each limit through. Only a
    deployment that says it runs one worker (WEB_CONCURRENCY=1, which gunicorn.conf.py obeys;
    unset, gunicorn.conf.py starts several) may keep it.
    """
    if not storage_uri.startswith("memory://") or (web_concurrency or "").strip() == "1":
        return None
    return (
        "RATELIMIT_STORAGE_URI is memory:// with several workers (WEB_CONCURRENCY is "
        f"{web_concurrency or 'unset'}): set it to redis://..., or WEB_CONCURRENCY=1"
    )


def claim_once(key: str, seconds: int) -> bool:
    """True for the first caller of `key` within `seconds`, in every worker sharing the limiter's
    storage (Redis in production). If the storage cannot answer, True: the caller does its
    work rather than skip it, as the limits themselves fall back to memory."""
    storage = limiter.storage
    try:
        return storage.incr(f"claim/{key}", max(1, int(seconds))) == 1
    except storage.base_exceptions:
        log.warning("rate-limit storage unavailable; not coalescing %s", key)
        return True


def within_limit(key: str, limit: int, seconds: int) -> bool:
    """Whether one more request counted under `key` stays within `limit` per `seconds`.

    A fixed window counted in the limiter's storage (shared by every worker with Redis): one
    INCR with its expiry per request, where a Flask-Limiter moving window costs two storage
    calls and its bookkeeping (the hit, and the window again for the headers), about 1 ms of CPU
    on the status page's poll, a third of that request (docs/benchmarks.md, "Web"). Across a
    window's edge up to twice `limit` may pass. With limits switched off, or the storage
    unable to answer, True, as the limits themselves let requests through then.
    """
    if not limiter.enabled:
        return True
    storage = limiter.storage
    try:
        return storage.incr(f"count/{key}", max(1, int(seconds))) <= limit
    except storage.base_exceptions:
        log.warning("rate-limit storage unavailable; not counting %s", key)
        return True
