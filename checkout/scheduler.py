"""APScheduler wiring for the sweep (placeholder until the reconciliation work lands)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    return None


def start(app: Flask) -> None:
    return None
