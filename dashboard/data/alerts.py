"""User alerts and their triggers (the dashboard defines alerts; the bot records triggers)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import Session

from dashboard.data.common import Row, prob, t, usd

FIELDS = (
    "kind",
    "direction",
    "instrument_id",
    "strategy",
    "level",
    "level_pct",
    "status_to",
    "note",
    "enabled",
)
"""Columns set when an alert is created (``level`` in micro-USDC)."""


def describe(a: Row) -> str:
    """Return a one-line description of an alert, e.g. ``price of Y1 crosses 0.550``."""
    kind, d = a["kind"], a["direction"]
    verb = {"above": "goes above", "below": "goes below", "cross": "crosses"}.get(d, d)
    if kind == "price":
        return f"Price of {a['instrument_id']} {verb} {prob(a['level']):.3f}"
    if kind == "portfolio_equity":
        return f"Total equity {verb} ${usd(a['level']):,.2f}"
    if kind == "strategy_drawdown":
        return f"Drawdown of {a['strategy']} goes over {a['level_pct']:.2f}%"
    if kind == "strategy_status":
        to = a.get("status_to")
        return f"Status of {a['strategy']} changes" + (f" to {to}" if to else "")
    return kind


def _public(a: Row, count: int = 0, last: float | None = None) -> Row:
    out = dict(a)
    out["enabled"] = bool(a["enabled"])
    out["description"] = describe(a)
    out["level_value"] = (
        prob(a["level"])
        if a["kind"] == "price"
        else usd(a["level"])
        if a["kind"] == "portfolio_equity"
        else None
    )
    out["trigger_count"] = count
    out["last_triggered_wall"] = last
    return out


def list_alerts(session: Session) -> list[Row]:
    """Return every alert, newest first, with ``trigger_count``, ``last_triggered_wall`` and
    ``description``."""
    a, tr = t("alerts"), t("alert_triggers")
    counts = {
        aid: (int(n), last)
        for aid, n, last in session.execute(
            select(tr.c.alert_id, func.count(), func.max(tr.c.wall_ts)).group_by(tr.c.alert_id)
        )
    }
    rows = session.execute(select(a).order_by(a.c.id.desc())).mappings()
    return [_public(dict(r), *counts.get(r["id"], (0, None))) for r in rows]


def get_alert(session: Session, alert_id: int) -> Row | None:
    """Return one alert (with trigger stats), or None."""
    a, tr = t("alerts"), t("alert_triggers")
    m = session.execute(select(a).where(a.c.id == alert_id)).mappings().first()
    if m is None:
        return None
    n, last = session.execute(
        select(func.count(), func.max(tr.c.wall_ts)).where(tr.c.alert_id == alert_id)
    ).one()
    return _public(dict(m), int(n), last)


def create_alert(session: Session, values: dict[str, Any], now_wall: float) -> int:
    """Insert a validated alert; return its id."""
    a = t("alerts")
    row = {k: values[k] for k in FIELDS if k in values}
    res = session.execute(a.insert().values(created_ts=now_wall, updated_ts=now_wall, **row))
    key = cast("CursorResult[Any]", res).inserted_primary_key
    if key is None:
        raise RuntimeError("the database did not return the new alert's id")
    return int(key[0])


def set_enabled(session: Session, alert_id: int, enabled: bool, now_wall: float) -> bool:
    """Enable or disable an alert; return False if it does not exist."""
    a = t("alerts")
    res = session.execute(
        update(a).where(a.c.id == alert_id).values(enabled=enabled, updated_ts=now_wall)
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


def delete_alert(session: Session, alert_id: int) -> bool:
    """Delete an alert and its triggers; return False if it does not exist."""
    a, tr = t("alerts"), t("alert_triggers")
    session.execute(delete(tr).where(tr.c.alert_id == alert_id))
    res = session.execute(delete(a).where(a.c.id == alert_id))
    return bool(res.rowcount)  # type: ignore[attr-defined]


def triggers(session: Session, *, limit: int = 50, after_id: int | None = None) -> list[Row]:
    """Return alert triggers newest first (only ids above ``after_id`` if given), each with the
    alert's ``kind`` and ``description``."""
    a, tr = t("alerts"), t("alert_triggers")
    stmt = select(tr, a).join(a, a.c.id == tr.c.alert_id)
    if after_id is not None:
        stmt = stmt.where(tr.c.id > after_id)
    stmt = stmt.order_by(tr.c.id.desc()).limit(limit)
    out = []
    for row in session.execute(stmt):
        m = row._mapping
        alert = {c.name: m[a.c[c.name]] for c in a.columns}
        out.append(
            {
                "id": m[tr.c.id],
                "alert_id": m[tr.c.alert_id],
                "ts": m[tr.c.ts],
                "wall_ts": m[tr.c.wall_ts],
                "message": m[tr.c.message],
                "value": m[tr.c.value],
                "kind": alert["kind"],
                "description": describe(alert),
            }
        )
    return out
