"""The checkout form's faster widgets write exactly what WTForms' own widgets write."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import Markup
from wtforms import EmailField, Form, HiddenField
from wtforms.widgets.core import html_params as wtforms_html_params

from checkout.blueprints.widgets import FastEmailInput, FastHiddenInput, html_params

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
