"""The contract between the payment core and each gateway module.

A gateway module reports facts; the core decides. Gateway methods talk HTTP to the gateway and
translate its answers into the values below. They never change a Payment's status and never
write to the database: `payments.service` owns every transition.

Errors are split by what the caller must do:
- `GatewayUnavailable`: transient (timeout, connection refused, 5xx, malformed JSON, busy). The
  payment stays as it is and the next check is backed off. Never a payment failure.
- `GatewayConfigError`: our side is wrong (401, unknown merchant, missing setting). Logged for
  staff, never a payment failure either.
- `GatewayRejected`: the gateway understood and refused this request (validation error on
  create). The checkout shows the message; no money moved.
- `InvalidNotification`: a notification that fails verification. Nothing may change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from ..money import Money, MoneyError, exponent
from ..payments.states import PaymentStatus

if TYPE_CHECKING:
    from ..models import Payment

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """Base for everything a gateway call can raise."""


class GatewayUnavailable(GatewayError):
    """Transient: try again later. Never turns a payment FAILED."""


class GatewayConfigError(GatewayError):
    """Our credentials or settings are wrong. Needs a person, not a retry loop."""


class GatewayRejected(GatewayError):
    """The gateway refused the request itself (e.g. a validation error on create)."""


class InvalidNotification(GatewayError):
    """A notification whose signature or origin does not verify. It must change nothing."""


class NotSupported(GatewayError):
    """The gateway has no API for this operation."""


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
    review_kind: str | None = None  # a payments.states.ReviewKind value: the shopper's words
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


@dataclass(frozen=True)
class CurrencyRules:
    """What one gateway can charge, and how it writes our Money in its own units.

    Our Money counts minor units by the ISO 4217 exponent; a gateway may count otherwise (Stripe
    keeps ISK two-decimal and MGA zero-decimal) and may refuse amounts ISO allows (Stripe wants
    three-decimal amounts to end in 0). Each gateway module fills one of these from the gateway's
    own currency documentation (docs/currencies.md cites them); the checkout, refunds and the
    catalogue loader ask `can_charge` before anything is sent, so a price the gateway would
    refuse is shown as such instead of failing at the hosted page.
    """

    gateway: str  # how reasons name the gateway: "Stripe cannot charge 4.255 KWD"
    currencies: frozenset[str] | None = None  # what it takes at all; None: any ISO code
    decimals: Mapping[str, int] = field(default_factory=dict)  # its own, where not ISO's
    multiple_of: Mapping[str, int] = field(default_factory=dict)  # in its units
    minimum: Mapping[str, int] = field(default_factory=dict)  # smallest charge, its units
    maximum_digits: int | None = None  # longest amount it takes, in digits of its units
    maximum_chars: int | None = None  # longest decimal string it takes ("100.00" is 6)

    def decimals_of(self, currency: str) -> int:
        """How many decimals the gateway's amounts in `currency` have."""
        code = currency.upper()
        return self.decimals.get(code, exponent(code))

    def can_charge(self, money: Money) -> str | None:
        """None when the gateway takes `money` as it is; else the reason, in words for people."""
        return self._refusal(money, "charge", minimum=True)

    def can_refund(self, money: Money) -> str | None:
        """As `can_charge` for a refund: the same currencies and amount form, no minimum."""
        return self._refusal(money, "refund", minimum=False)

    def _refusal(self, money: Money, verb: str, *, minimum: bool) -> str | None:
        code = money.currency
        if self.currencies is not None and code not in self.currencies:
            return f"{self.gateway} does not take {code}"
        if money.amount <= 0:
            return f"{self.gateway} cannot {verb} {money}: nothing to {verb}"
        units = self._units_or_none(money)
        if units is None:
            return f"{self.gateway} cannot {verb} {money}: it counts {code} in whole units"
        step = self.multiple_of.get(code, 1)
        if units % step:
            smallest = self.to_money(step, code)
            return (
                f"{self.gateway} cannot {verb} {money}: amounts in {code} must be multiples "
                f"of {smallest}"
            )
        if minimum and units < self.minimum.get(code, 1):
            least = self.to_money(self.minimum[code], code)
            return f"{self.gateway} cannot {verb} {money}: its minimum is {least}"
        if self.maximum_digits is not None and len(str(units)) > self.maximum_digits:
            return f"{self.gateway} cannot {verb} {money}: the amount is too large"
        if self.maximum_chars is not None and len(self.decimal_str(money)) > self.maximum_chars:
            return f"{self.gateway} cannot {verb} {money}: the amount is too large"
        return None

    def require(self, money: Money, *, refund: bool = False) -> None:
        """Raise GatewayRejected with the reason when the gateway cannot take `money`."""
        if reason := self.can_refund(money) if refund else self.can_charge(money):
            raise GatewayRejected(reason)

    def to_units(self, money: Money, *, refund: bool = False) -> int:
        """`money` as the integer the gateway expects; GatewayRejected if it cannot take it."""
        self.require(money, refund=refund)
        units = self._units_or_none(money)
        assert units is not None  # can_charge said so
        return units

    def to_money(self, units: int, currency: str) -> Money:
        """An integer amount from the gateway back into our Money (exact, or MoneyError)."""
        code = currency.upper()
        shift = exponent(code) - self.decimals_of(code)
        if shift >= 0:
            return Money(units * 10**shift, code)
        if units % 10**-shift:
            raise MoneyError(f"{units} {code} from {self.gateway} is finer than {code} allows")
        return Money(units // 10**-shift, code)

    def decimal_str(self, money: Money) -> str:
        """`money` as a decimal string with the gateway's decimals ("10.50", "1000")."""
        units = self._units_or_none(money)
        if units is None:
            raise GatewayRejected(f"{self.gateway} cannot write {money}")
        places = self.decimals_of(money.currency)
        return f"{Decimal(units).scaleb(-places):.{places}f}"

    def _units_or_none(self, money: Money) -> int | None:
        shift = self.decimals_of(money.currency) - exponent(money.currency)
        if shift >= 0:
            return money.amount * 10**shift
        if money.amount % 10**-shift:
            return None
        return money.amount // 10**-shift


class Gateway:
    """Base class of every gateway client.

    Subclasses set `name` and implement the methods marked required. Each method's docstring
    states what it must never do.
    """

    name: ClassVar[str]
    #: settings that must be non-empty for the gateway to be offered
    required_settings: ClassVar[tuple[str, ...]] = ()
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
    def from_config(cls, config: Mapping[str, Any]) -> Gateway:
        """Build the client from the app config. Required."""
        raise NotImplementedError

    @classmethod
    def missing_settings(cls, config: Mapping[str, Any]) -> list[str]:
        return [key for key in cls.required_settings if not config.get(key)]

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


def codes(text: str) -> frozenset[str]:
    """Currency codes as docs and settings list them ("BHD JOD KWD", "sar, usd"), upper-cased."""
    return frozenset(text.replace(",", " ").upper().split())


def json_safe(value: Any) -> Any:
    """A gateway answer as data a JSON column can store, whatever the answer held.

    Amounts are parsed exactly (`Decimal`), and an answer may carry dates; neither is JSON. A
    Decimal becomes its exact string ("0.04829857"), a date or datetime its ISO text, tuples
    and sets lists, keys strings; ints, floats, strings, bools and None stay as they are.
    Every gateway builds the `raw` it hands back with this, so one odd answer cannot fail the
    write of a whole batch of answers.
    """
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return value


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case, or None when absent.

    Werkzeug's headers already ignore case; a plain dict (a test, a replayed delivery) does not,
    and a signature check must not depend on which one it was handed.
    """
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


#: deeper than any real gateway body (Stripe events nest about 8 levels); deeper is an attack
MAX_NOTIFICATION_DEPTH = 32


def notification_object(
    body: bytes, *, parse_float: Callable[[str], Any] = Decimal
) -> dict[str, Any]:
    """A notification body as one JSON object, or InvalidNotification.

    Whatever passed the signature is still shaped by the sender: the body must be UTF-8, JSON,
    an object, and shallow enough that reading, redacting and storing it cannot exhaust the
    stack. Numbers with a decimal point never become float: `Decimal` by default, or `str` for
    a gateway whose amounts are all integers and whose payload is stored as parsed.
    """
    try:
        data = json.loads(body.decode("utf-8"), parse_float=parse_float)
    except UnicodeDecodeError as exc:
        raise InvalidNotification("notification body is not UTF-8") from exc
    except RecursionError as exc:
        raise InvalidNotification("notification body is nested too deeply") from exc
    except ValueError as exc:
        raise InvalidNotification("notification body is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidNotification("notification body is not a JSON object")
    if _depth_exceeds(data, MAX_NOTIFICATION_DEPTH):
        raise InvalidNotification("notification body is nested too deeply")
    return data


def object_at(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    """`data[key]`, which must be a JSON object, or InvalidNotification."""
    value = data.get(key)
    if not isinstance(value, dict):
        raise InvalidNotification(f"notification field {key!r} is not an object")
    return value


def text_at(data: Mapping[str, Any], key: str) -> str | None:
    """`data[key]` when it is a non-empty string, None when absent or null; else invalid.

    Ids are looked up in the database and stored in text columns: a number, list or object
    where an id belongs is a malformed notification, not something to coerce.
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidNotification(f"notification field {key!r} is not a string")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests deeper than `limit`, checked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


_SECRET_KEYS = frozenset(
    {"successindicator", "client_secret", "key", "private_key", "password", "secret", "hmac"}
)
