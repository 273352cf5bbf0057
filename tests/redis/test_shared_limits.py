"""Rate limits and the staff login lock hold across app processes sharing Redis.

Two subprocesses serve the same app and database, as two gunicorn workers do; requests
alternate between them. With memory storage each process counts alone (the last test shows the
limit doubling), which is why production refuses it with more than one worker.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
import requests
from flask import Flask

from checkout import create_app
from checkout.blueprints.status import POLL_LIMIT
from checkout.extensions import db
from checkout.models import StaffUser
from tests.blueprints.html_helpers import parse, read_form
from tests.conftest import Sandbox
from tests.reconciliation import open_payments, quiet
from tests.redis.conftest import serve

PASSWORD = "correct horse battery staple"
EMAIL = "agent@tollgate.test"


@pytest.fixture(autouse=True)
def _no_notifications(sandbox: Sandbox) -> None:
    quiet(sandbox)


@pytest.fixture
def staff(app: Flask) -> str:
    with app.app_context():
        user = StaffUser(email=EMAIL)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    return EMAIL


@pytest.fixture
def start_sites(app: Flask, sandbox: Sandbox) -> Iterator[Callable[..., list[str]]]:
    """Start two app processes on `storage` (with config `overrides`); stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(storage: str, **overrides: str) -> list[str]:
        urls = []
        for _ in range(2):
            process, url = serve(
                sandbox.url, app.config["SQLALCHEMY_DATABASE_URI"], storage, **overrides
            )
            started.append(process)
            urls.append(url)
        return urls

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


@pytest.fixture
def two_sites(start_sites: Callable[..., list[str]], redis_url: str) -> list[str]:
    return start_sites(redis_url, STAFF_LOCK_FAILURES="3")


def login(site: str, email: str, password: str) -> requests.Response:
    """Open the login page and post its form, as a browser does (a session per attempt)."""
    with requests.Session() as browser:
        page = browser.get(f"{site}/staff/login", timeout=10)
        [form] = [read_form(f) for f in parse(page.text).find_all("form")]
        form.fill("email", email).fill("password", password)
        return browser.post(site + form.action, data=form.data(), allow_redirects=False, timeout=10)


def test_five_password_checks_per_account_per_minute_across_processes(
    start_sites: Callable[..., list[str]], staff: str, redis_url: str
) -> None:
    sites = start_sites(redis_url)  # the default lock (10 failures) stays out of the way
    codes = [login(sites[n % 2], staff.upper(), "guess").status_code for n in range(6)]
    assert codes == [401] * 5 + [429]
    assert login(sites[0], staff, PASSWORD).status_code == 429  # the right password waits too


def test_repeated_failures_lock_the_account_in_every_process(
    two_sites: list[str], staff: str
) -> None:
    codes = [login(two_sites[n % 2], staff, "guess").status_code for n in range(3)]
    assert codes == [401, 401, 401]
    for site in two_sites:
        refused = login(site, staff, PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 14 * 60
        page = parse(refused.text)
        assert "locked" in page.by_id("slow-title").text + refused.text
        [back] = [a for a in page.find_all("a") if a.get("href") == "/staff/login"]
        assert "login" in back.text


def test_the_staff_429_page_links_back_to_the_login(
    start_sites: Callable[..., list[str]], redis_url: str
) -> None:
    site = start_sites(redis_url)[0]
    responses = [login(site, "nobody@tollgate.test", "x") for _ in range(6)]
    assert [r.status_code for r in responses] == [401] * 5 + [429]
    page = parse(responses[-1].text)
    assert page.by_id("slow-title").text == "Too many login attempts"
    assert page.find("a", href="/staff/login") is not None
    assert "staff.css" in responses[-1].text  # the console's look, not the shop's


def test_the_shopper_refresh_limit_holds_across_processes(app: Flask, two_sites: list[str]) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    codes = [
        requests.get(
            f"{two_sites[n % 2]}/status/{ref}/refresh", allow_redirects=False, timeout=10
        ).status_code
        for n in range(31)
    ]
    assert codes == [303] * 30 + [429]


def test_the_status_poll_limit_holds_across_processes(app: Flask, two_sites: list[str]) -> None:
    [ref] = open_payments(app, "mpgs", 1)
    codes = [
        requests.get(f"{two_sites[n % 2]}/status/{ref}.json", timeout=10).status_code
        for n in range(POLL_LIMIT + 1)
    ]
    assert codes == [200] * POLL_LIMIT + [429]


def test_memory_storage_counts_per_process(
    app: Flask, start_sites: Callable[..., list[str]]
) -> None:
    """Why production refuses it: two processes let twice the limit through."""
    [ref] = open_payments(app, "mpgs", 1)
    urls = start_sites("memory://")
    codes = [
        requests.get(
            f"{urls[n % 2]}/status/{ref}/refresh", allow_redirects=False, timeout=10
        ).status_code
        for n in range(40)
    ]
    assert codes == [303] * 40


@pytest.mark.parametrize(
    ("storage", "workers", "starts"),
    [
        ("memory://", None, False),
        ("memory://", "4", False),
        ("memory://", "1", True),
        ("redis://127.0.0.1:1/0", None, True),
    ],
)
def test_production_refuses_memory_storage_with_several_workers(
    monkeypatch: pytest.MonkeyPatch, storage: str, workers: str | None, starts: bool
) -> None:
    monkeypatch.delenv("TOLLGATE_SANDBOX_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://shop.example")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", storage)
    if workers is None:
        monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("WEB_CONCURRENCY", workers)
    if starts:
        create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    else:
        with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URI"):
            create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
