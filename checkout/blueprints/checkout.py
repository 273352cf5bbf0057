"""The checkout: order summary, e-mail, gateway selector, and the hand-off to the gateway.

Prices come from the catalogue on the server; nothing the browser posts sets an amount. A
gateway that is disabled is refused here too, whatever the form says. A hidden attempt token
makes a double-clicked Pay button open one checkout, not two; the session keeps the attempt last
sent to a gateway, so a page reloaded by the Back button continues that order instead of opening
a second one (the rule is written out in docs/shopper-pages.md).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import EmailField, Field, HiddenField, RadioField
from wtforms.validators import InputRequired, Length, Regexp, StopValidation, ValidationError

from ..db_reads import read_all
from ..extensions import db
from ..gateways.base import GatewayConfigError, GatewayError, GatewayUnavailable
from ..gateways.registry import GatewayOption, gateway_options, plugin_for
from ..models import Order, OrderStatus, Payment, Product, utcnow
from ..payments import breaker
from ..payments.service import Source, start_payment
from ..payments.states import WORDS, PaymentStatus
from ..security import allow_gateway_page
from .fragments import rendered_once
from .plans import Plan, select_plans
from .session_orders import pending_attempt, remember, remember_attempt
from .urls import return_urls
from .widgets import FastCSRF, FastEmailInput, FastHiddenInput

log = logging.getLogger(__name__)
bp = Blueprint("checkout", __name__)

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _stop_here(validator: Callable[[FlaskForm, Field], None]) -> Callable[[FlaskForm, Field], None]:
    """Make a validator's failure the field's only message (a 300-character paste is "too long",
    not also "not valid")."""

    def check(form: FlaskForm, field: Field) -> None:
        try:
            validator(form, field)
        except ValidationError as exc:
            raise StopValidation(str(exc)) from exc

    return check


class PayForm(FlaskForm):
    """Paying an existing order: the gateway and the attempt token, nothing else.

    Deliberately has no amount, price or currency field (those come from the catalogue or the
    order on the server) and no e-mail: an existing order keeps the address it was placed with.
    """

    class Meta(FastCSRF):
        """The CSRF token's input written by the faster widget (blueprints/widgets.py)."""

    gateway = RadioField(
        "Payment method",
        choices=[],
        validators=[InputRequired(message="Choose a payment method.")],
        validate_choice=False,  # an unknown value is refused below with a clearer message
    )
    attempt = HiddenField(validators=[InputRequired(), Length(max=64)], widget=FastHiddenInput())


class CheckoutForm(PayForm):
    """A new order: the same choices plus the receipt address the order will keep."""

    email = EmailField(
        "E-mail for your receipt",
        widget=FastEmailInput(),
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        validators=[
            InputRequired(message="Enter your e-mail address for the receipt."),
            _stop_here(Length(max=254, message="That e-mail address is too long.")),
            Regexp(_EMAIL, message="Enter a valid e-mail address, like name@example.com."),
        ],
    )


# built once, with a bound slug: composing a select per request costs more than running it
_ON_SALE_BY_SLUG = db.select(Product).filter_by(slug=bindparam("slug"), active=True)
# a GET's one read: the plan's shown columns with the gateways' breaker rows beside them
_PAGE_BY_SLUG = breaker.beside(select_plans().filter_by(slug=bindparam("slug"), active=True))

#: gateway selectors (options, checked one) whose HTML a process keeps (blueprints/fragments.py)
_SELECTORS_KEPT = 32
#: the page below its tokens and problem box
_SECTIONS = "checkout/_sections.html"
#: fresh pages (plan, options) whose sections a process keeps
_PAGES_KEPT = 128


@bp.route("/checkout/<slug>", methods=["GET", "POST"])
def new_order(slug: str) -> Response | str | tuple[str, int]:
    if request.method != "POST":
        # showing the page decides nothing: one SELECT, without a transaction (db_reads)
        rows = read_all(_PAGE_BY_SLUG, {"slug": slug})
        if not rows:
            abort(404)
        plan, breakers = breaker.split(rows, len(Plan._fields))
        return _show(Plan(*plan), None, breakers)
    product = db.session.scalar(_ON_SALE_BY_SLUG, {"slug": slug})  # prices the order
    if product is None:
        abort(404)
    return _checkout(product, order=None)


@bp.route("/orders/<order_ref>/pay", methods=["GET", "POST"])
def pay_order(order_ref: str) -> Response | str | tuple[str, int]:
    """Pay an existing order again, e.g. with another gateway after a decline."""
    order = db.session.scalar(db.select(Order).filter_by(ref=order_ref))
    if order is None:
        abort(404)
    if order.status == OrderStatus.PAID:
        paid = db.session.get(Payment, order.paid_by_payment_id)
        return redirect(url_for("status.show", ref=paid.ref), 303)
    if request.method != "POST":
        return _show(order.product, order, breaker.read())
    return _checkout(order.product, order=order)


