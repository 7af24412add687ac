"""Blueprints, one per area of the dashboard (pages and their JSON API side by side)."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint on ``app``."""
    from dashboard.blueprints import (
        alerts,
        auth,
        backtests,
        controls,
        graduation,
        journal,
        leaderboard,
        live_trading,
        meta,
        ops,
        risk,
        strategy,
        trading,
    )

    for module in (
        auth,
        meta,
        leaderboard,
        strategy,
        trading,
        risk,
        controls,
        journal,
        alerts,
        backtests,
        graduation,
        ops,
        live_trading,
    ):
        app.register_blueprint(module.bp)
