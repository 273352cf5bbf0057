"""The sandbox's mail catcher: a receipt sent over SMTP is listed and shown as a mail client would.

The shop's own mail code sends to the sandbox's SMTP server on 127.0.0.1; the page is read over
real HTTP from the sandbox app, following its links the way a person would click them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import zxingcpp
from PIL import Image

from checkout.extensions import db
from checkout.fulfilment import qr, receipts
from checkout.fulfilment.jobs import JobKind, new_job
from checkout.models import OrderStatus
from checkout.sandbox.mail import MailServer, mailbox_of
from tests.blueprints.html_helpers import parse
from tests.conftest import Sandbox

LPA = "LPA:1$smdp.esim-provider.test$SANDBOX-MAIL-0001"


@pytest.fixture
def mail_server(_sandbox_server) -> Iterator[MailServer]:
    server = MailServer(mailbox_of(_sandbox_server.server.app)).start()
    yield server
    server.stop()


@pytest.fixture
def app_overrides(mail_server: MailServer) -> dict[str, Any]:
    return {"SMTP_HOST": mail_server.host, "SMTP_PORT": mail_server.port, "SMTP_STARTTLS": False}


def _get(url: str) -> requests.Response:
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200, (url, answer.status_code)
    return answer


def test_the_page_lists_a_received_receipt_and_renders_it_with_its_qr_code(
    app, sandbox: Sandbox, mail_server: MailServer, make_order
) -> None:
    order = make_order()
    order.status = OrderStatus.PAID
    order.fulfilment_code, order.esim_iccid = LPA, "8988247000000000001"
    db.session.commit()
    receipts.send_receipt(new_job(JobKind.SEND_RECEIPT, order))

    listing = parse(_get(f"{sandbox.url}/_sandbox/mail/").text)
    [row] = listing.find("tbody").find_all("tr")
    assert "shopper@example.com" in row.text
    link = row.find("a")
    assert link.text == f"Your eSIM is ready: {order.product.name}"

    shown_url = urljoin(f"{sandbox.url}/_sandbox/mail/", link.get("href"))
    shown = parse(_get(shown_url).text)
    assert f"<receipt.{order.ref}@tollgate.test>" in shown.text
    assert LPA in shown.find("pre").text  # the plain-text part
    frame = shown.find("iframe")
    assert frame.has("sandbox")  # the mail's HTML can run nothing in the sandbox's page

    html_url = urljoin(shown_url, frame.get("src"))
    html_answer = _get(html_url)
    assert "default-src 'none'" in html_answer.headers["Content-Security-Policy"]
    [image] = parse(html_answer.text).find_all("img")
    png = _get(urljoin(html_url, image.get("src"))).content
    assert png == qr.png(LPA)
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [found.text for found in decoded] == [LPA]


def test_an_empty_mailbox_says_so_and_unknown_messages_are_404(sandbox: Sandbox) -> None:
    assert "No mail yet" in _get(f"{sandbox.url}/_sandbox/mail/").text
    assert requests.get(f"{sandbox.url}/_sandbox/mail/7", timeout=5).status_code == 404
