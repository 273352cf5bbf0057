"""The contract between the payment core and each gateway module.

A gateway module reports facts; the core decides. Gateway methods talk HTTP to the gateway and
translate its answers into the values below. They never change a Payment's status and never
write to the database: `payments.service` owns every transition.

Errors are split by what the caller must do:
- `GatewayUnavailable`: transient (timeout, connection refused, 5xx, malformed JSON, busy). The
  payment stays as it is and the next check is backed off. Never a payment failure.
  `GatewayRateLimited` (a 429, with the gateway's Retry-After) is the transient case that means
  "slow down": the sweep pauses that gateway instead of counting an error.
- `GatewayConfigError`: our side is wrong (401, unknown merchant, missing setting). Logged for
  staff, never a payment failure either.
- `GatewayRejected`: the gateway understood and refused this request (validation error on
  create). The checkout shows the message; no money moved.
- `InvalidNotification`: a notification that fails verification. Nothing may change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from ..money import Money
from ..states import PaymentStatus, ReviewKind
from .currency import CurrencyRules
from .errors import (
    GatewayConfigError,
    GatewayError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayUnavailable,
    InvalidNotification,
    NotSupported,
)
from .wire import json_safe

if TYPE_CHECKING:
    from ..models import Payment

__all__ = [  # the errors are part of the contract every gateway and the core import from here
    "GatewayConfigError",
    "GatewayError",
    "GatewayRateLimited",
    "GatewayRejected",
    "GatewayUnavailable",
    "InvalidNotification",
    "NotSupported",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReturnUrls:
    """Where the gateway should send the shopper and its notifications for one payment."""

    return_url: str  # the shopper comes back here after paying
    cancel_url: str  # ... or here after giving up on the hosted page
    notify_url: str  # IPN / webhook endpoint for this gateway
    status_url: str  # the payment's status page
    timeout_url: str = ""  # ... or here when the hosted page's own clock runs out (MPGS)


@dataclass(frozen=True)
class CryptoInstructions:
    address: str
    amount: Money  # coin amount to send, in 1e-8 units
    confirms_needed: int
    dest_tag: str | None = None


@dataclass(frozen=True)
class CheckoutSession:
    """What a gateway hands back when a hosted checkout is opened."""

    gateway_reference: str  # txn_id / session id: how the gateway names this payment
    redirect_url: str  # the hosted page (a direct link; the no-script fallback for MPGS)
    expires_at: datetime | None  # the gateway's own deadline, UTC
    secret: str | None = None  # proves payment on return (MPGS successIndicator); server only
    crypto: CryptoInstructions | None = None
    launch_script: str | None = None  # a gateway JS library to launch the page with, if any
    data: Mapping[str, Any] = field(default_factory=dict)  # other public facts to keep
    raw: Mapping[str, Any] | None = None  # the gateway's answer, secrets stripped


@dataclass(frozen=True)
class Observation:
    """What the gateway says about a payment right now, mapped onto our statuses.

    `status` is the gateway module's reading of its own vocabulary (explicit tables, unknown ->
    PENDING). `paid` is what the gateway says it holds (and `invoiced`, if given, what it says
    it was asked for); the core completes a payment only when each equals what we are owed, so
    underpayment and overpayment are both flagged for staff rather than completed.
    """

    status: PaymentStatus
    raw_status: str  # the gateway's own word or number, for the timeline
    paid: Money | None = None
    # What the gateway says the payment was for (CoinPayments amount1/currency1). When given, it
    # must equal our price too: `paid` may be in coin while the invoice is in the order currency.
    invoiced: Money | None = None
    message: str = ""  # the reason in words ("Card declined: insufficient funds")
    review: str | None = None  # a fact staff must look at (refunded at the gateway ...)
    review_kind: ReviewKind | None = None  # what the shopper reads about the review
    gateway_reference: str | None = None
    confirms_received: int | None = None
    confirms_needed: int | None = None
    expires_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] | None = None  # the gateway's answer, secrets stripped


@dataclass(frozen=True)
class InboundNotification:
    """A verified notification, reduced to what the core needs."""

    event_id: str  # unique per gateway: ipn_id, X-Notification-Id, evt_...
    event_type: str
    payment_ref: str | None = None  # our ref, when the payload carries it
    gateway_reference: str | None = None  # the gateway's id, when that is all we get
    # A verified payload the core may use as is. None: only trigger a fresh look-up.
    observation: Observation | None = None
    ignore: bool = False  # verified, stored, but not a type we act on
    payload: Mapping[str, Any] | None = None  # for storage, secrets stripped


@dataclass(frozen=True)
class RefundResult:
    refund_reference: str
    amount: Money
    status: str  # the gateway's word: succeeded / pending / ...
    raw: Mapping[str, Any] | None = None


class Gateway:
    """Base class of every gateway client.

    Subclasses set `name` and implement the methods marked required. Each method's docstring
    states what it must never do.
    """

    name: ClassVar[str]
    #: what to answer a notification once it is stored (body, HTTP status)
    notification_ack: ClassVar[tuple[str, int]] = ("OK", 200)
    #: whether `fetch_statuses` does real batching (the sweep sizes its batches with this)
    batch_size: ClassVar[int] = 1
    #: money can still arrive after the deadline (crypto): the sweep keeps looking at EXPIRED
    #: payments within its window, so a lost notification cannot lose late money
    late_money: ClassVar[bool] = False
    #: the shortest and longest lifetime the gateway accepts for an absolute checkout deadline
    #: (Stripe's expires_at). None: the gateway keeps its own clock and takes no deadline.
    lifetime_bounds: ClassVar[tuple[timedelta, timedelta] | None] = None
    #: the lifetime the shop asks for (config); see `deadline_from`
    lifetime: timedelta | None = None
    #: requests per second when the gateway documents none and the shop set none (our choice)
    default_rate_limit: ClassVar[float] = 10.0

    @classmethod
    def currency_rules(cls, config: Mapping[str, Any]) -> CurrencyRules:
        """What this gateway can charge under `config`. Gateways with rules override this."""
        return CurrencyRules(cls.name)

    def deadline_from(self, now: datetime) -> datetime | None:
        """The deadline for a checkout opened at `now`, inside the gateway's bounds, or None.

        The payments layer calls this once per payment and stores the answer before the first
        create; every create for that payment (a retry under the same idempotency key) then
        sends the stored value, never one recomputed from a later "now".
        """
        if self.lifetime_bounds is None or self.lifetime is None:
            return None
        shortest, longest = self.lifetime_bounds
        return now + min(max(self.lifetime, shortest), longest)

    @classmethod
    def rate_limit(cls, config: Mapping[str, Any]) -> float:
        """Requests per second the gateway allows us; the sweep stays under it (rate_limit.py).

        The default reads the gateway's <NAME>_RATE_LIMIT setting; a gateway with documented
        limits (Stripe) answers from them. Pure: no HTTP.
        """
        return float(config.get(f"{cls.name.upper()}_RATE_LIMIT") or cls.default_rate_limit)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Gateway:
        """Build the client from the app config. Required."""
        raise NotImplementedError

    @classmethod
    def missing_settings(cls, config: Mapping[str, Any]) -> list[str]:
        """Settings wrong beyond being empty (the plugin's required ones are checked already)."""
        return []

    def create_checkout(self, payment: Payment, urls: ReturnUrls) -> CheckoutSession:
        """Open a hosted checkout for `payment`. Required.

        Must be safe to retry for the same payment (idempotency keys, our ref as order id).
        Raises GatewayUnavailable / GatewayConfigError / GatewayRejected; never returns a
        half-made session.
        """
        raise NotImplementedError

    def fetch_status(self, payment: Payment) -> Observation:
        """Ask the gateway what it holds for `payment`. Required. Must not move money."""
        raise NotImplementedError

    def fetch_statuses(self, payments: Iterable[Payment]) -> dict[str, Observation | GatewayError]:
        """Look up many payments; the result is keyed by payment ref.

        The default asks one at a time; gateways with a batch API override it. A per-payment
        error is returned in place of its observation so one bad id does not sink the batch.
        """
        results: dict[str, Observation | GatewayError] = {}
        for payment in payments:
            try:
                results[payment.ref] = self.fetch_status(payment)
            except GatewayError as exc:
                results[payment.ref] = exc
        return results

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> InboundNotification:
        """Verify and read a notification from the raw body bytes. Required.

        Raises InvalidNotification when the signature, secret or merchant does not verify;
        must not touch the database.
        """
        raise NotImplementedError

    def check_return(self, payment: Payment, args: Mapping[str, str]) -> str:
        """Read what the gateway appended to the return URL, for the timeline.

        The answer is a note only: the return never changes a status by itself; the caller
        always looks the payment up at the gateway next.
        """
        return "shopper returned"

    def expire(self, payment: Payment) -> Observation:
        """Close an open checkout past its deadline, then say what the gateway holds.

        Gateways that cannot close a checkout just look it up; the sweep decides on expiry.
        """
        return self.fetch_status(payment)

    def money_may_still_come(self, observation: Observation) -> bool:
        """Whether money may still arrive for a payment whose last answer is `observation`.

        The sweep asks this with the gateway's answer when it expires a payment past its
        deadline: True keeps the expired payment in its slow look-ups within the sweep window,
        so money captured afterwards still completes it (flagged late). Crypto says yes always
        (`late_money`); a card gateway answers from what the shopper was doing. Pure: no HTTP.
        """
        return self.late_money

    def refund(self, payment: Payment, amount: Money) -> RefundResult:
        """Refund `amount` of a completed payment. Moves money: called only by staff."""
        raise NotSupported(f"{self.name} has no refund API")

    def redact(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Drop secrets before a gateway payload is stored or shown to staff (JSON-safe)."""
        return json_safe({k: v for k, v in data.items() if k.lower() not in _SECRET_KEYS})


_SECRET_KEYS = frozenset(
    {"successindicator", "client_secret", "key", "private_key", "password", "secret", "hmac"}
)


@dataclass(frozen=True)
class Setting:
    """One configuration value a gateway needs, declared by the gateway itself.

    The app reads it from the environment converted to the default's type, `.env.example`
    lists it with its help, and the sandbox plan fills it in when the shop has no live value.
    """

    key: str  # the config key, e.g. "STRIPE_SECRET_KEY"
    default: Any  # typed default: "" / int / float / bool
    help: str  # one line for .env.example and the docs
    required: bool = False  # without it the gateway is shown disabled, "not configured"
    secret: bool = False  # never shown or logged; a set secret means live, so no sandbox
    sandbox: Any = None  # the value under the sandbox; "{sandbox}" stands for its base URL


@dataclass(frozen=True)
class Presentation:
    """How the checkout and the status page show a gateway to the shopper."""

    label: str  # "Card (HyperPay MPGS)"
    note: str  # "Visa / Mastercard / mada"
    logo: str  # a path under static/
    #: a template the status page includes to say how to pay (the crypto address block)
    status_partial: str | None = None
    #: the page that launches its hosted checkout or widget, if not the common launch page
    launch_template: str | None = None
    #: the provider's own name, for sentences ("CoinPayments has no refund API"); default label
    provider: str = ""
    #: the origins of its live hosted payment page, where the answer to our Pay form redirects
    #: (the CSP's form-action must list them; under the sandbox its origin is used instead)
    hosted_origins: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.provider or self.label


@dataclass(frozen=True)
class GatewayPlugin:
    """Everything Tollgate knows about one gateway, found through the registry by its name.

    A gateway is one package that exposes `plugin`; nothing outside it names the gateway.
    """

    name: str
    gateway: type[Gateway]
    settings: tuple[Setting, ...]
    presentation: Presentation
    sandbox: str | None = None  # import path of its emulator (a module with register(app, env))
    templates: str | None = None  # the folder of its own templates (absolute), for partials

    @property
    def label(self) -> str:
        return self.presentation.label

    def sandbox_values(self, sandbox_url: str) -> dict[str, Any]:
        """The settings that point this gateway at the sandbox, with its demo credentials."""
        return {
            s.key: s.sandbox.replace("{sandbox}", sandbox_url)
            if isinstance(s.sandbox, str)
            else s.sandbox
            for s in self.settings
            if s.sandbox is not None
        }

    def is_live(self, config: Mapping[str, Any]) -> bool:
        """Whether the shop put a live secret in: such a gateway is never sent to the sandbox."""
        return any(config.get(s.key) for s in self.settings if s.secret and s.required)
