"""The support console: staff log in, find a payment, see its timeline, refresh it, refund it,
follow its order's fulfilment jobs and send a dead one back to the outbox.

Everything under /staff needs a logged-in StaffUser except the login page. Login is a CSRF-
protected form, rate-limited per address and per account (in every worker at once with Redis
storage), locks an account for a while after repeated failures (login_lock), answers the same for
an unknown e-mail and a wrong password, and starts a fresh session that keeps only the shopper's "My
orders" from the same browser (then Flask-Login's "strong" protection drops the session if its
address or browser changes). Staff pages are never
cached. The Refresh button runs exactly the reconciler's single-payment function
(`service.refresh`), so staff see what the sweep would see.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, or_, select
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from ..extensions import db, limiter, login_manager
from ..fulfilment import outbox
from ..models import Order, OutboxJob, Payment, PaymentEvent, StaffUser
from ..money import Money
from ..observability import in_payment
from ..payments.refunds import refundable
from ..payments.service import ConcurrencyError, Source, add_note, refresh
from ..payments.states import WORDS, PaymentStatus
from . import fulfilment_view, login_lock, staff_dashboard
from .session_orders import reset_keeping_shopper_state
from .staff_audit import record, record_attempt

log = logging.getLogger(__name__)
bp = Blueprint("staff", __name__, url_prefix="/staff")

SEARCH_LIMIT = 50
#: the StaffUser.session_version a session was started with; a bump ends the session
SESSION_VERSION_KEY = "staff_session_version"
# Compared against when the e-mail is unknown, so both failures take the same time.
_DUMMY_HASH = generate_password_hash("not a real password, only for timing")


@login_manager.user_loader
def _load_staff(user_id: str) -> StaffUser | None:
    try:
        user = db.session.get(StaffUser, int(user_id))
    except ValueError:
        return None
    if user is None or not user.active:
        return None
    if session.get(SESSION_VERSION_KEY) != user.session_version:
        log.info("staff %s: session from an older version ended", user.email)
        return None
    return user


@bp.before_request
def _require_login() -> Response | None:
    if request.endpoint == "staff.login" or current_user.is_authenticated:
        return None
    return login_manager.unauthorized()


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute;60/hour", methods=["POST"])
@limiter.limit("5/minute", methods=["POST"], key_func=lambda: "staff:" + (_form_email() or "-"))
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("staff.index"))
    if request.method == "GET":
        return render_template("staff/login.html", email="", next=request.args.get("next", ""))
    email = _form_email()
    password = request.form.get("password", "")
    wait = login_lock.locked_for(email)
    if wait:
        log.warning("staff login for locked %r from %s refused", email, request.remote_addr)
        record_attempt(email or "-", "login_locked", email or None)
        return _too_many(wait)
    user = db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        user = None
    elif not user.check_password(password):
        user = None
    if user is None:
        log.warning("staff login failed for %r from %s", email, request.remote_addr)
        record_attempt(email or "-", "login_failed", email or None)
        if login_lock.record_failure(email):
            log.warning("staff login for %r locked after repeated failures", email)
        page = render_template(
            "staff/login.html",
            email=email,
            next=request.form.get("next", ""),
            error="That e-mail and password do not match an active staff account.",
        )
        return page, 401
    login_lock.record_success(email)
    reset_keeping_shopper_state()  # a new session for the new privilege: no fixation
    login_user(user)
    session[SESSION_VERSION_KEY] = user.session_version
    log.info("staff %s logged in from %s", user.email, request.remote_addr)
    record("login", user.email, role=user.role)
    return redirect(_safe_next(request.form.get("next")) or url_for("staff.index"), 303)


@bp.errorhandler(429)
def _rate_limited(exc: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
    """The staff-styled "slow down" page, with its way back to the login (Retry-After kept)."""
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    log.info("%s %s -> 429 %s", request.method, request.path, exc.description or "")
    return render_template("staff/429.html", locked=False), 429, headers


def _too_many(seconds: int) -> tuple[str, int, list[tuple[str, str]]]:
    """The same page for a locked account, saying for how long."""
    page = render_template("staff/429.html", locked=True, minutes=-(-seconds // 60))
    return page, 429, [("Retry-After", str(seconds))]


@bp.post("/logout")
def logout() -> Response:
    log.info("staff %s logged out", current_user.email)
    record("logout", current_user.email)
    logout_user()
    reset_keeping_shopper_state()
    return redirect(url_for("staff.login"), 303)


@bp.get("/")
def index() -> str:
    """The dashboard; with `?q=` (the search box in the bar) the payments matching it."""
    query = request.args.get("q", "").strip()
    if not query:
        return staff_dashboard.render()
    payments = _search(query)
    return render_template(
        "staff/index.html",
        query=query,
        title=f"Payments matching “{query}”",
        payments=payments,
        capped=len(payments) == SEARCH_LIMIT,
        words=WORDS,
    )


@bp.get("/payments/<ref>")
def payment(ref: str) -> str:
    found = _payment_or_404(ref)
    timeline = list(
        db.session.scalars(
            select(PaymentEvent)
            .where(PaymentEvent.payment_id == found.id)
            .order_by(PaymentEvent.id.desc())
        )
    )
    left = refundable(found)
    return render_template(
        "staff/payment.html",
        payment=found,
        status=PaymentStatus(found.status),
        words=WORDS,
        events=timeline,
        others=[p for p in found.order.payments if p.id != found.id],
        refundable=left,
        refunded=Money(found.refunded_amount or 0, found.currency),
        raw=_pretty(found.last_raw),
        jobs=fulfilment_view.jobs_of(found.order),
        job_words=fulfilment_view.staff_words,
    )


@bp.post("/payments/<ref>/refresh")
def refresh_payment(ref: str) -> Response:
    found = _payment_or_404(ref)
    try:
        outcome = refresh(found, Source.STAFF)
    except ConcurrencyError:
        db.session.rollback()
        flash("The payment kept changing while we looked; try again in a moment.", "alert")
        return redirect(url_for("staff.payment", ref=ref), 303)
    log.info("payment %s: refreshed by staff %s", ref, current_user.email)
    record(
        "refresh",
        ref,
        old_status=outcome.old_status.value,
        new_status=outcome.new_status.value,
        error=outcome.error or None,
    )
    if outcome.error:
        flash(f"The gateway could not be asked: {outcome.error}. Nothing changed.", "alert")
    elif outcome.transitioned:
        flash(f"The gateway says {outcome.new_status}: moved from {outcome.old_status}.", "notice")
    else:
        flash(f"Asked the gateway: still {outcome.new_status}.", "notice")
    return redirect(url_for("staff.payment", ref=ref), 303)


@bp.post("/payments/<ref>/jobs/<int:job_id>/retry")
@limiter.limit("20/minute")
def retry_job(ref: str, job_id: int) -> Response:
    """Send a dead fulfilment job back to the outbox, and put who did it on the timeline."""
    found = _payment_or_404(ref)
    job = db.session.get(OutboxJob, job_id)
    if job is None or job.order_id != found.order_id:
        abort(404)
    kind, attempts, error = job.kind, job.attempts, job.last_error
    if not outbox.retry(job_id):
        flash(
            f"The {kind} job is not dead any more (retried, done or running): nothing changed.",
            "alert",
        )
        return redirect(url_for("staff.payment", ref=ref), 303)
    # the outbox starts a fresh round of attempts: the timeline keeps what the last round said
    add_note(
        found,
        Source.STAFF,
        f"fulfilment job {kind} retried by {current_user.email} "
        f"after {attempts} attempts; last error: {error or 'none'}",
    )
    log.info("payment %s: %s job %s retried by staff %s", ref, kind, job_id, current_user.email)
    record("job_retry", ref, job=job_id, kind=kind, attempts=attempts)
    flash(f"The {kind} job is queued again.", "notice")
    return redirect(url_for("staff.payment", ref=ref), 303)


@bp.get("/fulfilment")
def fulfilment() -> str:
    """Jobs a person should look at, newest first, each with the payment to open."""
    jobs = fulfilment_view.stuck_jobs()
    return render_template(
        "staff/fulfilment.html",
        jobs=[(job, fulfilment_view.payment_ref_of(job.order)) for job in jobs],
        capped=len(jobs) == fulfilment_view.STUCK_LIMIT,
        job_words=fulfilment_view.staff_words,
    )


def _search(query: str) -> list[Payment]:
    """Exact matches on our refs and the gateway's, or the shopper's e-mail; newest first."""
    needle = query.lower()
    statement = (
        select(Payment)
        .join(Order, Payment.order_id == Order.id)
        .where(
            or_(
                Payment.ref == query,
                Payment.gateway_reference == query,
                Order.ref == query,
                func.lower(Order.email) == needle,
            )
        )
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(SEARCH_LIMIT)
    )
    return list(db.session.scalars(statement))


def _payment_or_404(ref: str) -> Payment:
    found = db.session.scalar(select(Payment).filter_by(ref=ref))
    if found is None:
        abort(404)
    in_payment(found.ref, found.gateway)
    return found


def _form_email() -> str:
    return request.form.get("email", "").strip().lower()[:254]


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect to somebody else's login page."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


def _pretty(raw: dict[str, Any] | None) -> str | None:
    if raw is None:
        return None
    return json.dumps(raw, indent=2, sort_keys=True, default=str)


def register(app: Flask) -> None:
    login_manager.login_view = "staff.login"
    login_manager.login_message = "Log in to use the staff console."
    login_manager.login_message_category = "notice"
    login_manager.session_protection = "strong"
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config.get("SESSION_COOKIE_SECURE"))
    from . import (  # noqa: F401  (routes and layout register on import)
        staff_audit_log,
        staff_gateways,
        staff_nav,
        staff_payments,
        staff_refunds,
        staff_review,
        staff_users,
    )

    app.register_blueprint(bp)
