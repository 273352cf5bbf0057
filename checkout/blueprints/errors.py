"""Styled error pages, and JSON errors for machine clients (IPN, .json URLs).

A shopper who hits an error sees the shop's own page with a way back; a gateway posting to
`/ipn/*` or the status page's polling script gets JSON it can read. Nothing here echoes request
data or exception text back, so an error page cannot leak a secret or reflect markup.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

_TEXTS = {
    400: ("Bad request", "Something in that request did not make sense to us."),
    404: (
        "Page not found",
        "There is nothing at this address. Check the link, or start again from the shop.",
    ),
    405: ("Method not allowed", "That page does not accept this kind of request."),
    413: ("Too large", "That request was larger than we accept."),
    429: ("Slow down", "Too many requests in a short time. Wait a minute and try again."),
    500: (
        "Something went wrong",
        "An error on our side. If you were paying, nothing was lost: your payment is tracked "
        "and its status page will show the result. Try again shortly.",
    ),
}
_CSRF_TEXT = "This form had expired, so nothing was sent. Go back, reload the page and try again."


def _wants_json() -> bool:
    return (
        request.path.startswith("/ipn/")
        or request.path.endswith(".json")
        or request.accept_mimetypes.best == "application/json"
    )


def _handle(exc: HTTPException) -> tuple[object, int, list[tuple[str, str]]]:
    code = exc.code or 500
    title, text = _TEXTS.get(code, (exc.name, exc.description or ""))
    if isinstance(exc, CSRFError):
        text = _CSRF_TEXT
    if code >= 500:
        log.error("%s %s -> %s", request.method, request.path, code)
    else:
        log.info("%s %s -> %s %s", request.method, request.path, code, exc.description or "")
    # Keep headers that carry meaning (Allow on 405, Retry-After on 429), not the content type.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if _wants_json():
        return jsonify(error=title, detail=text, status=code), code, headers
    page = render_template("errors/error.html", code=code, title=title, text=text)
    return page, code, headers


def _handle_unexpected(exc: Exception) -> tuple[object, int, list[tuple[str, str]]]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return _handle(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle)
    app.register_error_handler(Exception, _handle_unexpected)
