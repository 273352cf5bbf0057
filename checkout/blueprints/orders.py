"""'My orders': the orders placed from this browser, newest first."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from ..extensions import db
from ..models import Order
from .session_orders import remembered

bp = Blueprint("orders", __name__)


@bp.get("/orders")
def mine() -> str:
    refs = remembered()
    orders = []
    if refs:
        orders = db.session.scalars(
            db.select(Order)
            .where(Order.ref.in_(refs))
            .order_by(Order.created_at.desc(), Order.id.desc())
        ).all()
    return render_template("orders/orders.html", orders=orders)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
