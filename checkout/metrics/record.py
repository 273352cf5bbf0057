"""The metrics Tollgate counts as things happen, and one function to record each.

Every name starts with `tollgate_`; counters end in `_total` and durations are histograms in
seconds, as Prometheus names them. Labels take only values from a closed set (a Flask endpoint
name, never a raw path; a configured gateway; a status word), so the number of series stays
bounded whatever the traffic. The callers pass plain values: this module knows nothing of
requests, payments or gateways beyond their names.

With PROMETHEUS_MULTIPROC_DIR set before this module is imported, prometheus_client keeps each
value in a file of that directory per process, and a scrape sums them (`exposition`).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Histogram, disable_created_metrics

# The `_created` series double every counter's output and say nothing an operator asks for;
# multiprocess mode never writes them, so a scrape looks the same in both modes.
disable_created_metrics()

#: a request outside every route (404 for an unknown path) still needs a bounded label
UNMATCHED = "unmatched"

#: what payments.notifications and the IPN view decided, in the words the metric uses
NOTIFICATION_OUTCOMES = {
    "processed": "stored",  # stored and applied (or looked up) through the funnel
    "ignored": "ignored",  # verified and stored, a type we do not act on
    "unknown_payment": "unknown_payment",  # verified and stored, names no payment of ours
    "duplicate": "duplicate",  # the same event again, already processed: acknowledged
    "rejected": "bad_signature",  # did not verify (signature, secret, merchant, malformed)
    "busy": "busy",  # 503: the database was busy or the payment kept changing; retried
}

HTTP_REQUESTS = Counter(
    "tollgate_http_requests_total",
    "HTTP requests answered, by Flask endpoint and status code.",
    ("endpoint", "status"),
)
HTTP_SECONDS = Histogram(
    "tollgate_http_request_duration_seconds",
    "Time from the first before_request hook to the last after_request hook, by endpoint.",
    ("endpoint",),
)
GATEWAY_CALLS = Counter(
    "tollgate_gateway_calls_total",
    "Calls into a gateway client, by gateway, operation and outcome "
    "(ok, unavailable, rate_limited, config_error, rejected).",
    ("gateway", "operation", "outcome"),
)
GATEWAY_SECONDS = Histogram(
    "tollgate_gateway_call_duration_seconds",
    "Time one gateway operation took, retries included, whatever its outcome.",
    ("gateway", "operation"),
    # GATEWAY_TOTAL_SECONDS (20 by default) bounds a call: the top buckets show calls near it
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0),
)
PAYMENT_TRANSITIONS = Counter(
    "tollgate_payment_transitions_total",
    "Payment status changes committed by the funnel, by gateway, old and new status.",
    ("gateway", "from", "to"),
)
NOTIFICATIONS = Counter(
    "tollgate_notifications_total",
    "Gateway notifications (IPNs, webhooks) received, by gateway and outcome.",
    ("gateway", "outcome"),
)
SWEEP_RUNS = Counter(
    "tollgate_sweep_runs_total",
    "Sweep runs ended, by trigger (scheduler, cli, url) and state (finished, aborted).",
    ("trigger", "state"),
)
SWEEP_SECONDS = Histogram(
    "tollgate_sweep_duration_seconds",
    "How long a finished sweep run took, by trigger.",
    ("trigger",),
    buckets=(0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0),
)
SWEEP_CHECKED = Counter(
    "tollgate_sweep_payments_checked_total",
    "Payments finished sweep runs looked at, by gateway.",
    ("gateway",),
)


def http_request(endpoint: str | None, status: int, seconds: float) -> None:
    """One answered request; `endpoint` is Flask's endpoint name (None: no route matched)."""
    name = endpoint or UNMATCHED
    HTTP_REQUESTS.labels(name, str(status)).inc()
    HTTP_SECONDS.labels(name).observe(seconds)


def gateway_call(gateway: str, operation: str, outcome: str, seconds: float) -> None:
    GATEWAY_CALLS.labels(gateway, operation, outcome).inc()
    GATEWAY_SECONDS.labels(gateway, operation).observe(seconds)


def payment_transition(gateway: str, old: str, new: str) -> None:
    """A committed transition that won its compare-and-set (called once per transition)."""
    PAYMENT_TRANSITIONS.labels(gateway, str(old), str(new)).inc()


def notification(gateway: str, outcome: str) -> None:
    """A notification for a configured gateway; `outcome` in NOTIFICATION_OUTCOMES' keys."""
    NOTIFICATIONS.labels(gateway, NOTIFICATION_OUTCOMES[outcome]).inc()


def sweep_finished(trigger: str, seconds: float, checked: Mapping[str, int]) -> None:
    """A run that finished, and how many payments it looked at per gateway."""
    SWEEP_RUNS.labels(trigger, "finished").inc()
    SWEEP_SECONDS.labels(trigger).observe(seconds)
    for gateway, count in checked.items():
        SWEEP_CHECKED.labels(gateway).inc(count)


def sweep_aborted(trigger: str) -> None:
    """A run that stopped without finishing (found and marked by `sweep.abort_stale`)."""
    SWEEP_RUNS.labels(trigger, "aborted").inc()
