"""CoinPayments status codes onto ours: the explicit table, and the pure mapping to Observations.

Payments are read by the numeric `status` through one explicit table (`STATUS_TABLE`,
protocols.md A.8.5), never by the human `status_text`. The same words and review rules serve the
`get_tx_info` answers (polls) and the verified IPNs, so the two can never disagree.

Everything here is pure: no HTTP, no configuration. The client hands in the parsed answer and
the redacted copy to keep with the Observation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...money import Money, MoneyError, read_decimal
from ...states import PaymentStatus, ReviewKind
from ..base import Observation

if TYPE_CHECKING:
    from ...models import Payment

log = logging.getLogger(__name__)

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


def status_row(raw: Any) -> tuple[PaymentStatus, str, int | None]:
    """Our status and words for a raw CoinPayments `status`, and the code as an int if it is one.

    The only place a CoinPayments status becomes ours. Unparsable codes give PENDING.
    """
    code = as_int(raw)
    if code is None:
        return PaymentStatus.PENDING, "Waiting for CoinPayments", None
    for low, high, status, words in STATUS_TABLE:
        if (low is None or code >= low) and (high is None or code <= high):
            return status, words, code
    raise AssertionError(f"STATUS_TABLE does not cover {code}")  # pragma: no cover


def observe_poll(
    info: Mapping[str, Any], payment: Payment, default_coin: str, raw: dict[str, Any]
) -> Observation:
    """An Observation from a `get_tx_info` result for `payment`.

    `paid` is what arrived, in 1e-8 units of the coin: the funnel compares it with the coin
    amount CoinPayments asked for when the transaction was created. `default_coin` is the
    configured `currency2`, used only when neither the answer nor the payment names the coin.
    """
    raw_status = info.get("status")
    status, words, code = status_row(raw_status)
    if code is None:
        log.warning("payment %s: unknown CoinPayments status %r", payment.ref, raw_status)
    coin = str(info.get("coin") or payment.crypto_currency or default_coin).upper()
    due = as_int(info.get("amount"))
    received = as_int(info.get("received")) or 0
    confirms = as_int(info.get("recv_confirms"))
    needed = payment.confirms_needed
    received_money = Money(received, coin)
    due_money = Money(due, coin) if due is not None else payment.crypto_money
    message, review = _words(
        code, words, received_money, due_money, confirms, needed, str(info.get("status_text"))
    )
    expires = as_int(info.get("time_expires"))
    return Observation(
        status=status,
        raw_status=_raw_status(raw_status, info.get("status_text")),
        paid=received_money if status == PaymentStatus.COMPLETED else None,
        message=message,
        review=review,
        review_kind=_review_kind(code, received_money, due_money),
        gateway_reference=payment.gateway_reference,
        confirms_received=confirms,
        confirms_needed=needed,
        expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
        data={"coin_received": received_money.decimal_str} if received else {},
        raw=raw,
    )


def observe_ipn(fields: Mapping[str, str], default_coin: str, raw: dict[str, Any]) -> Observation:
    """An Observation from a verified `ipn_type=api` IPN.

    `invoiced` is `amount1` in `currency1`, which the funnel compares with what the order
    costs (an IPN for the wrong price or currency); `paid` is the coin received
    (`received_amount`, or `amount2` when CoinPayments leaves it out of a completion IPN),
    which it compares with the coin amount asked for, so an overpayment is flagged too.
    """
    raw_status = fields.get("status")
    status, words, code = status_row(raw_status)
    if code is None:
        log.warning("CoinPayments IPN %s: unknown status %r", fields.get("ipn_id"), raw_status)
    coin = (fields.get("currency2") or default_coin).upper()
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
    confirms = as_int(fields.get("received_confirms"))
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
        raw_status=_raw_status(raw_status, fields.get("status_text")),
        paid=paid,
        invoiced=invoiced,
        message=message,
        review=review or words_review,
        review_kind=None if review else _review_kind(code, received or Money(0, coin), due),
        gateway_reference=fields.get("txn_id") or None,
        confirms_received=confirms,
        data={"coin_received": received.decimal_str} if received else {},
        raw=raw,
    )


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral Decimal or a numeric string ("2", "-1"); else None.

    Live answers sometimes stringify numbers (protocols.md A.5), so both spellings count.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = read_decimal(value)  # bounded before any arithmetic ("1e400000")
    except MoneyError:
        return None
    if number != number.to_integral_value():
        return None
    return int(number)


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


def _review_kind(code: int | None, received: Money, due: Money | None) -> ReviewKind | None:
    """The kind of the review `_words` raises, for the shopper's words."""
    if code == -2:
        return ReviewKind.REFUNDED_AT_GATEWAY
    if code == -1 and due is not None and 0 < received.amount < due.amount:
        return ReviewKind.UNDERPAID
    return None


def _raw_status(raw: Any, text: Any) -> str:
    return f"{raw} {text or ''}".strip()[:64]


def _coin(value: str | None, coin: str) -> Money | None:
    if value in (None, ""):
        return None
    try:
        return Money.parse(value, coin)
    except MoneyError:
        return None
