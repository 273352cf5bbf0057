"""Security headers on every response, the CSP a launch page widens for its gateway only, and
production's refusal of an http:// PUBLIC_BASE_URL.

The browser side of the same policy (no violation on any page a shopper or an agent sees) is
checked by every browser test: tests/browser/conftest.py fails a test on a CSP report.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from checkout import create_app
from checkout.extensions import db
from checkout.models import Payment
from checkout.payments.states import PaymentStatus
from checkout.security import origin_of
from tests.blueprints.html_helpers import parse, read_form

ROOT = Path(__file__).resolve().parent.parent


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: sources}."""
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_security_headers(response, gateway: str | None = None) -> dict[str, list[str]]:
    """Every header with its value; `gateway` is the origin a launch page adds for its gateway."""
    extra = [gateway] if gateway else []
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'", *extra]
    assert csp["img-src"] == ["'self'", "data:", *extra]
    assert csp["frame-src"] == ["'self'", *extra]
    assert csp["connect-src"] == ["'self'", *extra]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["script-src"][0] == "'self'"
    assert re.fullmatch(r"'nonce-[A-Za-z0-9_-]{24}'", csp["script-src"][1])
    assert csp["script-src"][2:] == extra
    assert not any("unsafe" in s for sources in csp.values() for s in sources)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # production only
    return csp


def checkout_with(client, page, gateway: str) -> Payment:
    """Press Pay now on the rendered checkout `page` with `gateway`."""
    form = read_form(parse(page.data).by_id("paymentForm"))
    form.fill("email", "shopper@example.com").choose("gateway", gateway)
    response = form.submit(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    return db.session.scalar(db.select(Payment).order_by(Payment.id.desc()))


def test_a_page_gets_every_header_and_a_fresh_nonce_each_time(client, sandbox) -> None:
    first, second = client.get("/"), client.get("/")
    assert first.status_code == 200
    csp = assert_security_headers(first)
    assert policy(second)["script-src"][1] != csp["script-src"][1]


def test_a_json_endpoint_gets_the_headers(client, make_payment) -> None:
    payment = make_payment(gateway="coinpayments", status=PaymentStatus.PENDING)
    response = client.get(f"/status/{payment.ref}.json")
    assert response.status_code == 200
    assert response.is_json
    assert_security_headers(response)


def test_an_error_page_gets_the_headers(client) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert_security_headers(response)


def test_a_notification_endpoint_gets_the_headers(client) -> None:
    response = client.post("/ipn/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=forged"})
    assert response.status_code == 400
    assert_security_headers(response)


def test_a_static_file_gets_the_headers(client) -> None:
    response = client.get("/static/css/tollgate.css")
    assert response.status_code == 200
    assert_security_headers(response)
    response.close()


def test_forms_may_only_lead_to_us_and_the_gateways_hosted_pages(client, sandbox) -> None:
    """The Pay form's answer is a 303 to the hosted page, which Chromium checks against
    form-action too; under the sandbox every gateway's hosted page is on its origin."""
    csp = assert_security_headers(client.get("/"))
    assert csp["form-action"] == ["'self'", origin_of(sandbox.url)]


def test_live_gateways_list_their_own_hosted_page_origins(sandbox) -> None:
    app = create_app(
        "testing",
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "GATEWAYS": "stripe,coinpayments,mpgs"},
    )
    response = app.test_client().get("/static/css/tollgate.css")
    assert policy(response)["form-action"] == [
        "'self'",
        "https://checkout.stripe.com",
        "https://www.coinpayments.net",
    ]
    response.close()


@pytest.mark.parametrize("gateway", ["mpgs", "copyandpay"])
def test_only_the_launch_page_may_run_the_gateways_script(
    client, sandbox, make_product, gateway
) -> None:
    product = make_product(price=1250, currency="USD")
    checkout_page = client.get(f"/checkout/{product.slug}")
    assert_security_headers(checkout_page)
    payment = checkout_with(client, checkout_page, gateway)
    response = client.get(f"/pay/{payment.ref}/launch")
    assert response.status_code == 200

    script = parse(response.data).find("script", src=payment.gateway_data["launch_script"])
    assert script is not None, "the launch page does not load the gateway's script"
    gateway_origin = origin_of(script.get("src"))
    assert urlsplit(gateway_origin).netloc == urlsplit(sandbox.url).netloc
    csp = assert_security_headers(response, gateway=gateway_origin)
    assert gateway_origin in csp["form-action"]  # the COPYandPAY card form posts to it

    for other in (client.get(f"/status/{payment.ref}"), client.get("/")):
        assert_security_headers(other)


def test_production_sends_hsts(monkeypatch) -> None:
    monkeypatch.delenv("TOLLGATE_SANDBOX_URL", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")  # memory rate-limit storage: one worker only
    app = create_app(
        "production",
        {
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SECRET_KEY": "a-real-secret",
            "PUBLIC_BASE_URL": "https://shop.example",
        },
    )
    response = app.test_client().get("/static/css/tollgate.css")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    response.close()


def test_production_refuses_an_http_public_base_url(monkeypatch) -> None:
    monkeypatch.delenv("TOLLGATE_SANDBOX_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://shop.example")
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.mark.parametrize(
    "url",
    [
        "https://gw.example; script-src *",
        "javascript:alert(1)",
        "https://gw.example,evil.example/x.js",
        "//gw.example/x.js",
    ],
)
def test_a_script_url_cannot_smuggle_sources_into_the_policy(url) -> None:
    with pytest.raises(ValueError, match="origin"):
        origin_of(url)


_INLINE = re.compile(
    r"""\sstyle\s*=|<style[\s>]|<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=|javascript:""",
    re.IGNORECASE,
)


def test_no_page_template_has_inline_script_or_style() -> None:
    """What the CSP would block: inline scripts, <style>, style="", on…= handlers. (Mail
    templates are not pages: a mail client needs their inline CSS.)"""
    folders = [ROOT / "templates", *sorted((ROOT / "checkout" / "gateways").glob("*/templates"))]
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for folder in folders
        for path in folder.rglob("*.html")
        if "mail" not in path.relative_to(folder).parts
        for match in _INLINE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, "\n".join(found)
