"""The checkout: order summary, e-mail, gateway selector, and the hand-off to the gateway.

Prices come from the catalogue on the server; nothing the browser posts sets an amount. A
gateway that is disabled is refused here too, whatever the form says. A hidden attempt token
makes a double-clicked Pay button open one checkout, not two.
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import EmailField, HiddenField, RadioField
from wtforms.validators import DataRequired, Length, Regexp

from ..extensions import db
from ..gateways.base import GatewayConfigError, GatewayError, GatewayUnavailable
from ..gateways.registry import GatewayOption, gateway_options, option_for
from ..models import Order, OrderStatus, Payment, Product
from ..payments.service import start_payment
from ..payments.states import PaymentStatus
from .session_orders import remember
from .urls import return_urls

log = logging.getLogger(__name__)
bp = Blueprint("checkout", __name__)

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class CheckoutForm(FlaskForm):
    email = EmailField(
        "E-mail for your receipt",
        validators=[
            DataRequired(),
            Length(max=254),
            Regexp(_EMAIL, message="Enter a valid e-mail."),
        ],
    )
    gateway = RadioField("Payment method", choices=[], validators=[DataRequired()])
    attempt = HiddenField(validators=[DataRequired(), Length(max=64)])


@bp.route("/checkout/<slug>", methods=["GET", "POST"])
def new_order(slug: str) -> Response | str | tuple[str, int]:
    product = db.session.scalar(db.select(Product).filter_by(slug=slug, active=True))
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
    return _checkout(order.product, order=order)


@bp.get("/pay/<ref>/launch")
def launch(ref: str) -> Response | str:
    """Our page that opens a gateway's hosted page through its JS library (MPGS checkout.js)."""
    payment = db.session.scalar(db.select(Payment).filter_by(ref=ref))
    if payment is None:
        abort(404)
    script = (payment.gateway_data or {}).get("launch_script")
    if not script or payment.status != PaymentStatus.PENDING:
        return redirect(url_for("status.show", ref=ref), 303)
    return render_template("checkout/launch.html", payment=payment, script=script)


def _checkout(product: Product, order: Order | None) -> Response | str | tuple[str, int]:
    options = gateway_options(current_app.config)
    form = CheckoutForm()
    form.gateway.choices = [(o.name, o.label) for o in options]
    if order is not None and not form.email.data:
        form.email.data = order.email
    if not form.is_submitted():
        form.attempt.data = secrets.token_urlsafe(24)
        first = next((o.name for o in options if o.enabled), None)
        form.gateway.data = first
        return _render(product, order, form, options)
    if not form.validate():
        return _render(product, order, form, options, status=400)

    option = option_for(form.gateway.data, current_app.config)
    if option is None or not option.enabled:
        log.warning(
            "checkout refused gateway %r: %s",
            form.gateway.data,
            option.disabled_reason if option else "unknown",
        )
        form.gateway.errors = [
            f"{option.label if option else 'That method'} is not available: "
            f"{option.disabled_reason if option else 'unknown method'}."
        ]
        return _render(product, order, form, options, status=400)

    order = order or _new_order(product, form.email.data, form.attempt.data)
    remember(order.ref)
    try:
        payment = start_payment(
            order, option.name, form.attempt.data, lambda ref: return_urls(option.name, ref)
        )
    except GatewayError as exc:
        return _render(product, order, form, options, error=_words(option.label, exc), status=503)
    return _hand_off(payment)


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
    product: Product,
    order: Order | None,
    form: CheckoutForm,
    options: list[GatewayOption],
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_template(
        "checkout/checkout.html",
        product=product,
        order=order,
        form=form,
        options=options,
        error=error,
    ), status


def register(app: Flask) -> None:
    app.register_blueprint(bp)
