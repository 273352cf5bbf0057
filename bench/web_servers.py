"""The servers bench/web.py runs: redis-server, and gunicorn with the repo's gunicorn.conf.py.

Both are throwaway: a temporary directory, a free port on 127.0.0.1, stopped (by the PID this
module started) when the `with` block ends. The product runs in the production config, its
gateways pointed at the bench's sandbox through their ordinary settings (production refuses
TOLLGATE_SANDBOX_URL), so nothing testing-only is in the measured path.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from checkout.config import Config
from checkout.fulfilment import provider
from checkout.gateways.registry import plugins

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server without persistence; yields its URL (the limiter's shared storage)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: run `make system-deps`")
    base = tempfile.mkdtemp(prefix="tollgate-bench-redis-")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", base]
    command += ["--save", "", "--appendonly", "no", "--logfile", os.path.join(base, "log")]
    process = subprocess.Popen(command)
    try:
        _wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


# The gateways' sandbox in a process of its own (its CPU is not the workers'), sending no
# notifications: the bench's IPNs are its own, and PUBLIC_BASE_URL is not reachable.
_SANDBOX = """
import logging, sys
logging.basicConfig(level=logging.WARNING)
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from checkout.config import Config
from checkout.sandbox import create_sandbox_app
from checkout.sandbox.env import SandboxOptions
from checkout.sandbox.server import ThreadedServer
quiet = {name: {"notifications": False} for name in Config.GATEWAYS.split(",")}
server = ThreadedServer(create_sandbox_app(SandboxOptions(seed=1, knobs=quiet))).start()
print(server.url, flush=True)
sys.stdin.read()
"""


@contextmanager
def sandbox() -> Iterator[str]:
    """The gateways' sandbox, served from a subprocess; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SANDBOX],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip() if process.stdout else ""
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the sandbox did not start: {url!r}")
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


# the JSON run measures polls between look-ups: a window longer than one run (bench/web.py)
COALESCE_SECONDS = 60


def production_env(database_url: str, redis_url: str, sandbox_url: str) -> dict[str, str]:
    """The environment of a production deployment whose gateways answer from the sandbox."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEWAY", "TOLLGATE_", "STRIPE_", "MPGS_", "COINPAYMENTS_"))
    }
    env.update(
        TOLLGATE_ENV="production",
        SECRET_KEY="bench secret key, not a real one",  # noqa: S106 - a throwaway run
        PUBLIC_BASE_URL="https://shop.bench.test",
        DATABASE_URL=database_url,
        RATELIMIT_STORAGE_URI=redis_url,
        REFRESH_COALESCE_SECONDS=str(COALESCE_SECONDS),
        ESIM_PROVIDER_URL=sandbox_url.rstrip("/") + provider.SANDBOX_PATH,
        ESIM_PROVIDER_API_KEY=provider.SANDBOX_API_KEY,
    )
    for plugin in plugins({"GATEWAYS": Config.GATEWAYS}):
        env.update({key: str(value) for key, value in plugin.sandbox_values(sandbox_url).items()})
    return env


@contextmanager
def gunicorn(
    app: str, env: dict[str, str], workers: int, threads: int, log_dir: str
) -> Iterator[tuple[str, int]]:
    """`gunicorn -c gunicorn.conf.py APP` with WEB_CONCURRENCY=workers and --threads; yields its
    base URL and master PID. Its access log and errors go to a file under log_dir."""
    port = free_port()
    log = open(os.path.join(log_dir, f"gunicorn-{port}.log"), "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py", "--threads", str(threads), app],
        cwd=ROOT,
        env={**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds of one process (Linux /proc); 0 once it is gone."""
    fields = _stat(pid)
    return _cpu(fields) if fields else 0.0


def worker_cpu_seconds(master_pid: int) -> float:
    """User + system CPU seconds of a gunicorn master and its workers (Linux /proc)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields and (entry.name == str(master_pid) or fields[1] == str(master_pid)):
            total += _cpu(fields)
    return total


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port} after 60 s")
