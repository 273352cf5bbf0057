"""Stripe Checkout Sessions through the official `stripe` SDK.

One `stripe.StripeClient` per app, built from config (key, API base, retries, timeouts): no global
`stripe.*` state, so tests and the sandbox point it at a local server by base address only.

What Stripe says is read from the Checkout Session (`status` + `payment_status`, and the payment
intent when a delayed method is still settling) through the explicit tables below. Webhooks are
verified by the SDK on the raw body; a verified session in a webhook is used as is, because the
funnel refuses regressions (an `expired` event after `completed` changes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import stripe

from ...money import Money, MoneyError
from ...states import PaymentStatus
from ..base import (
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    InboundNotification,
    InvalidNotification,
    Observation,
    RefundResult,
    ReturnUrls,
)
from ..currency import CurrencyRules, codes
from ..transport import pooled_session, proxies_for
from ..wire import header, json_safe, notification_object, object_at, text_at
from .settings import DEFAULT_API_BASE

if TYPE_CHECKING:
    from ...models import Payment

log = logging.getLogger(__name__)
T = TypeVar("T")

# Stripe accepts expires_at from 30 minutes to (strictly) 24 hours after it creates the session.
# A minute of margin each side keeps clock skew and request latency from crossing either limit.
_MIN_LIFETIME = timedelta(minutes=30, seconds=60)
_MAX_LIFETIME = timedelta(hours=24) - timedelta(seconds=60)

# What Stripe can charge, from https://docs.stripe.com/currencies (see docs/currencies.md).
# Stripe's presentment currencies (card payments), lower-cased in the API.
_CURRENCIES = codes(
    """
    USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT
    LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SOS SRD
    STD SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR
    ZMW
    """
)
# "Zero-decimal currencies": the amount is in whole units, whatever ISO 4217 says (MGA).
_ZERO_DECIMAL = codes("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF")
# "Three-decimal currencies": the last digit of the amount must be 0.
_THREE_DECIMAL = codes("BHD JOD KWD OMR TND")
# "Special cases": ISK is whole krónur but stays two-decimal in the API (100 = 1 ISK), so its
# amounts are multiples of 100. (HUF and TWD are two-decimal for charges; their zero-decimal
# rule concerns payouts only.)
# "Minimum and maximum charge amounts", in Stripe's units; at most eight digits everywhere.
_MINIMUM = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500,
    "DKK": 250, "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000,
    "MYR": 200, "NOK": 300, "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50, "THB": 1000,
}  # fmt: skip
RULES = CurrencyRules(
    gateway="Stripe",
    currencies=_CURRENCIES,
    decimals={"ISK": 2, **dict.fromkeys(_ZERO_DECIMAL, 0), **dict.fromkeys(_THREE_DECIMAL, 3)},
    multiple_of={"ISK": 100, **dict.fromkeys(_THREE_DECIMAL, 10)},
    minimum=_MINIMUM,
    maximum_digits=8,
)

# The session's own `status`; "complete" is refined by `payment_status` below.
_SESSION_STATUS: dict[str, PaymentStatus] = {
    "open": PaymentStatus.PENDING,
    "expired": PaymentStatus.EXPIRED,
}
# `payment_status` of a complete session: (our status, review reason for staff).
_COMPLETE_PAYMENT_STATUS: dict[str, tuple[PaymentStatus, str | None]] = {
    "paid": (PaymentStatus.COMPLETED, None),
    "unpaid": (PaymentStatus.PENDING, None),  # a delayed method (bank debit) is settling
    "no_payment_required": (
        PaymentStatus.PENDING,
        "Stripe completed the session with no payment required (100% discount or zero "
        "amount?): nothing was charged",
    ),
}
# The payment intent of a complete but unpaid session: settled as failed, or still processing.
_UNPAID_INTENT_STATUS: dict[str, PaymentStatus] = {
    "processing": PaymentStatus.PENDING,
    "requires_payment_method": PaymentStatus.FAILED,  # the delayed payment bounced
    "canceled": PaymentStatus.FAILED,
}

#: (session status, payment intent status) after which money may still arrive once our deadline
#: passed: the shopper is still inside the payment on an open session (3-D Secure, a payment
#: that is processing), or a completed session's delayed debit is still settling. Anything else
#: is paid, refused, or never had a payment started.
MONEY_MAY_STILL_COME = frozenset(
    {
        ("open", "processing"),
        ("open", "requires_action"),
        ("open", "requires_confirmation"),
        ("complete", "processing"),
    }
)

SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
# Stripe reports a failed delayed payment only by this event: the session stays complete/unpaid.
_FAILED_EVENT = "checkout.session.async_payment_failed"


class StripeGateway(Gateway):
    name = "stripe"
    lifetime_bounds = (_MIN_LIFETIME, _MAX_LIFETIME)

    @classmethod
    def currency_rules(cls, config: Mapping[str, Any]) -> CurrencyRules:
        return RULES

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str = "https://api.stripe.com",
        max_network_retries: int = 2,
        session_lifetime: int = 1800,
        webhook_tolerance: int = 300,
        connect_timeout: float = 3.05,
        read_timeout: float = 15.0,
    ) -> None:
        # one pooled session shared by the sweep's threads, reading the environment once (see
        # transport.pooled_session): the SDK's default re-reads it on every call
        http_client = stripe.RequestsClient(
            timeout=(connect_timeout, read_timeout),
            session=pooled_session(),
            proxy=proxies_for(api_base) or None,
        )
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            http_client=http_client,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = webhook_tolerance
        self.lifetime = timedelta(seconds=session_lifetime)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StripeGateway:
        return cls(
            secret_key=config.get("STRIPE_SECRET_KEY") or "",
            webhook_secret=config.get("STRIPE_WEBHOOK_SECRET") or "",
            api_base=config.get("STRIPE_API_BASE") or DEFAULT_API_BASE,
            max_network_retries=int(config.get("STRIPE_MAX_NETWORK_RETRIES", 2)),
            session_lifetime=int(config.get("STRIPE_SESSION_LIFETIME", 1800)),
            webhook_tolerance=int(config.get("STRIPE_WEBHOOK_TOLERANCE", 300)),
            connect_timeout=config["GATEWAY_CONNECT_TIMEOUT"],
            read_timeout=config["GATEWAY_READ_TIMEOUT"],
        )

    # -- checkout -------------------------------------------------------------------------------

    def create_checkout(self, payment: Payment, urls: ReturnUrls) -> CheckoutSession:
        """Open a Checkout Session; a retry for the same payment gets the same session back.

        The idempotency key is derived from our ref, and every parameter is derived from the
        payment row (expires_at is the deadline the payments layer stored before the first
        try), so a retried create sends identical parameters and Stripe replays its stored
        answer instead of opening a second session. The amount is in Stripe's own units.
        """
        if payment.checkout_deadline is None:
            raise GatewayConfigError(f"payment {payment.ref} was given no checkout deadline")
        unit_amount = RULES.to_units(payment.money)
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": payment.currency.lower(),
                        "unit_amount": unit_amount,
                        "product_data": {"name": payment.order.product.name},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": payment.ref,
            "metadata": {"order_ref": payment.order.ref, "payment_ref": payment.ref},
            "customer_email": payment.order.email,
            "success_url": _with_session_placeholder(urls.return_url),
            "cancel_url": urls.cancel_url,
            "expires_at": int(payment.checkout_deadline.timestamp()),
        }
        options = {"idempotency_key": f"tollgate-checkout-{payment.ref}"}
        session = self._call(
            payment,
            "create",
            lambda: self._client.v1.checkout.sessions.create(params=params, options=options),
            rejected=True,
        )
        data = session.to_dict()
        if not data.get("id") or not data.get("url"):
            raise GatewayUnavailable("Stripe answered the create without a session id or url")
        expires_at = _from_unix(data.get("expires_at"))
        return CheckoutSession(
            gateway_reference=data["id"],
            redirect_url=data["url"],
            expires_at=expires_at,
            data={"session_id": data["id"]},
            raw=_summary(data),
        )

    def fetch_status(self, payment: Payment) -> Observation:
        """Retrieve the session (with its payment intent) and map it. Moves no money."""
        return observe_session(self._retrieve(payment))

    def money_may_still_come(self, observation: Observation) -> bool:
        """Past our deadline, may this session still be paid? See MONEY_MAY_STILL_COME."""
        return money_may_still_come(observation.data)

    def expire(self, payment: Payment) -> Observation:
        """Expire an open session past our deadline, then report what Stripe then holds.

        Stripe expires sessions itself at expires_at; this closes the page at once when our
        deadline passed first. "Only open sessions can be expired" is a race we lost to the
        shopper (complete) or to Stripe (expired): we simply look again.
        """
        session = self._retrieve(payment)
        deadline = payment.expires_at
        observation = observe_session(session)
        if session.get("status") != "open" or deadline is None or deadline > _utcnow():
            return observation
        if self.money_may_still_come(observation):
            # the shopper is inside the payment (3-D Secure, processing): closing the session
            # would cancel it; the sweep keeps looking at it after expiry instead
            return observation
        try:
            expired = self._call(
                payment,
                "expire",
                lambda: self._client.v1.checkout.sessions.expire(
                    _reference(payment),
                    options={"idempotency_key": f"tollgate-expire-{payment.ref}"},
                ),
                rejected=True,
            )
        except GatewayRejected as exc:
            log.info("payment %s: Stripe would not expire the session: %s", payment.ref, exc)
            return observe_session(self._retrieve(payment))
        log.info("payment %s: expired Stripe session %s", payment.ref, _reference(payment))
        return observe_session(expired.to_dict())

    def check_return(self, payment: Payment, args: Mapping[str, str]) -> str:
        """The session_id on the return URL is a hint only; we always ask Stripe next."""
        hint = (args.get("session_id") or "").strip()
        if not hint:
            return "shopper returned from Stripe without a session id"
        if hint == payment.gateway_reference:
            return "shopper returned from Stripe with this payment's session id"
        log.warning(
            "payment %s: return carried session id %r, ours is %r",
            payment.ref,
            hint[:80],
            payment.gateway_reference,
        )
        return f"shopper returned with another session id ({hint[:80]}): ignored"

    # -- webhooks -------------------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> InboundNotification:
        """Verify `Stripe-Signature` on the raw body with the SDK, then read the session in it.

        A signed body is still checked for shape (an event object whose `data.object` is an
        object, string ids): a valid signature proves who sent it, not that it is well formed.
        """
        signature = header(headers, "Stripe-Signature")
        try:
            stripe.WebhookSignature.verify_header(
                body, signature, self._webhook_secret, tolerance=self._tolerance
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidNotification(
                f"Stripe signature does not verify: {exc.user_message}"
            ) from exc
        except UnicodeDecodeError as exc:
            raise InvalidNotification("Stripe webhook body is not UTF-8") from exc

        # Stripe amounts are integers: a decimal number is kept as its text, so the stored
        # payload stays JSON and such an amount is simply not one (`_paid` wants an int).
        data = notification_object(body, parse_float=str)
        event_id, event_type = text_at(data, "id"), text_at(data, "type")
        if not event_id or not event_type:
            raise InvalidNotification("signed Stripe payload without an event id or type")
        session = object_at(object_at(data, "data"), "object")
        payload = {
            "id": event_id,
            "type": event_type,
            "created": data.get("created"),
            "livemode": data.get("livemode"),
            "object": _summary(session),
        }
        if event_type not in SESSION_EVENTS or session.get("object") != "checkout.session":
            return InboundNotification(event_id, event_type, ignore=True, payload=payload)
        session_id = text_at(session, "id")
        if not session_id:
            raise InvalidNotification(f"Stripe {event_type} without a session id")
        for key in ("status", "payment_status"):  # the status tables are looked up by these
            text_at(session, key)
        return InboundNotification(
            event_id=event_id,
            event_type=event_type,
            payment_ref=text_at(session, "client_reference_id"),
            gateway_reference=session_id,
            observation=observe_session(session, event_type=event_type),
            payload=payload,
        )

    # -- refunds --------------------------------------------------------------------------------

    def refund(self, payment: Payment, amount: Money) -> RefundResult:
        """Refund all or part of a paid session through its payment intent. Moves money.

        The idempotency key names the payment, what was refunded before and this amount, so a
        retried call cannot refund twice while a second partial refund is still possible.
        """
        if amount.currency != payment.currency or amount.amount <= 0:
            raise GatewayRejected(f"cannot refund {amount} of a {payment.money} payment")
        units = RULES.to_units(amount, refund=True)
        intent = (payment.gateway_data or {}).get("payment_intent")
        if not intent:
            intent = _intent_id(self._retrieve(payment).get("payment_intent"))
        if not intent:
            raise GatewayRejected("the Stripe session has no payment to refund")
        params = {
            "payment_intent": intent,
            "amount": units,
            "metadata": {"payment_ref": payment.ref},
        }
        key = f"tollgate-refund-{payment.ref}-{payment.refunded_amount or 0}-{amount.amount}"
        refund = self._call(
            payment,
            "refund",
            lambda: self._client.v1.refunds.create(params=params, options={"idempotency_key": key}),
            rejected=True,
        ).to_dict()
        log.info(
            "payment %s: Stripe refund %s of %s is %s",
            payment.ref,
            refund.get("id"),
            amount,
            refund.get("status"),
        )
        return RefundResult(
            refund_reference=refund["id"],
            amount=RULES.to_money(int(refund["amount"]), str(refund["currency"])),
            status=str(refund.get("status")),
            raw=json_safe(refund),
        )

    # -- plumbing -------------------------------------------------------------------------------

    def _retrieve(self, payment: Payment) -> dict[str, Any]:
        reference = _reference(payment)
        session = self._call(
            payment,
            "retrieve",
            lambda: self._client.v1.checkout.sessions.retrieve(
                reference, params={"expand": ["payment_intent"]}
            ),
        )
        return session.to_dict()

    def _call(
        self, payment: Payment, action: str, call: Callable[[], T], rejected: bool = False
    ) -> T:
        with _stripe_errors(payment.ref, action, rejected=rejected):
            return call()


def observe_session(session: Mapping[str, Any], event_type: str | None = None) -> Observation:
    """Read a Checkout Session (retrieved, or from a verified webhook) onto our statuses."""
    status = session.get("status")
    payment_status = session.get("payment_status")
    raw_status = f"{status}/{payment_status}"
    if event_type:
        raw_status = f"{event_type} ({raw_status})"
    intent = session.get("payment_intent")
    facts: dict[str, Any] = {
        "session_id": session.get("id"),
        "session_status": status,
        "intent_status": intent.get("status") if isinstance(intent, Mapping) else None,
    }
    if intent_id := _intent_id(intent):
        facts["payment_intent"] = intent_id
    common: dict[str, Any] = {
        "raw_status": raw_status,
        "gateway_reference": session.get("id"),
        "expires_at": _from_unix(session.get("expires_at")),
        "data": facts,
        "raw": _summary(session),
    }

    if event_type == _FAILED_EVENT:
        return Observation(
            PaymentStatus.FAILED, message="The bank debit did not go through", **common
        )
    if status in _SESSION_STATUS:
        return Observation(_SESSION_STATUS[status], **common)
    if status != "complete" or payment_status not in _COMPLETE_PAYMENT_STATUS:
        log.warning(
            "payment %s: Stripe session %s has an unknown state %s",
            session.get("client_reference_id"),
            session.get("id"),
            raw_status,
        )
        return Observation(PaymentStatus.PENDING, message="", **common)

    mapped, review = _COMPLETE_PAYMENT_STATUS[payment_status]
    if mapped == PaymentStatus.COMPLETED:
        return Observation(PaymentStatus.COMPLETED, paid=_paid(session), **common)
    if payment_status == "unpaid" and isinstance(intent, Mapping):
        intent_status = str(intent.get("status"))
        mapped = _UNPAID_INTENT_STATUS.get(intent_status, PaymentStatus.PENDING)
        common["raw_status"] = f"{raw_status}, intent {intent_status}"
        if mapped == PaymentStatus.FAILED:
            return Observation(mapped, message=_intent_error(intent), **common)
    return Observation(mapped, review=review, **common)


def money_may_still_come(facts: Mapping[str, Any]) -> bool:
    """Whether the session facts `observe_session` recorded leave money still on its way."""
    return (facts.get("session_status"), facts.get("intent_status")) in MONEY_MAY_STILL_COME


@contextmanager
def _stripe_errors(ref: str, action: str, *, rejected: bool) -> Iterator[None]:
    """Translate SDK errors into what the core must do about them."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise GatewayUnavailable(f"Stripe {action}: {_describe(exc)}") from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        log.error("payment %s: Stripe refused our credentials on %s: %s", ref, action, exc)
        raise GatewayConfigError(f"Stripe {action}: {_describe(exc)}") from exc
    except (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.CardError) as exc:
        if rejected:
            raise GatewayRejected(f"Stripe {action}: {_describe(exc)}") from exc
        # Stripe does not know a session we created: wrong account, or test vs live keys.
        log.error("payment %s: Stripe could not %s the session: %s", ref, action, exc)
        raise GatewayConfigError(f"Stripe {action}: {_describe(exc)}") from exc
    except stripe.StripeError as exc:  # APIError (5xx, a body that is not JSON) and the rest
        raise GatewayUnavailable(f"Stripe {action}: {_describe(exc)}") from exc
    except GatewayError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise GatewayUnavailable(f"Stripe {action}: unexpected answer ({exc!r})") from exc


