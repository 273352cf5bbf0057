"""The catalogue: the plans on sale."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from ..extensions import db
from ..models import Product

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index() -> str:
    products = db.session.scalars(
        db.select(Product).filter_by(active=True).order_by(Product.region, Product.price)
    ).all()
    return render_template("catalog/index.html", products=products)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
