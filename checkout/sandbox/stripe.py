"""Emulator of Stripe Checkout: the v1 API the SDK calls, the hosted page, and signed webhooks.

Wire facts follow shared/protocols.md §C: Bearer (or Basic) auth with an `sk_` key, bracketed
form bodies, `Idempotency-Key` replay, Stripe's `{"error": {...}}` bodies and status codes, and
webhooks signed `t=<unix>,v1=<HMAC-SHA256("t.body")>` with the whsec secret. Sessions expire at
`expires_at` by the sandbox clock, lazily whenever the emulator is touched.

Test instruments on the hosted page (`/c/pay/<session id>`):
  card 4242 4242 4242 4242   paid at once
  card 4000 0000 0000 0002   declined (card_declined); the page stays payable
  card 4000 0000 0000 9995   declined (insufficient_funds); the page stays payable
  US bank account, routing 110000000, account 000123456789  settles paid SETTLE_SECONDS later
  US bank account, routing 110000000, account 000111111116  fails SETTLE_SECONDS later
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import string
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, Flask, Response, redirect, render_template, request

from ..money import to_decimal_str
from . import credentials
from .env import SandboxEnv

log = logging.getLogger(__name__)

API_VERSION = "2026-10-28.endive"
SETTLE_SECONDS = 20
CARD_OUTCOMES = {
    "4242424242424242": None,
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
BANK_ROUTING = "110000000"
BANK_OUTCOMES = {"000123456789": True, "000111111116": False}

_CREATE_PARAMS = frozenset(
    {
        "mode",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "customer_email",
        "metadata",
        "expires_at",
        "payment_intent_data",
        "payment_method_types",
        "ui_mode",
        "locale",
        "submit_type",
        "billing_address_collection",
        "customer_creation",
        "allow_promotion_codes",
        "expand",
    }
)
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")


class ApiError(Exception):
    """A Stripe error answer: `{"error": {...}}` with its HTTP status."""

    def __init__(
        self, status: int, message: str, type_: str = "invalid_request_error", **fields: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": type_}
        self.error.update({k: v for k, v in fields.items() if v is not None})
        if code := fields.get("code"):
            self.error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


def _missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def _invalid(param: str, message: str, code: str = "parameter_invalid") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def _new_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`line_items[0][price_data][currency]=usd` -> nested dicts and lists, as Stripe reads it."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *re.findall(r"\[([^\]]*)\]", key[len(head) :])]
        node = root
        for i, part in enumerate(path):
            if part == "":  # `a[]=x` appends
                part = str(len(node))
            if i == len(path) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise _invalid(key, f"Invalid parameter: {key}")
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _int(params: dict[str, Any], key: str, label: str | None = None) -> int:
    raw = params.get(key)
    try:
        value = int(str(raw))
    except ValueError:
        raise _invalid(
            label or key, f"Invalid integer: {raw}", "parameter_invalid_integer"
        ) from None
    return value


class StripeSandbox:
    """The emulator's state: sessions, payment intents, charges, refunds, idempotent answers."""

    def __init__(self, env: SandboxEnv) -> None:
        self.env = env
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.sessions: dict[str, dict[str, Any]] = {}
            self.intents: dict[str, dict[str, Any]] = {}
            self.charges: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.line_items: dict[str, list[dict[str, Any]]] = {}
            self.settlements: dict[str, tuple[int, bool]] = {}  # session id -> (due, succeeds)
            # Idempotency-Key -> (endpoint, params, the answer first given)
            self.idempotent: dict[str, tuple[str, Any, dict[str, Any]]] = {}

    # -- API --------------------------------------------------------------------------------

    def create_session(self, params: dict[str, Any], host_url: str) -> dict[str, Any]:
        unknown = sorted(set(params) - _CREATE_PARAMS)
        if unknown:
            raise _invalid(
                unknown[0], f"Received unknown parameter: {unknown[0]}", "parameter_unknown"
            )
        if "mode" not in params:
            raise _missing("mode")
        if params["mode"] != "payment":
            raise _invalid("mode", "This sandbox only emulates mode=payment.")
        if params.get("ui_mode", "hosted_page") not in ("hosted_page", "hosted"):
            raise _invalid("ui_mode", "This sandbox only emulates the hosted page.")
        items, currency = self._line_items(params.get("line_items"))
        now = self.env.clock.timestamp()
        expires_at = now + 86400
        if "expires_at" in params:
            expires_at = _int(params, "expires_at")
            if expires_at < now + 1800:
                raise _invalid(
                    "expires_at",
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout "
                    "Session creation.",
                )
            if expires_at >= now + 86400:
                raise _invalid(
                    "expires_at",
                    "The `expires_at` timestamp must be less than 24 hours from Checkout "
                    "Session creation.",
                )
        for key in ("success_url", "cancel_url"):
            if key in params and urlsplit(str(params[key])).scheme not in ("http", "https"):
                raise _invalid(key, "Not a valid URL", "url_invalid")
        email = params.get("customer_email")
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(email)):
            raise _invalid("customer_email", f"Invalid email address: {email}", "email_invalid")
        metadata = self._metadata(params.get("metadata"), "metadata")
        reference = params.get("client_reference_id")
        if reference is not None and len(str(reference)) > 200:
            raise _invalid("client_reference_id", "client_reference_id is too long (200 max).")
        intent_data = params.get("payment_intent_data") or {}
        self._metadata(intent_data.get("metadata"), "payment_intent_data[metadata]")

        session_id = _new_id("cs_test_", 58)
        total = sum(item["amount_total"] for item in items)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": reference,
            "client_secret": None,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "customer_email": email,
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": metadata,
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": params.get("payment_method_types")
            or ["card", "us_bank_account"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted_page",
            "url": f"{host_url.rstrip('/')}/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        self.line_items[session_id] = items
        session["_intent_metadata"] = intent_data.get("metadata") or {}
        return session

    def session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise ApiError(
                404,
                f"No such checkout.session: '{session_id}'",
                code="resource_missing",
                param="session",
            )
        return session

    def expire(self, session_id: str) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise ApiError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f"Checkout Session has a status of `{session['status']}`.",
            )
        self._expire(session)
        return session

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = charge = None
        if params.get("payment_intent"):
            intent = self.intents.get(params["payment_intent"])
            if intent is None:
                raise ApiError(
                    404,
                    f"No such payment_intent: '{params['payment_intent']}'",
                    code="resource_missing",
                    param="payment_intent",
                )
            charge = self.charges.get(intent.get("latest_charge") or "")
            if intent["status"] != "succeeded" or charge is None:
                raise ApiError(
                    400,
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge "
                    "to refund.",
                    param="payment_intent",
                )
        elif params.get("charge"):
            charge = self.charges.get(params["charge"])
            if charge is None:
                raise ApiError(
                    404,
                    f"No such charge: '{params['charge']}'",
                    code="resource_missing",
                    param="charge",
                )
        else:
            raise ApiError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise ApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = _int(params, "amount") if "amount" in params else remaining
        if amount <= 0:
            raise _invalid("amount", "Invalid positive integer", "parameter_invalid_integer")
        if amount > remaining:
            raise ApiError(
                400,
                f"Refund amount ({_show(amount, charge['currency'])}) is greater than unrefunded "
                f"amount on charge ({_show(remaining, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
        reason = params.get("reason")
        if reason is not None and reason not in (
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ):
            raise _invalid(
                "reason",
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {
            "id": _new_id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": self.env.clock.timestamp(),
            "currency": charge["currency"],
            "metadata": self._metadata(params.get("metadata"), "metadata"),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund

    # -- hosted page ------------------------------------------------------------------------

    def pay_card(self, session: dict[str, Any], number: str, expiry: str, cvc: str) -> str | None:
        """Confirm the session with a card; the shopper's error in words, or None when paid."""
        number = re.sub(r"\D", "", number)
        if not _luhn(number):
            return "Your card number is invalid."
        match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2})\s*", expiry)
        today = self.env.clock.now()
        if not match or not 1 <= int(match[1]) <= 12:
            return "Your card's expiration date is incomplete."
        if (2000 + int(match[2]), int(match[1])) < (today.year, today.month):
            return "Your card's expiration year is in the past."
        if not re.fullmatch(r"\d{3,4}", cvc.strip()):
            return "Your card's security code is incomplete."
        if number not in CARD_OUTCOMES:
            return (
                "Your card was declined. Your request was in test mode, but used a non test "
                "card. For a list of valid test cards, see the list on this page."
            )
        intent = self._intent(session, "card")
        outcome = CARD_OUTCOMES[number]
        if outcome is not None:
            code, decline_code, message = outcome
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "type": "card_error",
            }
            return message
        self._succeed(intent)
        self._complete(session, paid=True)
        return None

    def pay_bank(self, session: dict[str, Any], routing: str, account: str) -> str | None:
        routing, account = routing.strip(), account.strip()
        if routing != BANK_ROUTING or account not in BANK_OUTCOMES:
            return f"Use routing number {BANK_ROUTING} with a test account number: " + " or ".join(
                BANK_OUTCOMES
            )
        intent = self._intent(session, "us_bank_account")
        intent["status"] = "processing"
        due = self.env.clock.timestamp() + SETTLE_SECONDS
        self.settlements[session["id"]] = (due, BANK_OUTCOMES[account])
        self._complete(session, paid=False)
        return None

    def tick(self) -> None:
        """Expire what is past expires_at and settle bank debits that are due (by the clock)."""
        now = self.env.clock.timestamp()
        for session in list(self.sessions.values()):
            if session["status"] == "open" and session["expires_at"] <= now:
                self._expire(session)
        for session_id, (due, succeeds) in list(self.settlements.items()):
            if due <= now:
                del self.settlements[session_id]
                self._settle(self.sessions[session_id], succeeds)

    # -- views of objects -------------------------------------------------------------------

    def render(self, session: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        body = {k: v for k, v in session.items() if not k.startswith("_")}
        if "payment_intent" in expand and body["payment_intent"]:
            body["payment_intent"] = dict(self.intents[body["payment_intent"]])
        if "line_items" in expand:
            body["line_items"] = {
                "object": "list",
                "data": self.line_items[session["id"]],
                "has_more": False,
                "url": f"/v1/checkout/sessions/{session['id']}/line_items",
            }
        return body

    # -- internals --------------------------------------------------------------------------

    def _line_items(self, raw: Any) -> tuple[list[dict[str, Any]], str]:
        if not raw:
            raise _missing("line_items")
        if not isinstance(raw, list):
            raise _invalid("line_items", "Invalid array")
        items, currencies = [], set()
        for n, item in enumerate(raw):
            where = f"line_items[{n}]"
            if not isinstance(item, dict):
                raise _invalid(where, "Invalid object")
            if "price" in item:
                raise ApiError(
                    400, f"No such price: '{item['price']}'", code="resource_missing", param=where
                )
            price = item.get("price_data")
            if not isinstance(price, dict):
                raise _missing(f"{where}[price_data]")
            for key in ("currency", "product_data"):
                if key not in price:
                    raise _missing(f"{where}[price_data][{key}]")
            currency = str(price["currency"]).lower()
            if not re.fullmatch(r"[a-z]{3}", currency):
                raise _invalid(f"{where}[price_data][currency]", f"Invalid currency: {currency}")
            if "unit_amount" not in price:
                raise _missing(f"{where}[price_data][unit_amount]")
            unit = _int(price, "unit_amount", f"{where}[price_data][unit_amount]")
            if unit < 0:
                raise _invalid(f"{where}[price_data][unit_amount]", "Invalid non-negative integer")
            name = (price["product_data"] or {}).get("name")
            if not name:
                raise _missing(f"{where}[price_data][product_data][name]")
            if "quantity" not in item:
                raise _missing(f"{where}[quantity]")
            quantity = _int(item, "quantity", f"{where}[quantity]")
            if quantity < 1:
                raise _invalid(f"{where}[quantity]", "Invalid positive integer")
            currencies.add(currency)
            items.append(
                {
                    "id": _new_id("li_"),
                    "object": "item",
                    "amount_subtotal": unit * quantity,
                    "amount_total": unit * quantity,
                    "currency": currency,
                    "description": name,
                    "price": {"object": "price", "currency": currency, "unit_amount": unit},
                    "quantity": quantity,
                }
            )
        if len(currencies) > 1:
            raise _invalid("line_items", "All line items must have the same currency.")
        return items, currencies.pop()

    @staticmethod
    def _metadata(raw: Any, param: str) -> dict[str, str]:
        if raw in (None, ""):
            return {}
        if not isinstance(raw, dict):
            raise _invalid(param, "Invalid hash")
        if len(raw) > 50:
            raise _invalid(param, "Metadata can have up to 50 keys.")
        for key, value in raw.items():
            if len(key) > 40 or len(str(value)) > 500:
                raise _invalid(
                    f"{param}[{key}]",
                    "Metadata keys are limited to 40 characters and values to 500 characters.",
                )
        return {str(k): str(v) for k, v in raw.items()}

    def _intent(self, session: dict[str, Any], method: str) -> dict[str, Any]:
        """The session's payment intent, created at the first confirmation attempt."""
        if session["payment_intent"]:
            intent = self.intents[session["payment_intent"]]
        else:
            intent = {
                "id": _new_id("pi_"),
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": 0,
                "created": self.env.clock.timestamp(),
                "currency": session["currency"],
                "latest_charge": None,
                "last_payment_error": None,
                "livemode": False,
                "metadata": dict(session.get("_intent_metadata") or {}),
                "status": "requires_payment_method",
            }
            self.intents[intent["id"]] = intent
            session["payment_intent"] = intent["id"]
        intent["payment_method_types"] = [method]
        intent["last_payment_error"] = None
        return intent

    def _succeed(self, intent: dict[str, Any]) -> None:
        charge = {
            "id": _new_id("ch_"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "paid": True,
            "refunded": False,
            "status": "succeeded",
        }
        self.charges[charge["id"]] = charge
        intent.update(
            status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"]
        )

    def _complete(self, session: dict[str, Any], *, paid: bool) -> None:
        session.update(
            status="complete",
            payment_status="paid" if paid else "unpaid",
            url=None,
            customer_details={"email": session["customer_email"], "name": None},
        )
        self._emit("checkout.session.completed", session)

    def _settle(self, session: dict[str, Any], succeeds: bool) -> None:
        intent = self.intents[session["payment_intent"]]
        if succeeds:
            self._succeed(intent)
            session["payment_status"] = "paid"
            self._emit("checkout.session.async_payment_succeeded", session)
            return
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {
            "code": "payment_method_provider_decline",
            "message": "The customer's bank account could not be debited.",
            "type": "invalid_request_error",
        }
        self._emit("checkout.session.async_payment_failed", session)

    def _expire(self, session: dict[str, Any]) -> None:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)

    def _emit(self, event_type: str, session: dict[str, Any]) -> None:
        """Send a signed snapshot event to the dashboard-configured endpoint, with retries."""
        event = {
            "id": _new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.env.clock.timestamp(),
            "data": {"object": self.render(session, [])},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        knobs = self.env.knobs["stripe"]
        url = self.env.options.stripe_webhook_url
        if not url or not knobs.notifications:
            log.info("sandbox stripe: %s for %s not sent (webhooks off)", event_type, session["id"])
            return
        body = json.dumps(event).encode()
        clock = self.env.clock

        def headers(_attempt: int) -> dict[str, str]:
            return {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(body, clock.timestamp()),
            }

        self.env.notifier.send("stripe", url, body, headers, knobs.notify_attempts)


def sign(body: bytes, timestamp: int, secret: str = credentials.STRIPE["webhook_secret"]) -> str:
    """The `Stripe-Signature` header value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _luhn(number: str) -> bool:
    if not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _show(amount: int, currency: str) -> str:
    return f"{to_decimal_str(amount, currency)} {currency.upper()}"


def register(app: Flask, env: SandboxEnv) -> None:
    state = StripeSandbox(env)
    env.on_reset(state.clear)
    app.extensions["sandbox_stripe"] = state
    bp = Blueprint("sandbox_stripe", __name__)

    def answer(body: dict[str, Any], status: int = 200, replayed: bool = False) -> Response:
        response = Response(json.dumps(body), status, mimetype="application/json")
        response.headers["Request-Id"] = _new_id("req_", 14)
        response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def failure(exc: ApiError) -> Response:
        return answer({"error": exc.error}, exc.status)

    def api(handler: Callable[..., dict[str, Any]]) -> Callable[..., Response]:
        """Auth, knobs, parsing, idempotency and error shapes around one API handler."""

        def view(**kwargs: Any) -> Response:
            trouble = env.misbehave(
                "stripe", lambda: failure(ApiError(500, "An unknown error occurred", "api_error"))
            )
            if trouble is not None:
                return trouble
            try:
                _authenticate(request.headers.get("Authorization", ""))
                version = request.headers.get("Stripe-Version")
                if version is not None and not _VERSION.match(version):
                    raise ApiError(400, f"Invalid Stripe API version: {version}")
                raw = request.get_data(as_text=True) if request.method == "POST" else None
                query = request.query_string.decode() if raw is None else raw
                params = unflatten(parse_qsl(query, keep_blank_values=True))
            except ApiError as exc:
                return failure(exc)
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            endpoint = f"{request.method} {request.path}"
            with state.lock:
                try:
                    if key is not None and (stored := _replay(state, key, endpoint, params)):
                        return answer(stored, replayed=True)
                    state.tick()
                    body = handler(params, **kwargs)
                except ApiError as exc:
                    return failure(exc)  # not stored: Stripe keeps only executed requests
                if key is not None:
                    state.idempotent[key] = (endpoint, params, body)
            return answer(body)

        view.__name__ = handler.__name__
        return view

    def _expand(params: dict[str, Any]) -> list[str]:
        expand = params.get("expand") or []
        return [str(x) for x in expand] if isinstance(expand, list) else [str(expand)]

    @api
    def create_session(params: dict[str, Any]) -> dict[str, Any]:
        return state.render(state.create_session(params, request.host_url), _expand(params))

    @api
    def retrieve_session(params: dict[str, Any], session_id: str) -> dict[str, Any]:
        return state.render(state.session(session_id), _expand(params))

    @api
    def expire_session(params: dict[str, Any], session_id: str) -> dict[str, Any]:
        return state.render(state.expire(session_id), _expand(params))

    @api
    def create_refund(params: dict[str, Any]) -> dict[str, Any]:
        return dict(state.create_refund(params))

    bp.add_url_rule("/v1/checkout/sessions", view_func=create_session, methods=["POST"])
    bp.add_url_rule(
        "/v1/checkout/sessions/<session_id>", view_func=retrieve_session, methods=["GET"]
    )
    bp.add_url_rule(
        "/v1/checkout/sessions/<session_id>/expire", view_func=expire_session, methods=["POST"]
    )
    bp.add_url_rule("/v1/refunds", view_func=create_refund, methods=["POST"])

    @bp.route("/c/pay/<session_id>", methods=["GET", "POST"])
    def hosted_page(session_id: str):  # type: ignore[no-untyped-def]
        with state.lock:
            state.tick()
            session = state.sessions.get(session_id)
            if session is None or session["status"] != "open":
                status = 404 if session is None else 410
                return render_template("stripe/closed.html", session=session), status
            error, status = None, 200
            if request.method == "POST":
                if request.form.get("method") == "us_bank_account":
                    error = state.pay_bank(
                        session, request.form.get("routing", ""), request.form.get("account", "")
                    )
                else:
                    error = state.pay_card(
                        session,
                        request.form.get("cardNumber", ""),
                        request.form.get("cardExpiry", ""),
                        request.form.get("cardCvc", ""),
                    )
                if error is None:
                    return _after_payment(session)
                status = 402
            return render_template(
                "stripe/pay.html",
                session=session,
                items=state.line_items[session_id],
                total=_show(session["amount_total"], session["currency"]),
                error=error,
                form=request.form,
                cards=CARD_OUTCOMES,
                bank_routing=BANK_ROUTING,
                bank_accounts=BANK_OUTCOMES,
                settle_seconds=SETTLE_SECONDS,
            ), status

    app.register_blueprint(bp)


def _after_payment(session: dict[str, Any]) -> Response:
    target = session.get("success_url")
    if not target:
        return Response(render_template("stripe/closed.html", session=session))
    return redirect(target.replace("{CHECKOUT_SESSION_ID}", session["id"]), 303)


def _authenticate(header: str) -> None:
    scheme, _, value = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip()).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise ApiError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or "
            "we can help at https://support.stripe.com/.",
        )
    if not key.startswith("sk_") or not hmac.compare_digest(key, credentials.STRIPE["secret_key"]):
        prefix = key[:8] if key.startswith(("sk_test_", "sk_live_")) else key[:3]
        raise ApiError(401, f"Invalid API Key provided: {prefix}{'*' * 12}{key[-4:]}")


def _replay(
    state: StripeSandbox, key: str, endpoint: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored answer for a repeated Idempotency-Key; an idempotency_error if it differs."""
    if len(key) > 255:
        raise ApiError(400, "Idempotency-Key must be 255 characters or fewer.")
    stored = state.idempotent.get(key)
    if stored is None:
        return None
    first_endpoint, first_params, body = stored
    if first_endpoint != endpoint:
        raise ApiError(
            400,
            "Keys for idempotent requests can only be used for the same endpoint they were "
            f"first used for ('{first_endpoint}' vs '{endpoint}'). Try using a key other than "
            f"'{key}' if you meant to execute a different request.",
            "idempotency_error",
        )
    if first_params != params:
        raise ApiError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
            "idempotency_error",
        )
    return body