def _describe(exc: stripe.StripeError) -> str:
    status = f"HTTP {exc.http_status}: " if exc.http_status else ""
    code = f" [{exc.code}]" if exc.code else ""
    return f"{status}{exc.user_message or type(exc).__name__}{code}"


def _paid(session: Mapping[str, Any]) -> Money | None:
    """What the session took, in our Money (Stripe's units converted back)."""
    amount, currency = session.get("amount_total"), session.get("currency")
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str):
        return None
    try:
        return RULES.to_money(amount, currency)
    except MoneyError:
        log.warning("session %s: unreadable amount %r %s", session.get("id"), amount, currency)
        return None


def _intent_id(intent: Any) -> str | None:
    if isinstance(intent, str):
        return intent
    if isinstance(intent, Mapping):
        return intent.get("id")
    return None


def _intent_error(intent: Mapping[str, Any]) -> str:
    error = intent.get("last_payment_error")
    message = error.get("message") if isinstance(error, Mapping) else None
    return str(message or "The delayed payment did not go through")


def _summary(session: Mapping[str, Any]) -> dict[str, Any]:
    """What is worth keeping of a session: no e-mail, no customer details, no client secret."""
    keys = (
        "id",
        "object",
        "status",
        "payment_status",
        "amount_total",
        "currency",
        "client_reference_id",
        "expires_at",
        "livemode",
        "mode",
    )
    summary = {key: session.get(key) for key in keys if key in session}
    if intent := _intent_id(session.get("payment_intent")):
        summary["payment_intent"] = intent
    return json_safe(summary)


def _reference(payment: Payment) -> str:
    if not payment.gateway_reference:
        raise GatewayRejected("this payment never got a Stripe session")
    return payment.gateway_reference


def _with_session_placeholder(url: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}session_id={{CHECKOUT_SESSION_ID}}"


def _from_unix(value: Any) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(value, UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)
