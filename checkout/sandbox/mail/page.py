"""The sandbox page listing received mail and showing one message as a mail client would.

The HTML part is served on its own URL and shown in a sandboxed iframe (no scripts, no access
to the page), with its `cid:` images pointed at the parts of the same message, so what you see
is what the shopper's mail client draws.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

from flask import Blueprint, Response, abort, render_template, url_for

from .server import Mailbox, Received

_CID = re.compile(r"""(src\s*=\s*["'])cid:([^"']+)""", re.IGNORECASE)


def blueprint(mailbox: Mailbox) -> Blueprint:
    bp = Blueprint("sandbox_mail", __name__, url_prefix="/_sandbox/mail")

    def received(number: int) -> Received:
        found = mailbox.get(number)
        if found is None:
            abort(404)
        return found

    @bp.get("/")
    def index() -> str:
        return render_template("mail/index.html", messages=list(reversed(mailbox.all())))

    @bp.get("/<int:number>")
    def show(number: int) -> str:
        mail = received(number)
        message = mail.message
        return render_template(
            "mail/show.html",
            mail=mail,
            message=message,
            text=_text(message, "plain"),
            has_html=_part(message, "html") is not None,
        )

    @bp.get("/<int:number>/html")
    def html(number: int) -> Response:
        images = url_for(".show", number=number) + "/cid/"
        body = _text(received(number).message, "html")
        if body is None:
            abort(404)
        body = _CID.sub(lambda m: f"{m.group(1)}{images}{m.group(2)}", body)
        response = Response(body, mimetype="text/html")
        # like a mail client: the message's own images and inline styles, nothing else
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
        )
        return response

    @bp.get("/<int:number>/cid/<path:content_id>")
    def cid(number: int, content_id: str) -> Response:
        for part in received(number).message.walk():
            if part.get("Content-ID", "").strip("<> ") == content_id:
                return Response(part.get_content(), mimetype=part.get_content_type())
        abort(404)

    @bp.get("/<int:number>/raw")
    def raw(number: int) -> Response:
        return Response(received(number).raw, mimetype="text/plain")

    return bp


def _part(message: EmailMessage, subtype: str) -> EmailMessage | None:
    return message.get_body(preferencelist=(subtype,))


def _text(message: EmailMessage, subtype: str) -> str | None:
    part = _part(message, subtype)
    return part.get_content() if part is not None else None
