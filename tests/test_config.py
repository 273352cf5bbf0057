"""Settings come from the environment, typed; tests ignore it; production refuses unsafe setups."""

from __future__ import annotations

import pytest

from checkout import create_app
from checkout.config import Config, load_environment


def test_environment_overrides_are_converted_to_the_defaults_type() -> None:
    config = {k: v for k, v in vars(Config).items() if k.isupper()}
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
    assert app.config["SANDBOXED_GATEWAYS"] == ["coinpayments", "mpgs"]


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
