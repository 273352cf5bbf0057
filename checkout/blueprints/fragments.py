"""Parts of a page rendered once per process, for as long as what they show stays the same.

Some parts of the shopper's pages depend only on a few values read per request: the catalogue's
plan cards on the plans' rows, the checkout's gateway selector on the gateways' options (labels,
logos, notes, what is disabled and why) and which one is checked. Rendering them (macro calls,
`url_for`, escaping every label) is a large share of those pages' CPU: about 0.09 ms for the
checkout's selector, 0.2 ms for its whole page below the tokens (docs/benchmarks.md, "Web"). The
HTML of a key already seen is served from a dict instead.

The key must hold everything the fragment's template reads, as hashable values (named tuples,
frozen dataclasses): a changed row or option is a new key and renders afresh. The script root is
added here, as the fragments' links are paths under it. Each template keeps at most `kept` keys;
past that its entries start again, so a burst of odd keys costs renders, never memory.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from flask import current_app, render_template, request
from markupsafe import Markup

_FRAGMENTS = "tollgate_fragments"


def rendered_once(template: str, key: Hashable, kept: int, **context: Any) -> Markup:
    """`template` rendered with `context`, or the HTML rendered for the same `key` before."""
    caches: dict[str, dict[tuple[str, Hashable], Markup]] = current_app.extensions.setdefault(
        _FRAGMENTS, {}
    )
    cache = caches.setdefault(template, {})
    full_key = (request.script_root, key)
    html = cache.get(full_key)
    if html is None:
        if len(cache) >= kept:
            cache.clear()
        rendered = render_template(template, **context)  # autoescaped already
        html = cache[full_key] = Markup(rendered)  # noqa: S704
    return html
