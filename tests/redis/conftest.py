"""A throwaway redis-server, and the app served by separate processes sharing it.

The session starts one redis-server (a temporary directory, a free port on 127.0.0.1, no
persistence); each test gets it emptied. `two_sites` serves the same app and database from two
subprocesses, as two gunicorn workers would: only the limiter's storage can make them agree. A
missing redis-server is an error here, never a skip: `make test` installs it
(scripts/system-deps.sh).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make system-deps`")
    base = tempfile.mkdtemp(prefix="tollgate-redis-")
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            base,
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            os.path.join(base, "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(10)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    with redis.Redis.from_url(redis_server) as client:
        client.flushdb()
    return redis_server


def serve(sandbox_url: str, database_uri: str, storage_uri: str, **overrides: str) -> tuple:
    """Start one app process on a free port; (process, its base URL)."""
    port = _free_port()
    env = {
        **os.environ,
        "SERVE_SANDBOX_URL": sandbox_url,
        "SERVE_DATABASE_URI": database_uri,
        "SERVE_STORAGE_URI": storage_uri,
        "SERVE_PORT": str(port),
        **{f"SERVE_SET_{key}": value for key, value in overrides.items()},
    }
    process = subprocess.Popen([sys.executable, "-m", "tests.redis.serve_app"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(f"{url}/staff/login", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the app process did not start")
