"""In production every log line is one JSON object carrying the request id and, once a view has
loaded a payment, its ref and gateway; control characters stay escaped."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from checkout import create_app
from checkout.extensions import db
from checkout.models import Order, Payment, Product

log = logging.getLogger("checkout.test_json_logs")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's handlers replaced by one writing to a buffer, as under gunicorn."""
    root = logging.getLogger()
    saved = root.handlers[:]
    stream = io.StringIO()
    root.handlers = [logging.StreamHandler(stream)]
    try:
        yield stream
    finally:
        root.handlers = saved


@pytest.fixture
def production_app(monkeypatch, tmp_path, captured) -> Flask:
    for name in ("TOLLGATE_SANDBOX_URL", "RATELIMIT_STORAGE_URI", "SQLALCHEMY_DATABASE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-for-this-test")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://shop.example.com")
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    app = create_app(
        "production", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.sqlite3'}"}
    )

    @app.after_request
    def _log_served(response):
        log.info("served %s\nforged line", response.status_code)
        return response

    with app.app_context():
        db.create_all()
    return app


def _payment(app: Flask) -> tuple[str, str]:
    with app.app_context():
        product = Product(
            slug="p",
            name="Plan",
            region="Testland",
            data_mb=1024,
            validity_days=7,
            price=1250,
            currency="USD",
        )
        db.session.add(product)
        db.session.flush()
        order = Order(product_id=product.id, email="s@example.com", amount=1250, currency="USD")
        db.session.add(order)
        db.session.flush()
        payment = Payment(order_id=order.id, gateway="coinpayments", amount=1250, currency="USD")
        db.session.add(payment)
        db.session.commit()
        return payment.ref, payment.gateway


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_status_page_logs_json_lines_with_the_request_and_payment(
    production_app, captured
) -> None:
    ref, gateway = _payment(production_app)
    captured.truncate(0)
    captured.seek(0)
    answer = production_app.test_client().get(f"/status/{ref}", headers={"X-Request-ID": "rq-1"})
    assert answer.status_code == 200
    served = [line for line in _lines(captured) if line["message"].startswith("served")]
    assert served == [
        {
            "time": served[0]["time"],
            "level": "INFO",
            "logger": "checkout.test_json_logs",
            "message": "served 200\\nforged line",
            "request_id": "rq-1",
            "payment_ref": ref,
            "gateway": gateway,
        }
    ]


def test_a_request_without_a_payment_logs_only_its_id(production_app, captured) -> None:
    answer = production_app.test_client().get("/healthz")
    served = [line for line in _lines(captured) if line["message"].startswith("served")]
    assert [line["request_id"] for line in served] == [answer.headers["X-Request-ID"]]
    assert "payment_ref" not in served[0] and "gateway" not in served[0]
