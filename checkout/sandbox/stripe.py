"""Emulator of the stripe API and hosted page (placeholder)."""

from __future__ import annotations

from flask import Flask

from .env import SandboxEnv


def register(app: Flask, env: SandboxEnv) -> None:
    return None
