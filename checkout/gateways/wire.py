"""Reading what gateways send: headers, notification bodies, answers to store.

Shared by every gateway so that each reads hostile input the same way: a body that passed its
signature check is still shaped by the sender.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from .errors import InvalidNotification

_PLAIN = frozenset({str, int, float, bool})


def json_safe(value: Any) -> Any:
    """A gateway answer as data a JSON column can store, whatever the answer held.

    Amounts are parsed exactly (`Decimal`), and an answer may carry dates; neither is JSON. A
    Decimal becomes its exact string ("0.04829857"), a date or datetime its ISO text, tuples
    and sets lists, keys strings; ints, floats, strings, bools and None stay as they are.
    Every gateway builds the `raw` it hands back with this, so one odd answer cannot fail the
    write of a whole batch of answers.
    """
    if value is None or type(value) in _PLAIN:  # most of a body; the checks below cost more
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return value


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case, or None when absent.

    Werkzeug's headers already ignore case; a plain dict (a test, a replayed delivery) does not,
    and a signature check must not depend on which one it was handed.
    """
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


#: deeper than any real gateway body (Stripe events nest about 8 levels); deeper is an attack
MAX_NOTIFICATION_DEPTH = 32


def notification_object(
    body: bytes, *, parse_float: Callable[[str], Any] = Decimal
) -> dict[str, Any]:
    """A notification body as one JSON object, or InvalidNotification.

    Whatever passed the signature is still shaped by the sender: the body must be UTF-8, JSON,
    an object, and shallow enough that reading, redacting and storing it cannot exhaust the
    stack. Numbers with a decimal point never become float: `Decimal` by default, or `str` for
    a gateway whose amounts are all integers and whose payload is stored as parsed.
    """
    try:
        data = json.loads(body.decode("utf-8"), parse_float=parse_float)
    except UnicodeDecodeError as exc:
        raise InvalidNotification("notification body is not UTF-8") from exc
    except RecursionError as exc:
        raise InvalidNotification("notification body is nested too deeply") from exc
    except ValueError as exc:
        raise InvalidNotification("notification body is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidNotification("notification body is not a JSON object")
    if _depth_exceeds(data, MAX_NOTIFICATION_DEPTH):
        raise InvalidNotification("notification body is nested too deeply")
    return data


def object_at(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    """`data[key]`, which must be a JSON object, or InvalidNotification."""
    value = data.get(key)
    if not isinstance(value, dict):
        raise InvalidNotification(f"notification field {key!r} is not an object")
    return value


def text_at(data: Mapping[str, Any], key: str) -> str | None:
    """`data[key]` when it is a non-empty string, None when absent or null; else invalid.

    Ids are looked up in the database and stored in text columns: a number, list or object
    where an id belongs is a malformed notification, not something to coerce.
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidNotification(f"notification field {key!r} is not a string")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests deeper than `limit`, checked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False
