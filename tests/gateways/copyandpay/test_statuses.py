"""COPYandPAY's result-code table and the pure mapping from answers to Observations (no HTTP)."""

from __future__ import annotations

import logging

import pytest

from checkout.gateways.base import GatewayRejected
from checkout.gateways.copyandpay.client import currency_rules
from checkout.gateways.copyandpay.statuses import (
    Category,
    category,
    money_may_still_come,
    observe_payment,
    observe_report,
    redact_record,
)
from checkout.money import Money
from checkout.states import PaymentStatus, ReviewKind

S = PaymentStatus
C = Category


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("000.000.000", C.SUCCESS),  # Transaction succeeded
        ("000.000.100", C.SUCCESS),  # successful request
        ("000.100.110", C.SUCCESS),  # integrator test mode
        ("000.100.112", C.SUCCESS),  # connector test mode
        ("000.300.000", C.SUCCESS),  # two-step transaction succeeded
        ("000.600.000", C.SUCCESS),  # succeeded due to external update
        ("000.400.110", C.SUCCESS),  # HyperPay: authentication successful (frictionless)
        ("000.400.120", C.SUCCESS),
        ("000.400.000", C.REVIEW),  # fraud suspicion
        ("000.400.010", C.REVIEW),  # AVS
        ("000.400.100", C.REVIEW),  # risk after payment rejected
        ("000.400.030", C.REJECTED),  # communication group, not review ([^3])
        ("000.400.101", C.REJECTED),  # 3-D Secure / Intercard risk
        ("000.400.200", C.REJECTED),
        ("000.200.000", C.PENDING),
        ("000.200.100", C.PENDING),  # successfully created checkout
        ("800.400.500", C.PENDING_LONG),
        ("100.400.500", C.PENDING_LONG),
        ("000.100.201", C.CHARGEBACK),
        ("800.100.151", C.REJECTED),  # bank declined
        ("800.100.153", C.REJECTED),
        ("800.800.202", C.REJECTED),
        ("100.390.112", C.REJECTED),  # 3-D Secure
        ("100.380.401", C.REJECTED),  # user authentication failed
        ("800.300.101", C.REJECTED),  # blacklist
        ("999.999.999", C.REJECTED),  # system error
        ("200.300.404", C.REJECTED),  # invalid or missing parameter
        ("900.100.300", C.UNKNOWN),  # "timeout, uncertain result": looked at again
        ("123.456.789", C.UNKNOWN),
        ("", C.UNKNOWN),
        ("000.000", C.UNKNOWN),
        ("000.000.000x", C.UNKNOWN),
    ],
)
def test_result_code_categories(code: str, expected: Category) -> None:
    assert category(code) is expected


def record(code: str, description: str = "", **fields: object) -> dict[str, object]:
    return {
        "id": "8ac7a4a1000000010000000200000003",
        "paymentType": "DB",
        "amount": "92.00",
        "currency": "SAR",
        "merchantTransactionId": "P-1",
        "result": {"code": code, "description": description},
        "card": {"bin": "420000", "last4Digits": "0000", "holder": "Jane Jones"},
        "customer": {"ip": "192.0.2.1"},
        **fields,
    }


def test_success_is_completed_with_the_amount_parsed_exactly() -> None:
    seen = observe_payment("P-1", record("000.000.000", amount="4.25", currency="KWD"))
    assert seen.status == S.COMPLETED
    assert seen.paid == Money(4250, "KWD")
    assert seen.data == {"payment_id": "8ac7a4a1000000010000000200000003"}


def test_success_needing_review_is_never_completed() -> None:
    seen = observe_payment("P-1", record("000.400.000", "please review manually"))
    assert seen.status == S.PENDING
    assert seen.paid is None
    assert "000.400.000" in (seen.review or "")
    assert seen.review_kind == ReviewKind.OTHER


def test_pending_is_pending() -> None:
    assert observe_payment("P-1", record("000.200.000")).status == S.PENDING
    assert observe_payment("P-1", record("800.400.500")).status == S.PENDING


