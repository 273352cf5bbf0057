"""Screenshots of every staff page for docs/staff.md, taken with headless Chromium.

Builds a throwaway SQLite database with a day of made-up payments (every status, flagged, late,
refunded, an order paid twice, notes, sweep runs, audit entries), serves the app on a free port,
logs in through the login form and saves each page full-length into docs/img/staff/. No gateway
is called: the pages only read the database.

    .venv/bin/python scripts/staff_screenshots.py
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checkout import create_app  # noqa: E402
from checkout.extensions import db  # noqa: E402
from checkout.models import (  # noqa: E402
    AuditEntry,
    Order,
    Payment,
    PaymentEvent,
    Product,
    StaffRole,
    StaffUser,
    SweepRun,
)

log = logging.getLogger("staff_screenshots")
OUT = ROOT / "docs" / "img" / "staff"
EMAIL, PASSWORD = "admin@tollgate.example", "screenshots only, not a real password"
NOW = datetime.now(UTC).replace(microsecond=0)
#: (gateway, status, amount, currency, review reason, late, refunded, minutes ago)
PAYMENTS = [
    ("stripe", "COMPLETED", 1250, "USD", None, False, 0, 5),
    ("mpgs", "PENDING", 2900, "EUR", None, False, 0, 12),
    ("coinpayments", "COMPLETED", 1250, "USD", "late: paid 40 min after the deadline", True, 0, 50),
    ("stripe", "REFUNDED", 4500, "USD", None, False, 4500, 95),
    ("coinpayments", "EXPIRED", 1250, "USD", None, False, 0, 130),
    ("mpgs", "FAILED", 2900, "EUR", None, False, 0, 200),
    ("stripe", "COMPLETED", 2900, "EUR", None, False, 900, 320),
    ("coinpayments", "COMPLETED", 700, "USD", "underpaid: 0.0001 BTC short", False, 0, 600),
    ("stripe", "CANCELLED", 1250, "USD", None, False, 0, 900),
    ("mpgs", "COMPLETED", 4500, "USD", None, False, 0, 1300),
]
PAGES = [
    ("login", "/staff/login"),
    ("dashboard", "/staff/"),
    ("payments", "/staff/payments"),
    ("payments-filtered", "/staff/payments?currency=USD&min=10&review=1&sort=amount_desc"),
    ("payment", None),  # the flagged, late payment
    ("review", "/staff/review"),
    ("fulfilment", "/staff/fulfilment"),
    ("sweeps", "/staff/sweeps"),
    ("users", "/staff/users"),
    ("audit", "/staff/audit"),
]


def seed() -> str:
    """The made-up day; returns the ref of the payment whose page is shown."""
    admin = StaffUser(email=EMAIL, role=StaffRole.ADMIN)
    admin.set_password(PASSWORD)
    support = StaffUser(email="support@tollgate.example", role=StaffRole.SUPPORT)
    support.set_password(PASSWORD)
    db.session.add_all([admin, support])
    products = {
        "USD": Product(
            slug="europe",
            name="Europe 5 GB",
            region="Europe",
            data_mb=5120,
            validity_days=30,
            price=1250,
            currency="USD",
        ),
        "EUR": Product(
            slug="asia",
            name="Asia 10 GB",
            region="Asia",
            data_mb=10240,
            validity_days=30,
            price=2900,
            currency="EUR",
        ),
    }
    db.session.add_all(products.values())
    db.session.flush()
    shown = None
    for n, (gateway, status, amount, currency, reason, late, refunded, ago) in enumerate(PAYMENTS):
        order = Order(
            product_id=products[currency].id,
            email=f"shopper{n}@example.com",
            amount=amount,
            currency=currency,
            created_at=NOW - timedelta(minutes=ago),
        )
        db.session.add(order)
        db.session.flush()
        payment = Payment(
            order_id=order.id,
            gateway=gateway,
            amount=amount,
            currency=currency,
            status=status,
            needs_review=reason is not None,
            review_reason=reason,
            late=late,
            refunded_amount=refunded,
            gateway_reference=f"ref-{n:04d}",
            created_at=NOW - timedelta(minutes=ago),
        )
        db.session.add(payment)
        db.session.flush()
        if late:
            expired = Payment(
                order_id=order.id,
                gateway="stripe",
                amount=amount,
                currency=currency,
                status="EXPIRED",
                created_at=NOW - timedelta(minutes=ago + 30),
            )
            db.session.add(expired)
            shown = payment
            db.session.add_all(
                [
                    PaymentEvent(
                        payment_id=payment.id,
                        source="create",
                        kind="transition",
                        old_status="CREATED",
                        new_status="PENDING",
                        created_at=NOW - timedelta(minutes=ago),
                    ),
                    PaymentEvent(
                        payment_id=payment.id,
                        source="sweep",
                        kind="transition",
                        old_status="PENDING",
                        new_status="EXPIRED",
                        created_at=NOW - timedelta(minutes=ago - 20),
                    ),
                    PaymentEvent(
                        payment_id=payment.id,
                        source="ipn",
                        kind="transition",
                        old_status="EXPIRED",
                        new_status="COMPLETED",
                        raw_status="100",
                        created_at=NOW - timedelta(minutes=ago - 40),
                    ),
                    PaymentEvent(
                        payment_id=payment.id,
                        source="ipn",
                        kind="review",
                        message=reason,
                        created_at=NOW - timedelta(minutes=ago - 40),
                    ),
                    PaymentEvent(
                        payment_id=payment.id,
                        source="staff",
                        kind="note",
                        message="Shopper asked by e-mail whether the eSIM still comes.",
                        details={"by": "support@tollgate.example"},
                        created_at=NOW - timedelta(minutes=ago - 45),
                    ),
                ]
            )
        if status in ("COMPLETED", "REFUNDED"):
            order.status, order.paid_at, order.paid_by_payment_id = (
                "PAID",
                payment.created_at,
                payment.id,
            )
    for n in range(6):
        started = NOW - timedelta(minutes=5 * n + 1)
        db.session.add(
            SweepRun(
                trigger="scheduler",
                started_at=started,
                finished_at=started + timedelta(seconds=2 + n % 3),
                checked=12 + n,
                changed=n % 2,
                expired=n % 3,
                errors=1 if n == 2 else 0,
                gateway_calls=12 + n,
            )
        )
    db.session.flush()
    db.session.add_all(
        [
            AuditEntry(
                staff_id=admin.id,
                staff_email=EMAIL,
                action="login",
                ip="203.0.113.7",
                at=NOW - timedelta(minutes=30),
            ),
            AuditEntry(
                staff_id=support.id,
                staff_email="support@tollgate.example",
                action="note",
                target=shown.ref,
                ip="203.0.113.9",
                at=NOW - timedelta(minutes=5),
            ),
            AuditEntry(
                staff_id=admin.id,
                staff_email=EMAIL,
                action="refresh",
                target=shown.ref,
                ip="203.0.113.7",
                at=NOW - timedelta(minutes=3),
            ),
        ]
    )
    db.session.commit()
    return shown.ref


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    workdir = tempfile.mkdtemp(prefix="tollgate-shots-")
    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{os.path.join(workdir, 'shots.sqlite3')}",
            "TOLLGATE_SANDBOX_URL": "http://127.0.0.1:9",  # never called: the pages only read
        },
    )
    with app.app_context():
        db.create_all()
        ref = seed()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(base + "/staff/login")
            page.screenshot(path=OUT / "login.png", full_page=True)
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/staff/")
            for name, path in PAGES[1:]:
                answer = page.goto(base + (path or f"/staff/payments/{ref}"))
                if answer is None or answer.status != 200:
                    log.warning("%s answered %s: no screenshot", name, answer and answer.status)
                    continue
                page.screenshot(path=OUT / f"{name}.png", full_page=True)
                log.info("saved %s", OUT / f"{name}.png")
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
