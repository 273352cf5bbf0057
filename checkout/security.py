"""Security headers on every response: a Content-Security-Policy with a per-request nonce,
clickjacking and sniffing protection, a Referrer-Policy, and HSTS in production.

One small after_request rather than Flask-Talisman: the only page-specific parts of the policy
are origins known while the request runs (the gateway script a launch page loads, the hosted
pages the configured gateways send a Pay form's answer to, sandbox or live), which Talisman's
per-view options, fixed when a view is decorated, cannot express; the nonce is one `secrets`
call. No new dependency either.

The policy allows our own static files and nothing inline. Two things widen it, each on purpose:
- `form-action` lists the hosted payment pages of the configured gateways on every page, since
  Chromium checks the redirect that answers a form post against it too (a Pay button whose
  answer is a 303 to checkout.stripe.com is a form post to Stripe as far as CSP is concerned).
- A launch page (`allow_gateway_page`) also lets the gateway's own origin run its script, frame,
  style, images, connections and form posts, on that one response only.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from .gateways.registry import plugins

HSTS = "max-age=31536000"  # one year; no includeSubDomains: the shop does not own its siblings
REFERRER_POLICY = "same-origin"  # payment refs in our URLs never reach another site
# A CSP source must not smuggle in a directive: scheme, host and port only.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
# Kept in the request's environ, not `g`: an app context (and its `g`) can outlive a request.
_NONCE, _GATEWAY = "tollgate.csp_nonce", "tollgate.csp_gateway_origin"
# the directives the gateway's origin joins on its launch page
_GATEWAY_DIRECTIVES = ("script-src", "style-src", "img-src", "frame-src", "connect-src")


def init_app(app: Flask, *, hsts: bool) -> None:
    """Add the headers to every response of `app`; `hsts` only in production (served on https)."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy()
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = REFERRER_POLICY
        if hsts:
            headers["Strict-Transport-Security"] = HSTS
        return response


def csp_nonce() -> str:
    """This response's nonce: an inline `<script nonce="{{ csp_nonce() }}">` is allowed to run."""
    return request.environ.setdefault(_NONCE, secrets.token_urlsafe(18))


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of `url`; ValueError if that is not a plain http(s) origin."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if not _ORIGIN.match(origin):
        raise ValueError(f"not an http(s) origin: {url!r}")
    return origin


def allow_gateway_page(script_url: str) -> None:
    """Let this response's page run the gateway's script from `script_url` and what it needs:
    frames, styles, images and connections from the same origin, and form posts to it (the
    COPYandPAY widget's card form posts to the gateway, which sends the shopper back to us)."""
    request.environ[_GATEWAY] = origin_of(script_url)


def content_security_policy() -> str:
    gateway = request.environ.get(_GATEWAY)
    if gateway is None:  # every page but a launch page: the same policy around a fresh nonce
        before, after = _plain_policy(*_origin_settings(current_app.config))
        return f"{before}{csp_nonce()}{after}"
    directives = _directives(_hosted_origins(current_app.config), csp_nonce())
    for name in (*_GATEWAY_DIRECTIVES, "form-action"):
        if gateway not in directives[name]:
            directives[name].append(gateway)
    return _joined(directives)


_NONCE_MARK = "\0nonce\0"


@lru_cache(maxsize=8)
def _plain_policy(gateways: str, sandboxed: tuple[str, ...], sandbox_url: str) -> tuple[str, str]:
    """The policy without a launch page's gateway, split where the nonce goes: built once per
    configuration rather than per response (docs/benchmarks.md, "Web")."""
    config = {"GATEWAYS": gateways, "SANDBOXED_GATEWAYS": sandboxed}
    config["TOLLGATE_SANDBOX_URL"] = sandbox_url
    before, _, after = _joined(_directives(_hosted_origins(config), _NONCE_MARK)).partition(
        _NONCE_MARK
    )
    return before, after


def _origin_settings(config: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str]:
    """The settings the hosted pages' origins follow, as a cache key."""
    sandboxed = tuple(config.get("SANDBOXED_GATEWAYS") or ())
    return str(config.get("GATEWAYS") or ""), sandboxed, str(config.get("TOLLGATE_SANDBOX_URL"))


def _directives(hosted: list[str], nonce: str) -> dict[str, list[str]]:
    return {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'", *hosted],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }


def _joined(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _hosted_origins(config: Mapping[str, Any]) -> list[str]:
    """Where the configured gateways' hosted pages live: their live origins, or the sandbox's."""
    sandboxed = set(config.get("SANDBOXED_GATEWAYS") or ())
    origins: list[str] = []
    for plugin in plugins(config):
        if plugin.name in sandboxed:
            found: Iterable[str] = (origin_of(config["TOLLGATE_SANDBOX_URL"]),)
        else:
            found = plugin.presentation.hosted_origins
        origins.extend(o for o in found if o not in origins)
    return origins
