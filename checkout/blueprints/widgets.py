"""WTForms input widgets that write their attributes faster, with the same text.

`wtforms.widgets.html_params` formats each attribute through `Markup.format`, a Python-level
`string.Formatter`: about 11 µs an attribute, 0.16 ms of the checkout page's CPU for its e-mail
and attempt inputs (docs/benchmarks.md, "Web"). `html_params` here writes exactly what WTForms
writes: keys sorted and cleaned as WTForms cleans them (`class_`, `data_`/`aria_` underscores),
True as a bare attribute, False left out, values escaped with `"` as `&quot;`.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape
from wtforms.csrf.core import CSRFTokenField
from wtforms.widgets import EmailInput, HiddenInput
from wtforms.widgets.core import clean_key

_QUOTE, _QUOT = Markup('"'), Markup("&quot;")


def html_params(**kwargs: Any) -> Markup:
    """HTML attributes from keyword arguments, as `wtforms.widgets.html_params` writes them."""
    params: list[Markup] = []
    for key, value in sorted(kwargs.items()):
        if value is False:
            continue
        name = escape(clean_key(key))
        if value is True:
            params.append(name)
        else:
            params.append(Markup(f'{name}="{escape(value).replace(_QUOTE, _QUOT)}"'))  # noqa: S704
    return Markup(" ").join(params)


class FastHiddenInput(HiddenInput):
    html_params = staticmethod(html_params)


class FastEmailInput(EmailInput):
    html_params = staticmethod(html_params)


class FastCSRFTokenField(CSRFTokenField):
    """The CSRF token's hidden input, written by `FastHiddenInput`: generating, checking and
    rendering the token stay WTForms' and Flask-WTF's own (see `FastCSRF`)."""

    widget = FastHiddenInput()


class FastCSRF:
    """A form `Meta` mix-in whose CSRF field is `FastCSRFTokenField`: it sets the CSRF
    implementation's `field_class`, the hook WTForms documents for this."""

    def build_csrf(self, form: Any) -> Any:
        csrf = super().build_csrf(form)  # type: ignore[misc]
        if csrf is not None:
            csrf.field_class = FastCSRFTokenField
        return csrf
