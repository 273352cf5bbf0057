"""OPPWA result codes onto our statuses: the documented patterns, and the pure mapping.

OPPWA has no status field: every answer carries `result.code` (ddd.ddd.ddd) and the documents
group the codes by regular expression (docs/copyandpay.md, "Result codes"). The HTTP status of a
look-up says nothing about the payment (a decline is HTTP 200), so only these patterns decide.
A code that matches no documented group is unknown: PENDING and logged, never a failure.

Everything here is pure: no HTTP, no database. The client hands in the parsed answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from ...money import Money, MoneyError
from ...states import PaymentStatus, ReviewKind
from ..base import Observation
from ..wire import json_safe

log = logging.getLogger(__name__)
S = PaymentStatus


class Category(StrEnum):
    SUCCESS = "success"  # successfully processed
    REVIEW = "review"  # successfully processed, but the gateway asks for a manual review
    PENDING = "pending"  # an open session: changes within about half an hour
    PENDING_LONG = "pending_long"  # may still change after several days
    REJECTED = "rejected"
    CHARGEBACK = "chargeback"  # a chargeback record, after a payment
    UNKNOWN = "unknown"


#: The documented groups, tried in this order (the first match wins). The success pattern is
#: HyperPay's current one (it adds 000.400.110/120, authentication succeeded without friction).
PATTERNS: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (Category.SUCCESS, re.compile(r"^(000\.000\.|000\.100\.1|000\.[36]|000\.400\.[1][12]0)")),
    (Category.REVIEW, re.compile(r"^(000\.400\.0[^3]|000\.400\.100)")),
    (Category.PENDING, re.compile(r"^(000\.200)")),
    (Category.PENDING_LONG, re.compile(r"^(800\.400\.5|100\.400\.500)")),
    (Category.CHARGEBACK, re.compile(r"^(000\.100\.2)")),
)

#: Rejected groups with the words the shopper reads. Order matters only where groups overlap.
REJECTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "Card authentication (3-D Secure) failed",
        re.compile(r"^(000\.400\.[1][0-9][1-9]|000\.400\.2)"),
    ),
    ("Card authentication (3-D Secure) failed", re.compile(r"^(800\.400\.2|100\.390)")),
    ("Declined by the card issuer", re.compile(r"^(800\.[17]00|800\.800\.[123])")),
    ("The card network could not be reached", re.compile(r"^(900\.[1234]00|000\.400\.030)")),
    (
        "The payment gateway had a system error",
        re.compile(r"^(800\.[56]|999\.|600\.1|800\.800\.[84])"),
    ),
    ("The payment could not be completed", re.compile(r"^(100\.39[765])")),
    ("Declined by the card issuer", re.compile(r"^(300\.100\.100)")),
    (
        "Refused by the risk checks",
        re.compile(r"^(100\.400\.[0-3]|100\.38|100\.370\.100|100\.370\.11)"),
    ),
    ("The billing address was refused", re.compile(r"^(800\.400\.1)")),
    ("Refused by the risk checks", re.compile(r"^(800\.[32])")),
    ("Refused by the risk checks", re.compile(r"^(800\.1[123456]0)")),
    ("The shop's payment settings were refused", re.compile(r"^(600\.[23]|500\.[12]|800\.121)")),
    ("The payment details were refused", re.compile(r"^(100\.[13]50|100\.250|100\.360)")),
    ("The payment details were refused", re.compile(r"^(700\.[1345][05]0)")),
    (
        "The payment details were refused",
        re.compile(r"^(200\.[123]|100\.[53][07]|800\.900|100\.[69]00\.500)"),
    ),
    (
        "The payment details were refused",
        re.compile(r"^(100\.800|100\.[97]00|100\.100|100\.2[01])"),
    ),
    ("The amount was refused", re.compile(r"^(100\.55)")),
    ("Refused by the risk checks", re.compile(r"^(100\.380\.[23]|100\.380\.101)")),
)

#: "timeout, uncertain result": the documents file it under communication errors (rejected),
#: but its own words say the bank may have charged the card, so it is looked at again instead.
UNCERTAIN = frozenset({"900.100.300"})
#: The look-up itself was throttled (two status calls a minute per checkout): try later.
THROTTLED = "800.120.100"
#: GET /v1/checkouts/{id}/payment: no session for that id (older than 30 minutes, or unknown).
NO_SESSION = "200.300.404"
#: The transaction report found nothing for the merchantTransactionId.
NOT_FOUND = "700.400.580"
_CODE = re.compile(r"^\d{3}\.\d{3}\.\d{3}$")

PAID_MESSAGE = "Paid by card"
REVIEW_MESSAGE = "The card payment is being checked by the payment gateway"
EXPIRED_MESSAGE = "The card payment page timed out before a payment was made"


def category(code: str) -> Category:
    """The documented group of a result code; UNKNOWN when it is in none (or malformed)."""
    if not _CODE.match(code):
        return Category.UNKNOWN
    for group, pattern in PATTERNS:
        if pattern.match(code):
            return group
    if code in UNCERTAIN:
        return Category.UNKNOWN
    if rejection_words(code) is not None:
        return Category.REJECTED
    return Category.UNKNOWN


def rejection_words(code: str) -> str | None:
    return next((words for words, pattern in REJECTIONS if pattern.match(code)), None)


def result_of(record: Mapping[str, Any]) -> tuple[str, str]:
    """(code, description) of an answer, empty strings when it has none."""
    result = record.get("result")
    if not isinstance(result, Mapping):
        return "", ""
    return str(result.get("code") or ""), str(result.get("description") or "")


#: Fields of a payment record worth keeping; card, customer, billing and risk data are not.
KEPT_FIELDS = (
    "id",
    "referencedId",
    "paymentType",
    "paymentBrand",
    "amount",
    "currency",
    "descriptor",
    "merchantTransactionId",
    "result",
    "ndc",
    "timestamp",
    "buildNumber",
)


def redact_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A payment answer without card, customer, billing, 3-D Secure or risk data."""
    kept = {key: record[key] for key in KEPT_FIELDS if key in record}
    result = kept.get("result")
    if isinstance(result, Mapping):
        kept["result"] = {k: result[k] for k in ("code", "description") if k in result}
    payments = record.get("payments")
    if isinstance(payments, list):
        kept["payments"] = [redact_record(p) for p in payments if isinstance(p, Mapping)]
    return json_safe(kept)


