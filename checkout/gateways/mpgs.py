"""Mastercard Gateway (MPGS) hosted checkout client (placeholder until the MPGS work lands)."""

from __future__ import annotations

from .base import Gateway


class MpgsGateway(Gateway):
    name = "mpgs"
    required_settings = ("MPGS_MERCHANT_ID", "MPGS_API_PASSWORD", "MPGS_NOTIFICATION_SECRET")
