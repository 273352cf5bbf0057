"""Staff: each gateway's circuit breaker, and forcing a gateway on or off with a reason.

Every staff user sees the page (support are the ones asked "why is Stripe missing?"); only
admins change it, as with refunds: forcing a gateway off turns shoppers away, forcing it on
sends them to a gateway the breaker found failing. A change names a mode (automatic, forced on,
forced off) and a reason, always: forced off, the reason is what shoppers read on the selector;
every change is written to the audit log. The breaker itself: payments/breaker.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..extensions import limiter
from ..gateways import registry
from ..models import Forced, StaffRole, utcnow
from ..payments import breaker
from ..payments.breaker import Breaker, Shown
from .staff import bp
from .staff_audit import record
from .staff_common import has_role, requires

#: the form's modes, as stored in GatewayBreaker.forced
MODES = {"automatic": None, "on": Forced.ON, "off": Forced.OFF}
REASON_MAX = 200

STATE_WORDS = {
    Shown.CLOSED: "Offered (closed)",
    Shown.OPEN: "Temporarily unavailable (open)",
    Shown.HALF_OPEN: "Cool-down over: the next checkout is the probe (half-open)",
    Shown.FORCED_ON: "Forced on by staff",
    Shown.FORCED_OFF: "Forced off by staff",
}


@dataclass(frozen=True)
class GatewayRow:
    name: str
    label: str
    state: Shown
    words: str
    mode: str  # a MODES key
    row: Breaker | None


@bp.get("/gateways")
def gateways() -> str:
    return _page()


@bp.post("/gateways/<name>")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def force_gateway(name: str) -> Response | tuple[str, int]:
    if name not in registry.names():
        abort(404)
    mode = request.form.get("mode", "")
    reason = " ".join(request.form.get("reason", "").split())
    problem = None
    if mode not in MODES:
        problem = "Choose automatic, force on or force off."
    elif not reason:
        problem = "Give a reason: it goes in the audit log, and shoppers read it when forced off."
    elif len(reason) > REASON_MAX:
        problem = f"Keep the reason under {REASON_MAX} characters: shoppers read it."
    if problem is not None:
        return _page(error=problem, failed=name, reason=reason[:REASON_MAX]), 400
    breaker.force(name, MODES[mode], reason, current_user.email)
    record("gateway_force", name, mode=mode, reason=reason)
    flash(f"{registry.label_for(name)}: {_mode_words(mode)}.", "notice")
    return redirect(url_for("staff.gateways"), 303)


def _mode_words(mode: str) -> str:
    return {"automatic": "the breaker decides again", "on": "forced on", "off": "forced off"}[mode]


def _page(**extra: object) -> str:
    rows = breaker.read()
    now = utcnow()
    shown = [
        GatewayRow(
            name=plugin.name,
            label=plugin.label,
            state=(state := breaker.shown(rows.get(plugin.name), now)),
            words=STATE_WORDS[state],
            mode=_mode_of(rows.get(plugin.name)),
            row=rows.get(plugin.name),
        )
        for plugin in registry.plugins()
    ]
    return render_template(
        "staff/gateways.html",
        gateways=shown,
        can_change=has_role(current_user, StaffRole.ADMIN),
        reason_max=REASON_MAX,
        **extra,
    )


def _mode_of(row: Breaker | None) -> str:
    forced = row.forced if row is not None else None
    return next(mode for mode, value in MODES.items() if value == forced)
