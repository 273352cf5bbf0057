"""Templates' url_for: constant URLs remembered per script root, the rest built each time."""

from __future__ import annotations

from flask import Flask, render_template_string

TEMPLATE = (
    "{{ url_for('static', filename='css/tollgate.css') }} {{ url_for('catalog.index') }} "
    "{{ url_for('status.show', ref=ref) }}"
)


def _render(app: Flask, script_root: str, ref: str) -> str:
    with app.test_request_context("/", base_url=f"http://localhost{script_root}/"):
        return render_template_string(TEMPLATE, ref=ref)


def test_each_script_root_gets_its_own_urls(app: Flask) -> None:
    assert _render(app, "", "pay_a") == "/static/css/tollgate.css / /status/pay_a"
    assert _render(app, "/shop", "pay_b") == (
        "/shop/static/css/tollgate.css /shop/ /shop/status/pay_b"
    )
    assert _render(app, "", "pay_c") == "/static/css/tollgate.css / /status/pay_c"


def test_outside_a_request_urls_are_built_as_flask_builds_them(app: Flask) -> None:
    app.config["SERVER_NAME"] = "shop.example"
    with app.app_context():
        rendered = render_template_string("{{ url_for('catalog.index') }}")
    assert rendered == "/"
