"""What every staff page's layout needs: its navigation and the words for gateways and statuses.

The navigation lists only pages that exist (each console module registers its own routes) and
the admin-only ones only to admins, so nobody is offered a link that answers 403 or 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user

from ..gateways import registry
from ..models import StaffRole
from ..money import Money
from ..payments.states import WORDS
from .staff import bp


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


#: (label, endpoint, admins only), in the order the bar shows them.
NAV = (
    ("Dashboard", "staff.index", False),
    ("Payments", "staff.payments", False),
    ("Review queue", "staff.review_queue", False),
    ("Fulfilment", "staff.fulfilment", False),
    ("Sweeps", "staff.sweeps", False),
    ("Gateways", "staff.gateways", False),
    ("Audit log", "staff.audit", True),
    ("Staff users", "staff.users", True),
)


def nav_items() -> list[NavItem]:
    """The bar's links for the signed-in staff user; the page being shown is marked current."""
    admin = getattr(current_user, "role", None) == StaffRole.ADMIN
    items = []
    for label, endpoint, admins_only in NAV:
        if endpoint not in current_app.view_functions or (admins_only and not admin):
            continue
        items.append(NavItem(label, url_for(endpoint), request.endpoint == endpoint))
    return items


def status_words(status: str) -> str:
    """A stored status in words ("Paid"); an unknown value as it is rather than an error."""
    return WORDS.get(status, status)  # type: ignore[call-overload]  # StrEnum keys hash as str


@bp.app_template_global("gateway_label")
def gateway_label(name: str) -> str:
    """The registry's label for a gateway name, as the checkout shows it."""
    return registry.label_for(name)


@bp.context_processor
def _layout_context() -> dict[str, Any]:
    """What the console's templates read: the signed-in user (only staff pages have one, so
    Flask-Login's app-wide processor is off: create_app), the navigation, status words."""
    signed_in = current_user.is_authenticated
    return {
        "current_user": current_user,
        "staff_nav": nav_items() if signed_in else [],
        "status_words": status_words,
    }


@bp.app_template_filter("minor")
def minor(amount: int, currency: str) -> Money:
    """Minor units of `currency` as Money, so a template prints "12.50 USD"."""
    return Money(amount, currency)
