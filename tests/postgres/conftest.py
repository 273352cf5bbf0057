"""A throwaway PostgreSQL server for the storage and concurrency tests.

The session starts one server (initdb into a temporary directory, a free port on 127.0.0.1,
`pg_ctl start`), builds a template database with the real migrations (`flask db upgrade`), and
gives each test its own copy of it. The server is stopped and its directory removed at the end.
PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
`postgres` system user. A missing PostgreSQL is an error here, never a skip: `make test` installs
it (scripts/system-deps.sh).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from flask import Flask

from checkout.extensions import db
from tests.conftest import Sandbox, make_test_app

# Pools large enough for the concurrency tests' threads; the server allows 300 connections.
PG_ENGINE_OPTIONS = {"pool_size": 30, "max_overflow": 30, "pool_timeout": 60}


def _bindir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if not candidates:
        found = shutil.which("pg_ctl")
        if found is None:
            raise RuntimeError("PostgreSQL is not installed: run `make system-deps`")
        return os.path.dirname(found)
    return os.path.dirname(candidates[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    port: int
    user: str = "postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self, template: str | None = None) -> str:
        name = f"tollgate_{uuid.uuid4().hex[:12]}"
        sql = f'CREATE DATABASE "{name}"'
        if template:
            sql += f' TEMPLATE "{template}"'
        with self.admin() as conn:
            conn.execute(sql)
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = _bindir()
    base = tempfile.mkdtemp(prefix="tollgate-pg-")
    data, log = os.path.join(base, "data"), os.path.join(base, "server.log")
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(base, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    os.chmod(base, 0o700)

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run(
        f"{bindir}/initdb",
        "-D",
        data,
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c max_connections=300 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    run(f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
    try:
        yield PgServer(port)
    finally:
        run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer, _sandbox_server: Any) -> str:
    """A database built by the real migrations, copied for every test."""
    from flask_migrate import upgrade

    name = pg_server.create_database()
    application = make_test_app(_sandbox_server.url, pg_server.url(name))
    with application.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return name


@pytest.fixture
def pg_url(pg_server: PgServer, pg_template: str) -> Iterator[str]:
    name = pg_server.create_database(template=pg_template)
    yield pg_server.url(name)
    pg_server.drop_database(name)


def make_pg_app(sandbox: Sandbox, url: str, **overrides: Any) -> Flask:
    overrides.setdefault("SQLALCHEMY_ENGINE_OPTIONS", PG_ENGINE_OPTIONS)
    return make_test_app(sandbox.url, url, **overrides)


@pytest.fixture
def app(sandbox: Sandbox, pg_url: str, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    """The shared `app` fixture, on PostgreSQL: the factories and `fulfilments` follow it."""
    application = make_pg_app(sandbox, pg_url, **app_overrides)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
