"""Sandbox-only endpoints to turn the knobs and move the clock (never part of a real gateway)."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request

from .env import SandboxEnv


def register(app: Flask, env: SandboxEnv) -> None:
    bp = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")

    @bp.get("/")
    def describe():  # type: ignore[no-untyped-def]
        return jsonify(env.describe())

    @bp.post("/knobs/<gateway>")
    def set_knobs(gateway: str):  # type: ignore[no-untyped-def]
        if gateway not in env.knobs:
            return jsonify(error=f"unknown gateway {gateway}"), 404
        try:
            env.knobs[gateway].update(request.get_json(force=True) or {})
        except (ValueError, TypeError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(env.describe())

    @bp.post("/clock")
    def move_clock():  # type: ignore[no-untyped-def]
        env.clock.advance(float((request.get_json(force=True) or {}).get("advance_seconds", 0)))
        return jsonify(env.describe())

    @bp.post("/reset")
    def reset():  # type: ignore[no-untyped-def]
        env.reset()
        return jsonify(env.describe())

    app.register_blueprint(bp)
