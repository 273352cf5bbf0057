"""The catalogue: the plans on sale.

The plan cards depend only on the plans' rows, so each process renders them once per catalogue
(fragments.rendered_once) and serves that HTML while the rows it reads stay the same: a row
changed, added or switched off reads differently and renders afresh. Rendering them (a macro
call and a url_for per card) was most of the page's CPU (docs/benchmarks.md, "Web").
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from markupsafe import Markup

from ..db_reads import read_all
from ..models import Product
from .fragments import rendered_once
from .plans import Plan, select_plans

bp = Blueprint("catalog", __name__)

#: catalogues whose cards a process keeps; past this the cache starts again (a reload or edit)
_CARDS_KEPT = 4


# built once: the statement never changes
_ON_SALE = select_plans().filter_by(active=True).order_by(Product.region, Product.price)


@bp.get("/")
def index() -> str:
    plans = tuple(Plan(*row) for row in read_all(_ON_SALE))  # a read: no transaction (db_reads)
    return render_template(
        "catalog/index.html", products=plans, plan_cards=_plan_cards(plans) if plans else None
    )


def _plan_cards(plans: tuple[Plan, ...]) -> Markup:
    """The cards' HTML for `plans`, rendered on the first request that reads them."""
    return rendered_once("catalog/_plans.html", plans, _CARDS_KEPT, products=plans)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
