"""Stripe Checkout Sessions through the official `stripe` SDK.

One `stripe.StripeClient` per app, built from config (key, API base, retries, timeouts): no global
`stripe.*` state, so tests and the sandbox point it at a local server by base address only.

What Stripe says is read from the Checkout Session (`status` + `payment_status`, and the payment
intent when a delayed method is still settling) through the explicit tables in statuses.py.
Webhooks are verified and read in notifications.py; the amounts and currencies Stripe takes are
in currencies.py. This module keeps the SDK calls and what their errors mean for the core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import stripe

from ...money import Money
from ..base import (
    CheckoutSession,
    Gateway,
    GatewayConfigError,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    InboundNotification,
    Observation,
    RefundResult,
    ReturnUrls,
)
from ..currency import CurrencyRules
from ..transport import CallBudget, call_budget, pooled_session, proxies_for
from ..wire import json_safe
from . import notifications
from .catchup import PAGE_SIZE, CatchUp
from .currencies import RULES
from .sdk import BudgetedRequestsClient, sdk_backoff, stripe_errors
from .settings import DEFAULT_API_BASE, rate_limit_for
from .statuses import (
    from_unix,
    intent_id_of,
    money_may_still_come,
    observe_session,
    session_summary,
)

if TYPE_CHECKING:
    from ...models import Payment

__all__ = ["StripeGateway", "observe_session", "sdk_backoff"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# Stripe accepts expires_at from 30 minutes to (strictly) 24 hours after it creates the session.
# A minute of margin each side keeps clock skew and request latency from crossing either limit.
_MIN_LIFETIME = timedelta(minutes=30, seconds=60)
_MAX_LIFETIME = timedelta(hours=24) - timedelta(seconds=60)


class StripeGateway(Gateway):
    name = "stripe"
    lifetime_bounds = (_MIN_LIFETIME, _MAX_LIFETIME)
    #: a batch is one list page's worth of sessions (catchup.py)
    batch_size = PAGE_SIZE

    @classmethod
    def currency_rules(cls, config: Mapping[str, Any]) -> CurrencyRules:
        return RULES

    @classmethod
    def rate_limit(cls, config: Mapping[str, Any]) -> float:
        """Stripe's documented read limit for our key's mode, or STRIPE_RATE_LIMIT (settings)."""
        return rate_limit_for(config)

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str = "https://api.stripe.com",
        session_lifetime: int = 1800,
        webhook_tolerance: int = 300,
        budget: CallBudget | None = None,
    ) -> None:
        budget = budget or call_budget({}, attempts=3, backoff=sdk_backoff)
        self.budget = budget
        # one pooled session shared by the sweep's threads, reading the environment once (see
        # transport.pooled_session): the SDK's default re-reads it on every call
        http_client = BudgetedRequestsClient(
            budget, session=pooled_session(), proxy=proxies_for(api_base) or None
        )
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            max_network_retries=budget.retries,
            http_client=http_client,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = webhook_tolerance
        self.lifetime = timedelta(seconds=session_lifetime)
        self._catch_up = CatchUp(self._list_page)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StripeGateway:
        """STRIPE_MAX_NETWORK_RETRIES is a wish: GATEWAY_TOTAL_SECONDS may allow fewer."""
        retries = int(config.get("STRIPE_MAX_NETWORK_RETRIES", 2))
        return cls(
            secret_key=config.get("STRIPE_SECRET_KEY") or "",
            webhook_secret=config.get("STRIPE_WEBHOOK_SECRET") or "",
            api_base=config.get("STRIPE_API_BASE") or DEFAULT_API_BASE,
            session_lifetime=int(config.get("STRIPE_SESSION_LIFETIME", 1800)),
            webhook_tolerance=int(config.get("STRIPE_WEBHOOK_TOLERANCE", 300)),
            budget=call_budget(config, attempts=1 + retries, backoff=sdk_backoff),
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
            payment.ref,
            "create",
            lambda: self._client.v1.checkout.sessions.create(params=params, options=options),
            rejected=True,
        )
        data = session.to_dict()
        if not data.get("id") or not data.get("url"):
            raise GatewayUnavailable("Stripe answered the create without a session id or url")
        expires_at = from_unix(data.get("expires_at"))
        return CheckoutSession(
            gateway_reference=data["id"],
            redirect_url=data["url"],
            expires_at=expires_at,
            # Stripe's own creation time, so the sweep finds the session in its list by it
            data={"session_id": data["id"], "session_created": data.get("created")},
            raw=session_summary(data),
        )

    def fetch_status(self, payment: Payment) -> Observation:
        """Retrieve the session (with its payment intent) and map it. Moves no money."""
        return observe_session(self._retrieve(payment))

    def fetch_statuses(self, payments: Iterable[Payment]) -> dict[str, Observation | GatewayError]:
        """The sweep's look-ups: Stripe's session list first, a retrieve for what it leaves.

        A failed list call (rate-limited, unavailable) answers for the whole batch, as one
        failed retrieve would for its payment. See catchup.py.
        """
        payments = list(payments)
        try:
            listed = self._catch_up.observations(payments)
        except GatewayError as exc:
            return {payment.ref: exc for payment in payments}
        results: dict[str, Observation | GatewayError] = {}
        for payment in payments:
            observation = listed.get(payment.gateway_reference or "")
            if observation is not None:
                results[payment.ref] = observation
                continue
            try:
                results[payment.ref] = self.fetch_status(payment)
            except GatewayError as exc:
                results[payment.ref] = exc
        return results

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
                payment.ref,
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
        """Verified and read by notifications.parse, under our webhook secret and tolerance."""
        return notifications.parse(headers, body, self._webhook_secret, self._tolerance)

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
            intent = intent_id_of(self._retrieve(payment).get("payment_intent"))
        if not intent:
            raise GatewayRejected("the Stripe session has no payment to refund")
        params = {
            "payment_intent": intent,
            "amount": units,
            "metadata": {"payment_ref": payment.ref},
        }
        key = f"tollgate-refund-{payment.ref}-{payment.refunded_amount or 0}-{amount.amount}"
        refund = self._call(
            payment.ref,
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
            payment.ref,
            "retrieve",
            lambda: self._client.v1.checkout.sessions.retrieve(
                reference, params={"expand": ["payment_intent"]}
            ),
        )
        return session.to_dict()

    def _list_page(self, params: dict[str, Any]) -> dict[str, Any]:
        """One page of `GET /v1/checkout/sessions` (catchup.py says which)."""
        page = self._call(
            "sweep", "list", lambda: self._client.v1.checkout.sessions.list(params=dict(params))
        )
        return page.to_dict()

    def _call(self, ref: str, action: str, call: Callable[[], T], rejected: bool = False) -> T:
        """Every API request goes through here: `ref` names the payment (or batch) in logs."""
        with stripe_errors(ref, action, rejected=rejected):
            return call()


def _reference(payment: Payment) -> str:
    if not payment.gateway_reference:
        raise GatewayRejected("this payment never got a Stripe session")
    return payment.gateway_reference


def _with_session_placeholder(url: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}session_id={{CHECKOUT_SESSION_ID}}"


def _utcnow() -> datetime:
    return datetime.now(UTC)
