"""Settings come from the environment, typed; tests ignore it; production refuses unsafe setups."""

from __future__ import annotations

import pytest

from checkout import create_app
from checkout.config import Config, load_environment
from checkout.gateways.registry import install_settings, plugins


def test_environment_overrides_are_converted_to_the_defaults_type() -> None:
    config = {k: v for k, v in vars(Config).items() if k.isupper()}
    install_settings(config)
    load_environment(
        config,
        {
            "SWEEP_WORKERS": "3",
            "GATEWAY_READ_TIMEOUT": "2.5",
            "GATEWAY_STRIPE_ENABLED": "false",
            "DATABASE_URL": "postgresql://u@h/db",
            "MPGS_MERCHANT_ID": "M1",
            "NOT_A_SETTING": "x",
            "SWEEP_TOKEN": "",
        },
    )
    assert config["SWEEP_WORKERS"] == 3
    assert config["GATEWAY_READ_TIMEOUT"] == 2.5
    assert config["GATEWAY_STRIPE_ENABLED"] is False
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql://u@h/db"
    assert config["MPGS_MERCHANT_ID"] == "M1"
    assert "NOT_A_SETTING" not in config
    assert config["SWEEP_TOKEN"] == ""


def test_the_testing_config_ignores_live_keys_in_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_must_never_be_used")
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["STRIPE_SECRET_KEY"] == ""


def test_live_credentials_keep_their_gateway_out_of_the_sandbox(monkeypatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_abc")
    monkeypatch.setenv("TOLLGATE_SANDBOX_URL", "http://127.0.0.1:5001")
    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["STRIPE_API_BASE"] == "https://api.stripe.com"
    assert app.config["STRIPE_SECRET_KEY"] == "sk_live_abc"
    assert app.config["COINPAYMENTS_API_URL"] == "http://127.0.0.1:5001/api.php"
    assert app.config["SANDBOXED_GATEWAYS"] == ["coinpayments", "mpgs", "copyandpay"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SECRET_KEY": "a-real-secret", "TOLLGATE_SANDBOX_URL": "http://127.0.0.1:5001"},
            "TOLLGATE_SANDBOX_URL",
        ),
        ({}, "SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_unsafely(monkeypatch, env, message) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("TOLLGATE_SANDBOX_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RuntimeError, match=message):
        create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_each_gateway_declares_its_settings_and_the_app_reads_them_typed(monkeypatch) -> None:
    monkeypatch.setenv("MPGS_SESSION_TIMEOUT", "600")
    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["MPGS_SESSION_TIMEOUT"] == 600
    declared = {s.key for p in plugins(app.config) for s in p.settings}
    assert {"STRIPE_SECRET_KEY", "COINPAYMENTS_IPN_SECRET", "MPGS_API_PASSWORD"} <= declared
    assert not {k for k in vars(Config) if k.startswith(("STRIPE_", "MPGS_", "COINPAYMENTS_"))}


def test_env_example_lists_every_setting_of_every_gateway() -> None:
    with open(".env.example", encoding="utf-8") as handle:
        listed = {line.split("=", 1)[0] for line in handle if "=" in line and line[0] != "#"}
    for plugin in plugins({"GATEWAYS": Config.GATEWAYS}):
        keys = {s.key for s in plugin.settings}
        keys |= {
            f"GATEWAY_{plugin.name.upper()}_ENABLED",
            f"GATEWAY_{plugin.name.upper()}_DISABLED_REASON",
        }
        assert keys <= listed, f"{plugin.name}: {sorted(keys - listed)} missing from .env.example"


def test_an_unknown_gateway_name_stops_the_app_at_start() -> None:
    with pytest.raises(ValueError, match="paypal"):
        create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://", "GATEWAYS": "stripe,paypal"})


def test_a_probe_lease_shorter_than_a_create_stops_the_app_at_start() -> None:
    """A probe still waiting on the gateway must keep its lease, or a second probe goes through."""
    settings = {"SQLALCHEMY_DATABASE_URI": "sqlite://", "GATEWAY_TOTAL_SECONDS": 20.0}
    with pytest.raises(RuntimeError, match=r"BREAKER_PROBE_LEASE_SECONDS \(20\) must exceed"):
        create_app("testing", {**settings, "BREAKER_PROBE_LEASE_SECONDS": 20})
    assert create_app("testing", {**settings, "BREAKER_PROBE_LEASE_SECONDS": 21})
