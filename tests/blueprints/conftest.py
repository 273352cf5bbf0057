"""Fixtures shared by the staff console's request tests."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkout.models import StaffRole
from tests.blueprints.staff_console import browser
from tests.blueprints.test_staff_users import ADMIN, SUPPORT, make_staff


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    """An admin signed in, with a support colleague on file (the `support` fixture)."""
    make_staff(app, ADMIN, StaffRole.ADMIN)
    make_staff(app, SUPPORT, StaffRole.SUPPORT)
    return browser(app, ADMIN)


@pytest.fixture
def support(app: Flask, admin: FlaskClient) -> FlaskClient:
    return browser(app, SUPPORT)
