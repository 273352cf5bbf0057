"""Receipts and refund notices, sent to a real SMTP server on 127.0.0.1 and read back from it."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from html import unescape
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from checkout.extensions import db
from checkout.fulfilment import qr, receipts
from checkout.fulfilment.jobs import JobKind, JobRefused, JobRetry, new_job
from checkout.models import JobState, Order, OrderStatus, OutboxJob, Payment, utcnow
from checkout.money import Money
from checkout.payments.refunds import refund_payment
from checkout.payments.service import Source, refresh
from checkout.payments.states import PaymentStatus
from checkout.sandbox.mail import MailServer
from tests.conftest import Sandbox
from tests.reconciliation import open_payments, pay_ref, payment, quiet

LPA = "LPA:1$smdp.esim-provider.test$K2-7QH4-1X9TZ0-ABCDEF"
ICCID = "8988247000001234567"


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def app_overrides(mail_server: MailServer) -> dict[str, Any]:
    return {
        "SMTP_HOST": mail_server.host,
        "SMTP_PORT": mail_server.port,
        "SMTP_STARTTLS": False,
        "SMTP_TIMEOUT": 2.0,
        "MAIL_FROM": "Tollgate <receipts@tollgate.test>",
        "PUBLIC_BASE_URL": "https://shop.tollgate.test",
    }


@pytest.fixture
def fulfilled(make_payment) -> Order:
    """An order paid by a completed payment, its eSIM issued (what issue_esim leaves behind)."""
    paid = make_payment(gateway="stripe", status=PaymentStatus.COMPLETED, amount=1250)
    order = paid.order
    order.status = OrderStatus.PAID
    order.paid_at = utcnow()
    order.paid_by_payment_id = paid.id
    order.fulfilment_code = LPA
    order.esim_iccid = ICCID
    order.product.name = "Testland 1 GB"
    db.session.commit()
    return order


def _receipt_job(order: Order) -> OutboxJob:
    job = new_job(JobKind.SEND_RECEIPT, order)
    db.session.add(job)
    db.session.commit()
    return job


def _decode(png: bytes) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_the_receipt_arrives_with_headers_both_parts_and_a_qr_code_of_the_activation_string(
    fulfilled: Order, mail_server: MailServer
) -> None:
    payment_ref = payment_of(fulfilled)

    assert receipts.send_receipt(_receipt_job(fulfilled)) == []

    [mail] = mail_server.mailbox.all()
    assert mail.rcpt_tos == ("shopper@example.com",)
    message = mail.message
    assert message["To"] == "shopper@example.com"
    assert message["From"] == "Tollgate <receipts@tollgate.test>"
    assert message["Subject"] == "Your eSIM is ready: Testland 1 GB"
    assert message["Message-ID"] == f"<receipt.{fulfilled.ref}@tollgate.test>"
    assert message["Date"].datetime.tzinfo is not None

    assert message.get_content_type() == "multipart/alternative"
    text_part, related = message.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"

    text, html = text_part.get_content(), html_part.get_content()
    for part in (text, unescape(html)):
        for fact in ("Testland 1 GB", "12.50 USD", payment_ref, fulfilled.ref, ICCID, LPA):
            assert fact in part
        assert "Scan this with your phone's camera in Settings → Mobile data → Add eSIM" in part
        assert f"https://shop.tollgate.test/status/{payment_ref}" in part
    content_id = image["Content-ID"].strip("<>")
    assert f'src="cid:{content_id}"' in html
    assert "http://" not in html and "<link" not in html and "<script" not in html
    assert image.get_content_disposition() == "inline"
    assert _decode(image.get_content()) == [LPA]


def test_a_resend_is_the_same_mail_and_never_touches_the_esim(
    fulfilled: Order, mail_server: MailServer
) -> None:
    job = _receipt_job(fulfilled)
    receipts.send_receipt(job)
    receipts.send_receipt(job)  # the outbox retries after a lost answer

    ids = [m.message["Message-ID"] for m in mail_server.mailbox.all()]
    assert ids == [f"<receipt.{fulfilled.ref}@tollgate.test>"] * 2
    db.session.expire_all()
    order = db.session.get(Order, fulfilled.id)
    assert (order.fulfilment_code, order.esim_iccid) == (LPA, ICCID)
    assert [j.kind for j in db.session.query(OutboxJob)] == [JobKind.SEND_RECEIPT]


def test_smtp_down_is_retried_later(app, fulfilled: Order, mail_server: MailServer) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        app.config["SMTP_PORT"] = sock.getsockname()[1]
    with pytest.raises(JobRetry, match="unreachable"):
        receipts.send_receipt(_receipt_job(fulfilled))
    assert mail_server.mailbox.all() == []


def test_a_server_that_never_answers_is_retried_after_the_timeout(app, fulfilled: Order) -> None:
    with socket.socket() as silent:  # accepts the connection, never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app.config.update(SMTP_PORT=silent.getsockname()[1], SMTP_TIMEOUT=0.3)
        with pytest.raises(JobRetry, match="timed out"):
            receipts.send_receipt(_receipt_job(fulfilled))


def test_an_unset_smtp_host_waits_in_the_outbox(app, fulfilled: Order) -> None:
    app.config["SMTP_HOST"] = ""
    with pytest.raises(JobRetry, match="SMTP_HOST is not set"):
        receipts.send_receipt(_receipt_job(fulfilled))


@pytest.mark.parametrize(("code", "raised"), [(550, JobRefused), (451, JobRetry)])
def test_a_refused_recipient_is_final_only_when_the_server_says_so(
    fulfilled: Order, mail_server: MailServer, code: int, raised: type[Exception]
) -> None:
    mail_server.mailbox.refuse("shopper@example.com", code)
    with pytest.raises(raised, match=f"refused the recipient \\({code}\\)"):
        receipts.send_receipt(_receipt_job(fulfilled))
    assert mail_server.mailbox.all() == []


def test_a_refund_sends_one_notice_through_the_outbox(
    app, sandbox: Sandbox, mail_server: MailServer
) -> None:
    quiet(sandbox)
    [ref] = open_payments(app, "stripe", 1, price=2000)
    pay_ref(sandbox, ref)
    refresh(payment(ref), Source.STAFF)
    outcome = refund_payment(payment(ref), Money(750, "USD"), staff="agent@tollgate.test")

    order = payment(ref).order
    [job] = db.session.query(OutboxJob).filter_by(kind=JobKind.SEND_REFUND_NOTICE).all()
    assert job.key == f"send_refund_notice:{order.ref}:{outcome.refund_reference}"
    assert job.payload == {"amount": 750, "currency": "USD", "payment_ref": ref}
    assert job.state == JobState.DONE  # the refund kicked the outbox after its commit

    sent = [m.message for m in mail_server.mailbox.all()]
    # paying issued the eSIM and mailed the receipt (outbox), the refund mailed its notice
    assert [m["Message-ID"].split(".")[0] for m in sent] == ["<receipt", "<send_refund_notice"]
    message = sent[1]
    assert message["To"] == "shopper@example.com"
    assert message["Subject"] == f"Refund of 7.50 USD: order {order.ref}"
    assert message["Message-ID"] == (
        f"<send_refund_notice.{order.ref}.{outcome.refund_reference}@tollgate.test>"
    )
    for subtype in ("plain", "html"):
        body = message.get_body(preferencelist=(subtype,))
        assert isinstance(body, EmailMessage)
        assert "7.50 USD" in body.get_content() and ref in body.get_content()


def test_the_qr_code_is_the_same_in_the_page_and_the_mail() -> None:
    assert _decode(qr.png(LPA)) == [LPA]
    svg = qr.svg(LPA)
    assert svg.startswith('<svg role="img"') and "<title>eSIM activation QR code</title>" in svg


def payment_of(order: Order) -> str:
    return db.session.get(Payment, order.paid_by_payment_id).ref
