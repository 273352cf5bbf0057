"""Bearer tokens for the URLs machines call: the sweep's cron URL and `/metrics`."""

from __future__ import annotations

import hmac

from flask import request


def bearer_matches(expected: str) -> bool:
    """Whether the request carries `Authorization: Bearer <expected>`, compared in constant time.

    An empty `expected` (no token configured) matches nothing.
    """
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())
