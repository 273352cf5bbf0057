"""Multiprocess mode: processes sharing PROMETHEUS_MULTIPROC_DIR are summed by any one's scrape.

prometheus_client picks its mode when first imported, so each process here is a fresh Python
started with the variable set (as gunicorn's workers and `flask scheduler` are), serving the
app through its test client against one SQLite file. This test process itself stays in
single-process mode and only reads what they print.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from checkout.extensions import db
from tests.conftest import make_test_app
from tests.metrics.samples import Scrape

ROOT = Path(__file__).resolve().parents[2]

# the app on the shared database answers /healthz `hits` times, then prints a scrape or not
_PROCESS = """
import sys
from checkout import create_app

uri, hits, then = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": uri})
client = app.test_client()
for _ in range(hits):
    assert client.get("/healthz").status_code == 200
if then == "scrape":
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    sys.stdout.write(response.get_data(as_text=True))
"""


def _start(shared: Path, uri: str, hits: int, then: str) -> subprocess.Popen[str]:
    environ = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _PROCESS, uri, str(hits), then],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err[-2000:]
    return out


def test_two_processes_are_summed_at_metrics(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    uri = f"sqlite:///{tmp_path / 'tollgate.sqlite3'}"
    with make_test_app("", uri).app_context():
        db.create_all()  # here, in single-process mode: the schema is not what is tested
        db.engine.dispose()
    first = _start(shared, uri, 3, "exit")
    _finish(first)

    found = Scrape.parse(_finish(_start(shared, uri, 4, "scrape")))

    healthz = {"endpoint": "health.healthz", "status": "200"}
    assert found.value("tollgate_http_requests_total", **healthz) == 7
    assert (
        found.value("tollgate_http_request_duration_seconds_count", endpoint="health.healthz") == 7
    )
    assert (
        found.value("tollgate_scrape_database_up") == 1
    )  # the gauges still come from the database
    # the exited process's counts are still there, in its own file
    assert (shared / f"counter_{first.pid}.db").is_file()
