"""The eSIM provider client over real HTTP against the sandbox's provider.

The app fixture points the client at the sandbox exactly as `make run` does (TOLLGATE_SANDBOX_URL
and no live key), so these tests also prove that wiring.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from checkout.fulfilment.provider import (
    SANDBOX_API_KEY,
    EsimProvider,
    ProviderRefused,
    get_provider,
)
from checkout.gateways.errors import GatewayConfigError, GatewayRejected, GatewayUnavailable
from tests.conftest import make_test_app

PLAN = "japan-5gb"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"ESIM_PROVIDER_TIMEOUT": 0.5}


@pytest.fixture
def provider(app) -> EsimProvider:
    return get_provider(app)


def _bought(sandbox) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/esim/orders", timeout=5).json()


def _force(sandbox, status: int, body: Any, content_type: str = "application/json") -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/esim/next-answer",
        json={"status": status, "body": body, "content_type": content_type},
        timeout=5,
    ).raise_for_status()


def test_the_app_points_the_provider_at_the_sandbox_with_its_demo_key(app, sandbox) -> None:
    assert app.config["ESIM_PROVIDER_URL"] == f"{sandbox.url}/esim"
    assert app.config["ESIM_PROVIDER_API_KEY"] == SANDBOX_API_KEY
    assert app.config["ESIM_PROVIDER_SANDBOXED"] is True


def test_a_live_key_keeps_the_real_provider(sandbox, tmp_path) -> None:
    live = make_test_app(
        sandbox.url,
        f"sqlite:///{tmp_path / 'live.sqlite3'}",
        ESIM_PROVIDER_URL="https://api.provider.example",
        ESIM_PROVIDER_API_KEY="live-key",
    )

    assert live.config["ESIM_PROVIDER_URL"] == "https://api.provider.example"
    assert live.config["ESIM_PROVIDER_API_KEY"] == "live-key"
    assert live.config["ESIM_PROVIDER_SANDBOXED"] is False


def test_an_order_issues_one_esim_with_its_lpa_string(provider, sandbox) -> None:
    esim = provider.order(PLAN, "ord_p1")

    bought = _bought(sandbox)["ord_p1"]
    assert bought["bought"] == 1
    assert (esim.order_id, esim.iccid) == (bought["id"], bought["esims"][0]["iccid"])
    assert esim.lpa == f"LPA:1${esim.smdp_address}${esim.matching_id}"
    assert esim.lpa == bought["esims"][0]["lpa"]


def test_a_retry_gets_the_same_esim_and_buys_nothing_more(provider, sandbox) -> None:
    first = provider.order(PLAN, "ord_p2")
    again = provider.order(PLAN, "ord_p2")

    assert again == first
    assert _bought(sandbox)["ord_p2"]["bought"] == 1


def test_a_lost_answer_then_a_retry_gets_the_esim_bought_the_first_time(provider, sandbox) -> None:
    lost = requests.post(
        f"{sandbox.url}/esim/v1/orders",
        json={"plan": PLAN, "quantity": 1, "reference": "ord_p3"},
        headers={"X-API-Key": SANDBOX_API_KEY},
        timeout=5,
    ).json()

    esim = provider.order(PLAN, "ord_p3")

    assert esim.iccid == lost["data"]["esims"][0]["iccid"]
    assert _bought(sandbox)["ord_p3"]["bought"] == 1


def test_a_timeout_is_transient_and_buys_nothing(provider, sandbox) -> None:
    sandbox.knobs("esim", timeout_rate=1.0, hang_seconds=1.5)

    with pytest.raises(GatewayUnavailable, match="timeout"):
        provider.order(PLAN, "ord_p4")

    assert _bought(sandbox) == {}


def test_a_5xx_is_transient(provider, sandbox) -> None:
    sandbox.knobs("esim", error_rate=1.0)

    with pytest.raises(GatewayUnavailable, match="HTTP 50"):
        provider.order(PLAN, "ord_p5")


def test_a_body_that_is_not_json_is_transient(provider, sandbox) -> None:
    sandbox.knobs("esim", malformed_rate=1.0)

    with pytest.raises(GatewayUnavailable, match="not JSON"):
        provider.order(PLAN, "ord_p6")


def test_rate_limiting_is_transient(provider, sandbox) -> None:
    _force(sandbox, 429, {"error": {"code": "rate_limited", "message": "slow down"}})

    with pytest.raises(GatewayUnavailable, match="429"):
        provider.order(PLAN, "ord_p7")


def test_a_2xx_without_the_esim_is_transient(provider, sandbox) -> None:
    _force(sandbox, 201, {"data": {"id": "eso_x", "esims": []}})

    with pytest.raises(GatewayUnavailable, match="iccid"):
        provider.order(PLAN, "ord_p8")


def test_a_refused_key_is_a_configuration_error(app, sandbox) -> None:
    wrong = EsimProvider(
        base_url=app.config["ESIM_PROVIDER_URL"],
        api_key="not-the-key",
        connect_timeout=1.0,
        read_timeout=1.0,
    )

    with pytest.raises(GatewayConfigError, match="401"):
        wrong.order(PLAN, "ord_p9")

    assert _bought(sandbox) == {}


def test_missing_settings_are_a_configuration_error_without_a_call() -> None:
    unset = EsimProvider(base_url="", api_key="", connect_timeout=1.0, read_timeout=1.0)

    with pytest.raises(GatewayConfigError, match="ESIM_PROVIDER_URL"):
        unset.order(PLAN, "ord_p10")


def test_out_of_stock_is_a_refusal(provider, sandbox) -> None:
    requests.post(
        f"{sandbox.url}/_sandbox/esim/stock", json={"plan": PLAN, "in_stock": False}, timeout=5
    ).raise_for_status()

    with pytest.raises(ProviderRefused) as refused:
        provider.order(PLAN, "ord_p11")

    assert refused.value.code == "out_of_stock"
    assert isinstance(refused.value, GatewayRejected)
    assert _bought(sandbox) == {}
