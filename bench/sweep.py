"""Benchmark the sweep: gateway calls per payment, wall time against the rate limits, and one
against two sweeper processes on PostgreSQL.

    make bench                                         # = .venv/bin/python bench/sweep.py
    .venv/bin/python bench/sweep.py --n 200 --no-unlimited   # a quick look

Setup, not measured: a throwaway PostgreSQL server (bench/dashboard.py's), a throwaway
redis-server for the rate limits the sweepers share (RATELIMIT_STORAGE_URI, as production runs
several sweepers), the gateway sandbox in this process on 127.0.0.1 with `--latency-ms` added
to every API answer (its `latency_ms` knob) and every API call counted where it arrives
(`checkout.sandbox.traffic`), and N due payments per gateway (tests/sweep_load.py: one real
checkout per gateway, the rest copies of it in the emulators and in bulk in the database).
Nobody pays and notifications are off, so every round does the same work. The gateways are
configured as live ones pointed at the sandbox's host (its demo credentials, given explicitly),
not through TOLLGATE_SANDBOX_URL, which also lifts their rate limits so that `make run` and the
tests are never slowed: here each keeps its declared limit (Stripe's test-mode limit for a
test key).

A round: every payment is made due again, K `flask scheduler` processes start (the command
production runs), the sandbox holds their first calls until each has recorded its sweep run,
then lets go; the round lasts until the last run has finished. Rounds: 1 and 2 processes under
the gateways' declared rate limits, then (unless --no-unlimited) 1 and 2 with the limits lifted,
to show what the processes themselves can do.

Per round it prints, per gateway: API calls, calls per payment (targets: Stripe <= 0.05,
CoinPayments <= 0.04, MPGS 1; COPYandPAY has no batch API), the declared limit and the sweep's
share of it, the most calls that reached the sandbox within any one second (at most the share,
across all processes, if the shared limit holds), and the least time the share allows for the
calls sent after the go (at most N a second: ceil(calls / N) - 1 s; the calls held at the
sandbox took their slots before the go); then the wall time against the largest of those
bounds, the payments per second, the CPU seconds of the sweepers and of the sandbox, and
how many payments were looked up once, more than once, or not at all (the rate limiter
leaves a payment whose slot does not come within SWEEP_RATE_WAIT_SECONDS for a later pass).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import postgres  # noqa: E402  (bench/ is the script's own folder)
from flask import Flask  # noqa: E402
from sqlalchemy import update  # noqa: E402
from web_servers import cpu_seconds, redis_server  # noqa: E402

from checkout import create_app  # noqa: E402
from checkout.extensions import db  # noqa: E402
from checkout.gateways.rate_limit import TURN_SLACK, SweepSlots  # noqa: E402
from checkout.gateways.registry import plugin_for  # noqa: E402
from checkout.models import Payment, utcnow  # noqa: E402
from checkout.sandbox import create_sandbox_app  # noqa: E402
from checkout.sandbox.env import SandboxOptions  # noqa: E402
from checkout.sandbox.server import ThreadedServer  # noqa: E402
from checkout.sandbox.traffic import Traffic  # noqa: E402
from tests.sweep_load import (  # noqa: E402
    lookup_keys,
    seed_due,
    start_scheduler,
    stop_scheduler,
    sweep_runs,
    wait_for_runs,
)

GATEWAYS = ("coinpayments", "mpgs", "stripe", "copyandpay")
TARGETS = {"stripe": 0.05, "coinpayments": 0.04, "mpgs": 1.0}  # calls per payment, at most
LIFTED = "1000000"  # a <NAME>_RATE_LIMIT no sweep reaches here


@dataclass
class Round:
    sweepers: int
    lifted: bool
    seconds: float
    calls: dict[str, int]
    released: dict[str, int]  # calls that reached the sandbox after the go (not held)
    busiest: dict[str, int]  # the most calls within any one second after the go
    checked: int
    errors: int
    times: Counter[int]  # how many payments were looked up 0, 1, 2... times
    rate_limited: int  # payments the rate limiter left for a later pass
    sweeper_cpu: float
    sandbox_cpu: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="due payments per gateway")
    parser.add_argument("--latency-ms", type=int, default=50, help="added to every API answer")
    parser.add_argument("--gateways", default=",".join(GATEWAYS), help="comma-separated")
    parser.add_argument("--workers", type=int, default=None, help="SWEEP_WORKERS (default: config)")
    parser.add_argument("--no-unlimited", action="store_true", help="skip the lifted-limit rounds")
    args = parser.parse_args()
    gateways = [g.strip() for g in args.gateways.split(",") if g.strip()]
    settings = {"SWEEP_WORKERS": str(args.workers)} if args.workers else {}

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per sandbox request
    workdir = Path(tempfile.mkdtemp(prefix="tollgate-bench-sweep-"))
    sandbox = create_sandbox_app(SandboxOptions(seed=1))
    server = ThreadedServer(sandbox).start()
    try:
        with Traffic(sandbox) as traffic, postgres() as database, redis_server() as storage:
            gateway_settings = _gateway_settings(server.url, gateways)
            app = _app(database, storage, gateways, gateway_settings)
            settings["RATELIMIT_STORAGE_URI"] = storage
            settings.update({key: _env(value) for key, value in gateway_settings.items()})
            _header(app, args, gateways, settings)
            env = sandbox.extensions["sandbox"]
            for name in gateways:
                env.knobs[name].update({"latency_ms": 0, "notifications": False})
            started = time.perf_counter()
            refs = [ref for name in gateways for ref in seed_due(app, sandbox, name, args.n)]
            keys = lookup_keys(app, refs)
            print(f"  setup: {len(refs)} due payments in {time.perf_counter() - started:.1f} s")
            for name in gateways:
                env.knobs[name].update({"latency_ms": args.latency_ms})
            plans = [(1, False), (2, False)]
            if not args.no_unlimited:
                plans += [(1, True), (2, True)]
            rounds = []
            for sweepers, lifted in plans:
                lifts = (
                    {f"{name.upper()}_RATE_LIMIT": LIFTED for name in gateways} if lifted else {}
                )
                run = _round(app, traffic, keys, sweepers, lifted, {**settings, **lifts}, workdir)
                _report(app, run, args.n, gateways)
                rounds.append(run)
            _compare(rounds)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _gateway_settings(sandbox_url: str, gateways: list[str]) -> dict[str, Any]:
    """Each gateway's sandbox credentials and URLs, without the sandbox's lifted rate limit."""
    settings: dict[str, Any] = {}
    for name in gateways:
        plugin = plugin_for(name, {"GATEWAYS": ",".join(gateways)})
        assert plugin is not None, name
        values = plugin.sandbox_values(sandbox_url)
        settings.update({k: v for k, v in values.items() if k != _limit_setting(name)})
    return settings


def _limit_setting(gateway: str) -> str:
    return f"{gateway.upper()}_RATE_LIMIT"


def _env(value: Any) -> str:
    """A setting as the environment spells it (see config.load_environment)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _app(database: str, storage: str, gateways: list[str], settings: dict[str, Any]) -> Flask:
    """This process's app (setup and reading the runs), configured as the sweepers are."""
    app = create_app(
        "testing",
        {
            **settings,
            "SQLALCHEMY_DATABASE_URI": database,
            "RATELIMIT_STORAGE_URI": storage,
            "PUBLIC_BASE_URL": "http://127.0.0.1:9",
            "GATEWAYS": ",".join(gateways),
            "LOG_LEVEL": "WARNING",
        },
    )
    with app.app_context():
        db.create_all()
    return app


