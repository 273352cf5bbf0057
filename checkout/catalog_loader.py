"""Load the catalogue from a JSON file into the products table (insert or update by slug)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .extensions import db
from .gateways.registry import enabled_names, rules_for
from .models import Product
from .money import to_minor

log = logging.getLogger(__name__)

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


def price_warnings(products: Iterable[Product], config: Mapping[str, Any]) -> list[str]:
    """One line per active product price that an enabled gateway cannot charge, with why.

    Such a product still sells through the other gateways (the checkout shows the one that
    cannot charge it disabled, with the reason), so this warns rather than refuses: the shop
    owner decides whether to change the price. Each warning is logged too.
    """
    gateways = enabled_names(config)
    warnings = []
    for product in products:
        if not product.active:
            continue
        for name in gateways:
            if reason := rules_for(name, config).can_charge(product.money):
                warnings.append(f"{product.slug}: {reason}")
                log.warning("catalogue price of %s: %s", product.slug, reason)
    return warnings


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
