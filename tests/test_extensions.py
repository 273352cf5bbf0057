"""The limiter's per-request check runs only when a limit covers routes without a decorator."""

from __future__ import annotations

from flask import Flask

from checkout.extensions import db, limiter
from tests.conftest import Sandbox, make_test_app


def _limited_app(sandbox: Sandbox, tmp_path, **overrides) -> Flask:
    return make_test_app(sandbox.url, f"sqlite:///{tmp_path / 'db.sqlite3'}", **overrides)


def test_without_whole_app_limits_no_request_pays_for_the_check(app: Flask) -> None:
    assert limiter._check_request_limit not in app.before_request_funcs[None]


def test_a_default_limit_keeps_the_check_and_is_enforced(sandbox: Sandbox, tmp_path) -> None:
    app = _limited_app(sandbox, tmp_path, RATELIMIT_DEFAULT="2/minute")
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert [client.get("/healthz").status_code for _ in range(3)] == [200] * 3  # exempt
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 429]


def test_an_earlier_apps_whole_app_limit_does_not_carry_over(sandbox: Sandbox, tmp_path) -> None:
    """One limiter serves every app a process builds; each gets only its own config's limits."""
    _limited_app(sandbox, tmp_path, RATELIMIT_DEFAULT="2/minute")
    app = _limited_app(sandbox, tmp_path)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    for page in ("/", "/staff/login"):  # undecorated, and decorated with its own limit
        assert [client.get(page).status_code for _ in range(3)] == [200] * 3
    assert limiter._check_request_limit not in app.before_request_funcs[None]
