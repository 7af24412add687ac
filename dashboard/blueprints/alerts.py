"""Alerts (``/alerts``): price, strategy and portfolio alerts; the bot records triggers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from dashboard import validation as v
from dashboard.blueprints.util import body, page, query, require_strategy, respond
from dashboard.context import ctx
from dashboard.data import alerts as alerts_data
from dashboard.data.leaderboard import strategy_names
from dashboard.data.trading import instrument_exists, open_instruments
from dashboard.validation import ApiError
from database.models import ALERT_KINDS
from services.money import MICRO

bp = Blueprint("alerts", __name__)

STATUSES = ("WINNING", "MARGINAL", "LOSING", "PAUSED", "DISABLED")
MAX_EQUITY_USD = 1e12


def parse_alert(data: dict[str, Any], s: Any) -> dict[str, Any]:
    """Validate a new alert; return the column values (levels in micro-units).

    Raises
    ------
    ApiError
        400 for a bad or missing value, 404 for an unknown strategy or instrument.
    """
    kind = v.choice(data, "kind", ALERT_KINDS)
    out: dict[str, Any] = {
        "kind": kind,
        "note": v.text(data, "note", max_len=200) or "",
        "enabled": v.boolean(data, "enabled", default=True),
    }
    if kind == "price":
        iid = v.ident(data, "instrument_id")
        if not instrument_exists(s, str(iid)):
            raise ApiError(404, f"unknown instrument {iid!r}", "instrument_id")
        level = v.number(data, "level", lo=0.0, hi=1.0, required=True, lo_open=True)
        assert level is not None
        if level >= 1.0:
            raise v.bad("level", "a price level must be below 1")
        out.update(
            instrument_id=iid,
            level=round(level * MICRO),
            direction=v.choice(data, "direction", ("above", "below", "cross")),
        )
    elif kind == "portfolio_equity":
        level = v.number(data, "level", lo=0.0, hi=MAX_EQUITY_USD, required=True, lo_open=True)
        assert level is not None
        out.update(
            level=round(level * MICRO), direction=v.choice(data, "direction", ("above", "below"))
        )
    else:
        name = v.name(data, "strategy")
        out["strategy"] = require_strategy(s, str(name))
        if kind == "strategy_drawdown":
            out.update(
                direction="above",
                level_pct=v.number(
                    data, "level_pct", lo=0.0, hi=100.0, required=True, lo_open=True
                ),
            )
        else:
            out.update(
                direction="change", status_to=v.choice(data, "status_to", STATUSES, required=False)
            )
    return out


@bp.get("/alerts")
def alerts_page() -> Any:
    """Alert list with trigger counts, the create form and recent triggers."""
    with ctx().read() as s:
        return page(
            "alerts.html",
            {"triggers": "fragments/triggers.html", "alerts": "fragments/alerts_list.html"},
            alerts=alerts_data.list_alerts(s),
            triggers=alerts_data.triggers(s, limit=50),
            names=strategy_names(s),
            instruments=open_instruments(s, 300),
            kinds=ALERT_KINDS,
            statuses=STATUSES,
        )


def _create(data: dict[str, Any]) -> Any:
    d = ctx()
    with d.write() as s:
        aid = alerts_data.create_alert(s, parse_alert(data, s), d.now())
    with d.read() as s:
        alert = alerts_data.get_alert(s, aid)
    msg = f"Alert #{aid} created: {alert['description'] if alert else ''}."
    return respond({"alert": alert, "message": msg}, 201, message=msg)


def _set_enabled(alert_id: int, enabled: bool) -> Any:
    d = ctx()
    with d.write() as s:
        if not alerts_data.set_enabled(s, alert_id, enabled, d.now()):
            raise ApiError(404, f"unknown alert {alert_id}")
    with d.read() as s:
        alert = alerts_data.get_alert(s, alert_id)
    msg = f"Alert #{alert_id} {'enabled' if enabled else 'disabled'}."
    return respond({"alert": alert, "message": msg}, message=msg)


def _delete(alert_id: int) -> Any:
    with ctx().write() as s:
        if not alerts_data.delete_alert(s, alert_id):
            raise ApiError(404, f"unknown alert {alert_id}")
    msg = f"Alert #{alert_id} deleted."
    return respond({"deleted": alert_id, "message": msg}, message=msg)


@bp.post("/alerts")
def alerts_create_form() -> Any:
    """Create an alert from the page's form."""
    return _create(body())


@bp.post("/alerts/<dbid:alert_id>/toggle")
def alerts_toggle_form(alert_id: int) -> Any:
    """Enable or disable an alert from the page (``enabled`` field)."""
    return _set_enabled(alert_id, v.boolean(body(), "enabled"))


@bp.post("/alerts/<dbid:alert_id>/delete")
def alerts_delete_form(alert_id: int) -> Any:
    """Delete an alert from the page."""
    return _delete(alert_id)


@bp.get("/api/alerts")
def api_alerts() -> Any:
    """Every alert with its trigger count."""
    with ctx().read() as s:
        return jsonify({"alerts": alerts_data.list_alerts(s)})


@bp.post("/api/alerts")
def api_alerts_create() -> Any:
    """Create an alert (``kind`` and the fields it needs; see docs/DASHBOARD.md)."""
    return _create(body())


@bp.patch("/api/alerts/<dbid:alert_id>")
def api_alerts_update(alert_id: int) -> Any:
    """Enable or disable an alert (``{"enabled": true|false}``)."""
    data = body()
    if "enabled" not in data:
        raise v.bad("enabled", "is required")
    return _set_enabled(alert_id, v.boolean(data, "enabled"))


@bp.delete("/api/alerts/<dbid:alert_id>")
def api_alerts_delete(alert_id: int) -> Any:
    """Delete an alert and its triggers."""
    return _delete(alert_id)


@bp.get("/api/alerts/triggers")
def api_triggers() -> Any:
    """Recent alert triggers, newest first (``limit``, ``after_id``)."""
    q = query()
    lim = v.limit(q, default=50, hi=1000)
    after = v.integer(q, "after_id", lo=0, hi=2**62)
    with ctx().read() as s:
        return jsonify({"triggers": alerts_data.triggers(s, limit=lim, after_id=after)})
