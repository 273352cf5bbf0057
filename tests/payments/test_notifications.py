"""Store once, then feed the funnel: the gateway-independent part of IPN/webhook handling.

A small in-test gateway stands in for the real ones here because what is tested is the core's
handling of what any gateway's parse_notification returns; each real gateway's notification
parsing is tested against its sandbox in tests/blueprints/.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from checkout.extensions import db
from checkout.gateways.base import (
    Gateway,
    GatewayPlugin,
    InboundNotification,
    InvalidNotification,
    Observation,
    Presentation,
)
from checkout.models import Notification, Payment, PaymentEvent
from checkout.money import Money
from checkout.payments import service
from checkout.payments.states import PaymentStatus
from tests.sql_log import statements

S = PaymentStatus


class FakeGateway(Gateway):
    """Signs with a shared word; the body is JSON naming our ref and a status."""

    name = "fake"
    notification_ack = ("ACK", 200)
    lookups: ClassVar[list[str]] = []

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Gateway:
        return cls()

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> InboundNotification:
        if headers.get("X-Signature") != "good":
            raise InvalidNotification("bad signature")
        data = json.loads(body)
        observation = None
        if data.get("status") == "paid":
            observation = Observation(S.COMPLETED, "paid", paid=Money(data["amount"], "USD"))
        elif data.get("status") == "waiting":
            observation = Observation(S.PENDING, "waiting", raw={"status": "waiting"})
        return InboundNotification(
            event_id=data["id"],
            event_type=data.get("type", "payment"),
            payment_ref=data.get("ref"),
            observation=observation,
            ignore=data.get("type") == "other",
            payload=data,
        )

    def fetch_status(self, payment: Payment) -> Observation:
        self.lookups.append(payment.ref)
        return Observation(S.COMPLETED, "paid (looked up)", paid=payment.money)


#: found by the registry through the dotted path in GATEWAYS, as a third-party plugin would be
plugin = GatewayPlugin(
    name="fake",
    gateway=FakeGateway,
    settings=(),
    presentation=Presentation(label="Fake", note="", logo="img/logo.svg"),
)


@pytest.fixture(autouse=True)
def fake_gateway(app):
    app.config["GATEWAYS"] += f",{__name__}"
    FakeGateway.lookups.clear()


def post(client, body: dict, signature: str = "good"):
    return client.post("/ipn/fake", data=json.dumps(body), headers={"X-Signature": signature})


def notifications() -> list[Notification]:
    return db.session.scalars(db.select(Notification).order_by(Notification.id)).all()


def test_a_bad_signature_is_refused_and_nothing_is_stored(client, make_payment):
    payment = make_payment(gateway="fake")

    response = post(
        client, {"id": "n1", "ref": payment.ref, "status": "paid", "amount": 1250}, "bad"
    )

    assert response.status_code == 400
    assert notifications() == []
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == S.PENDING


def test_a_verified_payload_is_used_and_a_duplicate_changes_nothing(
    client, make_payment, fulfilments
):
    payment = make_payment(gateway="fake")
    body = {"id": "n1", "ref": payment.ref, "status": "paid", "amount": 1250}

    first, second = post(client, body), post(client, body)

    assert (first.status_code, first.text) == (200, "ACK")
    assert (second.status_code, second.text) == (200, "ACK")
    [row] = notifications()
    assert (row.outcome, row.payment_id) == ("processed", payment.id)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == S.COMPLETED
    assert len(fulfilments) == 1
    assert FakeGateway.lookups == []


def test_an_unverifiable_payload_only_triggers_a_look_up(client, make_payment):
    payment = make_payment(gateway="fake")

    response = post(client, {"id": "n2", "ref": payment.ref, "status": "something"})

    assert response.status_code == 200
    assert FakeGateway.lookups == [payment.ref]
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == S.COMPLETED


def test_a_stored_but_unfinished_notification_is_processed_again(client, make_payment):
    payment = make_payment(gateway="fake")
    db.session.add(Notification(gateway="fake", event_id="n3", outcome="received"))
    db.session.commit()

    response = post(client, {"id": "n3", "ref": payment.ref, "status": "paid", "amount": 1250})

    assert response.status_code == 200
    [row] = notifications()
    assert row.outcome == "processed"
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == S.COMPLETED


def test_an_unknown_payment_is_stored_and_acknowledged(client):
    response = post(client, {"id": "n4", "ref": "pay_nobody", "status": "paid", "amount": 1})

    assert response.status_code == 200
    [row] = notifications()
    assert (row.outcome, row.payment_id) == ("unknown_payment", None)


def test_a_type_we_do_not_act_on_is_stored_and_ignored(client, make_payment):
    payment = make_payment(gateway="fake")

    response = post(
        client, {"id": "n5", "ref": payment.ref, "type": "other", "status": "paid", "amount": 1250}
    )

    assert response.status_code == 200
    assert notifications()[0].outcome == "ignored"
    assert db.session.scalars(db.select(PaymentEvent)).all() == []


def test_a_busy_database_asks_for_a_retry(client, monkeypatch):
    def busy(*_args, **_kwargs):
        raise OperationalError("UPDATE payments", {}, Exception("database is locked"))

    monkeypatch.setattr("checkout.blueprints.ipn.handle_notification", busy)

    response = post(client, {"id": "n6", "ref": "x"})

    assert response.status_code == 503
    assert response.json == {"error": "busy, retry later"}


def test_an_unknown_gateway_is_a_json_404(client):
    response = client.post("/ipn/nosuchgateway", data=b"x")
    assert response.status_code == 404
    assert response.json == {"error": "unknown gateway"}


MALFORMED_IDS = {
    "event id a number": {"id": 42},
    "event id a list": {"id": ["n7"]},
    "event id empty": {"id": ""},
    "event type an object": {"id": "n7", "type": {"a": 1}},
    "ref an object": {"id": "n7", "ref": {"$ne": None}},
    "ref a number": {"id": "n7", "ref": 7},
}


@pytest.mark.parametrize("case", MALFORMED_IDS)
def test_ids_that_are_not_text_are_refused_and_change_nothing(
    client, make_payment, fulfilments, caplog, case
):
    """Whatever a gateway module lets through, the core stores only text ids."""
    payment = make_payment(gateway="fake")
    body = {"status": "paid", "amount": 1250, **MALFORMED_IDS[case]}

    response = post(client, body)

    assert response.status_code == 400
    assert notifications() == []
    assert fulfilments == []
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == S.PENDING
    assert any("fake notification rejected" in r.getMessage() for r in caplog.records)


def test_a_notification_row_is_written_twice_and_never_read_back(app, client, make_payment):
    """Stored, then its outcome set by id: the commits in between never make it read again."""
    payment = make_payment(gateway="fake")
    body = {"id": "n9", "ref": payment.ref, "status": "paid", "amount": 1250}

    with statements(app) as seen:
        assert post(client, body).status_code == 200

    touching = [sql.split(" WHERE")[0] for sql in seen if "notifications" in sql]
    assert [sql.split()[0] for sql in touching] == ["INSERT", "UPDATE"]
    [row] = notifications()
    assert (row.outcome, row.payment_id) == ("processed", payment.id)


def test_a_quiet_ipn_is_stored_and_committed_then_acted_on_in_one_transaction(
    app, client, make_payment
):
    """Stored before acted on; then the payment's look-up, its write and the row's outcome
    commit together: two commits, and the funnel does not read the payment a second time."""
    payment = make_payment(gateway="fake")
    version = payment.version

    with statements(app) as seen:
        assert (
            post(client, {"id": "n10", "ref": payment.ref, "status": "waiting"}).status_code == 200
        )

    tables = [sql.split(" WHERE")[0].split(" SET")[0].split(" (")[0] for sql in seen]
    assert tables == [
        "INSERT INTO notifications",
        "COMMIT",
        tables[2],  # the look-up by ref: SELECT <columns> FROM payments
        "UPDATE payments",
        "UPDATE notifications",
        "COMMIT",
    ]
    assert tables[2].startswith("SELECT") and tables[2].endswith("FROM payments")
    [row] = notifications()
    assert (row.outcome, row.payment_id) == ("processed", payment.id)
    db.session.expire_all()
    stored = db.session.get(Payment, payment.id)
    assert (stored.status, stored.version, stored.last_raw) == (
        S.PENDING,
        version + 1,
        {"status": "waiting"},
    )


def test_an_ipn_the_funnel_gives_up_on_stays_stored_and_is_acted_on_when_sent_again(
    client, make_payment, fulfilments, monkeypatch
):
    """Every compare-and-set loses to another writer: 503, the row kept as received (its
    outcome is written only with a decision), and the gateway's retry completes the payment."""
    payment = make_payment(gateway="fake")
    body = {"id": "n11", "ref": payment.ref, "status": "paid", "amount": 1250}
    real_decide = service.decide

    def decide_then_race(current, observation, **facts):
        with db.engine.begin() as other:  # a second connection: a real concurrent writer
            other.execute(
                update(Payment).where(Payment.id == current.id).values(version=Payment.version + 1)
            )
        return real_decide(current, observation, **facts)

    monkeypatch.setattr(service, "decide", decide_then_race)
    assert post(client, body).status_code == 503
    [row] = notifications()
    assert (row.outcome, row.payment_id) == ("received", None)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == S.PENDING
    assert db.session.scalars(db.select(PaymentEvent)).all() == []

    monkeypatch.setattr(service, "decide", real_decide)
    assert post(client, body).status_code == 200
    db.session.expire_all()
    [row] = notifications()
    assert (row.outcome, row.payment_id) == ("processed", payment.id)
    assert db.session.get(Payment, payment.id).status == S.COMPLETED
    assert len(fulfilments) == 1
