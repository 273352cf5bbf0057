"""Two `flask scheduler` processes on one PostgreSQL database split the due payments.

Production may run the scheduler on two hosts at once (a deploy overlapping the old one, or on
purpose, for throughput). The sweep's row claims (`FOR UPDATE SKIP LOCKED`) must then give
every due payment to exactly one of them. Shown here with the real thing: 10,000 due payments
over the four gateways, two `flask scheduler` subprocesses against the sandbox over HTTP, and
the gateways' look-ups counted where they arrive (`checkout.sandbox.traffic`), not by the
clients. The sandbox holds the first look-ups until both processes have started their sweep,
so both really sweep at once. The gateways' declared rate limits are lifted for the processes
(their own tests are in tests/gateways and tests/payments): here the point is the split.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from checkout.payments.sweep import FINISHED, state_of
from checkout.sandbox.server import ThreadedServer
from checkout.sandbox.traffic import Traffic
from tests.conftest import Sandbox
from tests.reconciliation import quiet
from tests.sweep_load import (
    lookup_keys,
    seed_due,
    start_scheduler,
    stop_scheduler,
    sweep_runs,
    wait_for_runs,
)

pytestmark = pytest.mark.postgres

GATEWAYS = ("coinpayments", "mpgs", "stripe", "copyandpay")
PER_GATEWAY = 2500  # 10,000 in all
SWEEPERS = 2
LIFTED = {f"{name.upper()}_RATE_LIMIT": "1000000" for name in GATEWAYS}


@pytest.fixture
def traffic(_sandbox_server: ThreadedServer) -> Iterator[Traffic]:
    with Traffic(_sandbox_server.server.app) as counter:
        yield counter


def test_two_schedulers_look_up_each_of_10000_due_payments_exactly_once(
    app: Flask,
    sandbox: Sandbox,
    pg_url: str,
    traffic: Traffic,
    tmp_path: Path,
) -> None:
    quiet(sandbox, *GATEWAYS)
    refs = [r for name in GATEWAYS for r in seed_due(app, traffic.app, name, PER_GATEWAY)]
    keys = lookup_keys(app, refs)
    traffic.reset()
    traffic.hold()
    logs = [tmp_path / f"scheduler-{n}.log" for n in range(SWEEPERS)]
    sweepers = [start_scheduler(pg_url, sandbox.url, log, **LIFTED) for log in logs]
    try:
        wait_for_runs(app, lambda runs: len(runs) == SWEEPERS, timeout=60)
        traffic.let_go()  # both have recorded their run and claimed their first pages
        wait_for_runs(app, lambda runs: all(r.finished_at for r in runs), timeout=120)
    finally:
        traffic.let_go()
        for process in sweepers:
            stop_scheduler(process)
    for process, log in zip(sweepers, logs, strict=True):
        assert process.returncode == 0, log.read_text()[-2000:]

    runs = sweep_runs(app)
    assert [state_of(run) for run in runs] == [FINISHED] * SWEEPERS
    owners = {int(run.details["owner"].split(":")[1]) for run in runs}
    assert owners == {process.pid for process in sweepers}
    assert all(run.checked > 0 for run in runs), [run.checked for run in runs]  # both worked
    assert sum(run.checked for run in runs) == len(refs)
    assert sum(run.errors for run in runs) == 0

    times = {
        ref: traffic.lookups.get(gateway, {}).get(key, 0) for ref, (gateway, key) in keys.items()
    }
    assert {ref: n for ref, n in times.items() if n != 1} == {}
    assert sum(sum(counts.values()) for counts in traffic.lookups.values()) == len(refs)
