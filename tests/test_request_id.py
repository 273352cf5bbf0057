"""Every response carries X-Request-ID: the caller's when it is a sane token, else a new one."""

from __future__ import annotations

import re

import pytest


def test_a_sane_request_id_is_echoed(app) -> None:
    answer = app.test_client().get("/healthz", headers={"X-Request-ID": "edge-1.a_B-9"})
    assert answer.headers["X-Request-ID"] == "edge-1.a_B-9"


def test_a_request_id_is_generated_when_none_is_given(app) -> None:
    client = app.test_client()
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/no-such-page").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize(
    "offered", ["x" * 65, "a b", "id\tnext", "<script>", "ünïcode", "a/b", "id;drop"]
)
def test_an_insane_request_id_is_replaced(app, offered) -> None:
    answer = app.test_client().get("/healthz", headers={"X-Request-ID": offered})
    assert answer.headers["X-Request-ID"] != offered
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"])
