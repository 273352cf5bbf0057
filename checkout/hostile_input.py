"""Hostile input stopped at the door: text the database cannot store, and log injection.

PostgreSQL's text and jsonb types cannot hold a NUL character, and no UTF-8 encoding exists
for a lone surrogate (a JSON "\\ud800"); either one reaching a query raises deep inside the
driver, a 500 where the request was simply malformed. `guard_request` refuses such a request
before any view runs (404 for a path, since no ref or page holds one; 400 for a query or form
field), and `unstorable` lets the notification path refuse a signed payload the same way.

Request data also ends up in log lines (a path in a 404, a ref in a warning): a `%0A` in a URL
would write a second, forged line. `EscapeControls` escapes control characters in every
formatted message, whichever logger wrote it (ours, Flask's, werkzeug's access log).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from flask import Flask, abort, request

log = logging.getLogger(__name__)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: C0 controls, DEL, C1 controls and the Unicode line and paragraph separators
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: loggers that may have handlers of their own besides the root's and the app's: werkzeug's
#: access log, and gunicorn's when the app runs under it
_LOGGERS = ("werkzeug", "gunicorn.error", "gunicorn.access")


def unstorable(value: Any) -> bool:
    """Whether `value` (text, or JSON-like data nested in dicts and lists) holds a character
    PostgreSQL cannot store: NUL, or a lone surrogate. Walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def guard_request() -> None:
    """Refuse a request whose path, query or form holds text the database cannot store.

    The raw body of a notification is not read here: each gateway verifies it as bytes, and
    reading it as a form would consume it first.
    """
    if unstorable(request.path):
        log.warning("refused %s %s: the path holds a NUL or a lone surrogate", *_line())
        abort(404)
    if _pairs_unstorable(request.args.items(multi=True)):
        log.warning("refused %s %s: the query holds a NUL or a lone surrogate", *_line())
        abort(400)
    if _reads_form() and _pairs_unstorable(request.form.items(multi=True)):
        log.warning("refused %s %s: a form field holds a NUL or a lone surrogate", *_line())
        abort(400)


def _reads_form() -> bool:
    """Whether a view may read this request's form: not a GET (`request.values` leaves a GET's
    form out and no GET view reads `request.form`; looking for one was most of this guard's
    cost on every page), and not a notification, whose body each gateway reads as bytes."""
    return request.method != "GET" and request.blueprint != "ipn"


def _pairs_unstorable(pairs: Iterable[tuple[str, str]]) -> bool:
    return any(unstorable(key) or unstorable(value) for key, value in pairs)


def _line() -> tuple[str, str]:
    return request.method, request.path


def escape_controls(text: str) -> str:
    r"""`text` with control characters written out (\n, \r, \t, \x00, \u2028), so one log
    record stays one line whatever a request put in it."""
    return _CONTROLS.sub(lambda m: _NAMED.get(m[0]) or f"\\x{ord(m[0]):02x}", text)


class EscapeControls(logging.Filter):
    """Escapes control characters in a record's message once its arguments are merged in.

    Tracebacks are left alone: the formatter adds them after the message, and their newlines
    are ours.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit: the handler reports it
            return True
        escaped = escape_controls(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        return True


def install(app: Flask) -> None:
    """Guard every request of `app`, and escape control characters on every log handler."""
    app.before_request(guard_request)
    for logger in (logging.getLogger(), app.logger, *map(logging.getLogger, _LOGGERS)):
        for handler in logger.handlers:
            if not any(isinstance(f, EscapeControls) for f in handler.filters):
                handler.addFilter(EscapeControls())
