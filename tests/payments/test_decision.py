"""decide() row by row, without a database: a Payment in memory and an Observation in, the
kind, the columns to write and the timeline entries out."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from checkout.gateways.base import Observation
from checkout.models import Payment
from checkout.money import Money
from checkout.payments.decision import DUPLICATE_REVIEW, DecisionKind, decide
from checkout.payments.states import PaymentStatus

S = PaymentStatus
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(minutes=5)
BOOKKEEPING = {
    "last_checked_at": NOW,
    "failure_count": 0,
    "next_check_at": NOW + timedelta(seconds=30),  # a young payment is looked at often
}
OTHER_PAYMENT = 99


def payment(status: PaymentStatus) -> Payment:
    """A payment of 12.50 USD as the funnel reads it, never added to a session."""
    return Payment(
        id=7, gateway="coinpayments", amount=1250, currency="USD", status=status, created_at=CREATED
    )


def paid(amount: int = 1250) -> Observation:
    return Observation(status=S.COMPLETED, raw_status="100", paid=Money(amount, "USD"))


CASES: list[dict[str, Any]] = [
    dict(
        id="pending to completed, the amount matches",
        status=S.PENDING,
        observation=paid(),
        kind=DecisionKind.TRANSITION,
        new=S.COMPLETED,
        values={**BOOKKEEPING, "status": S.COMPLETED, "completed_at": NOW},
        events=[("transition", None)],
        pays_order=True,
    ),
    dict(
        id="amount mismatch: review, not completion",
        status=S.PENDING,
        observation=paid(1000),
        kind=DecisionKind.REVIEW,
        new=S.PENDING,
        values={
            **BOOKKEEPING,
            "needs_review": True,
            "review_reason": "gateway holds 10.00 USD, payment is for 12.50 USD: amount mismatch",
            "gateway_data": {"review_kind": "underpaid"},
        },
        events=[
            ("review", "gateway holds 10.00 USD, payment is for 12.50 USD: amount mismatch"),
        ],
    ),
    dict(
        id="unknown status (read as PENDING): no change",
        status=S.PENDING,
        observation=Observation(status=S.PENDING, raw_status="some-new-word"),
        kind=DecisionKind.NONE,
        new=S.PENDING,
        values=BOOKKEEPING,
        events=[],
    ),
    dict(
        id="final back to pending: refused",
        status=S.COMPLETED,
        observation=Observation(status=S.PENDING, raw_status="0"),
        kind=DecisionKind.REFUSED,
        new=S.COMPLETED,
        values=BOOKKEEPING,
        events=[("refused", "gateway says PENDING (0); COMPLETED -> PENDING is not allowed")],
    ),
    dict(
        id="expired but still open at the gateway: no news",
        status=S.EXPIRED,
        observation=Observation(status=S.PENDING, raw_status="0"),
        kind=DecisionKind.NONE,
        new=S.EXPIRED,
        values=BOOKKEEPING,
        events=[],
    ),
    dict(
        id="late money on expired: completed and late",
        status=S.EXPIRED,
        observation=paid(),
        kind=DecisionKind.TRANSITION,
        new=S.COMPLETED,
        values={
            **BOOKKEEPING,
            "status": S.COMPLETED,
            "completed_at": NOW,
            "late": True,
            "needs_review": True,
            "review_reason": "late payment: money arrived after the payment was EXPIRED",
            "gateway_data": {"review_kind": "late"},
        },
        events=[
            ("transition", None),
            ("review", "late payment: money arrived after the payment was EXPIRED"),
        ],
        pays_order=True,
        late=True,
    ),
    dict(
        id="order already paid by another: completed and flagged paid twice",
        status=S.PENDING,
        observation=paid(),
        order_paid_by=OTHER_PAYMENT,
        kind=DecisionKind.TRANSITION,
        new=S.COMPLETED,
        values={
            **BOOKKEEPING,
            "status": S.COMPLETED,
            "completed_at": NOW,
            "needs_review": True,
            "review_reason": DUPLICATE_REVIEW,
            "gateway_data": {"review_kind": "paid_twice"},
        },
        events=[("transition", None), ("review", DUPLICATE_REVIEW)],
        paid_twice=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_decide(case: dict[str, Any]) -> None:
    before = payment(case["status"])

    decision = decide(before, case["observation"], order_paid_by=case.get("order_paid_by"), now=NOW)

    assert decision.kind == case["kind"]
    assert (decision.old, decision.new) == (case["status"], case["new"])
    assert dict(decision.values) == case["values"]
    assert [(e.kind, e.message) for e in decision.events] == case["events"]
    for event in decision.events:
        assert (event.old_status, event.new_status) == (case["status"], case["new"])
        assert event.raw_status == case["observation"].raw_status
    assert decision.pays_order == case.get("pays_order", False)
    assert decision.late == case.get("late", False)
    assert decision.paid_twice == case.get("paid_twice", False)
    assert before.status == case["status"]  # deciding changes nothing on the payment


def test_a_decision_cannot_be_changed_after_it_is_made() -> None:
    decision = decide(payment(S.PENDING), paid(), order_paid_by=None, now=NOW)

    with pytest.raises(FrozenInstanceError):
        decision.kind = DecisionKind.NONE  # type: ignore[misc]
    with pytest.raises(TypeError):
        decision.values["status"] = S.FAILED  # type: ignore[index]


def test_the_kind_is_written_as_the_words_the_timeline_always_used() -> None:
    assert [kind.value for kind in DecisionKind] == ["none", "transition", "review", "refused"]


def _mismatch(amount: int) -> str:
    return f"gateway holds {Money(amount, 'USD')}, payment is for 12.50 USD: amount mismatch"


DISPUTED = "disputed at the issuer"


@pytest.mark.parametrize(
    ("resolved_reason", "observation", "flags"),
    [
        (DISPUTED, Observation(S.PENDING, "0", review=DISPUTED), False),  # seen again
        (_mismatch(1000), paid(1000), False),  # the same mismatch, as every sweep sees it
        (DISPUTED, Observation(S.PENDING, "0", review="refunded 2.00 USD at the gateway"), True),
        (_mismatch(1000), paid(900), True),  # a different mismatch is news
    ],
)
def test_a_resolved_flag_comes_back_only_for_a_new_reason(
    resolved_reason: str, observation: Observation, flags: bool
) -> None:
    """Staff resolve by clearing needs_review and keeping the reason (payments.review): the
    reason a sweep keeps seeing does not refill the queue, a new one flags the payment again."""
    resolved = payment(S.PENDING)
    resolved.needs_review, resolved.review_reason = False, resolved_reason
    decision = decide(resolved, observation, order_paid_by=None, now=NOW)
    assert (decision.kind == DecisionKind.REVIEW) is flags
    assert decision.values.get("needs_review", False) is flags
    if flags:
        assert decision.values["review_reason"] != resolved_reason
