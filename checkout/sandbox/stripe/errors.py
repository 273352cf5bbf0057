"""Stripe's error answer (C.9): `{"error": {...}}` with its HTTP status, and its usual kinds.

Handlers raise these anywhere in a call; api.py turns them into the answer and, like Stripe,
does not store a failed call for Idempotency-Key replay.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Stripe error answer: `{"error": {...}}` with its HTTP status."""

    def __init__(
        self, status: int, message: str, type_: str = "invalid_request_error", **fields: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": type_}
        self.error.update({k: v for k, v in fields.items() if v is not None})
        if code := fields.get("code"):
            self.error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


def missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(param: str, message: str, code: str = "parameter_invalid") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def no_such(kind: str, object_id: Any, param: str, status: int = 404) -> ApiError:
    """An id Stripe does not know (`No such charge: 'ch_...'`): 404, or 400 inside a create."""
    return ApiError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)
