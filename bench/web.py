"""Benchmark the shopper's pages and the IPN door against a bare Flask app, side by side.

    .venv/bin/python bench/web.py                  # 10 s per path, wrk -c 16
    .venv/bin/python bench/web.py --duration 5     # a quicker look

Starts a throwaway PostgreSQL (as bench/dashboard.py does), a redis-server (production refuses
in-process rate-limit storage with several workers) and the gateways' sandbox; migrates, loads
data/catalogue.json and opens PAYMENTS pending CoinPayments payments. Then serves the product
(`wsgi:app`, TOLLGATE_ENV=production, gateways pointed at the sandbox by their settings) and
bench/bare_app.py under the same `gunicorn -c gunicorn.conf.py` (WEB_CONCURRENCY workers,
--threads), and runs wrk against each path, product then bare:

    catalogue         GET /                       bare: a template of the same size
    checkout page     GET /checkout/<slug>        bare: a template of the same size
    status page       GET /status/<ref>           bare: a template of the same size
    status JSON poll  GET /status/<ref>.json      bare: JSON of the same size
    CoinPayments IPN  POST /ipn/coinpayments      bare: a POST that stores one row

and, for reference (no target), the status page and its poll against a twin that first runs
the product's own status SELECT for the same payment (autocommit, as the product does): how far
the pages are from a bare app that must read the same row.

The status paths go through the PAYMENTS payments in turn (many shoppers, one tab each; the
JSON poll's rate limit is per address and payment). The JSON run starts with every payment just
looked up and REFRESH_COALESCE_SECONDS at 60 (web_servers.COALESCE_SECONDS), so none of its polls
is due a gateway call: it measures an open tab between look-ups. Each IPN is signed with the IPN
secret and has its own ipn_id; afterwards every IPN sent must be stored exactly once. Prints
requests per second, p50/p99 latency, the workers' CPU per request, and product/bare, by rate
and by CPU (bare CPU per request / product CPU per request: steadier on a shared machine, where
the bare twin's rate moves with the load of the moment, though the targets are by rate). Targets:
pages and the JSON poll >= 0.5x bare, IPN ingest >= 0.3x bare with nothing lost. wrk comes
from Debian (`apt-get install wrk`) when missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import requests  # noqa: E402
from dashboard import postgres  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg  # noqa: E402
from web_servers import (  # noqa: E402
    gunicorn,
    production_env,
    redis_server,
    sandbox,
    worker_cpu_seconds,
)

from checkout import create_app  # noqa: E402
from checkout.blueprints.status_facts import BY_REF  # noqa: E402
from checkout.blueprints.urls import return_urls  # noqa: E402
from checkout.catalog_loader import load_catalog  # noqa: E402
from checkout.extensions import db  # noqa: E402
from checkout.gateways.coinpayments.notifications import sign  # noqa: E402
from checkout.models import Order, Payment, Product  # noqa: E402
from checkout.payments.service import start_payment  # noqa: E402

TARGETS = {"page": 0.5, "ipn": 0.3}  # "reference" rows have none
WARM_UP_SECONDS = 1  # templates compiled, pools and plans warm before the measured run
IPN_RATE_CEILING = 3000  # signed IPNs written per second of a run: more than it can take


@dataclass(frozen=True)
class Path_:
    label: str
    kind: str  # page / ipn: which target applies
    product: str
    bare: str
    script: str | None = None  # the product's wrk script
    bare_script: str | None = None
    bare_paths: Path | None = None  # the bare's wrk_paths.lua file, when not the product's


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # the gunicorn workers' CPU per request
    errors: int  # non-2xx/3xx answers and socket errors
    ipn_sent: frozenset[str] = frozenset()  # the ipn_ids wrk sent


def seed(url: str, sandbox_url: str, payments: int) -> tuple[Flask, str, list[Payment]]:
    """Migrate, load the catalogue, open `payments` pending CoinPayments payments."""
    from flask_migrate import upgrade

    app = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "TOLLGATE_SANDBOX_URL": sandbox_url,
            "PUBLIC_BASE_URL": "https://shop.bench.test",
            "LOG_LEVEL": "WARNING",
        },
    )
    with app.app_context():
        upgrade()
        load_catalog(ROOT / "data" / "catalogue.json")
        product = db.session.scalars(db.select(Product).order_by(Product.id)).first()
        slug, product_id, price, currency = (
            product.slug,
            product.id,
            product.price,
            product.currency,
        )
    for i in range(payments):
        # a request of its own each, as a checkout is: its own gateway time budget
        with app.test_request_context():
            order = Order(product_id=product_id, email=f"shopper{i}@bench.test")
            order.amount, order.currency = price, currency
            db.session.add(order)
            db.session.commit()
            start_payment(
                order, "coinpayments", f"bench-{i}", lambda r: return_urls("coinpayments", r)
            )
    with app.app_context():
        opened = db.session.scalars(db.select(Payment).order_by(Payment.id)).all()
        db.session.expunge_all()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bare_rows (id bigserial PRIMARY KEY, body text NOT NULL)")
        conn.execute("ANALYZE")
    return app, slug, opened


def ipn_id(line: int) -> str:
    return f"bench-ipn-{line:08d}"


def signed_ipns(app: Flask, payments: list[Payment], count: int, path: Path) -> None:
    """`count` signed "waiting for funds" IPNs over the payments, one per line, each its own id."""
    secret = app.config["COINPAYMENTS_IPN_SECRET"].encode()
    with path.open("w") as out:
        for i in range(count):
            payment = payments[i % len(payments)]
            body = urlencode(
                {
                    "ipn_version": "1.0",
                    "ipn_type": "api",
                    "ipn_mode": "hmac",
                    "ipn_id": ipn_id(i),
                    "merchant": app.config["COINPAYMENTS_MERCHANT_ID"],
                    "txn_id": payment.gateway_reference,
                    "invoice": payment.ref,
                    "status": "0",
                    "status_text": "Waiting for buyer funds...",
                    "currency1": payment.currency,
                    "currency2": payment.crypto_currency,
                    "amount1": payment.money.decimal_str,
                    "amount2": payment.crypto_money.decimal_str,
                    "received_amount": "0.00000000",
                    "received_confirms": "0",
                }
            ).encode()
            out.write(f"{sign(secret, body)} {body.decode()}\n")


def wrk(
    url: str, args: argparse.Namespace, script: str | None, env: dict[str, str], seconds: int
) -> Result:
    """One wrk run; rps, latency percentiles, errors (and IPNs sent) read from its output."""
    command = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s"]
    command += ["--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(ROOT / "bench" / script)]
    completed = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env, "TOLLGATE_WRK_THREADS": str(args.wrk_threads)},
    )
    out = completed.stdout
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    if "ipn-short" in out:
        raise SystemExit("the IPN file ran out: raise IPN_RATE_CEILING")
    threads, offset = args.wrk_threads, int(env.get("TOLLGATE_IPN_OFFSET", "0"))
    sent = frozenset(
        ipn_id(offset + int(thread) + j * threads)
        for thread, count in re.findall(r"ipn-sent (\d+) (\d+)", out)
        for j in range(int(count))
    )
    return Result(
        rps=float(_number(out, r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_millis(_number(out, r"50%\s+([\d.]+\w+)")),
        p99_ms=_millis(_number(out, r"99%\s+([\d.]+\w+)")),
        cpu_ms=0.0,
        errors=errors,
        ipn_sent=sent,
    )


def _number(text: str, pattern: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found is None:
        if default is None:
            raise SystemExit(f"wrk printed no {pattern!r}:\n{text}")
        return default
    return found.group(1)


def _millis(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def measured(
    base: str,
    pid: int,
    path: str,
    args: argparse.Namespace,
    script: str | None,
    env: dict[str, str],
) -> Result:
    """wrk against base+path after a warm-up second, with the workers' CPU per request."""
    warm = wrk(base + path, args, script, env, WARM_UP_SECONDS)
    # the measured run's IPNs start after the warm-up's: each IPN is sent once
    env = {**env, "TOLLGATE_IPN_OFFSET": str(next_ipn_line(warm.ipn_sent, env))}
    started = worker_cpu_seconds(pid)
    result = wrk(base + path, args, script, env, args.duration)
    cpu = worker_cpu_seconds(pid) - started
    done = max(1.0, result.rps * args.duration)
    return replace(result, cpu_ms=cpu * 1000 / done, ipn_sent=result.ipn_sent | warm.ipn_sent)


