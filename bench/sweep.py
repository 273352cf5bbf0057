"""Benchmark the sweep against the sandbox gateways with injected latency.

    .venv/bin/python bench/sweep.py                      # 1,000 per gateway, 50 ms, then 10,000
    .venv/bin/python bench/sweep.py --n 200 --memory-n 0 # a quick look

For N pending payments per gateway it measures, in one run and on the same payments:

- the sweep (`sweep_pending`: paged, claimed, batched, a worker pool per gateway): wall time,
  gateway API requests, payments per second;
- a sequential sweep, one payment at a time through `service.refresh` (what the system this
  replaces did): wall time and requests; and the ratio of the two;
- the sweep's peak Python memory (tracemalloc) at N and at --memory-n payments per gateway.

The sandbox runs in a subprocess (its memory and CPU are not the sweep's), on 127.0.0.1 only.
Notifications are off and nobody pays, so every look-up finds a pending payment and every run
does the same work. Between runs every payment is made due again. Targets: at least 30x faster
than sequential, and peak memory at 10,000 per gateway within 1.3x of that at 1,000.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402
from sqlalchemy.orm import joinedload  # noqa: E402

from checkout import create_app  # noqa: E402
from checkout.extensions import db  # noqa: E402
from checkout.gateways.base import ReturnUrls  # noqa: E402
from checkout.gateways.registry import get_gateway  # noqa: E402
from checkout.models import Order, Payment, Product, utcnow  # noqa: E402
from checkout.payments.service import Source, checkout_values, refresh  # noqa: E402
from checkout.payments.states import PaymentStatus  # noqa: E402
from checkout.payments.sweep import sweep_pending  # noqa: E402

GATEWAYS = ("coinpayments", "mpgs", "stripe")
_API_METHOD = {"coinpayments": "call", "mpgs": "_call", "stripe": "_call"}

_SANDBOX = """
import logging, sys
logging.basicConfig(level=logging.WARNING)
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from checkout.sandbox import create_sandbox_app
from checkout.sandbox.env import SandboxOptions
from checkout.sandbox.server import ThreadedServer
server = ThreadedServer(create_sandbox_app(SandboxOptions(seed=1))).start()
print(server.url, flush=True)
sys.stdin.read()
"""


@dataclass
class Timing:
    seconds: float
    requests: int
    checked: int
    errors: int
    cpu: float = 0.0  # this process's CPU seconds (all threads)
    sandbox_cpu: float = 0.0  # the sandbox process's CPU seconds

    def line(self, label: str, payments: int) -> str:
        return (
            f"  {label:<11} {self.seconds:8.2f} s {self.requests:6d} requests "
            f"{payments / self.seconds:7.0f} payments/s  cpu {self.cpu:5.1f} s here, "
            f"{self.sandbox_cpu:4.1f} s sandbox  ({self.checked} checked, {self.errors} errors)"
        )


class RequestCounter:
    """Counts the API requests each gateway client sends (wraps its one door to the wire)."""

    def __init__(self, app: Any, gateways: list[str]) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        with app.app_context():
            for name in gateways:
                client = get_gateway(name, app)
                attribute = _API_METHOD[name]
                setattr(client, attribute, self._wrap(name, getattr(client, attribute)))

    def _wrap(self, name: str, method: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.counts[name] += 1
            return method(*args, **kwargs)

        return counted

    def take(self) -> int:
        with self._lock:
            total = sum(self.counts.values())
            self.counts.clear()
        return total


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SANDBOX],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise SystemExit(f"the sandbox did not start: {url!r}")
    return process, url


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to see who the bottleneck is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def knobs(sandbox_url: str, gateways: list[str], **values: Any) -> None:
    for name in gateways:
        answer = requests.post(f"{sandbox_url}/_sandbox/knobs/{name}", json=values, timeout=10)
        answer.raise_for_status()


def add_payments(app: Any, gateways: list[str], n: int, workers: int = 16) -> None:
    """`n` more PENDING payments per gateway, each with a real checkout at the sandbox.

    The rows are written in bulk and the checkouts opened in parallel: this is the benchmark's
    setup, not what it measures.
    """
    with app.app_context():
        product = Product(
            slug=f"bench-{secrets.token_hex(4)}",
            name="Benchmark plan",
            region="Benchland",
            data_mb=1024,
            validity_days=7,
            price=1250,
            currency="USD",
        )
        db.session.add(product)
        db.session.commit()
        for name in gateways:
            for start in range(0, n, 1000):
                size = min(1000, n - start)
                orders = [
                    Order(
                        product_id=product.id,
                        email="bench@example.com",
                        amount=1250,
                        currency="USD",
                    )
                    for _ in range(size)
                ]
                db.session.add_all(orders)
                db.session.flush()
                db.session.add_all(
                    Payment(
                        order_id=o.id,
                        gateway=name,
                        amount=1250,
                        currency="USD",
                        status=PaymentStatus.PENDING,
                    )
                    for o in orders
                )
                db.session.commit()
        fresh = list(
            db.session.scalars(
                select(Payment)
                .where(Payment.gateway_reference.is_(None))
                .options(joinedload(Payment.order).joinedload(Order.product))
            ).unique()
        )
        db.session.expunge_all()
    base = app.config["PUBLIC_BASE_URL"]

    def open_one(payment: Payment) -> dict[str, Any]:
        urls = ReturnUrls(
            return_url=f"{base}/status/{payment.ref}/return",
            cancel_url=f"{base}/status/{payment.ref}/cancel",
            notify_url=f"{base}/ipn/{payment.gateway}",
            status_url=f"{base}/status/{payment.ref}",
        )
        gateway = get_gateway(payment.gateway, app)
        # the deadline the payments layer would decide once (service.open_checkout)
        payment.checkout_deadline = gateway.deadline_from(utcnow())
        session = gateway.create_checkout(payment, urls)
        return {
            "id": payment.id,
            "checkout_deadline": payment.checkout_deadline,
            **checkout_values(payment, session),
        }

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(open_one, fresh))
    with app.app_context():
        by_shape: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row in rows:
            by_shape.setdefault(frozenset(row), []).append(row)
        for group in by_shape.values():
            for start in range(0, len(group), 1000):
                db.session.execute(update(Payment), group[start : start + 1000])
                db.session.commit()


def make_all_due(app: Any) -> None:
    with app.app_context():
        db.session.execute(
            update(Payment)
            .where(Payment.status == PaymentStatus.PENDING)
            .values(next_check_at=None, failure_count=0, claimed_until=None, claimed_by=None)
        )
        db.session.commit()


def run_sweep(app: Any, counter: RequestCounter) -> Timing:
    make_all_due(app)
    counter.take()
    gc.collect()
    with app.app_context():
        started = time.perf_counter()
        run = sweep_pending("bench")
        seconds = time.perf_counter() - started
        return Timing(seconds, counter.take(), run.checked, run.errors)


def measured(sandbox_pid: int, work: Any) -> Timing:
    """Run `work`, adding the CPU time both processes spent to its Timing."""
    cpu, sandbox_cpu = time.process_time(), cpu_seconds(sandbox_pid)
    timing: Timing = work()
    timing.cpu = time.process_time() - cpu
    timing.sandbox_cpu = cpu_seconds(sandbox_pid) - sandbox_cpu
    return timing


def run_sequential(app: Any, counter: RequestCounter) -> Timing:
    """The baseline: every due payment, one at a time, through the single-payment reconciler."""
    make_all_due(app)
    counter.take()
    with app.app_context():
        ids = list(db.session.scalars(select(Payment.id).where(Payment.status == "PENDING")))
        started = time.perf_counter()
        errors = 0
        for payment_id in ids:
            payment = db.session.get(Payment, payment_id)
            assert payment is not None
            errors += 1 if refresh(payment, Source.SWEEP).error else 0
            db.session.expunge_all()
        seconds = time.perf_counter() - started
        return Timing(seconds, counter.take(), len(ids), errors)


def peak_memory(app: Any) -> tuple[int, Timing]:
    """Peak Python memory above the baseline while one sweep runs (tracemalloc)."""
    make_all_due(app)
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with app.app_context():
            started = time.perf_counter()
            run = sweep_pending("bench")
            seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return peak, Timing(seconds, run.gateway_calls, run.checked, run.errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="pending payments per gateway")
    parser.add_argument("--latency-ms", type=int, default=50, help="added to every API answer")
    parser.add_argument("--gateways", default=",".join(GATEWAYS), help="comma-separated")
    parser.add_argument(
        "--memory-n", type=int, default=10000, help="per gateway for the memory comparison; 0: skip"
    )
    parser.add_argument("--workers", type=int, default=None, help="SWEEP_WORKERS (default: config)")
    parser.add_argument("--page-size", type=int, default=None, help="SWEEP_PAGE_SIZE")
    parser.add_argument(
        "--database", default="", help="a DATABASE_URL (default: a temporary SQLite file)"
    )
    parser.add_argument("--skip-sequential", action="store_true", help="no baseline run")
    args = parser.parse_args()
    gateways = [g.strip() for g in args.gateways.split(",") if g.strip()]
    unknown = set(gateways) - set(GATEWAYS)
    if unknown:
        parser.error(f"unknown gateways: {', '.join(sorted(unknown))}")

    workdir = tempfile.mkdtemp(prefix="tollgate-bench-")
    database = args.database or f"sqlite:///{os.path.join(workdir, 'bench.sqlite3')}"
    sandbox, sandbox_url = start_sandbox()
    try:
        overrides: dict[str, Any] = {
            "SQLALCHEMY_DATABASE_URI": database,
            "TOLLGATE_SANDBOX_URL": sandbox_url,
            "PUBLIC_BASE_URL": "http://127.0.0.1:9",
            "LOG_LEVEL": "WARNING",
            "STRIPE_MAX_NETWORK_RETRIES": 0,
            "MPGS_SESSION_TIMEOUT": 3 * 3600,
            "STRIPE_SESSION_LIFETIME": 3 * 3600,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 40, "max_overflow": 10},
        }
        if args.workers:
            overrides["SWEEP_WORKERS"] = args.workers
        if args.page_size:
            overrides["SWEEP_PAGE_SIZE"] = args.page_size
        if database.startswith("sqlite"):
            overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {}
        app = create_app("testing", overrides)
        with app.app_context():
            db.drop_all()
            db.create_all()
        cfg = app.config
        print(
            f"sweep benchmark: {args.n} pending payments per gateway ({', '.join(gateways)}), "
            f"{args.latency_ms} ms latency, SWEEP_WORKERS={cfg['SWEEP_WORKERS']}, "
            f"SWEEP_PAGE_SIZE={cfg['SWEEP_PAGE_SIZE']}, {database.split(':', 1)[0]}, "
            f"{os.cpu_count()} CPUs"
        )
        knobs(sandbox_url, gateways, latency_ms=0, notifications=False)
        started = time.perf_counter()
        add_payments(app, gateways, args.n)
        total = args.n * len(gateways)
        print(f"  setup: {total} checkouts opened in {time.perf_counter() - started:.1f} s")
        counter = RequestCounter(app, gateways)
        knobs(sandbox_url, gateways, latency_ms=args.latency_ms)

        sweep = measured(sandbox.pid, lambda: run_sweep(app, counter))
        print(sweep.line("sweep:", total))
        if not args.skip_sequential:
            sequential = measured(sandbox.pid, lambda: run_sequential(app, counter))
            print(sequential.line("sequential:", total))
            ratio = sequential.seconds / sweep.seconds
            verdict = "PASS" if ratio >= 30 else "FAIL"
            print(f"  speed-up:   {ratio:8.1f}x  (target >= 30x: {verdict})")

        small, small_run = peak_memory(app)
        print(
            f"  peak memory at {args.n:>6} per gateway: {small / 1e6:7.2f} MB "
            f"(sweep {small_run.seconds:.1f} s under tracemalloc)"
        )
        if args.memory_n and args.memory_n > args.n:
            knobs(sandbox_url, gateways, latency_ms=0)
            started = time.perf_counter()
            add_payments(app, gateways, args.memory_n - args.n)
            print(
                f"  setup: {(args.memory_n - args.n) * len(gateways)} more checkouts in "
                f"{time.perf_counter() - started:.1f} s"
            )
            knobs(sandbox_url, gateways, latency_ms=args.latency_ms)
            big, big_run = peak_memory(app)
            growth = big / small
            print(
                f"  peak memory at {args.memory_n:>6} per gateway: {big / 1e6:7.2f} MB "
                f"(sweep {big_run.seconds:.1f} s, {big_run.checked} checked, "
                f"{big_run.errors} errors)"
            )
            print(
                f"  memory growth: {growth:.2f}x for {args.memory_n / args.n:.0f}x the payments "
                f"(target <= 1.3x: {'PASS' if growth <= 1.3 else 'FAIL'})"
            )
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        assert sandbox.stdin is not None
        sandbox.stdin.close()
        sandbox.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
