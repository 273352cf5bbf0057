"""Load the catalogue from a JSON file into the products table (insert or update by slug)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .extensions import db
from .models import Product
from .money import to_minor

_FIELDS = ("name", "region", "data_mb", "validity_days")


class CatalogError(ValueError):
    pass


def load_catalog(path: Path) -> tuple[int, int]:
    """Upsert every product in `path`; return (created, updated).

    Prices are written in the file as decimal strings ("12.50") so a person can read them; they
    are stored as minor units of the product's currency, refusing any that need rounding.
    """
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"cannot read {path}: {exc}") from exc
    created = updated = 0
    for entry in entries:
        values = _product_values(entry)
        product = db.session.scalar(db.select(Product).filter_by(slug=values["slug"]))
        if product is None:
            db.session.add(Product(**values))
            created += 1
        else:
            for key, value in values.items():
                setattr(product, key, value)
            updated += 1
    db.session.commit()
    return created, updated


def _product_values(entry: dict[str, Any]) -> dict[str, Any]:
    try:
        currency = str(entry["currency"]).upper()
        values = {key: entry[key] for key in _FIELDS}
        values.update(
            slug=str(entry["slug"]),
            currency=currency,
            price=to_minor(str(entry["price"]), currency),
            active=bool(entry.get("active", True)),
        )
    except (KeyError, ValueError) as exc:
        raise CatalogError(f"bad catalogue entry {entry!r}: {exc}") from exc
    return values