def next_ipn_line(sent: frozenset[str], env: dict[str, str]) -> int:
    """The first line of the IPN file after those sent (or after env's offset, if none was)."""
    lines = (int(ipn.rsplit("-", 1)[1]) + 1 for ipn in sent)
    return max(lines, default=int(env.get("TOLLGATE_IPN_OFFSET", "0")))


def combined(rounds: list[Result]) -> Result:
    """Several rounds as one: mean rate and CPU, median percentiles, all errors and IPNs."""
    return Result(
        rps=statistics.mean(r.rps for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        cpu_ms=statistics.mean(r.cpu_ms for r in rounds),
        errors=sum(r.errors for r in rounds),
        ipn_sent=frozenset().union(*(r.ipn_sent for r in rounds)),
    )


def just_looked_up(url: str) -> None:
    """Every payment looked up a moment ago: with the run's REFRESH_COALESCE_SECONDS
    (COALESCE_SECONDS) no poll of the JSON run is due, so the run measures what a shopper's tab
    costs between look-ups; a due poll's cost is its gateway call, one per payment per window
    however many tabs poll, which is not what this row compares with a bare app."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE payments SET last_checked_at = now()")


def stored_once(url: str, sent: frozenset[str]) -> tuple[int, int, int]:
    """Of the IPNs sent: how many are stored, how many are missing, and how many rows name an
    IPN more than once or were never sent (nothing lost means (len(sent), 0, 0))."""
    with psycopg.connect(url) as conn:
        stored = [
            row[0]
            for row in conn.execute(
                "SELECT event_id FROM notifications WHERE gateway = 'coinpayments'"
                " AND event_id LIKE 'bench-ipn-%' AND outcome = 'processed'"
            )
        ]
    unique = set(stored)
    return len(unique & sent), len(sent - unique), len(stored) - len(unique & sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per path")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both apps)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--payments", type=int, default=300, help="pending payments polled")
    parser.add_argument("--rounds", type=int, default=1, help="product/bare runs per path")
    parser.add_argument("--only", help="run only paths whose label contains this")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="tollgate-bench-web-"))
    try:
        with sandbox() as sandbox_url, postgres() as url, redis_server() as redis_url:
            run(args, url, redis_url, sandbox_url, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, url: str, redis_url: str, sandbox_url: str, work: Path) -> None:
    started = time.perf_counter()
    app, slug, payments = seed(url, sandbox_url, args.payments)
    ipn_file = work / "ipns.txt"
    signed_ipns(
        app, payments, IPN_RATE_CEILING * (args.duration + WARM_UP_SECONDS) * args.rounds, ipn_file
    )
    status_paths = work / "status.txt"
    status_paths.write_text("".join(f"/status/{p.ref}\n" for p in payments))
    json_paths = work / "status-json.txt"
    json_paths.write_text("".join(f"/status/{p.ref}.json\n" for p in payments))
    row_sql = str(BY_REF.compile(dialect=pg_psycopg.dialect()))  # as the product sends it
    env = production_env(url, redis_url, sandbox_url)
    wrk_env = {"TOLLGATE_IPN_FILE": str(ipn_file)}
    print(
        f"web benchmark: gunicorn -w {args.workers} --threads {args.threads}, PostgreSQL, "
        f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s x {args.rounds}, "
        f"{os.cpu_count()} CPUs; setup {time.perf_counter() - started:.0f} s"
    )
    with (
        gunicorn("wsgi:app", env, args.workers, args.threads, str(work)) as (product, product_pid),
        gunicorn(
            "bench.bare_app:app",
            {**env, "BARE_DATABASE_URL": url, "BARE_ROW_SQL": row_sql},
            args.workers,
            args.threads,
            str(work),
        ) as (bare, bare_pid),
    ):
        first = payments[0].ref
        size = {
            p: len(requests.get(product + p, timeout=30).content)
            for p in ("/", f"/checkout/{slug}", f"/status/{first}", f"/status/{first}.json")
        }
        print("  bytes per answer: " + ", ".join(f"{p} {n:,}" for p, n in size.items()))
        page_bytes, json_bytes = size[f"/status/{first}"], size[f"/status/{first}.json"]
        bare_status, bare_json = work / "bare-status.txt", work / "bare-json.txt"
        bare_status.write_text("".join(f"/row/{p.ref}/page/{page_bytes}\n" for p in payments))
        bare_json.write_text("".join(f"/row/{p.ref}/json/{json_bytes}\n" for p in payments))
        paths = [
            Path_("catalogue", "page", "/", f"/page/{size['/']}"),
            Path_(
                "checkout page", "page", f"/checkout/{slug}", f"/page/{size[f'/checkout/{slug}']}"
            ),
            Path_("status page", "page", "/", f"/page/{size[f'/status/{first}']}", "wrk_paths.lua"),
            Path_(
                "status JSON poll",
                "page",
                "/",
                f"/json/{size[f'/status/{first}.json']}",
                "wrk_paths.lua",
            ),
            Path_(
                "status page, twin reads the row",
                "reference",
                "/",
                "/",
                "wrk_paths.lua",
                "wrk_paths.lua",
                bare_status,
            ),
            Path_(
                "JSON poll, twin reads the row",
                "reference",
                "/",
                "/",
                "wrk_paths.lua",
                "wrk_paths.lua",
                bare_json,
            ),
            Path_(
                "CoinPayments IPN",
                "ipn",
                "/ipn/coinpayments",
                "/store",
                "wrk_ipn.lua",
                "wrk_ipn.lua",
            ),
        ]
        print(
            f"  {'path':<31} {'product rps':>11} {'p50':>7} {'p99':>7} {'cpu/req':>8}   "
            f"{'bare rps':>8} {'p50':>7} {'p99':>7} {'cpu/req':>8}   ratio  by CPU  target"
        )
        sent: frozenset[str] = frozenset()
        for path in paths:
            if args.only and args.only not in path.label:
                continue
            polls = "JSON" in path.label
            paths_file = json_paths if polls else status_paths
            env_for = {**wrk_env, "TOLLGATE_PATHS_FILE": str(paths_file)}
            bare_env = {**env_for, "TOLLGATE_PATHS_FILE": str(path.bare_paths or paths_file)}
            mine, bares = [], []
            for _ in range(args.rounds):  # product and bare in turn, under the same load
                if polls:
                    just_looked_up(url)
                mine.append(
                    measured(product, product_pid, path.product, args, path.script, env_for)
                )
                bares.append(measured(bare, bare_pid, path.bare, args, path.bare_script, bare_env))
                offset = next_ipn_line(mine[-1].ipn_sent, env_for)
                env_for = {**env_for, "TOLLGATE_IPN_OFFSET": str(offset)}
            ours, theirs = combined(mine), combined(bares)
            sent |= ours.ipn_sent
            ratio = ours.rps / theirs.rps
            target = TARGETS.get(path.kind)
            if target is None:
                verdict = "reference" + (" FAIL" if ours.errors or theirs.errors else "")
            else:
                verdict = f">= {target} " + (
                    "PASS" if ratio >= target and not ours.errors else "FAIL"
                )
            print(
                f"  {path.label:<31} {ours.rps:11.0f} {ours.p50_ms:6.1f}m {ours.p99_ms:6.1f}m "
                f"{ours.cpu_ms:6.2f}ms   {theirs.rps:8.0f} {theirs.p50_ms:6.1f}m "
                f"{theirs.p99_ms:6.1f}m {theirs.cpu_ms:6.2f}ms   {ratio:5.2f}  "
                f"{theirs.cpu_ms / ours.cpu_ms:6.2f}  "
                f"{verdict}" + (f" ({ours.errors} errors)" if ours.errors else "")
            )
    if sent:
        stored, missing, extra = stored_once(url, sent)
        verdict = "PASS" if (stored, missing, extra) == (len(sent), 0, 0) else "FAIL"
        print(
            f"  IPNs: {len(sent)} sent, {stored} stored and processed once, {missing} missing, "
            f"{extra} stored twice or never sent: {verdict}"
        )


if __name__ == "__main__":
    main()
