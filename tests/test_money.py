"""Minor units <-> decimal strings, per currency exponent, never rounding silently."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkout.money import Money, MoneyError, exponent, to_decimal_str, to_minor


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("USD", 2),
        ("usd", 2),
        ("SAR", 2),
        ("JPY", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("BTC", 8),
        ("LTCT", 8),
    ],
)
def test_exponent(currency: str, expected: int) -> None:
    assert exponent(currency) == expected


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("0.01", "USD", 1),
        ("1500", "JPY", 1500),
        ("4.250", "KWD", 4250),
        ("0.001", "KWD", 1),
        ("0.04829857", "BTC", 4829857),
        (Decimal("100.00"), "USD", 10000),
        (100, "USD", 10000),
        ("12.500", "USD", 1250),
    ],
)
def test_to_minor(value: str, currency: str, minor: int) -> None:
    assert to_minor(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("12.505", "USD"),
        ("1.5", "JPY"),
        ("0.0001", "KWD"),
        ("abc", "USD"),
        ("", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        (True, "USD"),
    ],
)
def test_to_minor_refuses_what_would_need_rounding_or_is_not_a_number(value, currency) -> None:
    with pytest.raises(MoneyError):
        to_minor(value, currency)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "USD", "12.50"),
        (1, "USD", "0.01"),
        (1500, "JPY", "1500"),
        (4250, "KWD", "4.250"),
        (0, "USD", "0.00"),
        (4829857, "LTCT", "0.04829857"),
    ],
)
def test_to_decimal_str(minor: int, currency: str, text: str) -> None:
    assert to_decimal_str(minor, currency) == text


@given(
    minor=st.integers(min_value=0, max_value=10**15),
    currency=st.sampled_from(["USD", "JPY", "KWD", "SAR", "BTC"]),
)
def test_round_trip(minor: int, currency: str) -> None:
    assert to_minor(to_decimal_str(minor, currency), currency) == minor


def test_money_refuses_non_integer_minor_units() -> None:
    with pytest.raises(MoneyError):
        Money(12.5, "USD")  # type: ignore[arg-type]
    assert Money(1250, "usd") == Money.parse("12.50", "USD")
    assert str(Money(4250, "KWD")) == "4.250 KWD"


@pytest.mark.parametrize(
    "value",
    [
        "1e400000",  # int() of it took about 5 s of CPU before the bound
        "-1e400000",
        Decimal("1e400000"),  # what json.loads(parse_float=Decimal) makes of it
        "1E+999999999",  # scaleb() of it raised decimal.Overflow, not MoneyError
        "9" * 10000,
        Decimal("9" * 10000),
        10**5000,
        "1e-400000",
        "0E-1000000",
        "1e18",
    ],
    ids=lambda value: str(value)[:12] if not isinstance(value, int) else "10**5000",
)
def test_to_minor_refuses_huge_numbers_before_converting_them(value: object) -> None:
    with pytest.raises(MoneyError) as refused:
        to_minor(value, "BTC")  # type: ignore[arg-type]
    assert len(str(refused.value)) < 80  # never quotes ten thousand digits into a flash message


@pytest.mark.parametrize(
    ("value", "minor"),
    [
        ("999999999999999999.99", 99999999999999999999),
        ("1e17", 10**19),
        ("1E+2", 10000),
        ("  12.50  ", 1250),
    ],
)
def test_to_minor_bound_leaves_every_real_amount_alone(value: str, minor: int) -> None:
    assert to_minor(value, "USD") == minor


def test_known_is_money_only_when_amount_and_currency_are_both_there() -> None:
    assert Money.known(150_000, "BTC") == Money(150_000, "BTC")
    assert Money.known(0, "BTC") == Money(0, "BTC")  # nothing owed is still known
    assert Money.known(None, "BTC") is None
    assert Money.known(150_000, None) is None
    assert Money.known(150_000, "") is None
