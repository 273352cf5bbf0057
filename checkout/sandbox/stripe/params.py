"""Request parameters as Stripe reads them (C.4): bracketed form keys, integers, metadata.

The SDK sends every body form-encoded with bracketed keys (`line_items[0][quantity]=1`) and
every value as a string, so types are checked here with Stripe's own messages. Amounts are
integers in Stripe's unit for the currency (currencies.py holds Stripe's rules).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import invalid


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`line_items[0][price_data][currency]=usd` -> nested dicts and lists, as Stripe reads it."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head, *re.findall(r"\[([^\]]*)\]", key[len(head) :])]
        node = root
        for i, part in enumerate(path):
            if part == "":  # `a[]=x` appends
                part = str(len(node))
            if i == len(path) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise invalid(key, f"Invalid parameter: {key}")
    return _lists(root)


def integer(params: dict[str, Any], key: str, label: str | None = None) -> int:
    """`params[key]` as an int; `label` names the parameter in the error when nested."""
    raw = params.get(key)
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid(
            label or key, f"Invalid integer: {raw}", "parameter_invalid_integer"
        ) from None
    return value


def metadata(raw: Any, param: str) -> dict[str, str]:
    """A metadata hash within Stripe's limits (50 keys, 40-character keys, 500-character values)."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise invalid(param, "Invalid hash")
    if len(raw) > 50:
        raise invalid(param, "Metadata can have up to 50 keys.")
    for key, value in raw.items():
        if len(key) > 40 or len(str(value)) > 500:
            raise invalid(
                f"{param}[{key}]",
                "Metadata keys are limited to 40 characters and values to 500 characters.",
            )
    return {str(k): str(v) for k, v in raw.items()}


def expand(params: dict[str, Any]) -> list[str]:
    """The `expand[]` list, which a client may also send as one value."""
    value = params.get("expand") or []
    return [str(x) for x in value] if isinstance(value, list) else [str(value)]


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted
