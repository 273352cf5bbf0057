"""Staff users, for admins: add an account, change its role, deactivate or reactivate it.

A role change or a deactivation bumps the user's session_version, which the user loader in
staff.py compares with the version stored in the session at login: every session the user has
open ends on its next request (a demoted admin cannot keep refunding from an old tab). An admin
cannot deactivate or demote themselves, so the console always keeps at least one admin. A new
account gets the password typed in, or a generated one that is shown once on the answer page
(never put in a flash message: those travel in the signed, not encrypted, session cookie).
Every change is written to the audit log.
"""

from __future__ import annotations

import logging
import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from ..cli import MIN_PASSWORD_LENGTH
from ..extensions import db, limiter
from ..models import StaffRole, StaffUser
from .staff import bp
from .staff_audit import record
from .staff_common import ROLE_WORDS, requires

log = logging.getLogger(__name__)

ROLES = (StaffRole.SUPPORT, StaffRole.ADMIN)


def valid_email(raw: str) -> str | None:
    """The address lower-cased, or None when it cannot be one (shared with `flask staff`)."""
    email = raw.strip().lower()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        return None
    return email


def generate_password() -> str:
    """A random password for a new account, shown once to the admin who created it."""
    return secrets.token_urlsafe(15)


def find_by_email(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email))


@bp.get("/users")
@requires(StaffRole.ADMIN)
def users() -> str:
    return _page()


@bp.post("/users")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def add_user() -> Response | str | tuple[str, int]:
    email = valid_email(request.form.get("email", ""))
    role = request.form.get("role", "")
    password = request.form.get("password", "")
    problem = None
    if email is None:
        problem = "That is not an e-mail address."
    elif role not in ROLES:
        problem = "Choose a role."
    elif find_by_email(email) is not None:
        problem = f"{email} already has a staff account."
    elif password and len(password) < MIN_PASSWORD_LENGTH:
        problem = f"Use a password of at least {MIN_PASSWORD_LENGTH} characters, or leave it empty."
    if problem is not None:
        return _page(error=problem, email=request.form.get("email", "")[:254], role=role), 400
    assert email is not None
    generated = None if password else generate_password()
    user = StaffUser(email=email, role=role, active=True)
    user.set_password(password or generated or "")
    db.session.add(user)
    db.session.commit()
    record("user_add", email, role=role, generated_password=generated is not None)
    return _page(created=user, generated=generated)


@bp.post("/users/<int:user_id>/role")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def change_role(user_id: int) -> Response:
    user = _other_user_or_404(user_id)
    role = request.form.get("role", "")
    if role not in ROLES:
        flash("Choose a role.", "alert")
    elif user is None:
        flash("You cannot change your own role: ask another admin.", "alert")
    elif role == user.role:
        flash(f"{user.email} is already {ROLE_WORDS[role]}: nothing changed.", "notice")
    else:
        old = user.role
        user.role = role
        user.session_version += 1
        db.session.commit()
        record("user_role", user.email, old=old, new=role)
        flash(f"{user.email} is now {ROLE_WORDS[role]}; their open sessions have ended.", "notice")
    return redirect(url_for("staff.users"), 303)


@bp.post("/users/<int:user_id>/deactivate")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def deactivate_user(user_id: int) -> Response:
    user = _other_user_or_404(user_id)
    if user is None:
        flash("You cannot deactivate yourself: ask another admin.", "alert")
    elif not user.active:
        flash(f"{user.email} is already deactivated: nothing changed.", "notice")
    else:
        user.active = False
        user.session_version += 1
        db.session.commit()
        record("user_deactivate", user.email)
        flash(f"{user.email} is deactivated; their open sessions have ended.", "notice")
    return redirect(url_for("staff.users"), 303)


@bp.post("/users/<int:user_id>/reactivate")
@limiter.limit("20/minute")
@requires(StaffRole.ADMIN)
def reactivate_user(user_id: int) -> Response:
    user = _other_user_or_404(user_id)
    if user is None or user.active:
        flash("That account is already active: nothing changed.", "notice")
    else:
        user.active = True
        db.session.commit()
        record("user_reactivate", user.email)
        flash(f"{user.email} can log in again.", "notice")
    return redirect(url_for("staff.users"), 303)


def _other_user_or_404(user_id: int) -> StaffUser | None:
    """The user to change, None when it is the admin themselves; 404 when there is none."""
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return None if user.id == current_user.id else user


def _page(**extra: object) -> str:
    everyone = list(db.session.scalars(select(StaffUser).order_by(func.lower(StaffUser.email))))
    return render_template(
        "staff/users.html",
        users=everyone,
        roles=ROLES,
        role_words=ROLE_WORDS,
        min_password=MIN_PASSWORD_LENGTH,
        **extra,
    )
