"""Answers as OPPWA writes them: `result`, `buildNumber`, `timestamp`, `ndc` on every body."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from flask import Response

BUILD = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d@2026-11-01 09:00:00 +0000"
NO_SESSION = (
    "200.300.404",
    "invalid or missing parameter - (opp) No payment session found for the requested id - are "
    "you mixing test/live servers or have you paid more than 30min ago?",
)


def stamp(moment: datetime) -> str:
    """OPPWA's timestamp: "2026-11-02 10:15:03.123+0000"."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def answer(body: dict[str, Any], moment: datetime, status: int = 200, ndc: str = "") -> Response:
    full = {**body, "buildNumber": BUILD, "timestamp": stamp(moment)}
    full["ndc"] = ndc or body.get("ndc") or f"{secrets.token_hex(16)}.sbx01-vm-tx01"
    return Response(json.dumps(full), status, content_type="application/json;charset=UTF-8")


def result(code: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"result": {"code": code, "description": description, **extra}}


def error(status: int, code: str, description: str, moment: datetime, **extra: Any) -> Response:
    return answer(result(code, description, **extra), moment, status)


def parameter_error(name: str, value: Any, message: str, moment: datetime) -> Response:
    """A request field refused: HTTP 400, 200.300.404 and the field in `parameterErrors`."""
    errors = [{"name": name, "value": value, "message": message}]
    return error(400, "200.300.404", "invalid or missing parameter", moment, parameterErrors=errors)
