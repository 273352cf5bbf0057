"""A tiny HTML reader for page tests (the standard library's parser; no extra dependency).

Tests ask what a person or a screen reader would find: an element by id, the inputs of a form,
the text of an element, the attributes that tie a control to its description. `read_form` reads
a rendered form the way a browser submits it, so request tests post exactly what the page holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text content, whitespace collapsed (what a person reads)."""
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text)
        return " ".join(" ".join(parts).split())

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    def has(self, name: str) -> bool:
        return name in self.attrs

    def iter(self) -> list[Element]:
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                found.append(child)
                found.extend(child.iter())
        return found

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        """Elements with `tag` whose attributes equal `attrs` (class_ matches one class)."""
        result = []
        for el in self.iter():
            if tag is not None and el.tag != tag:
                continue
            if all(_matches(el, key, value) for key, value in attrs.items()):
                result.append(el)
        return result

    def find(self, tag: str | None = None, **attrs: str) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def by_id(self, element_id: str) -> Element:
        el = self.find(id=element_id)
        assert el is not None, f"no element with id {element_id!r}"
        return el


def _matches(el: Element, key: str, value: str) -> bool:
    if key == "class_":
        return value in (el.get("class") or "").split()
    return el.get(key.replace("_", "-")) == value


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, dict(attrs))
        self.stack[-1].children.append(el)
        if tag not in _VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str | bytes) -> Element:
    builder = _Builder()
    builder.feed(html.decode() if isinstance(html, bytes) else html)
    builder.close()
    return builder.root


_TEXT_LIKE = frozenset({"text", "email", "password", "search", "tel", "url", "number", "date"})


@dataclass(frozen=True)
class Control:
    """One named form control as rendered: an input, a select (its chosen option) or a textarea."""

    name: str
    kind: str  # the input type, or "select" / "textarea"
    value: str
    checked: bool
    disabled: bool
    options: tuple[str, ...] = ()  # a select's option values


@dataclass
class Form:
    """A rendered form, read the way a browser submits it (HTML's "successful controls")."""

    action: str
    method: str
    controls: list[Control]
    typed: dict[str, str] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)
    forged: dict[str, str | None] = field(default_factory=dict)

    def names(self) -> set[str]:
        return {c.name for c in self.controls}

    def hidden(self) -> dict[str, str]:
        return {c.name: c.value for c in self.controls if c.kind == "hidden"}

    def checked(self, name: str) -> str | None:
        """The radio of `name` the page has chosen, as a person sees it before touching it."""
        return next((c.value for c in self._radios(name) if c.checked and not c.disabled), None)

    def fill(self, name: str, value: str) -> Form:
        """Type into a text field that is on the page (a missing field fails the test)."""
        kinds = {c.kind for c in self.controls if c.name == name and not c.disabled}
        assert kinds & (_TEXT_LIKE | {"textarea"}), f"no text field {name!r} in the form"
        self.typed[name] = value
        return self

    def choose(self, name: str, value: str) -> Form:
        """Click a radio button that is on the page and enabled."""
        assert any(c.value == value and not c.disabled for c in self._radios(name)), (
            f"no enabled {name!r} radio with value {value!r}"
        )
        self.chosen[name] = value
        return self

    def select(self, name: str, value: str) -> Form:
        """Pick one of a select's rendered options."""
        assert any(
            c.kind == "select" and value in c.options for c in self.controls if c.name == name
        ), f"no {name!r} select with an option {value!r}"
        self.typed[name] = value
        return self

    def tick(self, name: str) -> Form:
        """Tick a checkbox that is on the page and enabled."""
        [box] = [c for c in self.controls if c.name == name and c.kind == "checkbox"]
        assert not box.disabled, f"checkbox {name!r} is disabled"
        self.chosen[name] = box.value
        return self

    def forge(self, name: str, value: str | None) -> Form:
        """Post what no browser would: `value` in place of whatever the page holds for `name`
        (a field the page may not even have), or no `name` at all when `value` is None.

        Only for a test about that one tampered, replayed or missing field; the rest of the
        post stays exactly what the page rendered.
        """
        self.forged[name] = value
        return self

    def data(self) -> list[tuple[str, str]]:
        """Exactly the pairs a browser posts: nothing hand-written beyond what was typed
        (or deliberately forged)."""
        pairs: list[tuple[str, str]] = []
        for c in self.controls:
            if c.disabled or c.name in self.forged:
                continue
            if c.kind in ("radio", "checkbox"):
                picked = self.chosen.get(c.name)
                if (c.value == picked) if picked is not None else c.checked:
                    pairs.append((c.name, c.value))
                continue
            if c.kind in ("submit", "button", "image", "reset", "file"):
                continue
            pairs.append((c.name, self.typed.get(c.name, c.value)))
        pairs.extend((name, value) for name, value in self.forged.items() if value is not None)
        return pairs

    def submit(self, client: FlaskClient, **kwargs: object) -> TestResponse:
        """Send the form with a Flask test client, as the browser would."""
        if self.method == "get":
            return client.get(self.action, query_string=MultiDict(self.data()), **kwargs)
        return client.post(self.action, data=MultiDict(self.data()), **kwargs)

    def _radios(self, name: str) -> list[Control]:
        return [c for c in self.controls if c.name == name and c.kind == "radio"]


def read_form(form: Element) -> Form:
    """The form's action, method and named controls, in document order."""
    assert form.tag == "form", f"not a form: <{form.tag}>"
    controls: list[Control] = []
    for el in form.iter():
        name = el.get("name")
        if not name or el.tag not in ("input", "select", "textarea"):
            continue
        if el.tag == "select":
            options = el.find_all("option")
            picked = next(
                (o for o in options if o.has("selected")), options[0] if options else None
            )
            value = _option_value(picked) if picked is not None else ""
            values = tuple(_option_value(o) for o in options)
            controls.append(Control(name, "select", value, True, el.has("disabled"), values))
        elif el.tag == "textarea":
            controls.append(Control(name, "textarea", el.text, True, el.has("disabled")))
        else:
            kind = (el.get("type") or "text").lower()
            default = "on" if kind in ("radio", "checkbox") else ""
            value = el.get("value")
            controls.append(
                Control(
                    name,
                    kind,
                    default if value is None else value,
                    el.has("checked"),
                    el.has("disabled"),
                )
            )
    return Form(
        action=form.get("action") or "",
        method=(form.get("method") or "get").lower(),
        controls=controls,
    )


def _option_value(option: Element) -> str:
    """What a browser sends for an option: its value attribute, even empty, else its text."""
    value = option.get("value")
    return option.text if value is None else value
