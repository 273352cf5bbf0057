"""Helpers shared by the staff console's modules: the role check (a refusal is audited too).

Roles are ordered: an admin may do everything a support user may, and more (refunds, manual
refunds, staff users). A route that needs more than the user has answers 403 with the staff
console's own page, saying which role it needs, rather than the shopper's error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import render_template, request
from flask_login import current_user

from ..models import StaffRole
from .staff_audit import record

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: each role with the roles it includes
_GRANTS = {
    StaffRole.SUPPORT: frozenset({StaffRole.SUPPORT}),
    StaffRole.ADMIN: frozenset({StaffRole.SUPPORT, StaffRole.ADMIN}),
}
ROLE_WORDS = {StaffRole.SUPPORT: "support", StaffRole.ADMIN: "admin"}


def has_role(user: Any, role: str) -> bool:
    """True when `user` (a StaffUser, or Flask-Login's anonymous user) holds `role` or more."""
    if not getattr(user, "is_authenticated", False):
        return False
    return role in _GRANTS.get(user.role, frozenset())


def requires(role: str) -> Callable[[F], F]:
    """Refuse the view with a staff-styled 403 unless the logged-in user holds `role` or more.

    Put it under the route decorator (and under any limiter), so the check runs per request:
    `@bp.post(...)` then `@requires(StaffRole.ADMIN)`.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if has_role(current_user, role):
                return view(*args, **kwargs)
            log.warning(
                "staff %s (%s) refused %s %s: needs %s",
                getattr(current_user, "email", "-"),
                getattr(current_user, "role", "-"),
                request.method,
                request.path,
                role,
            )
            record("refused", request.path, method=request.method, needs=role)
            page = render_template("staff/403.html", needed=ROLE_WORDS.get(role, role))
            return page, 403

        return cast(F, checked)

    return decorate