def test_rejected_is_failed_with_the_description() -> None:
    seen = observe_payment("P-1", record("800.100.151", "transaction declined (invalid card)"))
    assert seen.status == S.FAILED
    assert seen.message == "Declined by the card issuer: transaction declined (invalid card)"


def test_unknown_code_is_pending_and_logged(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        seen = observe_payment("P-1", record("123.456.789", "new code"))
    assert seen.status == S.PENDING
    assert seen.raw_status == "123.456.789"
    assert "unknown HyperPay result code" in caplog.text


@pytest.mark.parametrize("amount", [None, "ninety", "92.001", "1e3x"])
def test_success_with_an_unreadable_amount_is_flagged_not_completed(amount) -> None:
    seen = observe_payment("P-1", record("000.000.000", amount=amount))
    assert seen.status == S.PENDING
    assert seen.review_kind == ReviewKind.AMOUNT_MISMATCH


def test_redaction_keeps_no_card_or_customer_data() -> None:
    kept = redact_record(record("000.000.000", threeDSecure={"eci": "05"}, risk={"score": "1"}))
    assert set(kept) <= {
        "id",
        "paymentType",
        "amount",
        "currency",
        "merchantTransactionId",
        "result",
    }
    assert "420000" not in str(kept) and "Jane" not in str(kept)


def test_report_success_after_a_decline_completes() -> None:
    report = {
        "result": {"code": "000.000.100"},
        "payments": [
            record("800.100.151", timestamp="2026-11-02 10:00:00+0000"),
            record("000.000.000", id="second", timestamp="2026-11-02 10:01:00+0000"),
            record("000.100.110", id="refund", paymentType="RF", referencedId="second"),
        ],
    }
    seen = observe_report("P-1", report)
    assert seen.status == S.COMPLETED
    assert seen.paid == Money(9200, "SAR")
    assert seen.data == {"payment_id": "second"}
    assert seen.review is None
    assert "card" not in str(seen.raw)


def test_report_only_declines_fails_with_the_latest() -> None:
    report = {
        "payments": [
            record("800.100.153", "invalid CVV", timestamp="2026-11-02 10:05:00+0000"),
            record("800.100.151", "invalid card", timestamp="2026-11-02 10:00:00+0000"),
        ]
    }
    seen = observe_report("P-1", report)
    assert seen.status == S.FAILED
    assert seen.raw_status == "800.100.153"


def test_report_two_successful_debits_are_flagged() -> None:
    report = {"payments": [record("000.000.000"), record("000.000.000", id="twice")]}
    seen = observe_report("P-1", report)
    assert seen.status == S.COMPLETED
    assert "2 successful debits" in (seen.review or "")


def test_report_chargeback_is_flagged_as_disputed() -> None:
    report = {"payments": [record("000.000.000"), record("000.100.201", paymentType="CB")]}
    seen = observe_report("P-1", report)
    assert seen.review_kind == ReviewKind.DISPUTED


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("000.200.000", True),
        ("800.400.500", True),
        ("000.400.000", True),
        ("900.100.300", True),
        ("800.100.151", False),
        ("000.000.000", False),
        ("700.400.580", False),
    ],
)
def test_money_may_still_come(code: str, expected: bool) -> None:
    assert money_may_still_come(code) is expected


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(9200, "SAR"), "92.00"),
        (Money(1250, "USD"), "12.50"),
        (Money(1000, "JPY"), "1000"),
        (Money(4250, "KWD"), "4.25"),
        (Money(99_999_999_999_999, "SAR"), "999999999999.99"),
    ],
)
def test_amounts_are_written_in_oppwa_format(money: Money, text: str) -> None:
    rules = currency_rules()
    assert rules.can_charge(money) is None
    assert rules.decimal_str(money) == text


def test_more_than_twelve_integer_digits_are_refused() -> None:
    with pytest.raises(GatewayRejected):
        currency_rules().require(Money(100_000_000_000_000, "SAR"))


def test_three_decimal_amounts_finer_than_hundredths_are_refused() -> None:
    assert currency_rules().can_charge(Money(4255, "KWD")) is not None
