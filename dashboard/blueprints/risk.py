"""Risk and health page (``/risk``) and its JSON API (risk state, health, events)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from dashboard import validation as v
from dashboard.blueprints.leaderboard import cached_board
from dashboard.blueprints.util import page, query, require_strategy
from dashboard.context import ctx
from dashboard.data import risk as risk_data
from dashboard.data.common import bot_status, load_state
from database.models import EVENT_SEVERITIES

bp = Blueprint("risk", __name__)


def _risk(s: Any) -> dict[str, Any]:
    d = ctx()
    state = load_state(s)
    out = risk_data.risk_view(s, state, cached_board(s), d.cfg)
    out["bot"] = bot_status(state, d.now(), d.cfg.dashboard.bot_stale_s)
    return out


def _event_args(q: dict[str, Any]) -> dict[str, Any]:
    return {
        "severity": v.choice(q, "severity", EVENT_SEVERITIES, required=False),
        "kind": v.text(q, "kind", max_len=48),
        "strategy": v.name(q, "strategy", required=False),
        "limit": v.limit(q, default=50),
        "before_id": v.integer(q, "before_id", lo=1, hi=2**62),
    }


@bp.get("/risk")
def risk_page() -> Any:
    """Trading state, breakers, drawdowns vs limits, zones, losses, events, feed health."""
    q = query()
    ev = _event_args(q)
    with ctx().read() as s:
        if ev["strategy"]:
            require_strategy(s, ev["strategy"])
        return page(
            "risk.html",
            {"risk": "fragments/risk.html", "events": "fragments/events.html"},
            risk=_risk(s),
            events=risk_data.events(s, **ev),
            severities=EVENT_SEVERITIES,
            severity=ev["severity"] or "",
            show_strategy=True,
        )


@bp.get("/api/risk")
def api_risk() -> Any:
    """Kill switch, breakers, per-strategy drawdowns and losses, zone exposure, feed health."""
    with ctx().read() as s:
        return jsonify(_risk(s))


@bp.get("/api/health")
def api_health() -> Any:
    """Bot liveness (heartbeat), engine progress, trading state and data-feed health."""
    d = ctx()
    with d.read() as s:
        state = load_state(s)
    raw = state.get("data_health")
    return jsonify(
        {
            "bot": bot_status(state, d.now(), d.cfg.dashboard.bot_stale_s),
            "data_health": risk_data.data_health(raw[0] if raw else None),
            "data_health_updated_ts": raw[1] if raw else None,
            "live_clients_poller": {
                "polls": d.live.polls if d.live else 0,
                "errors": d.live.errors if d.live else 0,
            },
        }
    )


@bp.get("/api/events")
def api_events() -> Any:
    """Audit-log events newest first (``severity``, ``kind``, ``strategy``, ``limit``,
    ``before_id``)."""
    ev = _event_args(query())
    with ctx().read() as s:
        if ev["strategy"]:
            require_strategy(s, ev["strategy"])
        return jsonify({"events": risk_data.events(s, **ev)})
