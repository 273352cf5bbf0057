"""gunicorn settings for Tollgate: `gunicorn -c gunicorn.conf.py wsgi:app`.

The worker timeout is computed, not chosen: a web request spends at most GATEWAY_TOTAL_SECONDS
on gateway calls, all of them and their retries together (checkout/gateways/transport.py), so
a worker is only killed when something other than a gateway hangs, never in the middle of a
payment call. The setting is read the way the app reads it (its config class, then `.env` and
the environment), so both always agree. See docs/operations.md, "Time budget".

Environment: PORT (default 8000), WEB_CONCURRENCY (workers; default 2 x cores + 1, at most
MAX_WORKERS), TOLLGATE_ENV and GATEWAY_TOTAL_SECONDS as for the app, and
PROMETHEUS_MULTIPROC_DIR: with it, every worker writes its metrics to that directory and
`/metrics` sums them; the server clears what exited processes left there when it starts and
tells prometheus_client when a worker exits (checkout/metrics/directory.py).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from typing import Any

from dotenv import load_dotenv

from checkout.config import CONFIGS, load_environment
from checkout.metrics import directory as metrics_directory

# Seconds a request may take besides its gateway calls: database, templates, a slow client.
MARGIN_SECONDS = 15
MAX_WORKERS = 12  # each worker holds database connections and a gateway pool


def app_setting(name: str) -> Any:
    """A setting as create_app() would see it: the config class, then `.env` and the environment."""
    config_name = os.environ.get("TOLLGATE_ENV", "development")
    config_class = CONFIGS[config_name]
    config = {key: getattr(config_class, key) for key in dir(config_class) if key.isupper()}
    if config_name != "testing":
        load_dotenv()
        load_environment(config, os.environ)
    return config[name]


def default_workers() -> int:
    """WEB_CONCURRENCY when set, else the usual 2 x cores + 1 for sync workers, capped."""
    wanted = os.environ.get("WEB_CONCURRENCY", "").strip()
    if wanted:
        return max(1, int(wanted))
    return min(2 * multiprocessing.cpu_count() + 1, MAX_WORKERS)


gateway_seconds = float(app_setting("GATEWAY_TOTAL_SECONDS"))

bind = f"0.0.0.0:{os.environ.get('PORT') or 8000}"
workers = default_workers()
# above the worst request by construction: its gateway budget plus the margin
timeout = math.ceil(gateway_seconds + MARGIN_SECONDS)
# a worker told to stop (deploy, HUP) may finish a request that started just before
graceful_timeout = timeout
keepalive = 5
accesslog = "-"
# the standard fields, the time taken in seconds, and the X-Request-Id header when a proxy (or
# the app) sets one ("-" when absent), so a log line can be matched with the app's own lines
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)ss rid=%({x-request-id}i)s'
)


def on_starting(server: Any) -> None:
    """Before any worker exists: a fresh server's counts start from zero (multiprocess mode).
    Without that mode several workers each count alone, and a scrape shows whichever answered:
    said once, at start, where the operator reads the server's log."""
    shared = metrics_directory.configured()
    if shared:
        metrics_directory.clear_stale(shared)
        return
    serving = getattr(getattr(server, "cfg", None), "workers", workers)  # `-w` may override
    if serving > 1:
        logging.getLogger("gunicorn.error").warning(
            "PROMETHEUS_MULTIPROC_DIR is not set with %d workers: each /metrics scrape shows only "
            "the worker that answered it (docs/operations.md)",
            serving,
        )


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited (restart, timeout, crash): its live gauges stop counting."""
    metrics_directory.process_exited(worker.pid)
