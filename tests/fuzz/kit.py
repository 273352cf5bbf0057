"""What every fuzz test shares: the hypothesis profile, hostile values, and a state snapshot.

The profile is picked by TOLLGATE_FUZZ_PROFILE: "quick" (the default, for `make test`: few
examples, derandomized, so every run tries the same inputs) or "long" (`make fuzz`).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from checkout.extensions import db
from checkout.models import Notification, Order, OutboxJob, Payment, PaymentEvent

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,  # nothing written to .hypothesis/ in the working tree
    # one app and one database serve every example of a test; state is compared per example
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("quick", max_examples=25, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=300, **_COMMON)

#: the settings of every fuzz test (a decorator)
FUZZ = settings.get_profile(os.environ.get("TOLLGATE_FUZZ_PROFILE", "quick"))

#: text PostgreSQL cannot store, control characters, log forgery, markup, SQL
NASTY_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\r\nINFO forged line",
    "\x1b[31m",
    "\u2028",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "%0a",
    "../../etc/passwd",
    "x" * 5000,
    "",
    " ",
]
#: numbers that are expensive or out of range once converted
NASTY_NUMBERS = [
    "1e400000",
    "-1e400000",
    "9" * 10000,
    "1E+999999999",
    "1e-400000",
    "NaN",
    "-Infinity",
    "-1",
    "0",
    "0.000000001",
    "2147483648",
    "99999999999999999999",
]

nasty_text = st.one_of(st.sampled_from(NASTY_TEXT + NASTY_NUMBERS), st.text(max_size=60))


def nasty_json(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """JSON values shaped to hurt: hostile scalars, big ints, wrong types, nested containers."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([10**4000, -(2**63), 2**63, 2**31]),
        st.floats(allow_nan=False, allow_infinity=False),
        nasty_text,
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(nasty_text, inner, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def snapshot(app: Flask) -> dict[str, Any]:
    """Everything a hostile request must leave as it was: rows per table, and every payment's
    status, version and refunds."""
    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Order, Payment, PaymentEvent, OutboxJob)
        }
        processed = db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.outcome == "processed")
        )
        payments = db.session.execute(
            select(Payment.ref, Payment.status, Payment.version, Payment.refunded_amount).order_by(
                Payment.id
            )
        ).all()
        db.session.remove()
    return {"counts": counts, "processed_notifications": processed, "payments": payments}


def assert_answered(status: int, what: str) -> None:
    """No 5xx, except 503: a busy database asks the sender to come back."""
    assert status < 500 or status == 503, f"{what} answered {status}"
