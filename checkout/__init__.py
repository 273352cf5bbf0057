"""Tollgate: a Flask checkout that takes payment through pluggable gateways."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from dotenv import load_dotenv
from flask import Blueprint, Flask

from . import hostile_input, observability, security, template_urls
from .config import CONFIGS, DEV_SECRET_KEY, load_environment
from .extensions import csrf, db, init_limiter, login_manager, memory_storage_problem, migrate
from .gateways.registry import apply_sandbox, install_settings, plugins


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app. `overrides` lets tests and the sandbox runner set config after the class."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app = Flask(
        __name__,
        template_folder=os.path.join(root, "templates"),
        static_folder=os.path.join(root, "static"),
        instance_path=os.path.join(root, "instance"),
    )
    name = config_name or os.environ.get("TOLLGATE_ENV", "development")
    _load_config(app, name, overrides or {})
    _configure_logging(app)
    observability.install(app, production=name == "production")  # request id first
    hostile_input.install(app)  # before CSRF and every view: refuses NULs, escapes log lines

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(root, "migrations"))
    csrf.init_app(app)
    init_limiter(app)
    # staff pages add current_user themselves (staff_nav): the shopper's pages never read it,
    # and loading the anonymous user for every render cost 60 us a page (docs/benchmarks.md)
    login_manager.init_app(app, add_context_processor=False)
    security.init_app(app, hsts=name == "production")
    template_urls.install(app)
    _configure_sqlite(app)

    from . import fulfilment
    from .blueprints import (
        catalog,
        checkout,
        errors,
        ipn,
        metrics,
        orders,
        staff,
        status,
        sweep_hook,
    )

    for module in (catalog, checkout, status, sweep_hook, orders, ipn, staff, metrics, errors):
        module.register(app)
    _register_gateway_templates(app)
    fulfilment.connect()

    from . import cli

    cli.register(app)

    from . import scheduler

    scheduler.init_app(app)
    return app


def _load_config(app: Flask, name: str, overrides: dict[str, Any]) -> None:
    """Class defaults, then each configured gateway's own settings, then the environment.

    GATEWAYS is read first, since it says whose settings exist. The testing config ignores the
    environment, so a developer's live keys in `.env` can never reach a test run.
    """
    app.config.from_object(CONFIGS[name])
    environ: Mapping[str, str] = {}
    if name != "testing":
        load_dotenv()
        environ = os.environ
    app.config["GATEWAYS"] = (
        overrides.get("GATEWAYS") or environ.get("GATEWAYS") or app.config["GATEWAYS"]
    )
    install_settings(app.config)
    load_environment(app.config, environ)
    app.config.update(overrides)
    _finish_config(app, name)


def _register_gateway_templates(app: Flask) -> None:
    """Let templates include a gateway's own partials (its "how to pay" block)."""
    for plugin in plugins(app.config):
        if plugin.templates:
            app.register_blueprint(
                Blueprint(f"gateway_{plugin.name}", __name__, template_folder=plugin.templates)
            )


def _finish_config(app: Flask, name: str) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "tollgate.sqlite3")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://") or uri.startswith("postgresql://"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri.split("://", 1)[1]
    if app.config["TOLLGATE_SANDBOX_URL"]:
        if name == "production":
            raise RuntimeError("refusing to start: TOLLGATE_SANDBOX_URL is set in production")
        app.config["SANDBOXED_GATEWAYS"] = apply_sandbox(app.config)
        from .fulfilment import provider  # imported here, as create_app imports fulfilment

        app.config["ESIM_PROVIDER_SANDBOXED"] = provider.apply_sandbox(app.config)
    elif name == "production" and app.config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise RuntimeError("refusing to start: set SECRET_KEY in production")
    if name == "production" and not app.config["PUBLIC_BASE_URL"].startswith("https://"):
        # the gateways send shoppers and notifications to it: card data must not return on http
        raise RuntimeError(
            "refusing to start: PUBLIC_BASE_URL must be an https:// URL in production"
        )
    lease, budget = app.config["BREAKER_PROBE_LEASE_SECONDS"], app.config["GATEWAY_TOTAL_SECONDS"]
    if float(lease) <= float(budget):
        # a probe still waiting on its create would lose its lease and let a second one through
        raise RuntimeError(
            f"refusing to start: BREAKER_PROBE_LEASE_SECONDS ({lease}) must exceed "
            f"GATEWAY_TOTAL_SECONDS ({budget}), the longest a checkout create can take"
        )
    if name == "production":
        problem = memory_storage_problem(
            app.config["RATELIMIT_STORAGE_URI"], os.environ.get("WEB_CONCURRENCY")
        )
        if problem:
            raise RuntimeError(f"refusing to start: {problem}")


def _configure_logging(app: Flask) -> None:
    level = app.config.get("LOG_LEVEL", "INFO")
    logging.getLogger("checkout").setLevel(level)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _configure_sqlite(app: Flask) -> None:
    """WAL and a busy timeout, so the web threads, the scheduler and IPNs can share the file."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
