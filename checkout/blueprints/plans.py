"""What the shopper's pages show of a plan: its columns as a value, read without the ORM.

The catalogue's cards and the checkout page's summary show the same seven columns. As a
hashable tuple they can key the fragments a process renders once (fragments.rendered_once): a
changed price or name is a different key and renders afresh.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Select

from ..extensions import db
from ..models import Product
from ..money import Money


class Plan(NamedTuple):
    slug: str
    name: str
    region: str
    data_mb: int
    validity_days: int
    price: int
    currency: str

    @property
    def money(self) -> Money:
        return Money(self.price, self.currency)


def select_plans() -> Select:
    """A SELECT of the plan's columns, in `Plan`'s order, from products; callers add the filter
    (and build it once: composing a select costs more than running it)."""
    return db.select(*(getattr(Product, field) for field in Plan._fields))
