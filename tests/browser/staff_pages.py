"""Staff on file, signed in through the login page, and the accessibility check, for the
Chromium walks of the staff console."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from checkout.extensions import db
from checkout.models import StaffUser
from tests.browser.test_accessibility import FAILING_IMPACTS, audit, describe

PASSWORD = "correct horse battery staple"


def add_staff(email: str, role: str) -> None:
    """A staff user with PASSWORD (call inside an app context)."""
    user = StaffUser(email=email, role=role)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()


def accessible(page: Page, what: str) -> None:
    """Fail on serious or critical axe-core violations of the page as it is now."""
    failing = [v for v in audit(page) if v["impact"] in FAILING_IMPACTS]
    assert not failing, f"{what}:\n{describe(failing)}"


def log_in(page: Page, site: str, email: str) -> None:
    page.goto(site + "/staff/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.wait_for_url(re.compile(r".*/staff/$"))
    expect(page.get_by_test_id("signed-in")).to_contain_text(email)
