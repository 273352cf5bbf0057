"""The catalogue page: the plans on sale, priced in their own currency's exponent."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from checkout.catalog_loader import load_catalog
from tests.blueprints.html_helpers import parse

REPO = Path(__file__).resolve().parents[2]


def test_lists_active_plans_with_prices_and_checkout_links(
    client: FlaskClient, make_product
) -> None:
    make_product(slug="japan-3gb", name="Japan 3 GB", region="Japan", price=1500, currency="JPY")
    make_product(slug="kuwait-5gb", name="Kuwait 5 GB", region="Kuwait", price=4250, currency="KWD")
    make_product(slug="retired", name="Old plan", region="Atlantis", active=False)
    response = client.get("/")
    assert response.status_code == 200
    page = parse(response.data)
    plans = {li.get("data-slug"): li for li in page.find_all("li", class_="plan")}
    assert set(plans) == {"japan-3gb", "kuwait-5gb"}
    assert plans["japan-3gb"].find(data_testid="price").text == "1500 JPY"
    assert plans["kuwait-5gb"].find(data_testid="price").text == "4.250 KWD"
    buy = plans["kuwait-5gb"].find("a", class_="button")
    assert buy.get("href") == "/checkout/kuwait-5gb"
    assert buy.text == "Buy Kuwait 5 GB"  # the accessible name says which plan
    assert "Old plan" not in page.text
    assert page.find("a", aria_current="page").text == "Plans"


def test_empty_catalogue_says_how_to_load_it(client: FlaskClient) -> None:
    page = parse(client.get("/").data)
    assert page.find_all("li", class_="plan") == []
    assert "flask catalog load" in page.text


def test_the_demo_catalogue_renders(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        load_catalog(REPO / "data" / "catalogue.json")
    page = parse(client.get("/").data)
    prices = {
        li.get("data-slug"): li.find(data_testid="price").text
        for li in page.find_all("li", class_="plan")
    }
    assert prices["japan-3gb-8d"] == "1500 JPY"
    assert prices["kuwait-5gb-15d"] == "4.250 KWD"
    assert prices["saudi-10gb-30d"] == "75.00 SAR"
    assert prices["europe-5gb-30d"] == "12.50 USD"
