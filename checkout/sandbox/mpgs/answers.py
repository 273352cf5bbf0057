"""The gateway's wire formats: exact JSON numbers, times, amounts, and the error body of B.11.

Requests write amounts as decimal strings; answers write them as JSON numbers with the
currency's decimals (`"amount":12.50`), which `json.dumps` cannot write from a Decimal. Errors
carry `cause`, `explanation` and for a bad field `field` and `validationType`, and arrive as
ISO-8859-1 JSON like the real gateway's.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from werkzeug.wrappers import Response

from ...money import exponent

JSON_UTF8 = "application/json;charset=UTF-8"
JSON_LATIN1 = "application/json;charset=ISO-8859-1"
_AMOUNT = re.compile(r"^\d{1,11}(\.\d{1,3})?$")  # how requests may write an amount


def dumps(value: Any) -> str:
    """JSON text where Decimals are written as JSON numbers, as the real gateway sends amounts."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def api_answer(body: Any, status: int = 200, content_type: str = JSON_UTF8) -> Response:
    return Response(dumps(body), status=status, content_type=content_type)


def error_answer(
    status: int,
    cause: str,
    explanation: str,
    field_name: str | None = None,
    validation: str | None = None,
) -> Response:
    error: dict[str, Any] = {"cause": cause, "explanation": explanation}
    if field_name:
        error["field"] = field_name
    if validation:
        error["validationType"] = validation
    return api_answer({"error": error, "result": "ERROR"}, status, JSON_LATIN1)


def invalid(field_name: str, explanation: str) -> Response:
    return error_answer(400, "INVALID_REQUEST", explanation, field_name, "INVALID")


def missing(field_name: str) -> Response:
    return error_answer(
        400, "INVALID_REQUEST", f"Missing parameter '{field_name}'", field_name, "MISSING"
    )


def not_json() -> Response:
    return error_answer(400, "INVALID_REQUEST", "Request body is not valid JSON")


def no_such_order(merchant: str, order_id: str) -> Response:
    """What MPGS answers for an order id that has no transaction yet."""
    return error_answer(
        400, "INVALID_REQUEST", f"Unable to find order = {order_id} for merchant {merchant}"
    )


class Refused(Exception):
    """Raised by request checks deep in a call: carries the error answer to send instead."""

    def __init__(self, response: Response) -> None:
        super().__init__("refused")
        self.response = response


def stamp(moment: datetime) -> str:
    """A time as the gateway writes it: UTC, milliseconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def money(value: Decimal, currency: str) -> Decimal:
    """An amount with exactly the currency's decimals (12.5 USD is written 12.50)."""
    return value.quantize(Decimal(1).scaleb(-exponent(currency)))


def parse_amount(raw: str) -> Decimal | None:
    """A request's amount as an exact Decimal; None unless written as the gateway accepts it."""
    try:
        return Decimal(raw) if _AMOUNT.match(raw) else None
    except InvalidOperation:
        return None
