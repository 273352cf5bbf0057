"""The checkout form's faster widgets write exactly what WTForms' own widgets write, and the CSRF
token's input written by one is still Flask-WTF's token, checked as before."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from wtforms import EmailField, Form, HiddenField
from wtforms.widgets.core import html_params as wtforms_html_params

from checkout.blueprints.widgets import FastCSRF, FastEmailInput, FastHiddenInput, html_params

CASES: list[dict[str, Any]] = [
    {},
    {"id": "email", "name": "email", "type": "email", "value": "", "required": True},
    {"class_": "text-input", "for_": "x", "data_busy_text": "Opening…", "aria_describedby": "a b"},
    {"aria-invalid": "true", "spellcheck": "false", "autocomplete": "email"},
    {"value": "a\"b'c<d>&e", "checked": True, "disabled": False},
    {"value": Markup('<b title="t">bold</b>'), "title": None, "size": 0, "step": 0.5},
    {"weird<key": "v", "value": b"bytes"},
]


@pytest.mark.parametrize("params", CASES)
def test_html_params_writes_what_wtforms_writes(params: dict[str, Any]) -> None:
    ours, theirs = html_params(**params), wtforms_html_params(**params)
    assert ours == theirs
    assert isinstance(ours, Markup)


class _Plain(Form):
    email = EmailField("E-mail")
    attempt = HiddenField()


class _Fast(Form):
    email = EmailField("E-mail", widget=FastEmailInput())
    attempt = HiddenField(widget=FastHiddenInput())


@pytest.mark.parametrize("data", [{}, {"email": 'o"brien@example.com<', "attempt": "tok&en"}])
def test_fields_render_the_same(data: dict[str, str]) -> None:
    plain, fast = _Plain(data=data), _Fast(data=data)
    extra = {"class_": "text-input", "required": True, "aria-invalid": "true"}
    assert fast.email(**extra) == plain.email(**extra)
    assert fast.attempt() == plain.attempt()


class _FlaskPlain(FlaskForm):
    attempt = HiddenField()


class _FlaskFast(FlaskForm):
    class Meta(FastCSRF):
        pass

    attempt = HiddenField()


@pytest.fixture
def csrf_app() -> Flask:
    """A bare app with CSRF on: GET writes the token's input, POST says whether the form holds."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test secret", WTF_CSRF_ENABLED=True)

    @app.route("/", methods=["GET", "POST"])
    def page() -> str:
        form = _FlaskFast()
        if not form.is_submitted():
            return str(form.csrf_token())
        return "ok" if form.validate() else f"refused: {','.join(form.errors)}"

    return app


def test_the_csrf_field_renders_flask_wtfs_token_the_same(csrf_app: Flask) -> None:
    with csrf_app.test_request_context("/"):
        plain, fast = _FlaskPlain(), _FlaskFast()
        assert isinstance(fast.csrf_token.widget, FastHiddenInput)
        assert fast.csrf_token() == plain.csrf_token()
        assert f'value="{generate_csrf()}"' in fast.csrf_token()


@pytest.mark.parametrize(("sent", "valid"), [(None, True), ("forged", False), ("", False)])
def test_the_csrf_field_still_checks_the_token(
    csrf_app: Flask, sent: str | None, valid: bool
) -> None:
    client = csrf_app.test_client()
    token = re.search(r'value="([^"]+)"', client.get("/").get_data(as_text=True))
    assert token is not None
    posted = token.group(1) if sent is None else sent
    answer = client.post("/", data={"attempt": "a", "csrf_token": posted})
    assert answer.get_data(as_text=True) == ("ok" if valid else "refused: csrf_token")
