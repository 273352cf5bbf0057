"""The catalogue page: the plans on sale, priced in their own currency's exponent."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from flask_login import AnonymousUserMixin

from checkout.catalog_loader import load_catalog
from checkout.extensions import db, login_manager
from checkout.models import Product
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


def test_a_changed_catalogue_shows_on_the_next_request(
    app: Flask, client: FlaskClient, make_product
) -> None:
    """The cards are rendered once per catalogue: a price change, a plan switched off and a new
    plan must each show at once, not the cards of the catalogue read before."""

    def prices() -> dict[str, str]:
        page = parse(client.get("/").data)
        return {
            li.get("data-slug"): li.find(data_testid="price").text
            for li in page.find_all("li", class_="plan")
        }

    first = make_product(slug="first", price=1000)
    second = make_product(slug="second", price=2000)
    assert prices() == {"first": "10.00 USD", "second": "20.00 USD"}
    assert prices() == {"first": "10.00 USD", "second": "20.00 USD"}  # served from the cache
    with app.app_context():
        db.session.get(Product, first.id).price = 1100
        db.session.get(Product, second.id).active = False
        db.session.commit()
    assert prices() == {"first": "11.00 USD"}
    make_product(slug="third", price=3000)
    assert prices() == {"first": "11.00 USD", "third": "30.00 USD"}


def test_rendering_a_shoppers_page_loads_no_user(
    app: Flask, client: FlaskClient, make_product, monkeypatch
) -> None:
    """Only the staff console's templates read `current_user`; a shopper's page must not pay
    for loading an anonymous one on every render (docs/benchmarks.md, "Web")."""
    loaded: list[object] = []

    class Counted(AnonymousUserMixin):
        def __init__(self) -> None:
            loaded.append(self)

    monkeypatch.setattr(login_manager, "anonymous_user", Counted)
    make_product(slug="plan")
    assert client.get("/").status_code == 200
    assert loaded == []
    assert client.get("/staff/login").status_code == 200  # the console still has its user
    assert len(loaded) >= 1
