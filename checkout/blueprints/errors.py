"""Styled error pages, and JSON errors for machine clients (IPN, .json URLs)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

_TEXTS = {
    400: ("Bad request", "Something in that request did not make sense to us."),
    404: (
        "Not found",
        "There is nothing at this address. Check the link, or start again from the shop.",
    ),
    405: ("Method not allowed", "That page does not accept this kind of request."),
    413: ("Too large", "That request was larger than we accept."),
    429: ("Slow down", "Too many requests in a short time. Wait a moment and try again."),
    500: (
        "Something went wrong",
        "An error on our side. Your payment data is safe; try again shortly.",
    ),
}


def _wants_json() -> bool:
    return (
        request.path.startswith("/ipn/")
        or request.path.endswith(".json")
        or request.accept_mimetypes.best == "application/json"
    )


def _handle(exc: HTTPException) -> tuple[object, int]:
    code = exc.code or 500
    title, text = _TEXTS.get(code, (exc.name, exc.description or ""))
    if code >= 500:
        log.error("%s %s -> %s", request.method, request.path, code)
    else:
        log.info("%s %s -> %s %s", request.method, request.path, code, exc.description or "")
    if _wants_json():
        return jsonify(error=title, detail=text), code
    return render_template("errors/error.html", code=code, title=title, text=text), code


def _handle_unexpected(exc: Exception) -> tuple[object, int]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _handle(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle)
    app.register_error_handler(Exception, _handle_unexpected)
