"""Absolute URLs for gateways to call back, built from PUBLIC_BASE_URL.

Gateways need absolute return and notification URLs that are right behind a proxy, so they are
built from configuration rather than from the request's Host header.
"""

from __future__ import annotations

from flask import current_app, url_for

from ..gateways.base import ReturnUrls


def external_url(endpoint: str, **values: str) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return base + url_for(endpoint, **values)


def return_urls(gateway: str, payment_ref: str) -> ReturnUrls:
    return ReturnUrls(
        return_url=external_url("status.gateway_return", ref=payment_ref),
        cancel_url=external_url("status.gateway_cancel", ref=payment_ref),
        notify_url=external_url("ipn.receive", gateway=gateway),
        status_url=external_url("status.show", ref=payment_ref),
        timeout_url=external_url("status.gateway_timeout", ref=payment_ref),
    )
