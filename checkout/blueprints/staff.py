"""Staff console (placeholder until the reconciliation work lands)."""

from __future__ import annotations

from flask import Blueprint, Flask

from ..extensions import db, login_manager
from ..models import StaffUser

bp = Blueprint("staff", __name__, url_prefix="/staff")


@login_manager.user_loader
def _load_staff(user_id: str) -> StaffUser | None:
    return db.session.get(StaffUser, int(user_id))


@bp.get("/payments/<ref>")
def payment(ref: str) -> str:
    return ref


def register(app: Flask) -> None:
    app.register_blueprint(bp)