@bp.get("/pay/<ref>/launch")
def launch(ref: str) -> Response | str:
    """Our page that opens a gateway's hosted page through its JS library (MPGS checkout.js),
    or hosts its payment widget (COPYandPAY): the gateway's own launch template, if it has one."""
    payment = db.session.scalar(db.select(Payment).filter_by(ref=ref))
    if payment is None:
        abort(404)
    script = (payment.gateway_data or {}).get("launch_script")
    if not script or payment.status != PaymentStatus.PENDING:
        return redirect(url_for("status.show", ref=ref), 303)
    plugin = plugin_for(payment.gateway)
    template = (plugin and plugin.presentation.launch_template) or "checkout/launch.html"
    allow_gateway_page(script)  # this page only may run the gateway's script (CSP)
    return render_template(template, payment=payment, script=script)


def _show(
    product: Product | Plan, order: Order | None, breakers: dict[str, breaker.Breaker]
) -> tuple[str, int]:
    """The page as a GET shows it: a fresh attempt token, the first available gateway checked."""
    total = order.money if order is not None else product.money
    options = breaker.Offer(gateway_options(current_app.config, total), breakers).options
    form = _form(order, options)
    form.attempt.data = _new_attempt()
    form.gateway.data = next((o.name for o in options if o.enabled), None)
    return _render(product, order, form, options, fresh=order is None)


def _form(order: Order | None, options: list[GatewayOption]) -> PayForm:
    form: PayForm = CheckoutForm() if order is None else PayForm()
    form.gateway.choices = [(o.name, o.label) for o in options]
    return form


def _checkout(product: Product, order: Order | None) -> Response | str | tuple[str, int]:
    """A POST: the order (new or existing) handed to the chosen gateway, or the page again."""
    total = order.money if order is not None else product.money
    offer = breaker.offer(gateway_options(current_app.config, total))  # one query
    options = offer.options
    form = _form(order, options)
    if not form.validate():
        return _render(product, order, form, options, status=400)

    # What this POST continues, decided on reads only and before the breaker: this very form's
    # payment (a double click, Back to a cached page), or the open hosted page of the pending
    # attempt (Back and a fresh page). Neither creates anything at the gateway, so neither may
    # hold the breaker's half-open probe.
    token = form.attempt.data
    started = _payment_of(token)
    if order is None:
        email = form.email.data
        known = _order_of(token, started) or _resumable_order(product, email)
    else:
        known = order
    resumed = None
    if known is not None:
        taken = started is not None and started.order_id != known.id
        if known.product_id != product.id or taken:
            # An attempt token belongs to one checkout page; replaying another's is refused.
            log.warning("checkout attempt token reused across orders (order %s)", known.ref)
            form.attempt.data = _new_attempt()
            return _render(product, None, form, options, error=_STALE_FORM, status=400)
        resumed = _resumable_payment(known, form.gateway.data, token)

    # a gateway the breaker took off the selector is refused here too, before anything is
    # created; half-open, a checkout that will create claims the one probe
    option = offer.claim(form.gateway.data, token, creates=started is None and resumed is None)
    if option is None or not option.enabled:
        log.warning(
            "checkout refused gateway %r: %s",
            form.gateway.data,
            option.disabled_reason if option else "unknown",
        )
        form.gateway.errors = [
            f"{option.label} is not available: {option.disabled_reason}. Choose another method."
            if option
            else "Choose one of the payment methods shown."
        ]
        return _render(product, order, form, options, status=400)

    order = known or _new_order(product, email, token)
    remember(order.ref)
    if resumed is not None:
        log.info("payment %s: the same checkout attempt continues on its hosted page", resumed.ref)
        return _hand_off(resumed)
    remember_attempt(token, order.ref)
    try:
        payment = start_payment(
            order, option.name, form.attempt.data, lambda ref: return_urls(option.name, ref)
        )
    except GatewayError as exc:
        # The order is kept and the payment stays CREATED (never FAILED): the page comes back
        # for the same order with a fresh attempt token, so "Pay now" really tries again.
        form.attempt.data = _new_attempt()
        # read again: this failure may have opened the gateway's breaker
        options = breaker.offer(gateway_options(current_app.config, total)).options
        return _render(product, order, form, options, error=_words(option.label, exc), status=503)
    return _hand_off(payment)


_STALE_FORM = "This checkout form was already used for another order. Please try again."


def _new_attempt() -> str:
    return secrets.token_urlsafe(24)


def _payment_of(token: str) -> Payment | None:
    """The payment this attempt token already started, if any."""
    return db.session.scalar(db.select(Payment).filter_by(attempt_token=token))


def _order_of(token: str, started: Payment | None) -> Order | None:
    """The order this attempt token already opened, if any (a double click, a resubmit)."""
    order = db.session.scalar(db.select(Order).filter_by(checkout_token=token))
    return order or (started.order if started is not None else None)


def _resumable_order(product: Product, email: str) -> Order | None:
    """The unpaid order of this browser's pending attempt, when a fresh page asks for the same
    plan with the same receipt address: Back reloaded the page and lost its hidden token.

    A different address is a different purchase (or a corrected typo): it gets its own order.
    """
    pending = pending_attempt()
    if pending is None:
        return None
    order = db.session.scalar(db.select(Order).filter_by(ref=pending.order_ref))
    if order is None or order.status != OrderStatus.OPEN or order.product_id != product.id:
        return None
    return order if order.email.lower() == email.strip().lower() else None