def _header(app: Flask, args: argparse.Namespace, gateways: list[str], env: dict) -> None:
    workers = env.get("SWEEP_WORKERS", app.config["SWEEP_WORKERS"])
    print(
        f"sweep benchmark: {args.n} due payments per gateway ({', '.join(gateways)}), "
        f"{args.latency_ms} ms per API answer, SWEEP_WORKERS={workers}, "
        f"SWEEP_PAGE_SIZE={app.config['SWEEP_PAGE_SIZE']}, PostgreSQL, rate limits shared "
        f"through redis, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )


def _round(
    app: Flask,
    traffic: Traffic,
    keys: dict[str, tuple[str, str]],
    sweepers: int,
    lifted: bool,
    settings: dict[str, str],
    workdir: Path,
) -> Round:
    """One sweep round by `sweepers` `flask scheduler` processes, timed from the sandbox's go."""
    with app.app_context():
        db.session.execute(
            update(Payment)
            .where(Payment.ref.in_(list(keys)))  # the seeded ones, not the checkouts they copy
            .values(next_check_at=None, failure_count=0, claimed_until=None, claimed_by=None)
        )
        db.session.commit()
        db.session.remove()
    before = max((run.id for run in sweep_runs(app)), default=0)
    traffic.reset()
    traffic.hold()
    logs = [workdir / f"round-{before}-{n}.log" for n in range(sweepers)]
    processes = [
        start_scheduler(
            app.config["SQLALCHEMY_DATABASE_URI"],
            "",  # the gateways' own settings point them at the sandbox
            log,
            **settings,
        )
        for log in logs
    ]
    try:
        wait_for_runs(app, lambda runs: len(runs) == sweepers, timeout=120, after=before)
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        sandbox_cpu = time.process_time()
        go, go_clock = utcnow(), time.monotonic()
        traffic.let_go()
        runs = wait_for_runs(
            app, lambda runs: all(r.finished_at for r in runs), timeout=1800, after=before
        )
        sandbox_cpu = time.process_time() - sandbox_cpu
        sweeper_cpu = sum(cpu_seconds(p.pid) for p in processes) - sum(cpu_before)
    finally:
        traffic.let_go()
        for process in processes:
            stop_scheduler(process)
    for process, log in zip(processes, logs, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"a sweeper failed:\n{log.read_text()[-3000:]}")
    end: datetime = max(run.finished_at for run in runs if run.finished_at)
    looked_up = [traffic.lookups.get(gateway, {}).get(key, 0) for gateway, key in keys.values()]
    names = sorted(traffic.calls)
    return Round(
        sweepers=sweepers,
        lifted=lifted,
        seconds=(end - go).total_seconds(),
        calls=dict(traffic.calls),
        released={n: sum(t >= go_clock for t in traffic.arrivals.get(n, [])) for n in names},
        busiest={n: traffic.busiest_second(n, since=go_clock) for n in names},
        checked=sum(run.checked for run in runs),
        errors=sum(run.errors for run in runs),
        times=Counter(looked_up),
        rate_limited=sum(
            tally.get("rate_limited", 0)
            for run in runs
            for tally in (run.details or {}).get("gateways", {}).values()
        ),
        sweeper_cpu=sweeper_cpu,
        sandbox_cpu=sandbox_cpu,
    )


def _report(app: Flask, run: Round, n: int, gateways: list[str]) -> None:
    limits = "lifted" if run.lifted else "declared"
    print(f"\n{run.sweepers} sweeper process(es), {limits} rate limits")
    print(
        f"  {'gateway':<13}{'calls':>7}{'per payment':>13}{'target':>9}"
        f"{'limit r/s':>11}{'sweep r/s':>11}{'busiest s':>11}{'bound s':>9}"
    )
    bound = 0.0
    for name in gateways:
        calls = run.calls.get(name, 0)
        limit, share = _limits(app, name)
        released = run.released.get(name, 0)
        # the paced turns are (1 + TURN_SLACK)/share s apart: the least time `released` take
        least = 0.0 if run.lifted else max(0.0, (released - 1) * (1 + TURN_SLACK) / share)
        bound = max(bound, least)
        target = f"<= {TARGETS[name]:g}" if name in TARGETS else "-"
        shown = "lifted" if run.lifted else f"{limit:g}"
        print(
            f"  {name:<13}{calls:>7}{calls / n:>13.3f}{target:>9}{shown:>11}"
            f"{'-' if run.lifted else share:>11}{run.busiest.get(name, 0):>11}{least:>9.1f}"
        )
    versus = f" against a bound of {bound:.1f} s ({run.seconds / bound:.2f}x)" if bound else ""
    print(
        f"  wall {run.seconds:.2f} s{versus}; {run.checked / run.seconds:.0f} payments/s; "
        f"CPU {run.sweeper_cpu:.1f} s sweepers, {run.sandbox_cpu:.1f} s sandbox\n"
        f"  {run.checked} checked, {run.errors} errors; looked up once {run.times[1]}, "
        f"more than once {sum(n for k, n in run.times.items() if k > 1)}, not at all "
        f"{run.times[0]} ({run.rate_limited} left for later by the rate limiter)"
    )


def _compare(rounds: list[Round]) -> None:
    print()
    for lifted in (False, True):
        pair = {r.sweepers: r for r in rounds if r.lifted == lifted}
        if 1 in pair and 2 in pair:
            one, two = pair[1], pair[2]
            ratio = (two.checked / two.seconds) / (one.checked / one.seconds)
            print(
                f"two processes against one, {'lifted' if lifted else 'declared'} limits: "
                f"{two.checked / two.seconds:.0f} against {one.checked / one.seconds:.0f} "
                f"payments/s ({ratio:.2f}x)"
            )


def _limits(app: Flask, name: str) -> tuple[float, int]:
    """The gateway's declared requests per second, and the sweep's share of it."""
    plugin = plugin_for(name, app.config)
    assert plugin is not None, name
    limit = plugin.gateway.rate_limit(app.config)
    return limit, SweepSlots.from_config(app.config).sweep_share(limit)


if __name__ == "__main__":
    main()
