"""The allowed transitions, row by row."""

from __future__ import annotations

import pytest

from checkout.payments.states import FINAL, PaymentStatus, can_transition

S = PaymentStatus


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (S.CREATED, S.PENDING, True),
        (S.CREATED, S.COMPLETED, True),
        (S.PENDING, S.COMPLETED, True),
        (S.PENDING, S.FAILED, True),
        (S.PENDING, S.EXPIRED, True),
        (S.PENDING, S.CANCELLED, True),
        (S.PENDING, S.REFUNDED, False),
        (S.COMPLETED, S.PENDING, False),
        (S.COMPLETED, S.FAILED, False),
        (S.COMPLETED, S.EXPIRED, False),
        (S.COMPLETED, S.REFUNDED, True),
        (S.EXPIRED, S.COMPLETED, True),
        (S.FAILED, S.COMPLETED, True),
        (S.CANCELLED, S.COMPLETED, True),
        (S.EXPIRED, S.PENDING, False),
        (S.FAILED, S.PENDING, False),
        (S.REFUNDED, S.COMPLETED, False),
        (S.REFUNDED, S.PENDING, False),
    ],
)
def test_transition_table(old: S, new: S, allowed: bool) -> None:
    assert can_transition(old, new) is allowed


@pytest.mark.parametrize("final", sorted(FINAL))
def test_no_final_status_goes_back_to_pending(final: S) -> None:
    assert not can_transition(final, S.PENDING)
    assert not can_transition(final, S.CREATED)
