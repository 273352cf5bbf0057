"""gunicorn.conf.py: the worker timeout is above the worst request by construction."""

from __future__ import annotations

import multiprocessing
import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from checkout.config import TestingConfig
from checkout.gateways import registry
from checkout.gateways.transport import HttpTransport

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def _load(monkeypatch: pytest.MonkeyPatch, **environ: str) -> dict[str, Any]:
    for name in ("WEB_CONCURRENCY", "PORT", "GATEWAY_TOTAL_SECONDS", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOLLGATE_ENV", "production")
    monkeypatch.setattr("dotenv.load_dotenv", lambda *args, **kwargs: False)  # no local .env
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def _worst_gateway_call(total: float) -> float:
    """The longest any configured gateway's call can take under GATEWAY_TOTAL_SECONDS=total,
    with timeouts and retries that alone would take far longer."""
    config = {
        **{key: getattr(TestingConfig, key) for key in dir(TestingConfig) if key.isupper()},
        "GATEWAY_TOTAL_SECONDS": total,
        "GATEWAY_CONNECT_TIMEOUT": 10.0,
        "GATEWAY_READ_TIMEOUT": 120.0,
        "STRIPE_MAX_NETWORK_RETRIES": 5,
    }
    registry.install_settings(config)
    worst = 0.0
    for plugin in registry.plugins(config):
        config.update(plugin.sandbox_values("http://127.0.0.1:9"))
        gateway = plugin.gateway.from_config(config)
        budget = getattr(gateway, "budget", None)
        transport = getattr(gateway, "transport", None)
        if isinstance(transport, HttpTransport):
            budget = transport.budget
        assert budget is not None, f"{plugin.name} has no time budget"
        worst = max(worst, budget.worst_case)
    return worst


@pytest.mark.parametrize("total", ["5", "20", "47.5", "200"])
def test_the_worker_timeout_is_above_the_worst_gateway_call(
    monkeypatch: pytest.MonkeyPatch, total: str
) -> None:
    conf = _load(monkeypatch, GATEWAY_TOTAL_SECONDS=total)
    worst = _worst_gateway_call(float(total))
    assert 0 < worst <= float(total)
    # a whole request's gateway calls share GATEWAY_TOTAL_SECONDS, so this is its worst case too
    assert conf["timeout"] >= float(total) + conf["MARGIN_SECONDS"] > worst
    assert conf["graceful_timeout"] >= conf["timeout"]


def test_the_timeout_is_computed_from_the_apps_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    default = _load(monkeypatch)
    assert default["gateway_seconds"] == TestingConfig.GATEWAY_TOTAL_SECONDS
    assert default["timeout"] > TestingConfig.GATEWAY_TOTAL_SECONDS
    longer = _load(monkeypatch, GATEWAY_TOTAL_SECONDS=str(TestingConfig.GATEWAY_TOTAL_SECONDS * 3))
    assert longer["timeout"] > default["timeout"]


def test_workers_from_the_cores_unless_web_concurrency_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conf = _load(monkeypatch)
    assert conf["workers"] == min(2 * multiprocessing.cpu_count() + 1, conf["MAX_WORKERS"])
    monkeypatch.setattr(multiprocessing, "cpu_count", lambda: 64)
    assert _load(monkeypatch)["workers"] == conf["MAX_WORKERS"]
    assert _load(monkeypatch, WEB_CONCURRENCY="3")["workers"] == 3


def test_bind_from_port_and_access_log_with_the_request_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _load(monkeypatch)["bind"] == "0.0.0.0:8000"
    conf = _load(monkeypatch, PORT="9123")
    assert conf["bind"] == "0.0.0.0:9123"
    assert conf["accesslog"] == "-"
    assert "%({x-request-id}i)s" in conf["access_log_format"]


def test_the_readme_runs_gunicorn_with_this_file() -> None:
    readme = (CONF.parent / "README.md").read_text()
    assert "gunicorn -c gunicorn.conf.py wsgi:app" in readme


def _exited_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


def test_a_starting_server_clears_the_metrics_of_exited_processes_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    gone, running = _exited_pid(), os.getpid()  # running: a `flask scheduler` beside the server
    names = (f"counter_{gone}.db", f"histogram_{gone}.db", f"counter_{running}.db", "notes.db")
    for name in names:
        (shared / name).write_bytes(b"\0" * 8)
    conf = _load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(shared))

    conf["on_starting"](SimpleNamespace())

    # a file that is not prometheus_client's is left alone too
    assert sorted(p.name for p in shared.iterdir()) == [f"counter_{running}.db", "notes.db"]


def test_a_starting_server_creates_the_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "not-yet"
    conf = _load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(shared))
    conf["on_starting"](SimpleNamespace())
    assert shared.is_dir()


def test_an_exited_worker_is_marked_dead_and_its_counts_stay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    pid = _exited_pid()
    for name in (f"counter_{pid}.db", f"histogram_{pid}.db", f"gauge_livesum_{pid}.db"):
        (shared / name).write_bytes(b"\0" * 8)
    conf = _load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(shared))

    conf["child_exit"](SimpleNamespace(), SimpleNamespace(pid=pid))

    # its live gauge no longer counts; its counters and histograms stay in the totals
    assert sorted(p.name for p in shared.iterdir()) == [f"counter_{pid}.db", f"histogram_{pid}.db"]


def test_without_a_metrics_directory_the_hooks_touch_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    conf = _load(monkeypatch)
    conf["on_starting"](SimpleNamespace())
    conf["child_exit"](SimpleNamespace(), SimpleNamespace(pid=_exited_pid()))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("concurrency", "warned"), [("2", True), ("1", False)])
def test_several_workers_without_a_metrics_directory_are_warned_about(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    concurrency: str,
    warned: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    conf = _load(monkeypatch, WEB_CONCURRENCY=concurrency)
    with caplog.at_level("WARNING", logger="gunicorn.error"):
        conf["on_starting"](SimpleNamespace())
    assert ("PROMETHEUS_MULTIPROC_DIR is not set" in caplog.text) is warned


def test_a_metrics_directory_silences_the_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    conf = _load(monkeypatch, WEB_CONCURRENCY="4", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"))
    with caplog.at_level("WARNING", logger="gunicorn.error"):
        conf["on_starting"](SimpleNamespace())
    assert "PROMETHEUS_MULTIPROC_DIR" not in caplog.text
