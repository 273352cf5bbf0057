"""Stripe Checkout Sessions client (placeholder until the Stripe work lands)."""

from __future__ import annotations

from .base import Gateway


class StripeGateway(Gateway):
    name = "stripe"
    required_settings = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
