"""CoinPayments legacy API v1 client (`api.php`, shared/protocols.md section A).

Every call is a form-encoded POST signed with HMAC-SHA512 of the exact body bytes (header
`HMAC`, keyed with the private key). The API answers HTTP 200 for its own errors, so the `error`
field of the envelope is what says whether a call worked. Payments are read by the numeric
`status` through one explicit table (`STATUS_TABLE`), never by the human `status_text`.

IPNs are HMAC-signed with the account's IPN secret; a verified IPN is used as is (its payload is
authentic), and the funnel refuses regressions when IPNs arrive out of order.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from ...money import Money, MoneyError, is_coin
from ...states import PaymentStatus
from ..base import (
    CheckoutSession,
    CryptoInstructions,
    Gateway,
    GatewayConfigError,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    InboundNotification,
    InvalidNotification,
    Observation,
    ReturnUrls,
)
from ..currency import CurrencyRules
from ..transport import HttpTransport
from ..wire import header
from .settings import DEFAULT_API_URL

if TYPE_CHECKING:
    from ...models import Payment

log = logging.getLogger(__name__)


#: `get_tx_info_multi` takes at most this many ids a call (protocols.md A.6)
MULTI_LIMIT = 25
#: `create_transaction` takes `amount` as a decimal string in `currency1` (protocols.md A.4); the
#: API documents no per-currency rule beyond that, so any positive ISO amount is written as is
RULES = CurrencyRules("CoinPayments")

#: Every CoinPayments status code onto ours (protocols.md A.8.5), as inclusive ranges checked in
#: order; together the rows cover every integer. A code that is not an integer maps to PENDING
#: (and is logged), never to COMPLETED. The vendor's rule: ship only on `>= 100` or `== 2`.
STATUS_TABLE: tuple[tuple[int | None, int | None, PaymentStatus, str], ...] = (
    (-1, -1, PaymentStatus.EXPIRED, "Cancelled or timed out"),
    (-2, -2, PaymentStatus.FAILED, "Refunded or reversed at CoinPayments"),
    (None, -3, PaymentStatus.FAILED, "The payment failed at CoinPayments"),
    (0, 0, PaymentStatus.PENDING, "Waiting for your coins"),
    (1, 1, PaymentStatus.PENDING, "Coins received, waiting for confirmations"),
    (2, 2, PaymentStatus.COMPLETED, "Paid (queued for the nightly payout)"),
    (3, 3, PaymentStatus.PENDING, "PayPal payment pending"),
    (4, 99, PaymentStatus.PENDING, "Payment in progress"),
    (100, None, PaymentStatus.COMPLETED, "Paid"),
)

# Error texts that mean our keys or account settings are wrong: a person must fix them.
_CONFIG_ERRORS = (
    "hmac",
    "signature",
    "api key",
    "public key",
    "private key",
    "permission",
    "api version",
    "invalid command",
    "merchant",
    "nonce",
)
# Error texts that mean "not now": CoinPayments throttles clients that make many errors.
_TRANSIENT_ERRORS = ("too many errors", "try again later", "temporarily", "maintenance")
# Personal data never stored with a payload (the funnel keeps payloads for staff).
_PERSONAL_KEYS = frozenset(
    {"email", "buyer_email", "buyer_name", "first_name", "last_name", "sender_ip", "phone"}
)


def status_row(raw: Any) -> tuple[PaymentStatus, str, int | None]:
    """Our status and words for a raw CoinPayments `status`, and the code as an int if it is one.

    The only place a CoinPayments status becomes ours. Unparsable codes give PENDING.
    """
    code = _as_int(raw)
    if code is None:
        return PaymentStatus.PENDING, "Waiting for CoinPayments", None
    for low, high, status, words in STATUS_TABLE:
        if (low is None or code >= low) and (high is None or code <= high):
            return status, words, code
    raise AssertionError(f"STATUS_TABLE does not cover {code}")  # pragma: no cover


class CoinPaymentsGateway(Gateway):
    name = "coinpayments"
    # CoinPayments only needs a 2xx; its own sample handlers answer "IPN OK".
    notification_ack = ("IPN OK", 200)
    batch_size = MULTI_LIMIT
    late_money = True  # coins sent after the timeout still arrive (status -1 -> 100)

    @classmethod
    def currency_rules(cls, config: Mapping[str, Any]) -> CurrencyRules:
        return RULES

    def __init__(
        self,
        *,
        public_key: str,
        private_key: str,
        merchant_id: str,
        ipn_secret: str,
        currency2: str = "BTC",
        api_url: str = DEFAULT_API_URL,
        transport: HttpTransport,
    ) -> None:
        self.api_url = api_url
        self.public_key = public_key
        self._private_key = private_key.encode()
        self.merchant_id = merchant_id
        self._ipn_secret = ipn_secret.encode()
        self.currency2 = currency2.upper()
        self.transport = transport

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CoinPaymentsGateway:
        return cls(
            api_url=config.get("COINPAYMENTS_API_URL") or DEFAULT_API_URL,
            public_key=config.get("COINPAYMENTS_PUBLIC_KEY") or "",
            private_key=config.get("COINPAYMENTS_PRIVATE_KEY") or "",
            merchant_id=config.get("COINPAYMENTS_MERCHANT_ID") or "",
            ipn_secret=config.get("COINPAYMENTS_IPN_SECRET") or "",
            currency2=config.get("COINPAYMENTS_CURRENCY2") or "BTC",
            transport=HttpTransport(
                connect_timeout=config["GATEWAY_CONNECT_TIMEOUT"],
                read_timeout=config["GATEWAY_READ_TIMEOUT"],
            ),
        )

    # -- the API -----------------------------------------------------------------------------

    def encode(self, cmd: str, fields: Mapping[str, str]) -> tuple[bytes, str]:
        """The exact body bytes for `cmd` and their HMAC: what goes on the wire, and its proof.

        The signature covers these bytes and nothing else, so they are built once and sent as
        they are (never re-encoded by the HTTP library).
        """
        main = {"version": "1", "key": self.public_key, "cmd": cmd, "format": "json"}
        body = urlencode({**main, **fields}).encode("ascii")
        return body, sign(self._private_key, body)

    def call(self, cmd: str, fields: Mapping[str, str], *, ref: str = "-") -> Any:
        """One signed API call; returns `result` or raises the GatewayError the answer means."""
        if not (self.public_key and self._private_key):
            raise GatewayConfigError("CoinPayments API keys are not configured")
        body, signature = self.encode(cmd, fields)
        response = self.transport.request(
            "POST",
            self.api_url,
            data=body,
            headers={
                "HMAC": signature,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        envelope = response.body
        if not isinstance(envelope, dict) or "error" not in envelope:
            raise GatewayUnavailable(
                f"CoinPayments {cmd} answered HTTP {response.status} without an error field"
            )
        error = str(envelope["error"])
        if error != "ok":
            raise _classify(cmd, error, ref)
        if response.status >= 400:
            raise GatewayUnavailable(f"CoinPayments {cmd} answered HTTP {response.status}")
        return envelope.get("result")

    def create_checkout(self, payment: Payment, urls: ReturnUrls) -> CheckoutSession:
        """`create_transaction` for the payment's amount in its own currency.

        CoinPayments has no idempotency key: a retry opens a second transaction carrying the
        same `invoice` (our ref), which the IPN and the funnel then tie back to this payment.
        The shop's refs go only in `invoice`/`custom`; the buyer sees the product name.
        """
        if not is_coin(self.currency2):
            raise GatewayConfigError(
                f"COINPAYMENTS_CURRENCY2={self.currency2} is not a coin Tollgate can count"
            )
        RULES.require(payment.money)
        started = datetime.now(UTC)
        fields = {
            "amount": RULES.decimal_str(payment.money),
            "currency1": payment.currency,
            "currency2": self.currency2,
            "buyer_email": payment.order.email,
            "item_name": payment.order.product.name,
            "invoice": payment.ref,
            "custom": payment.order.ref,
            "ipn_url": urls.notify_url,
            "success_url": urls.return_url,
            "cancel_url": urls.cancel_url,
        }
        result = self.call("create_transaction", fields, ref=payment.ref)
        if not isinstance(result, dict):
            raise GatewayUnavailable("CoinPayments create_transaction gave no result object")
        try:
            txn_id = _required_str(result, "txn_id")
            redirect_url = _required_str(result, "checkout_url")
            address = _required_str(result, "address")
            coin_amount = Money.parse(result["amount"], self.currency2)
            confirms = _as_int(result.get("confirms_needed"))
            timeout = _as_int(result.get("timeout"))
        except (KeyError, MoneyError, ValueError) as exc:
            raise GatewayUnavailable(f"CoinPayments create_transaction answer: {exc}") from exc
        if confirms is None or timeout is None or coin_amount.amount <= 0:
            raise GatewayUnavailable("CoinPayments create_transaction answer lacks numbers")
        log.info(
            "payment %s: CoinPayments transaction %s for %s (%s), %d confirms, %d s",
            payment.ref,
            txn_id,
            coin_amount,
            payment.money,
            confirms,
            timeout,
        )
        return CheckoutSession(
            gateway_reference=txn_id,
            redirect_url=redirect_url,
            expires_at=started + timedelta(seconds=timeout),
            crypto=CryptoInstructions(
                address=address,
                amount=coin_amount,
                confirms_needed=confirms,
                dest_tag=str(result["dest_tag"]) if result.get("dest_tag") else None,
            ),
            data={
                key: str(result[key])
                for key in ("status_url", "qrcode_url", "dest_tag")
                if result.get(key)
            },
            raw=self.redact(result),
        )

    def fetch_status(self, payment: Payment) -> Observation:
        """`get_tx_info` for the payment's txn id. Reads only; moves no money."""
        txn_id = _txn_id(payment)
        result = self.call("get_tx_info", {"txid": txn_id}, ref=payment.ref)
        if not isinstance(result, dict):
            raise GatewayUnavailable("CoinPayments get_tx_info gave no result object")
        return self.observe_poll(result, payment)

    def fetch_statuses(self, payments: Iterable[Payment]) -> dict[str, Observation | GatewayError]:
        """`get_tx_info_multi`, 25 ids a call. A failed call or a per-id error is returned in
        place of the observations it concerns; the other chunks still count."""
        results: dict[str, Observation | GatewayError] = {}
        by_txn: dict[str, list[Payment]] = {}
        for payment in payments:
            try:
                by_txn.setdefault(_txn_id(payment), []).append(payment)
            except GatewayError as exc:
                results[payment.ref] = exc
        txn_ids = list(by_txn)
        for start in range(0, len(txn_ids), MULTI_LIMIT):
            chunk = txn_ids[start : start + MULTI_LIMIT]
            try:
                answer = self.call(
                    "get_tx_info_multi", {"txid": "|".join(chunk)}, ref=f"batch of {len(chunk)}"
                )
                if not isinstance(answer, dict):
                    raise GatewayUnavailable("CoinPayments get_tx_info_multi gave no result object")
            except GatewayError as exc:
                for txn_id in chunk:
                    for payment in by_txn[txn_id]:
                        results[payment.ref] = exc
                continue
            for txn_id in chunk:
                item = answer.get(txn_id)
                for payment in by_txn[txn_id]:
                    results[payment.ref] = self._multi_item(item, txn_id, payment)
        return results

    def _multi_item(self, item: Any, txn_id: str, payment: Payment) -> Observation | GatewayError:
        if not isinstance(item, dict):
            return GatewayUnavailable(f"CoinPayments left {txn_id} out of get_tx_info_multi")
        error = str(item.get("error", "ok"))
        if error != "ok":
            log.warning("payment %s: CoinPayments says for %s: %s", payment.ref, txn_id, error)
            return _classify("get_tx_info_multi", error, payment.ref)
        return self.observe_poll(item, payment)

    # -- reading answers ---------------------------------------------------------------------

    def observe_poll(self, info: Mapping[str, Any], payment: Payment) -> Observation:
        """An Observation from a `get_tx_info` result for `payment`.

        `paid` is what arrived, in 1e-8 units of the coin: the funnel compares it with the coin
        amount CoinPayments asked for when the transaction was created.
        """
        raw = info.get("status")
        status, words, code = status_row(raw)
        if code is None:
            log.warning("payment %s: unknown CoinPayments status %r", payment.ref, raw)
        coin = str(info.get("coin") or payment.crypto_currency or self.currency2).upper()
        due = _as_int(info.get("amount"))
        received = _as_int(info.get("received")) or 0
        confirms = _as_int(info.get("recv_confirms"))
        needed = payment.confirms_needed
        received_money = Money(received, coin)
        due_money = Money(due, coin) if due is not None else payment.crypto_money
        message, review = _words(
            code, words, received_money, due_money, confirms, needed, str(info.get("status_text"))
        )
        expires = _as_int(info.get("time_expires"))
        return Observation(
            status=status,
            raw_status=_raw_status(raw, info.get("status_text")),
            paid=received_money if status == PaymentStatus.COMPLETED else None,
            message=message,
            review=review,
            review_kind=_review_kind(code, received_money, due_money),
            gateway_reference=payment.gateway_reference,
            confirms_received=confirms,
            confirms_needed=needed,
            expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
            data={"coin_received": received_money.decimal_str} if received else {},
            raw=self.redact(info),
        )

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> InboundNotification:
        """Verify an IPN in the vendor's order, then read it (protocols.md A.8).

        HMAC header present -> `merchant` present and ours -> HMAC-SHA512 of the raw body with
        the IPN secret, compared in constant time -> `ipn_mode` is `hmac`. Anything else raises
        InvalidNotification, so nothing changes.
        """
        signature = (header(headers, "HMAC") or "").strip().lower()
        if not signature:
            raise InvalidNotification("No HMAC signature sent")
        fields = _form(body)
        merchant = fields.get("merchant", "")
        if not merchant:
            raise InvalidNotification("No Merchant ID passed")
        if not self.merchant_id or not hmac.compare_digest(
            merchant.encode(), self.merchant_id.encode()
        ):
            raise InvalidNotification("No or incorrect Merchant ID passed")
        if not self._ipn_secret:
            raise InvalidNotification("COINPAYMENTS_IPN_SECRET is not configured")
        expected = sign(self._ipn_secret, body)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise InvalidNotification("HMAC signature does not match")
        if fields.get("ipn_mode") != "hmac":
            raise InvalidNotification("IPN Mode is not HMAC")
        ipn_id = fields.get("ipn_id", "")
        if not ipn_id:
            raise InvalidNotification("IPN without ipn_id")
        ipn_type = fields.get("ipn_type", "")
        payload = self.redact(fields)
        if ipn_type != "api":
            # deposits, buttons, withdrawals: authentic, but not payments this shop opened
            return InboundNotification(
                event_id=ipn_id, event_type=ipn_type or "unknown", ignore=True, payload=payload
            )
        txn_id = fields.get("txn_id", "")
        if not txn_id:
            raise InvalidNotification("api IPN without txn_id")
        observation = self.observe_ipn(fields)
        return InboundNotification(
            event_id=ipn_id,
            event_type=f"api:{fields.get('status', '?')}"[:64],
            payment_ref=fields.get("invoice") or None,
            gateway_reference=txn_id,
            observation=observation,
            payload=payload,
        )

    def observe_ipn(self, fields: Mapping[str, str]) -> Observation:
        """An Observation from a verified `ipn_type=api` IPN.

        `invoiced` is `amount1` in `currency1`, which the funnel compares with what the order
        costs (an IPN for the wrong price or currency); `paid` is the coin received
        (`received_amount`, or `amount2` when CoinPayments leaves it out of a completion IPN),
        which it compares with the coin amount asked for, so an overpayment is flagged too.
        """
        raw = fields.get("status")
        status, words, code = status_row(raw)
        if code is None:
            log.warning("CoinPayments IPN %s: unknown status %r", fields.get("ipn_id"), raw)
        coin = (fields.get("currency2") or self.currency2).upper()
        received = _coin(fields.get("received_amount"), coin)
        due = _coin(fields.get("amount2"), coin)
        paid: Money | None = None
        invoiced: Money | None = None
        review: str | None = None
        if status == PaymentStatus.COMPLETED:
            paid = received or due
            try:
                invoiced = Money.parse(fields.get("amount1", ""), fields.get("currency1", ""))
            except MoneyError as exc:
                review = f"CoinPayments IPN amount1 unreadable: {exc}"
        confirms = _as_int(fields.get("received_confirms"))
        message, words_review = _words(
            code,
            words,
            received or Money(0, coin),
            due,
            confirms,
            None,
            fields.get("status_text", ""),
        )
        return Observation(
            status=status,
            raw_status=_raw_status(raw, fields.get("status_text")),
            paid=paid,
            invoiced=invoiced,
            message=message,
            review=review or words_review,
            review_kind=None if review else _review_kind(code, received or Money(0, coin), due),
            gateway_reference=fields.get("txn_id") or None,
            confirms_received=confirms,
            data={"coin_received": received.decimal_str} if received else {},
            raw=self.redact(fields),
        )

    def redact(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Drop secrets and the buyer's personal data before anything is stored."""
        return {k: v for k, v in super().redact(data).items() if k.lower() not in _PERSONAL_KEYS}


def sign(key: bytes, body: bytes) -> str:
    """Lowercase hex HMAC-SHA512 of `body`: the API's and the IPN's signature."""
    return hmac.new(key, body, hashlib.sha512).hexdigest()


def _classify(cmd: str, error: str, ref: str) -> GatewayError:
    """Which GatewayError an error envelope means (the API answers HTTP 200 either way)."""
    text = error.lower()
    log.warning("payment %s: CoinPayments %s error: %s", ref, cmd, error)
    if any(marker in text for marker in _TRANSIENT_ERRORS):
        return GatewayUnavailable(f"CoinPayments {cmd}: {error}")
    if any(marker in text for marker in _CONFIG_ERRORS):
        return GatewayConfigError(f"CoinPayments {cmd}: {error}")
    return GatewayRejected(f"CoinPayments {cmd}: {error}")


def _words(
    code: int | None,
    words: str,
    received: Money,
    due: Money | None,
    confirms: int | None,
    needed: int | None,
    status_text: str,
) -> tuple[str, str | None]:
    """The message for the shopper and, when money is stuck, a reason for staff."""
    partial = due is not None and 0 < received.amount < due.amount
    if code is None:
        return f"{words} ({status_text or 'unknown status'})", None
    if code == 0 and partial:
        return f"Received {received} of {due}, waiting for the rest", None
    if code == 1:
        so_far = confirms if confirms is not None else 0
        counted = f"{so_far}/{needed}" if needed is not None else f"{so_far} so far"
        return f"{words} ({counted})", None
    if code == -1 and received.amount > 0:
        arrived = f"{received} of {due}" if due is not None else str(received)
        return (
            f"Timed out with {'only ' if partial else ''}{arrived} received",
            f"timed out with {arrived} received: refund the buyer or settle by hand",
        )
    if code == -2:
        return words, "CoinPayments reports a refund or reversal (status -2)"
    if code < -2:
        return f"{words} ({status_text})" if status_text else words, None
    return words, None


def _review_kind(code: int | None, received: Money, due: Money | None) -> str | None:
    """The kind of the review `_words` raises, for the shopper's words (a ReviewKind value)."""
    if code == -2:
        return "refunded"
    if code == -1 and due is not None and 0 < received.amount < due.amount:
        return "underpaid"
    return None


def _raw_status(raw: Any, text: Any) -> str:
    return f"{raw} {text or ''}".strip()[:64]


def _txn_id(payment: Payment) -> str:
    if not payment.gateway_reference:
        raise GatewayRejected(f"payment {payment.ref} has no CoinPayments txn_id yet")
    return payment.gateway_reference


def _required_str(result: Mapping[str, Any], key: str) -> str:
    value = result.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {key}")
    return value


def _as_int(value: Any) -> int | None:
    """An integer from an int, an integral Decimal or a numeric string ("2", "-1"); else None.

    Live answers sometimes stringify numbers (protocols.md A.5), so both spellings count.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def _coin(value: str | None, coin: str) -> Money | None:
    if value in (None, ""):
        return None
    try:
        return Money.parse(value, coin)
    except MoneyError:
        return None


def _form(body: bytes) -> dict[str, str]:
    """A form-encoded body as a dict (the last of a repeated field wins, as in PHP)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotification("body is not a form-encoded IPN") from exc
    return dict(pairs)
