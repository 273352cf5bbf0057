"""The shopper's first page in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_catalogue_lists_plans_and_links_to_checkout(page: Page, site: str) -> None:
    page.goto(site + "/")
    expect(page.get_by_role("heading", name="eSIM data plans")).to_be_visible()
    page.get_by_role("link", name="Buy Europe 5 GB").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_test_id("total")).to_have_text("12.50 USD")
