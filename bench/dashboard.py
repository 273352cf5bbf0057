"""Benchmark the staff dashboard (and the payments list, when present) at 100,000 payments.

    .venv/bin/python bench/dashboard.py              # 100,000 payments, 5 timed requests each
    .venv/bin/python bench/dashboard.py --n 20000    # a quicker look

Starts a throwaway PostgreSQL server (initdb into a temporary directory, a free port on
127.0.0.1, as tests/postgres/conftest.py does; as the `postgres` user when run as root), creates
the tables, seeds N payments over the last 40 days (every gateway, status and three currencies,
one order each, a gateway answer or an error event for one in five) with COPY, logs a staff user
in through the test client and times whole requests: /staff/ for each period and /staff/payments
page 1 when that page exists. Prints the median and the slowest of the timed requests (after
one warm-up). Target: the dashboard under 300 ms.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import pwd
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from checkout import create_app  # noqa: E402
from checkout.extensions import db  # noqa: E402
from checkout.models import Payment, StaffRole, StaffUser  # noqa: E402
from checkout.payments.staff_queries import PAGE_SIZE  # noqa: E402

GATEWAYS = ("coinpayments", "mpgs", "stripe")
STATUSES = (
    ("COMPLETED", 50),
    ("EXPIRED", 15),
    ("FAILED", 10),
    ("CANCELLED", 8),
    ("PENDING", 8),
    ("REFUNDED", 5),
    ("CREATED", 4),
)
CURRENCIES = ("USD", "EUR", "GBP")
PASSWORD = "bench password, not secret"  # noqa: S105 - a throwaway server's user


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway server; yields the URL of an empty database on it."""
    bindir = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1])
    base = tempfile.mkdtemp(prefix="tollgate-bench-pg-")
    data, log = os.path.join(base, "data"), os.path.join(base, "server.log")
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(base, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    os.chmod(base, 0o700)

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    run(f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE bench")
        yield f"postgresql://postgres@127.0.0.1:{port}/bench"
    finally:
        run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: list[tuple]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def seed(url: str, n: int) -> None:
    """N orders and payments over 40 days, and timeline events for one payment in five."""
    rng = random.Random(1)
    now = datetime.now(UTC)
    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    products = [(1, "bench", "Bench plan", "Benchland", 1024, 7, 1250, "USD", True)]
    orders, payments, events = [], [], []
    for i in range(1, n + 1):
        created = now - timedelta(seconds=rng.randrange(40 * 86400))
        status, currency = rng.choice(statuses), rng.choice(CURRENCIES)
        gateway, amount = GATEWAYS[i % 3], rng.randrange(500, 5000)
        paid = status in ("COMPLETED", "REFUNDED")
        completed = created + timedelta(seconds=rng.randrange(20, 3600)) if paid else None
        orders.append((i, f"ord_bench{i}", 1, "s@example.com", amount, currency, "OPEN", created))
        payments.append(
            (
                i,
                f"pay_bench{i}",
                i,
                gateway,
                amount,
                currency,
                status,
                0,
                "{}",
                i % 500 == 0,
                paid and i % 97 == 0,
                amount if status == "REFUNDED" else 0,
                created,
                created,
                completed,
                0,
            )
        )
        if i % 5 == 0:
            kind = "error" if i % 15 == 0 else "transition"
            events.append((len(events) + 1, i, created + timedelta(seconds=30), "poll", kind))
    with psycopg.connect(url) as conn:
        _copy(
            conn,
            "products",
            "id, slug, name, region, data_mb, validity_days, price, currency, active",
            products,
        )
        _copy(
            conn,
            "orders",
            "id, ref, product_id, email, amount, currency, status, created_at",
            orders,
        )
        _copy(
            conn,
            "payments",
            "id, ref, order_id, gateway, amount, currency, status, version, gateway_data, "
            "needs_review, late, refunded_amount, created_at, updated_at, completed_at, "
            "failure_count",
            payments,
        )
        _copy(conn, "payment_events", "id, payment_id, created_at, source, kind", events)
        for table in ("products", "orders", "payments", "payment_events"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"  # our own table names
            )
        conn.execute("ANALYZE")


def timed(client: FlaskClient, path: str, repeat: int) -> list[float]:
    answer = client.get(path)  # warm-up: templates compiled, plans cached
    assert answer.status_code == 200, (path, answer.status_code)
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200
    return seconds


def _deep_cursor(app: Flask, page_number: int) -> str:
    """The cursor a shopper-free walk of Next links would carry onto page `page_number`."""
    with app.app_context():
        row = db.session.execute(
            select(Payment.created_at, Payment.id)
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .offset((page_number - 1) * PAGE_SIZE - 1)
            .limit(1)
        ).one()
    return quote(f"{row.created_at.astimezone(UTC).isoformat()}~{row.id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="payments to seed")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page")
    args = parser.parse_args()
    with postgres() as url:
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"})
        with app.app_context():
            db.create_all()
            user = StaffUser(email="bench@tollgate.test", role=StaffRole.ADMIN)
            user.set_password(PASSWORD)
            db.session.add(user)
            db.session.commit()
        started = time.perf_counter()
        seed(url, args.n)
        print(f"dashboard benchmark: {args.n:,} payments on PostgreSQL, {os.cpu_count()} CPUs")
        print(f"  setup: seeded with COPY in {time.perf_counter() - started:.1f} s")
        app.config["WTF_CSRF_ENABLED"] = False
        client = app.test_client()
        login = client.post(
            "/staff/login", data={"email": "bench@tollgate.test", "password": PASSWORD}
        )
        assert login.status_code == 303, login.status_code
        pages = [(f"/staff/?period={p}", f"dashboard, {p}") for p in ("today", "7d", "30d")]
        pages.append(("/staff/payments", "payments list, page 1"))
        pages.append((f"/staff/payments?after={_deep_cursor(app, 500)}", "payments list, page 500"))
        for path, label in pages:
            seconds = timed(client, path, args.repeat)
            median, worst = statistics.median(seconds) * 1000, max(seconds) * 1000
            verdict = ""
            if path.startswith("/staff/?"):
                verdict = f"  (target < 300 ms: {'PASS' if worst < 300 else 'FAIL'})"
            print(f"  {label:<24} median {median:6.1f} ms, slowest {worst:6.1f} ms{verdict}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