def _resumable_payment(order: Order, gateway: str, token: str) -> Payment | None:
    """The pending attempt's payment, when the shopper left its hosted page with Back (no
    return, cancel or timeout reached us) and picks the same gateway again: the hosted page is
    still open and payable, so a second checkout would only risk paying twice.
    """
    pending = pending_attempt()
    if pending is None or pending.order_ref != order.ref or pending.token == token:
        return None
    payment = db.session.scalar(db.select(Payment).filter_by(attempt_token=pending.token))
    if payment is None or payment.order_id != order.id or payment.gateway != gateway:
        return None
    if payment.status != PaymentStatus.PENDING or not payment.checkout_url:
        return None
    if payment.expires_at is not None and payment.expires_at <= utcnow():
        return None
    came_back = any(event.source == Source.RETURN for event in payment.events)
    return None if came_back else payment


def _new_order(product: Product, email: str, token: str) -> Order:
    order = Order(
        product_id=product.id,
        email=email.strip(),
        amount=product.price,
        currency=product.currency,
        checkout_token=token,
    )
    db.session.add(order)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        order = db.session.scalar(db.select(Order).filter_by(checkout_token=token))
    return order


def _hand_off(payment: Payment) -> Response:
    if payment.status != PaymentStatus.PENDING or not payment.checkout_url:
        return redirect(url_for("status.show", ref=payment.ref), 303)
    if (payment.gateway_data or {}).get("launch_script"):
        return redirect(url_for("checkout.launch", ref=payment.ref), 303)
    return redirect(payment.checkout_url, 303)


def _words(label: str, exc: GatewayError) -> str:
    if isinstance(exc, GatewayUnavailable):
        return (
            f"{label} is not answering right now. Your order is saved: try again in a "
            "moment, or choose another payment method."
        )
    if isinstance(exc, GatewayConfigError):
        return f"{label} is not set up correctly on our side. Please choose another payment method."
    return f"{label} could not open a checkout: {exc}. Please choose another payment method."


def _render(
    product: Product | Plan,
    order: Order | None,
    form: PayForm,
    options: list[GatewayOption],
    error: str | None = None,
    status: int = 200,
    fresh: bool = False,
) -> tuple[str, int]:
    """The checkout page; `fresh`: a new order's page as a GET shows it (`_fresh_sections`)."""
    previous = order.payments[-1] if order is not None and order.payments else None
    # A CREATED payment never reached a hosted page: there was no checkout to describe.
    unreached = previous is not None and previous.status == PaymentStatus.CREATED
    if unreached and error is not None:
        previous = None  # the problem box above already says the gateway did not answer
    context = dict(
        product=product,
        order=order,
        total=order.money if order is not None else product.money,
        masked_email=_mask_email(order.email) if order is not None else None,
        previous=previous,
        previous_words=WORDS[PaymentStatus(previous.status)] if previous else None,
        previous_label=_label(previous.gateway, options) if previous else None,
        previous_unreached=unreached,
        form=form,
        options=options,
        gateway_inputs=_gateway_inputs(options, form.gateway.data),
        any_enabled=any(o.enabled for o in options),
        error=error,
    )
    if fresh and isinstance(product, Plan):  # a plan's columns, by value, can key the cache
        sections = _fresh_sections(product, options, context)
    else:
        sections = Markup(render_template(_SECTIONS, **context))  # noqa: S704 (autoescaped)
    return render_template("checkout/checkout.html", sections=sections, **context), status


def _fresh_sections(plan: Plan, options: list[GatewayOption], context: dict[str, Any]) -> Markup:
    """Below its tokens, a new order's fresh page shows only the plan and the options (no order,
    no error, an empty e-mail field, the first available gateway checked): each process renders
    that HTML once for each plan and set of options, as it renders the selector."""
    return rendered_once(_SECTIONS, (plan, tuple(options)), _PAGES_KEPT, **context)


def _gateway_inputs(options: list[GatewayOption], checked: str | None) -> Markup:
    """The selector's radio inputs, rendered once per process for each set of options and
    checked one (logos, labels, notes, reasons: about 0.09 ms a render)."""
    enabled = {o.name for o in options if o.enabled}
    checked = checked if checked in enabled else None  # a posted oddity checks nothing either
    return rendered_once(
        "checkout/_gateways.html",
        (tuple(options), checked),
        _SELECTORS_KEPT,
        options=options,
        checked=checked,
    )


def _label(gateway: str, options: list[GatewayOption]) -> str:
    return next((o.label for o in options if o.name == gateway), gateway)


def _mask_email(email: str) -> str:
    """Show enough of the receipt address to recognise it, not enough to harvest it.

    The "pay another way" page is reachable by anyone holding the order ref, so the full
    address is not printed there.
    """
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def register(app: Flask) -> None:
    app.register_blueprint(bp)
