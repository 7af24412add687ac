"""Liveness endpoint and the status shown in every page's header."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from dashboard.context import ctx
from dashboard.data.common import bot_status, load_state

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Return ``{"ok": true}`` while the server answers (no database access, no login)."""
    return jsonify({"ok": True})


@bp.app_context_processor
def header_status() -> dict[str, Any]:
    """Give every template ``bot`` (the bot status) and dashboard settings for the header."""

    def bot() -> dict[str, Any]:
        d = ctx()
        with d.read() as s:
            return bot_status(load_state(s), d.now(), d.cfg.dashboard.bot_stale_s)

    d = ctx()
    return {
        "bot_status": bot,
        "fallback_refresh_s": d.cfg.dashboard.fallback_refresh_s,
    }