def observe_payment(ref: str, record: Mapping[str, Any]) -> Observation:
    """One payment record (the checkout's payment, or one entry of the report) as an Observation.

    Success is COMPLETED with the amount the answer gives (the funnel refuses it unless it is
    ours); success needing review is never COMPLETED; pending is PENDING; rejected is FAILED
    with the gateway's description; anything else is PENDING and logged.
    """
    code, description = result_of(record)
    raw = redact_record(record)
    group = category(code)
    data = {"payment_id": str(record["id"])} if isinstance(record.get("id"), str) else {}
    if group is Category.SUCCESS:
        return _success(ref, record, code, raw, data)
    if group is Category.REVIEW:
        log.warning("payment %s: HyperPay asks for a manual review (%s)", ref, code)
        return Observation(
            S.PENDING,
            code,
            message=REVIEW_MESSAGE,
            review=f"HyperPay approved the payment but asks for a manual review: {code} "
            f"{description}".strip(),
            review_kind=ReviewKind.OTHER,
            data=data,
            raw=raw,
        )
    if group in (Category.PENDING, Category.PENDING_LONG):
        return Observation(S.PENDING, code, raw=raw, data=data)
    if group is Category.REJECTED:
        words = rejection_words(code) or "The payment was not approved"
        message = f"{words}: {description}" if description else words
        return Observation(S.FAILED, code, message=message, raw=raw, data=data)
    log.warning(
        "payment %s: unknown HyperPay result code %r (%s), treated as pending",
        ref,
        code,
        description,
    )
    return Observation(S.PENDING, code or "(no result code)", raw=raw, data=data)


def _success(
    ref: str, record: Mapping[str, Any], code: str, raw: dict[str, Any], data: dict[str, str]
) -> Observation:
    amount, currency = record.get("amount"), str(record.get("currency") or "")
    try:
        paid = Money.parse(amount, currency) if amount is not None and currency else None
    except MoneyError:
        paid = None
    if paid is None:
        log.error("payment %s: HyperPay success without a readable amount: %r", ref, amount)
        return Observation(
            S.PENDING,
            code,
            review=f"HyperPay reports success but the amount {amount!r} {currency} is unreadable",
            review_kind=ReviewKind.AMOUNT_MISMATCH,
            data=data,
            raw=raw,
        )
    return Observation(S.COMPLETED, code, paid=paid, message=PAID_MESSAGE, data=data, raw=raw)


def observe_report(ref: str, report: Mapping[str, Any]) -> Observation:
    """The transaction report for our merchantTransactionId (several entries) as one Observation.

    One reference may carry a declined attempt, a later success, refunds (RF) and chargebacks,
    in any order. The debits decide: a success wins, then a review, then a pending attempt, then
    the latest rejection. A second successful debit or a chargeback is flagged for staff.
    """
    entries = [p for p in report.get("payments") or [] if isinstance(p, Mapping)]
    entries.sort(key=lambda p: str(p.get("timestamp") or ""))  # stable: ties keep their order
    debits = [p for p in entries if p.get("paymentType") in ("DB", None)]
    observations = [observe_payment(ref, p) for p in debits]
    chosen = _best(observations)
    raw = redact_record(report)
    if chosen is None:
        return Observation(S.PENDING, NOT_FOUND, raw=raw)
    review, kind = chosen.review, chosen.review_kind
    successes = sum(1 for o in observations if o.status == S.COMPLETED)
    if successes > 1:
        review, kind = f"HyperPay holds {successes} successful debits for {ref}", ReviewKind.OTHER
    if any(_is_chargeback(p) for p in entries):
        review, kind = f"HyperPay reports a chargeback for {ref}", ReviewKind.DISPUTED
    return Observation(
        chosen.status,
        chosen.raw_status,
        paid=chosen.paid,
        message=chosen.message,
        review=review,
        review_kind=kind,
        data=chosen.data,
        raw=raw,
    )


def _best(observations: Iterable[Observation]) -> Observation | None:
    """A success, else a review, else the latest pending attempt, else the latest rejection."""
    ranked = list(observations)
    for chosen in (
        next((o for o in ranked if o.status == S.COMPLETED), None),
        next((o for o in ranked if o.review), None),
        next((o for o in reversed(ranked) if o.status == S.PENDING), None),
    ):
        if chosen is not None:
            return chosen
    return ranked[-1] if ranked else None


def _is_chargeback(entry: Mapping[str, Any]) -> bool:
    code, _ = result_of(entry)
    return entry.get("paymentType") == "CB" or category(code) is Category.CHARGEBACK


def money_may_still_come(raw_status: str) -> bool:
    """Past our deadline, may this last answer still turn into a captured payment?"""
    return category(raw_status) in (Category.PENDING, Category.PENDING_LONG, Category.REVIEW) or (
        raw_status in UNCERTAIN
    )
