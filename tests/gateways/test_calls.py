"""MeteredGateway: each gateway operation counted once by outcome; everything else untouched.

A small gateway of the test's own stands behind the wrapper, so each outcome can be forced; the
counts are read from prometheus_client's registry as growth, since counters outlive a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from prometheus_client import REGISTRY

from checkout.gateways.base import (
    Gateway,
    GatewayConfigError,
    GatewayError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayUnavailable,
    NotSupported,
    Observation,
)
from checkout.gateways.calls import MeteredGateway, batch_outcome, outcome_of
from checkout.money import Money
from checkout.states import PaymentStatus

NAME = "metered_test"


class _Payment:
    def __init__(self, ref: str) -> None:
        self.ref = ref


class ScriptedGateway(Gateway):
    """Answers or raises what the test queued, one item per fetch_status."""

    name = NAME
    batch_size = 3
    answers: ClassVar[list[Observation | Exception]] = []

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Gateway:
        return cls()

    def fetch_status(self, payment: Any) -> Observation:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


PENDING = Observation(PaymentStatus.PENDING, "open")


def _count(operation: str, outcome: str) -> float:
    labels = {"gateway": NAME, "operation": operation, "outcome": outcome}
    return REGISTRY.get_sample_value("tollgate_gateway_calls_total", labels) or 0.0


def _timed(operation: str) -> float:
    labels = {"gateway": NAME, "operation": operation}
    return REGISTRY.get_sample_value("tollgate_gateway_call_duration_seconds_count", labels) or 0.0


@pytest.fixture
def metered() -> MeteredGateway:
    ScriptedGateway.answers = []
    return MeteredGateway(ScriptedGateway())


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "ok"),
        (GatewayRateLimited("429"), "rate_limited"),
        (GatewayUnavailable("timed out"), "unavailable"),
        (GatewayConfigError("401"), "config_error"),
        (GatewayRejected("bad amount"), "rejected"),
        (NotSupported("no refund API"), "rejected"),
        (GatewayError("something else the gateway said"), "rejected"),
        (RuntimeError("a bug in the client"), "error"),
    ],
)
def test_each_error_class_has_its_outcome(error: Exception | None, outcome: str) -> None:
    assert outcome_of(error) == outcome


@pytest.mark.parametrize(
    ("results", "outcome"),
    [
        ({}, "ok"),
        ({"a": PENDING, "b": PENDING}, "ok"),
        ({"a": PENDING, "b": GatewayUnavailable("one bad id")}, "ok"),
        ({"a": GatewayUnavailable("down"), "b": GatewayUnavailable("down")}, "unavailable"),
        ({"a": GatewayConfigError("401")}, "config_error"),
    ],
)
def test_a_batch_failed_only_when_every_payment_failed(
    results: dict[str, Observation | GatewayError], outcome: str
) -> None:
    assert batch_outcome(results) == outcome


def test_an_answer_and_an_error_are_counted_with_their_time(metered: MeteredGateway) -> None:
    ok, down, timed = (
        _count("fetch_status", "ok"),
        _count("fetch_status", "unavailable"),
        _timed("fetch_status"),
    )
    ScriptedGateway.answers = [PENDING, GatewayUnavailable("timed out")]

    assert metered.fetch_status(_Payment("pay_1")) is PENDING
    with pytest.raises(GatewayUnavailable):
        metered.fetch_status(_Payment("pay_2"))

    assert _count("fetch_status", "ok") - ok == 1
    assert _count("fetch_status", "unavailable") - down == 1
    assert _timed("fetch_status") - timed == 2


def test_a_batch_is_one_call_however_the_client_asks_inside(metered: MeteredGateway) -> None:
    """The default fetch_statuses asks fetch_status per payment on the client, uncounted."""
    batches, singles = _count("fetch_statuses", "ok"), _timed("fetch_status")
    ScriptedGateway.answers = [PENDING, GatewayUnavailable("one bad id"), PENDING]

    results = metered.fetch_statuses([_Payment("a"), _Payment("b"), _Payment("c")])

    assert isinstance(results["b"], GatewayUnavailable) and results["c"] is PENDING
    assert _count("fetch_statuses", "ok") - batches == 1
    assert _timed("fetch_status") == singles


def test_expire_counts_as_expire_only(metered: MeteredGateway) -> None:
    expired, looked = _count("expire", "ok"), _timed("fetch_status")
    ScriptedGateway.answers = [PENDING]  # the default expire looks the payment up

    metered.expire(_Payment("pay_3"))

    assert _count("expire", "ok") - expired == 1
    assert _timed("fetch_status") == looked


def test_refund_without_an_api_is_counted_rejected(metered: MeteredGateway) -> None:
    before = _count("refund", "rejected")
    with pytest.raises(NotSupported):
        metered.refund(_Payment("pay_4"), Money(100, "USD"))  # type: ignore[arg-type]
    assert _count("refund", "rejected") - before == 1


def test_attributes_read_and_write_through_to_the_client(metered: MeteredGateway) -> None:
    client = metered._metered
    assert (metered.name, metered.batch_size) == (NAME, 3)
    assert metered.redact({"secret": "x", "id": 1}) == {"id": 1}

    metered.transport = "replaced"  # type: ignore[attr-defined]
    assert client.transport == "replaced"  # type: ignore[attr-defined]
    del metered.transport  # type: ignore[attr-defined]
    assert not hasattr(client, "transport")


def test_a_replaced_operation_that_calls_the_original_is_counted_once(
    metered: MeteredGateway,
) -> None:
    """How tests wrap an operation: the replacement runs, and the original still counts."""
    before = _count("fetch_status", "ok")
    original = metered.fetch_status
    seen: list[str] = []

    def watched(payment: Any) -> Observation:
        seen.append(payment.ref)
        return original(payment)

    metered.fetch_status = watched  # type: ignore[method-assign]
    ScriptedGateway.answers = [PENDING]

    assert metered.fetch_status(_Payment("pay_5")) is PENDING
    assert seen == ["pay_5"]
    assert _count("fetch_status", "ok") - before == 1
    assert "fetch_status" not in vars(metered._metered)  # the client itself was left alone
