"""Dependencies flow one way: blueprints -> payments -> gateways -> money / states / models.

Read from the source, so an import hidden inside a function counts too. Production code never
imports the sandbox (only the development runner starts it), and no gateway module is so large
that it stops having one job.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "checkout"


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, resolved to absolute dotted names."""
    here = _dotted(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", _modules(PACKAGE / "gateways"), ids=_dotted)
def test_gateways_never_import_the_payments_core_or_the_web_layer(path: Path) -> None:
    wrong = {
        name
        for name in _imports(path)
        if name.startswith(("checkout.payments", "checkout.blueprints", "checkout.sandbox"))
    }
    assert not wrong, f"{_dotted(path)} imports {sorted(wrong)}"


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _modules(PACKAGE)
        if "sandbox" not in p.relative_to(PACKAGE).parts and p.name != "devserver.py"
    ],
    ids=_dotted,
)
def test_production_code_never_imports_the_sandbox(path: Path) -> None:
    wrong = {name for name in _imports(path) if name.startswith("checkout.sandbox")}
    assert not wrong, f"{_dotted(path)} imports {sorted(wrong)}"


@pytest.mark.parametrize("path", _modules(PACKAGE / "gateways"), ids=_dotted)
def test_no_gateway_module_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400
