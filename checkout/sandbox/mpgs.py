"""Emulator of the Mastercard Gateway (MPGS) REST API and its Hosted Checkout page.

It follows the real gateway's wire format (shared/protocols.md section B), not our client:
Basic auth `merchant.<id>` with the exact 401 body, the session operation chosen by API version,
201 on creates, order fields at the top level of Retrieve Order with `transaction` as a list,
"Unable to find order" for an order nobody has paid into, error bodies and HTTP codes as B.11,
and webhooks carrying the Retrieve Transaction body with `X-Notification-Secret`,
`X-Notification-Id` and `X-Notification-Attempt`.

An MPGS order only exists once the payer submits a card on the hosted page; creating a session
does not create one. Test cards (also listed on the page):

    5123450000000008, 4508750015741019   approved
    4000000000000002                     declined (DECLINED)
    4000000000009995                     insufficient funds (INSUFFICIENT_FUNDS)
    4000000000000069                     expired card (EXPIRED_CARD)
    4000000000003220                     3-D Secure challenge, then approve or fail

Sandbox-only helpers live under /_sandbox/mpgs/ (force an order's state, force the next API
answer); a real gateway has nothing like them.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, redirect, render_template, request
from werkzeug.wrappers import Response

from ..money import exponent
from . import credentials
from .env import SandboxEnv

log = logging.getLogger(__name__)

NAME = "mpgs"
INITIATE_CHECKOUT_SINCE = 63
JSON_UTF8 = "application/json;charset=UTF-8"
JSON_LATIN1 = "application/json;charset=ISO-8859-1"
DEFAULT_TIMEOUT = 900  # seconds a session lives when interaction.timeout is absent

#: card number -> (outcome, gatewayCode); outcome "3ds" asks for a challenge first
TEST_CARDS: dict[str, tuple[str, str]] = {
    "5123450000000008": ("approve", "APPROVED"),
    "4508750015741019": ("approve", "APPROVED"),
    "4000000000000002": ("decline", "DECLINED"),
    "4000000000009995": ("decline", "INSUFFICIENT_FUNDS"),
    "4000000000000069": ("decline", "EXPIRED_CARD"),
    "4000000000003220": ("3ds", "APPROVED"),
}
CARD_LABELS = {
    "5123450000000008": "Mastercard, approved",
    "4508750015741019": "Visa, approved",
    "4000000000000002": "declined",
    "4000000000009995": "declined: insufficient funds",
    "4000000000000069": "declined: expired card",
    "4000000000003220": "3-D Secure challenge (then approve or fail)",
}
_ACQUIRER_CODES = {
    "APPROVED": "00",
    "DECLINED": "05",
    "INSUFFICIENT_FUNDS": "51",
    "EXPIRED_CARD": "54",
}
_OPERATION_TXN = {"PURCHASE": "PAYMENT", "AUTHORIZE": "AUTHORIZATION", "VERIFY": "VERIFICATION"}
_OPERATION_STATUS = {"PURCHASE": "CAPTURED", "AUTHORIZE": "AUTHORIZED", "VERIFY": "VERIFIED"}
_MERCHANT_ID = re.compile(r"^[0-9A-Za-z_-]{1,40}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT = re.compile(r"^\d{1,11}(\.\d{1,3})?$")


# --- state -----------------------------------------------------------------------------------


@dataclass
class CheckoutSessionState:
    id: str
    merchant: str
    api_version: int
    version: str  # session.version, changes when the payer pays
    success_indicator: str
    order: dict[str, Any]  # id, amount (Decimal), currency, description, notificationUrl
    interaction: dict[str, Any]
    expires_at: datetime
    done: bool = False  # paid or refused: the page cannot be used again
    challenge_card: str | None = None  # card waiting on the 3-D Secure page


@dataclass
class OrderState:
    id: str
    merchant: str
    amount: Decimal
    currency: str
    description: str
    notification_url: str
    api_version: int
    created: str
    status: str = "INITIATED"
    updated: str = ""
    authorized: Decimal = Decimal(0)
    captured: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    authentication_status: str | None = None
    card: dict[str, Any] | None = None
    transactions: list[dict[str, Any]] = field(default_factory=list)


class MpgsState:
    """Sessions and orders of the one demo merchant, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: dict[str, CheckoutSessionState] = {}
        self.orders: dict[str, OrderState] = {}
        self.forced: list[tuple[int, str, str]] = []  # (status, body, content type), one-shot
        self.received: list[dict[str, Any]] = []  # the last API requests, for tests to read

    def reset(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.orders.clear()
            self.forced.clear()
            self.received.clear()


# --- JSON with exact numbers -----------------------------------------------------------------


def dumps(value: Any) -> str:
    """JSON text where Decimals are written as JSON numbers, as the real gateway sends amounts."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def api_answer(body: Any, status: int = 200, content_type: str = JSON_UTF8) -> Response:
    return Response(dumps(body), status=status, content_type=content_type)


def error_answer(
    status: int,
    cause: str,
    explanation: str,
    field_name: str | None = None,
    validation: str | None = None,
) -> Response:
    error: dict[str, Any] = {"cause": cause, "explanation": explanation}
    if field_name:
        error["field"] = field_name
    if validation:
        error["validationType"] = validation
    return api_answer({"error": error, "result": "ERROR"}, status, JSON_LATIN1)


def invalid(field_name: str, explanation: str) -> Response:
    return error_answer(400, "INVALID_REQUEST", explanation, field_name, "INVALID")


def missing(field_name: str) -> Response:
    return error_answer(
        400, "INVALID_REQUEST", f"Missing parameter '{field_name}'", field_name, "MISSING"
    )


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("refused")
        self.response = response


# --- helpers ---------------------------------------------------------------------------------


def luhn_ok(number: str) -> bool:
    """The check digit every real card number carries."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(number)):
        value = int(digit)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _hex(n: int) -> str:
    return secrets.token_hex(n // 2 + 1)[:n]


def _session_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "SESSION0002" + "".join(secrets.choice(alphabet) for _ in range(20))


def _add_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _amount(value: Decimal, currency: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-exponent(currency)))


def _card(number: str) -> dict[str, Any]:
    brand = "VISA" if number.startswith("4") else "MASTERCARD"
    return {
        "brand": brand,
        "number": number[:6] + "x" * (len(number) - 10) + number[-4:],
        "expiry": {"month": "1", "year": "39"},
        "scheme": brand,
        "fundingMethod": "CREDIT",
    }


# --- the emulator ----------------------------------------------------------------------------


class MpgsEmulator:
    def __init__(self, env: SandboxEnv) -> None:
        self.env = env
        self.state = MpgsState()
        self.merchant_id = credentials.MPGS["merchant_id"]
        self.password = credentials.MPGS["api_password"]
        self.notification_secret = credentials.MPGS["notification_secret"]

    # API plumbing

    def guard(self, merchant: str) -> Response | None:
        """Knobs, one-shot forced answers, then Basic auth: what every API call goes through."""
        self._record()
        trouble = self.env.misbehave(NAME, self._busy)
        if trouble is not None:
            return trouble
        with self.state.lock:
            forced = self.state.forced.pop(0) if self.state.forced else None
        if forced is not None:
            status, body, content_type = forced
            return Response(body, status=status, content_type=content_type)
        if not self._authenticated(merchant):
            return error_answer(401, "INVALID_REQUEST", "Invalid credentials.")
        return None

    def _record(self) -> None:
        body = request.get_json(silent=True)
        entry = {
            "method": request.method,
            "path": request.path,
            "authorization": request.headers.get("Authorization"),
            "content_type": request.headers.get("Content-Type"),
            "body": body if body is not None else request.get_data(as_text=True),
        }
        with self.state.lock:
            self.state.received = [*self.state.received[-49:], entry]

    def _busy(self) -> Response:
        if self.env.random.random() < 0.5:
            return error_answer(503, "SERVER_BUSY", "The server is busy, please try again later")
        return error_answer(500, "SERVER_FAILED", "An internal server error occurred")

    def _authenticated(self, merchant: str) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return (
            merchant == self.merchant_id
            and secrets.compare_digest(user.encode(), f"merchant.{self.merchant_id}".encode())
            and secrets.compare_digest(password.encode(), self.password.encode())
        )

    def now(self) -> datetime:
        return self.env.clock.now()

    # session

    def create_session(self, version: int, merchant: str) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_answer(400, "INVALID_REQUEST", "Request body is not valid JSON")
        try:
            order, interaction = self._validate_session(version, body)
        except _Refused as refused:
            return refused.response
        now = self.now()
        timeout = int(interaction.get("timeout") or DEFAULT_TIMEOUT)
        session = CheckoutSessionState(
            id=_session_id(),
            merchant=merchant,
            api_version=version,
            version=_hex(10),
            success_indicator=_hex(16),
            order=order,
            interaction=interaction,
            expires_at=now + timedelta(seconds=timeout),
        )
        with self.state.lock:
            self.state.sessions[session.id] = session
        answer: dict[str, Any] = {}
        if version >= INITIATE_CHECKOUT_SINCE:
            answer["checkoutMode"] = "WEBSITE"
        answer.update(
            merchant=merchant,
            result="SUCCESS",
            session={"id": session.id, "updateStatus": "SUCCESS", "version": session.version},
            successIndicator=session.success_indicator,
        )
        log.info("sandbox mpgs: session %s for order %s", session.id, order["id"])
        return api_answer(answer, 201)

    def _validate_session(
        self, version: int, body: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        expected = (
            "INITIATE_CHECKOUT" if version >= INITIATE_CHECKOUT_SINCE else "CREATE_CHECKOUT_SESSION"
        )
        operation = body.get("apiOperation")
        if not operation:
            raise _Refused(missing("apiOperation"))
        if operation != expected:
            raise _Refused(
                invalid(
                    "apiOperation",
                    f"Value '{operation}' is invalid. Not a valid operation for version {version}",
                )
            )
        order = body.get("order") if isinstance(body.get("order"), dict) else {}
        interaction = body.get("interaction") if isinstance(body.get("interaction"), dict) else {}
        for name in ("id", "amount", "currency"):
            if order.get(name) in (None, ""):
                raise _Refused(missing(f"order.{name}"))
        order_id = str(order["id"])
        if not 1 <= len(order_id) <= 40:
            raise _Refused(invalid("order.id", f"Value '{order_id}' is invalid. Length is 1-40"))
        currency = str(order["currency"])
        if not _CURRENCY.match(currency):
            raise _Refused(
                invalid("order.currency", f"Value '{currency}' is invalid. Invalid currency code")
            )
        raw_amount = str(order["amount"])
        try:
            amount = Decimal(raw_amount) if _AMOUNT.match(raw_amount) else None
        except InvalidOperation:
            amount = None
        if amount is None or -amount.as_tuple().exponent > exponent(currency):
            raise _Refused(
                invalid(
                    "order.amount",
                    f"Value '{raw_amount}' is invalid. Invalid amount for currency {currency}",
                )
            )
        if amount <= 0:
            raise _Refused(
                invalid(
                    "order.amount",
                    f"Value '{raw_amount}' is invalid. Transaction or order amount must be "
                    "greater than zero",
                )
            )
        op = interaction.get("operation")
        if version >= INITIATE_CHECKOUT_SINCE and not op:
            raise _Refused(missing("interaction.operation"))
        if op and op not in ("PURCHASE", "AUTHORIZE", "VERIFY", "NONE"):
            raise _Refused(invalid("interaction.operation", f"Value '{op}' is invalid."))
        timeout = interaction.get("timeout")
        if timeout is not None and (not str(timeout).isdigit() or int(str(timeout)) <= 0):
            raise _Refused(invalid("interaction.timeout", f"Value '{timeout}' is invalid."))
        for name in ("returnUrl", "cancelUrl", "timeoutUrl"):
            url = interaction.get(name)
            if url and not str(url).startswith(("http://", "https://")):
                raise _Refused(invalid(f"interaction.{name}", f"Value '{url}' is invalid."))
        notification_url = order.get("notificationUrl")
        if notification_url and not str(notification_url).startswith(("http://", "https://")):
            raise _Refused(
                invalid("order.notificationUrl", f"Value '{notification_url}' is invalid.")
            )
        kept_order = {
            "id": order_id,
            "amount": amount,
            "currency": currency,
            "description": str(order.get("description") or ""),
            "notificationUrl": str(notification_url or ""),
        }
        kept_interaction = dict(interaction)
        kept_interaction["operation"] = op or "PURCHASE"
        return kept_order, kept_interaction

    # retrieve

    def retrieve_order(self, merchant: str, order_id: str) -> Response:
        with self.state.lock:
            order = self.state.orders.get(order_id)
            if order is None:
                return self.no_such_order(merchant, order_id)
            return api_answer(self.order_body(order))

    def retrieve_transaction(self, merchant: str, order_id: str, txn_id: str) -> Response:
        with self.state.lock:
            order = self.state.orders.get(order_id)
            if order is None:
                return self.no_such_order(merchant, order_id)
            record = next((t for t in order.transactions if t["transaction"]["id"] == txn_id), None)
            if record is None:
                return error_answer(
                    400,
                    "INVALID_REQUEST",
                    f"Unable to find transaction = {txn_id} for order = {order_id}",
                )
            return api_answer(record)

    @staticmethod
    def no_such_order(merchant: str, order_id: str) -> Response:
        """What MPGS answers for an order id that has no transaction yet."""
        return error_answer(
            400, "INVALID_REQUEST", f"Unable to find order = {order_id} for merchant {merchant}"
        )

    def order_summary(self, order: OrderState) -> dict[str, Any]:
        c = order.currency
        summary: dict[str, Any] = {
            "amount": _amount(order.amount, c),
            "creationTime": order.created,
            "currency": c,
            "description": order.description,
            "id": order.id,
            "lastUpdatedTime": order.updated or order.created,
            "merchantCategoryCode": "4814",
            "status": order.status,
            "totalAuthorizedAmount": _amount(order.authorized, c),
            "totalCapturedAmount": _amount(order.captured, c),
            "totalDisbursedAmount": _amount(Decimal(0), c),
            "totalRefundedAmount": _amount(order.refunded, c),
        }
        if order.authentication_status:
            summary["authenticationStatus"] = order.authentication_status
        return summary

    def order_body(self, order: OrderState) -> dict[str, Any]:
        """Retrieve Order: order fields at the top level, `transaction` a list of records."""
        latest = order.transactions[-1] if order.transactions else None
        body: dict[str, Any] = self.order_summary(order)
        body.update(
            merchant=order.merchant,
            result=latest["result"] if latest else "SUCCESS",
        )
        if order.card:
            body["sourceOfFunds"] = {"provided": {"card": order.card}, "type": "CARD"}
        body["transaction"] = list(order.transactions)
        return body

    def add_transaction(
        self,
        order: OrderState,
        *,
        txn_id: str,
        txn_type: str,
        result: str,
        gateway_code: str,
        amount: Decimal,
        entry_point: str = "CHECKOUT_VIA_WEBSITE",
        reference: str | None = None,
    ) -> dict[str, Any]:
        """Append a Retrieve-Transaction-shaped record (B.9); the caller has set order state."""
        now = self.now()
        order.updated = _stamp(now)
        txn: dict[str, Any] = {
            "amount": _amount(amount, order.currency),
            "currency": order.currency,
            "id": txn_id,
            "source": "INTERNET",
            "type": txn_type,
        }
        if result == "SUCCESS" and txn_type in ("PAYMENT", "AUTHORIZATION", "REFUND", "CAPTURE"):
            txn["authorizationCode"] = f"{self.env.random.randrange(10**6):06d}"
            txn["receipt"] = f"{self.env.random.randrange(10**12):012d}"
            txn["acquirer"] = {"id": "SANDBOX_ACQUIRER", "merchantId": self.merchant_id}
        if reference:
            txn["reference"] = reference
        response: dict[str, Any] = {"gatewayCode": gateway_code}
        if txn_type != "AUTHENTICATION":
            response["acquirerCode"] = _ACQUIRER_CODES.get(gateway_code, "05")
            response["acquirerMessage"] = gateway_code.replace("_", " ").title()
            response["gatewayRecommendation"] = (
                "NO_ACTION" if result == "SUCCESS" else "DO_NOT_PROCEED"
            )
        record: dict[str, Any] = {
            "gatewayEntryPoint": entry_point,
            "merchant": order.merchant,
            "order": self.order_summary(order),
            "response": response,
            "result": result,
            "timeOfRecord": _stamp(now),
            "transaction": txn,
            "version": str(order.api_version),
        }
        if order.card:
            record["sourceOfFunds"] = {"provided": {"card": order.card}, "type": "CARD"}
        order.transactions.append(record)
        return record

    # webhooks

    def notify(self, order: OrderState, record: dict[str, Any]) -> None:
        """Send the transaction record to the order's URL or the merchant-admin default."""
        url = order.notification_url or self.env.options.mpgs_notification_url
        knobs = self.env.knobs[NAME]
        if not url or not knobs.notifications:
            return
        body = dumps(record).encode()
        notification_id = secrets.token_hex(16)
        secret = self.notification_secret

        def headers(attempt: int) -> dict[str, str]:
            return {
                "Content-Type": JSON_UTF8,
                "X-Notification-Secret": secret,
                "X-Notification-Id": notification_id,
                "X-Notification-Attempt": str(attempt),
            }

        self.env.notifier.send(NAME, url, body, headers, max(1, knobs.notify_attempts))

    # hosted page

    def session_or_404(self, session_id: str) -> CheckoutSessionState:
        with self.state.lock:
            session = self.state.sessions.get(session_id)
        if session is None:
            abort(404)
        return session

    def expired(self, session: CheckoutSessionState) -> bool:
        return self.now() >= session.expires_at

    def start_order(self, session: CheckoutSessionState, number: str) -> OrderState:
        """The order comes to life when the payer submits a card (not at session create)."""
        existing = self.state.orders.get(session.order["id"])
        if existing is not None:
            existing.card = _card(number)
            return existing
        now = _stamp(self.now())
        order = OrderState(
            id=session.order["id"],
            merchant=session.merchant,
            amount=session.order["amount"],
            currency=session.order["currency"],
            description=session.order["description"],
            notification_url=session.order["notificationUrl"],
            api_version=session.api_version,
            created=now,
            updated=now,
            card=_card(number),
        )
        self.state.orders[order.id] = order
        return order

    def pay(self, session: CheckoutSessionState, number: str, gateway_code: str) -> Response:
        """Run the payment transaction and send the payer back with a resultIndicator."""
        operation = session.interaction.get("operation", "PURCHASE")
        approved = gateway_code == "APPROVED"
        with self.state.lock:
            order = self.start_order(session, number)
            amount = order.amount
            if approved:
                order.status = _OPERATION_STATUS.get(operation, "CAPTURED")
                if operation == "PURCHASE":
                    order.authorized += amount
                    order.captured += amount
                elif operation == "AUTHORIZE":
                    order.authorized += amount
            else:
                order.status = "FAILED"
            record = self.add_transaction(
                order,
                txn_id=str(len(order.transactions) + 1),
                txn_type=_OPERATION_TXN.get(operation, "PAYMENT"),
                result="SUCCESS" if approved else "FAILURE",
                gateway_code=gateway_code,
                amount=amount,
            )
        self.notify(order, record)
        return self.finish(session, approved)

    def start_challenge(self, session: CheckoutSessionState, number: str) -> None:
        with self.state.lock:
            order = self.start_order(session, number)
            order.status = "AUTHENTICATION_INITIATED"
            order.authentication_status = "AUTHENTICATION_PENDING"
            record = self.add_transaction(
                order,
                txn_id=str(len(order.transactions) + 1),
                txn_type="AUTHENTICATION",
                result="PENDING",
                gateway_code="PENDING",
                amount=order.amount,
            )
            session.challenge_card = number
        self.notify(order, record)

    def finish_challenge(self, session: CheckoutSessionState, passed: bool) -> Response:
        number = session.challenge_card or ""
        session.challenge_card = None
        with self.state.lock:
            order = self.state.orders[session.order["id"]]
            order.status = "AUTHENTICATED" if passed else "AUTHENTICATION_UNSUCCESSFUL"
            order.authentication_status = (
                "AUTHENTICATION_SUCCESSFUL" if passed else "AUTHENTICATION_FAILED"
            )
            record = self.add_transaction(
                order,
                txn_id=str(len(order.transactions) + 1),
                txn_type="AUTHENTICATION",
                result="SUCCESS" if passed else "FAILURE",
                gateway_code="APPROVED" if passed else "DECLINED",
                amount=order.amount,
            )
        self.notify(order, record)
        if not passed:
            return self.finish(session, approved=False)
        return self.pay(session, number, TEST_CARDS.get(number, ("", "APPROVED"))[1])

    def finish(self, session: CheckoutSessionState, approved: bool) -> Response:
        """Close the session and send the payer to returnUrl (B.7)."""
        session.done = True
        session.version = _hex(10)
        indicator = session.success_indicator if approved else _hex(16)
        while not approved and indicator == session.success_indicator:
            indicator = _hex(16)
        return_url = session.interaction.get("returnUrl")
        if not return_url:
            return Response(
                render_template("mpgs/message.html", title="Payment finished", session=session),
                200,
            )
        target = _add_query(
            return_url, {"resultIndicator": indicator, "sessionVersion": session.version}
        )
        return redirect(target, 302)

    def leave_url(self, session: CheckoutSessionState, key: str = "cancelUrl") -> str | None:
        return session.interaction.get(key) or session.interaction.get("cancelUrl")


def register(app: Flask, env: SandboxEnv) -> None:
    emulator = MpgsEmulator(env)
    env.on_reset(emulator.state.reset)
    app.extensions["sandbox_mpgs"] = emulator
    api = Blueprint("sandbox_mpgs_api", __name__, url_prefix="/api/rest/version/<int:version>")
    page = Blueprint("sandbox_mpgs_page", __name__)

    def guarded(view: Callable[..., Response]) -> Callable[..., Response]:
        def wrapper(version: int, merchant: str, **kwargs: Any) -> Response:
            refusal = emulator.guard(merchant)
            if refusal is not None:
                return refusal
            return view(version, merchant, **kwargs)

        wrapper.__name__ = view.__name__
        return wrapper

    @api.post("/merchant/<merchant>/session")
    @guarded
    def create_session(version: int, merchant: str) -> Response:
        return emulator.create_session(version, merchant)

    @api.get("/merchant/<merchant>/order/<order_id>")
    @guarded
    def retrieve_order(version: int, merchant: str, order_id: str) -> Response:
        return emulator.retrieve_order(merchant, order_id)

    @api.get("/merchant/<merchant>/order/<order_id>/transaction/<txn_id>")
    @guarded
    def retrieve_transaction(version: int, merchant: str, order_id: str, txn_id: str) -> Response:
        return emulator.retrieve_transaction(merchant, order_id, txn_id)

    @api.put("/merchant/<merchant>/order/<order_id>/transaction/<txn_id>")
    @guarded
    def put_transaction(version: int, merchant: str, order_id: str, txn_id: str) -> Response:
        return _put_transaction(emulator, merchant, order_id, txn_id)

    @app.route("/api/rest/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def unknown_resource(rest: str) -> Response:
        return error_answer(404, "INVALID_REQUEST", "Unknown resource: /api/rest/" + rest)

    # hosted checkout

    @page.get("/static/checkout/checkout.min.js")
    @page.get("/checkout/version/<int:version>/checkout.js")
    def checkout_js(version: int | None = None) -> Response:
        text = render_template("mpgs/checkout.js", base=request.host_url.rstrip("/"))
        return Response(text, content_type="application/javascript; charset=utf-8")

    @page.route("/checkout/pay/<session_id>", methods=["GET", "POST"])
    @page.route("/checkout/entry/<session_id>", methods=["GET", "POST"])
    def hosted_page(session_id: str) -> Response | tuple[str, int] | str:
        session = emulator.session_or_404(session_id)
        with emulator.state.lock:  # one submission at a time: a double click pays once
            return _hosted_page(session)

    def _hosted_page(session: CheckoutSessionState) -> Response | tuple[str, int] | str:
        if session.done:
            return _message(session, "This payment session has already been used", 410)
        if emulator.expired(session):
            return _message(session, "This payment session has expired", 410, "timeoutUrl")
        if request.method == "GET":
            return _pay_page(session)
        if request.form.get("action") == "cancel":
            session.done = True
            url = emulator.leave_url(session)
            if url:
                return redirect(url, 302)
            return _message(session, "Payment cancelled", 200)
        number = re.sub(r"[\s-]", "", request.form.get("cardNumber", ""))
        if not luhn_ok(number):
            return _pay_page(session, error="Enter a valid card number.", status=400)
        outcome, code = TEST_CARDS.get(number, ("decline", "DECLINED"))
        if outcome == "3ds":
            emulator.start_challenge(session, number)
            return render_template("mpgs/challenge.html", session=session)
        return emulator.pay(session, number, code)

    @page.post("/checkout/challenge/<session_id>")
    def challenge(session_id: str) -> Response | tuple[str, int]:
        session = emulator.session_or_404(session_id)
        with emulator.state.lock:
            return _challenge(session)

    def _challenge(session: CheckoutSessionState) -> Response | tuple[str, int]:
        if session.done or session.challenge_card is None:
            return _message(session, "There is no authentication waiting", 409)
        if emulator.expired(session):
            return _message(session, "This payment session has expired", 410, "timeoutUrl")
        return emulator.finish_challenge(session, request.form.get("outcome") == "approve")

    def _pay_page(
        session: CheckoutSessionState, error: str | None = None, status: int = 200
    ) -> tuple[str, int]:
        return render_template(
            "mpgs/pay.html",
            session=session,
            amount=_amount(session.order["amount"], session.order["currency"]),
            cards=CARD_LABELS,
            error=error,
        ), status

    def _message(
        session: CheckoutSessionState, title: str, status: int, key: str = "cancelUrl"
    ) -> tuple[str, int]:
        return render_template(
            "mpgs/message.html", title=title, session=session, back=emulator.leave_url(session, key)
        ), status

    # sandbox-only controls

    control = Blueprint("sandbox_mpgs_control", __name__, url_prefix="/_sandbox/mpgs")

    @control.post("/orders/<order_id>")
    def force_order(order_id: str) -> Response:
        """Put an order in any state (status-table tests): status, amounts, gatewayCode."""
        spec = request.get_json(force=True) or {}
        return _force_order(emulator, order_id, spec)

    @control.post("/next-answer")
    def force_answer() -> Response:
        """The next API call (after the knobs) gets exactly this answer, auth unchecked."""
        spec = request.get_json(force=True) or {}
        body = spec.get("body", "")
        text = body if isinstance(body, str) else json.dumps(body)
        with emulator.state.lock:
            emulator.state.forced.append(
                (int(spec.get("status", 200)), text, spec.get("content_type", JSON_LATIN1))
            )
        return api_answer({"queued": len(emulator.state.forced)})

    @control.get("/requests")
    def received_requests() -> Response:
        """The last API requests as received (auth header included: demo credentials only)."""
        with emulator.state.lock:
            return api_answer(list(emulator.state.received))

    @control.get("/sessions/<session_id>")
    def describe_session(session_id: str) -> Response:
        session = emulator.session_or_404(session_id)
        return api_answer(
            {
                "id": session.id,
                "order": session.order,
                "interaction": session.interaction,
                "expiresAt": _stamp(session.expires_at),
                "apiVersion": session.api_version,
                "done": session.done,
            }
        )

    app.register_blueprint(api)
    app.register_blueprint(page)
    app.register_blueprint(control)


def _put_transaction(emulator: MpgsEmulator, merchant: str, order_id: str, txn_id: str) -> Response:
    """PUT .../order/<id>/transaction/<new id>: only REFUND is emulated (B.13)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_answer(400, "INVALID_REQUEST", "Request body is not valid JSON")
    operation = body.get("apiOperation")
    if not operation:
        return missing("apiOperation")
    if operation != "REFUND":
        return invalid(
            "apiOperation", f"Value '{operation}' is invalid. Not emulated by the sandbox"
        )
    txn = body.get("transaction") if isinstance(body.get("transaction"), dict) else {}
    with emulator.state.lock:
        order = emulator.state.orders.get(order_id)
        if order is None:
            return emulator.no_such_order(merchant, order_id)
        if any(t["transaction"]["id"] == txn_id for t in order.transactions):
            return invalid(
                "transaction.id", f"Value '{txn_id}' is invalid. Transaction ID must be unique"
            )
        for name in ("amount", "currency"):
            if txn.get(name) in (None, ""):
                return missing(f"transaction.{name}")
        if txn["currency"] != order.currency:
            return invalid(
                "transaction.currency",
                f"Value '{txn['currency']}' is invalid. Must match the order currency",
            )
        raw = str(txn["amount"])
        try:
            amount = Decimal(raw) if _AMOUNT.match(raw) else None
        except InvalidOperation:
            amount = None
        if amount is None or amount <= 0:
            return invalid(
                "transaction.amount",
                f"Value '{raw}' is invalid. Transaction or order amount must be greater than zero",
            )
        available = order.captured - order.refunded
        if order.status not in ("CAPTURED", "PARTIALLY_REFUNDED") or amount > available:
            return invalid(
                "transaction.amount",
                f"Value '{raw}' is invalid. Requested refund amount exceeds the amount available "
                f"to refund ({_amount(max(available, Decimal(0)), order.currency)})",
            )
        order.refunded += amount
        order.status = "REFUNDED" if order.refunded == order.captured else "PARTIALLY_REFUNDED"
        record = emulator.add_transaction(
            order,
            txn_id=txn_id,
            txn_type="REFUND",
            result="SUCCESS",
            gateway_code="APPROVED",
            amount=amount,
            entry_point="WEB_SERVICES_API",
            reference=str(txn.get("reference") or "") or None,
        )
    emulator.notify(order, record)
    return api_answer(record, 201)


def _force_order(emulator: MpgsEmulator, order_id: str, spec: dict[str, Any]) -> Response:
    currency = str(spec.get("currency", "USD"))

    def amount(key: str, default: str = "0") -> Decimal:
        return Decimal(str(spec.get(key, default)))

    now = _stamp(emulator.now())
    with emulator.state.lock:
        order = OrderState(
            id=order_id,
            merchant=emulator.merchant_id,
            amount=amount("amount", "12.50"),
            currency=currency,
            description=str(spec.get("description", "forced by a test")),
            notification_url=str(spec.get("notificationUrl", "")),
            api_version=int(spec.get("apiVersion", 100)),
            created=now,
            updated=now,
            status=str(spec.get("status", "CAPTURED")),
            authorized=amount("totalAuthorizedAmount"),
            captured=amount("totalCapturedAmount"),
            refunded=amount("totalRefundedAmount"),
            card=_card("5123450000000008"),
        )
        emulator.state.orders[order_id] = order
        emulator.add_transaction(
            order,
            txn_id="1",
            txn_type=str(spec.get("transactionType", "PAYMENT")),
            result=str(spec.get("result", "SUCCESS")),
            gateway_code=str(spec.get("gatewayCode", "APPROVED")),
            amount=order.amount,
        )
        return api_answer(emulator.order_body(order))
