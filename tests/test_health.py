"""/healthz answers while the process is up; /readyz only when the database is reachable, its
schema at the scripts' head, and the sweep running (or only warned about)."""

from __future__ import annotations

from datetime import timedelta

from flask_migrate import downgrade, upgrade

from checkout.extensions import db
from checkout.models import SweepRun, utcnow
from tests.conftest import make_test_app


def _migrated_app(sandbox, tmp_path, **overrides):
    app = make_test_app(sandbox.url, f"sqlite:///{tmp_path / 'ready.sqlite3'}", **overrides)
    with app.app_context():
        upgrade()
    return app


def test_healthz_answers_without_the_database(sandbox) -> None:
    app = make_test_app(sandbox.url, "sqlite:////nonexistent-dir/tollgate.sqlite3")
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(sandbox, tmp_path) -> None:
    app = _migrated_app(sandbox, tmp_path)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.json["checks"] == {"database": "ok", "migrations": "ok", "scheduler": "ok"}
    # no scheduler in this process and no sweep yet: a warning, not unready
    assert answer.json["warnings"]


def test_readyz_is_unready_when_the_database_is_unreachable(sandbox) -> None:
    app = make_test_app(sandbox.url, "sqlite:////nonexistent-dir/tollgate.sqlite3")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == "unreachable"
    assert "nonexistent" not in answer.get_data(as_text=True)


def test_readyz_is_unready_when_the_schema_is_behind(sandbox, tmp_path) -> None:
    app = _migrated_app(sandbox, tmp_path)
    with app.app_context():
        downgrade(revision="-1")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json["checks"]["migrations"] == "behind"


def test_readyz_requires_a_recent_sweep_when_told_to(sandbox, tmp_path) -> None:
    app = _migrated_app(sandbox, tmp_path, READYZ_REQUIRE_SCHEDULER=True)
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    with app.app_context():
        db.session.add(SweepRun(trigger="scheduler", started_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert client.get("/readyz").json["checks"]["scheduler"] == "stalled"
    with app.app_context():
        db.session.add(SweepRun(trigger="scheduler", started_at=utcnow()))
        db.session.commit()
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert "warnings" not in answer.json


def test_health_endpoints_are_exempt_from_rate_limits(sandbox, tmp_path) -> None:
    app = _migrated_app(sandbox, tmp_path, RATELIMIT_DEFAULT="2/minute")
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(3)][-1] == 429  # the limit applies
    assert {client.get(path).status_code for path in ("/healthz", "/readyz") * 5} == {200}
