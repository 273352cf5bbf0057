"""The v1 API the SDK calls: auth, the knobs, parsing, Idempotency-Key replay, error shapes.

Every handler gets the parsed parameters and answers the object to send, or raises ApiError.
The wrapper does the rest the way Stripe does (C.3, C.9): Bearer (or Basic) auth with the `sk_`
key, a `Stripe-Version` it can read, a `Request-Id` on every answer, and for a repeated
Idempotency-Key the first answer again, or an idempotency_error if the request differs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, request

from .. import credentials
from ..common import json_response, random_id, with_knobs
from . import listing, refunds, sessions
from .errors import ApiError
from .lifecycle import tick
from .params import expand, unflatten
from .store import API_VERSION, NAME, StripeSandbox

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")

Handler = Callable[..., dict[str, Any]]


def blueprint(state: StripeSandbox) -> Blueprint:
    bp = Blueprint("sandbox_stripe_api", __name__)
    api = functools.partial(_api, state)

    @api
    def create_session(params: dict[str, Any]) -> dict[str, Any]:
        session = sessions.create_session(state, params, request.host_url)
        return state.render(session, expand(params))

    @api
    def list_sessions(params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_sessions(state, params)

    @api
    def retrieve_session(params: dict[str, Any], session_id: str) -> dict[str, Any]:
        return state.render(state.session(session_id), expand(params))

    @api
    def expire_session(params: dict[str, Any], session_id: str) -> dict[str, Any]:
        return state.render(sessions.expire_session(state, session_id), expand(params))

    @api
    def create_refund(params: dict[str, Any]) -> dict[str, Any]:
        return dict(refunds.create_refund(state, params))

    bp.add_url_rule("/v1/checkout/sessions", view_func=create_session, methods=["POST"])
    bp.add_url_rule("/v1/checkout/sessions", view_func=list_sessions, methods=["GET"])
    bp.add_url_rule(
        "/v1/checkout/sessions/<session_id>", view_func=retrieve_session, methods=["GET"]
    )
    bp.add_url_rule(
        "/v1/checkout/sessions/<session_id>/expire", view_func=expire_session, methods=["POST"]
    )
    bp.add_url_rule("/v1/refunds", view_func=create_refund, methods=["POST"])
    return bp


def _api(state: StripeSandbox, handler: Handler) -> Callable[..., Response]:
    """Auth, knobs, parsing, idempotency and error shapes around one API handler."""

    @with_knobs(state.env, NAME, _unknown_error, _rate_limited)
    @functools.wraps(handler)
    def view(**kwargs: Any) -> Response:
        try:
            params = _read_request()
        except ApiError as exc:
            return _failure(exc)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        endpoint = f"{request.method} {request.path}"
        with state.lock:
            try:
                if key is not None and (stored := _replay(state, key, endpoint, params)):
                    return _answer(stored, replayed=True)
                tick(state)
                body = handler(params, **kwargs)
            except ApiError as exc:
                return _failure(exc)  # not stored: Stripe keeps only executed requests
            if key is not None:
                state.idempotent[key] = (endpoint, params, body)
        return _answer(body)

    return view


def _read_request() -> dict[str, Any]:
    """The call's parameters, once its key and API version are accepted."""
    _authenticate(request.headers.get("Authorization", ""))
    version = request.headers.get("Stripe-Version")
    if version is not None and not _VERSION.match(version):
        raise ApiError(400, f"Invalid Stripe API version: {version}")
    raw = request.get_data(as_text=True) if request.method == "POST" else None
    query = request.query_string.decode() if raw is None else raw
    return unflatten(parse_qsl(query, keep_blank_values=True))


def _answer(body: dict[str, Any], status: int = 200, replayed: bool = False) -> Response:
    response = json_response(body, status)
    response.headers["Request-Id"] = random_id("req_", 14)
    response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _failure(exc: ApiError) -> Response:
    return _answer({"error": exc.error}, exc.status)


def _unknown_error() -> Response:
    """What the error_rate / timeout_rate knobs answer: Stripe's own 500."""
    return _failure(ApiError(500, "An unknown error occurred", "api_error"))


def _rate_limited() -> Response:
    """What the throttle_rate knob answers: Stripe's 429 (docs.stripe.com/rate-limits).

    The body is Stripe's error object with the `rate_limit` code (docs.stripe.com/error-codes);
    the header names which limiter refused, as Stripe's `Stripe-Rate-Limited-Reason` does.
    """
    response = _failure(
        ApiError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    )
    response.headers["Stripe-Rate-Limited-Reason"] = "global-rate"
    return response


def _authenticate(header: str) -> None:
    scheme, _, value = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip()).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise ApiError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or "
            "we can help at https://support.stripe.com/.",
        )
    if not key.startswith("sk_") or not hmac.compare_digest(key, credentials.STRIPE["secret_key"]):
        prefix = key[:8] if key.startswith(("sk_test_", "sk_live_")) else key[:3]
        raise ApiError(401, f"Invalid API Key provided: {prefix}{'*' * 12}{key[-4:]}")


def _replay(
    state: StripeSandbox, key: str, endpoint: str, params: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored answer for a repeated Idempotency-Key; an idempotency_error if it differs."""
    if len(key) > 255:
        raise ApiError(400, "Idempotency-Key must be 255 characters or fewer.")
    stored = state.idempotent.get(key)
    if stored is None:
        return None
    first_endpoint, first_params, body = stored
    if first_endpoint != endpoint:
        raise ApiError(
            400,
            "Keys for idempotent requests can only be used for the same endpoint they were "
            f"first used for ('{first_endpoint}' vs '{endpoint}'). Try using a key other than "
            f"'{key}' if you meant to execute a different request.",
            "idempotency_error",
        )
    if first_params != params:
        raise ApiError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
            "idempotency_error",
        )
    return body
