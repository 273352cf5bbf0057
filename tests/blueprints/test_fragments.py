"""A fragment is rendered once per key and script root, afresh for a new key, and a process keeps
at most `kept` keys of each template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from jinja2 import DictLoader
from markupsafe import Markup

from checkout.blueprints.fragments import rendered_once

TEMPLATE = "_item.html"


@pytest.fixture
def renders() -> list[str]:
    return []


@pytest.fixture
def app(renders: list[str]) -> Iterator[Flask]:
    """A bare app whose one fragment notes each time it is rendered and links under the root."""
    app = Flask(__name__)
    app.jinja_env.loader = DictLoader(
        {TEMPLATE: '{{ note(name) }}<a href="{{ url_for("page", name=name) }}">{{ name }}</a>'}
    )
    app.jinja_env.globals["note"] = lambda name: renders.append(name) or ""
    app.add_url_rule("/page/<name>", "page", lambda name: name)
    yield app


def fragment(app: Flask, name: str, kept: int = 4, root: str = "") -> Markup:
    with app.test_request_context("/", base_url=f"http://localhost{root}/"):
        return rendered_once(TEMPLATE, (name,), kept, name=name)


def test_the_same_key_is_rendered_once_and_served_again(app: Flask, renders: list[str]) -> None:
    first = fragment(app, "<stripe>")
    again = fragment(app, "<stripe>")
    assert first == again == Markup('<a href="/page/%3Cstripe%3E">&lt;stripe&gt;</a>')
    assert isinstance(again, Markup)
    assert renders == ["<stripe>"]


def test_a_new_key_renders_afresh(app: Flask, renders: list[str]) -> None:
    assert "stripe" in fragment(app, "stripe")
    assert "mpgs" in fragment(app, "mpgs")
    assert renders == ["stripe", "mpgs"]


def test_links_follow_the_script_root(app: Flask, renders: list[str]) -> None:
    assert 'href="/page/stripe"' in fragment(app, "stripe")
    assert 'href="/shop/page/stripe"' in fragment(app, "stripe", root="/shop")
    assert renders == ["stripe", "stripe"]


def test_past_kept_keys_the_cache_starts_again(app: Flask, renders: list[str]) -> None:
    for name in ("a", "b", "c", "a"):
        fragment(app, name, kept=2)
    assert renders == ["a", "b", "c", "a"]  # c cleared a and b: a renders again
    fragment(app, "c", kept=2)
    assert renders == ["a", "b", "c", "a"]  # c and a are what is kept now
