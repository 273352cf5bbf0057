"""`GET /v1/checkout/sessions`: list Checkout Sessions, as Stripe's API reference describes it.

Sources (docs/stripe.md lists them): "List all Checkout Sessions"
(https://docs.stripe.com/api/checkout/sessions/list), "Pagination"
(https://docs.stripe.com/api/pagination) and "Expanding Responses"
(https://docs.stripe.com/api/expanding_objects). What they say, and what this does:

- filters: `created` (an exact Unix time, or a hash of `gt` / `gte` / `lt` / `lte`), `status`
  (complete, expired or open), and equality on `customer`, `customer_account`, `payment_intent`,
  `payment_link`, `subscription` and `customer_details[email]`; any other parameter is refused
  as unknown;
- newest first; `limit` from 1 to 100, 10 when absent; `starting_after` (the objects after that
  one) or `ending_before` (the objects before it, nearest first), never both;
- expansions on a list start with `data.` (`expand[]=data.payment_intent`);
- the answer is `{"object": "list", "url": "/v1/checkout/sessions", "has_more", "data": [...]}`.

Sessions created in the same second keep the order they were created in.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError, invalid, missing, no_such
from .params import expand, integer
from .store import StripeSandbox

URL = "/v1/checkout/sessions"
_PARAMS = frozenset(
    {
        "created",
        "customer",
        "customer_account",
        "customer_details",
        "ending_before",
        "expand",
        "limit",
        "payment_intent",
        "payment_link",
        "starting_after",
        "status",
        "subscription",
    }
)
_EQUAL = ("customer", "customer_account", "payment_intent", "payment_link", "subscription")
_STATUSES = ("complete", "expired", "open")
_RANGE = ("gt", "gte", "lt", "lte")
_DEFAULT_LIMIT, _MAX_LIMIT = 10, 100


def list_sessions(state: StripeSandbox, params: dict[str, Any]) -> dict[str, Any]:
    """One page of the sessions matching `params`, newest first."""
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise invalid(unknown[0], f"Received unknown parameter: {unknown[0]}", "parameter_unknown")
    limit = _limit(params)
    matches = _filter(params)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise ApiError(
            400,
            "Received both starting_after and ending_before parameters. Please pass in only one.",
        )
    expansions = _expansions(params)
    ordered = _newest_first(state)
    if before:
        newer = ordered[: _position(ordered, before, "ending_before")]
        candidates = [s for s in newer if matches(s)]
        page, has_more = candidates[-limit:], len(candidates) > limit
    else:
        start = _position(ordered, after, "starting_after") + 1 if after else 0
        candidates = (s for s in ordered[start:] if matches(s))
        page = []
        has_more = False
        for session in candidates:
            if len(page) == limit:
                has_more = True
                break
            page.append(session)
    return {
        "object": "list",
        "data": [state.render(session, expansions) for session in page],
        "has_more": has_more,
        "url": URL,
    }


def _newest_first(state: StripeSandbox) -> list[dict[str, Any]]:
    """Every session, newest first; within one second the later-created first."""
    rank = {session_id: n for n, session_id in enumerate(state.sessions)}
    return sorted(
        state.sessions.values(), key=lambda s: (s["created"], rank[s["id"]]), reverse=True
    )


def _limit(params: dict[str, Any]) -> int:
    if "limit" not in params:
        return _DEFAULT_LIMIT
    limit = integer(params, "limit")
    if limit < 1:
        raise invalid("limit", "This value must be greater than or equal to 1.")
    if limit > _MAX_LIMIT:
        raise invalid("limit", f"This value must be less than or equal to {_MAX_LIMIT}.")
    return limit


def _filter(params: dict[str, Any]) -> Any:
    """A predicate for the filters in `params`, each checked as Stripe checks it."""
    status = params.get("status")
    if status is not None and status not in _STATUSES:
        raise invalid("status", "Invalid status: must be one of complete, expired, or open")
    created = _created(params)
    equal = {key: params[key] for key in _EQUAL if key in params}
    email = _email(params)

    def matches(session: dict[str, Any]) -> bool:
        details = session.get("customer_details") or {}
        return (
            (status is None or session["status"] == status)
            and created(session["created"])
            and all(session.get(key) == value for key, value in equal.items())
            and (email is None or details.get("email") == email)
        )

    return matches


def _created(params: dict[str, Any]) -> Any:
    raw = params.get("created")
    if raw is None:
        return lambda created: True
    if not isinstance(raw, dict):
        exact = integer(params, "created")
        return lambda created: created == exact
    unknown = sorted(set(raw) - set(_RANGE))
    if unknown:
        name = f"created[{unknown[0]}]"
        raise invalid(name, f"Received unknown parameter: {name}", "parameter_unknown")
    bounds = {key: integer(raw, key, f"created[{key}]") for key in raw}
    checks = {
        "gt": lambda c, b: c > b,
        "gte": lambda c, b: c >= b,
        "lt": lambda c, b: c < b,
        "lte": lambda c, b: c <= b,
    }
    return lambda created: all(checks[key](created, bound) for key, bound in bounds.items())


def _email(params: dict[str, Any]) -> str | None:
    raw = params.get("customer_details")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("customer_details", "Invalid object")
    if "email" not in raw:
        raise missing("customer_details[email]")
    return str(raw["email"])


def _expansions(params: dict[str, Any]) -> list[str]:
    """The `data.`-prefixed expansions of a list, as the object-level names render() takes."""
    names = []
    for name in expand(params):
        if not name.startswith("data."):
            raise invalid("expand", f"This property cannot be expanded ({name}).")
        names.append(name.removeprefix("data."))
    return names


def _position(ordered: list[dict[str, Any]], cursor: str, param: str) -> int:
    for index, session in enumerate(ordered):
        if session["id"] == cursor:
            return index
    raise no_such("checkout.session", cursor, param, 400)
