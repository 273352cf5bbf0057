"""`url_for` in templates, remembering the URLs that are the same for every request.

Every page's layout links the stylesheet, the logo, the catalogue and "My orders", and most pages
add a script or a gateway's logo: a dozen `url_for` calls a page at about 7 µs each, a quarter of
rendering the status page (docs/benchmarks.md, "Web"). A static file's URL and a link without
values depend only on the script root the app is mounted under, so each is built once per
process and script root and then looked up. Anything else (a payment's ref, `_external`, an
anchor) goes to Flask's `url_for` every time, as do calls outside a request.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request, url_for


def install(app: Flask) -> None:
    """Make `url_for` in `app`'s templates the remembering one."""
    remembered: dict[tuple[str, str, Any], str] = {}

    def template_url_for(endpoint: str, **values: Any) -> str:
        constant = not values or (endpoint == "static" and values.keys() == {"filename"})
        if not (constant and has_request_context()):
            return url_for(endpoint, **values)
        key = (request.script_root, endpoint, values.get("filename"))
        url = remembered.get(key)
        if url is None:
            url = remembered[key] = url_for(endpoint, **values)
        return url

    app.jinja_env.globals["url_for"] = template_url_for
