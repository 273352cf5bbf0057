"""Staff console (placeholder until the reconciliation work lands)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/payments/<ref>")
def payment(ref: str) -> str:
    return ref


def register(app: Flask) -> None:
    app.register_blueprint(bp)
