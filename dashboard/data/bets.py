"""Closed bets (entry, exit, P&L, fees, hold time, reason) and today's P&L per strategy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, func, or_, select
from sqlalchemy.orm import Session

from dashboard.data.common import Row, as_dict, state_value, t, usd


def _labels(session: Session, groups: set[str]) -> dict[str, str]:
    """Return ``{group_id: question}`` (a market id or a neg-risk event id)."""
    if not groups:
        return {}
    tb = t("instruments")
    stmt = select(tb.c.market_id, tb.c.event_id, tb.c.question).where(
        or_(tb.c.market_id.in_(sorted(groups)), tb.c.event_id.in_(sorted(groups)))
    )
    out: dict[str, str] = {}
    for market_id, event_id, question in session.execute(stmt):
        key = event_id if event_id in groups else market_id
        out.setdefault(key, question or key)
    return out


def closed_bets(
    session: Session,
    strategy: str | None = None,
    *,
    limit: int = 100,
    offset: int = 0,
    since_ts: float | None = None,
) -> list[Row]:
    """Return closed bets, newest first.

    Returns
    -------
    list[dict]
        Keys: ``strategy``, ``group_id`` (market or neg-risk event), ``question``,
        ``opened_ts`` (entry), ``closed_ts`` (exit), ``hold_s``, ``cost_usd`` (bought),
        ``proceeds_usd`` (sold plus payouts), ``fees_usd``, ``pnl_usd`` (net of fees),
        ``return_pct`` (P&L over cost), ``result`` (win / loss), ``closed_by`` (sold / settled)
        and ``reason`` (the closing order's reason, or "market resolved").
    """
    cb, o = t("closed_bets"), t("orders")
    stmt = select(cb, o.c.reason).outerjoin(o, o.c.id == cb.c.order_id)
    if strategy is not None:
        stmt = stmt.where(cb.c.strategy == strategy)
    if since_ts is not None:
        stmt = stmt.where(cb.c.closed_ts >= since_ts)
    stmt = stmt.order_by(cb.c.closed_ts.desc(), cb.c.strategy, cb.c.group_id)
    rows = [dict(m) for m in session.execute(stmt.limit(limit).offset(offset)).mappings()]
    labels = _labels(session, {r["group_id"] for r in rows})
    out: list[Row] = []
    for r in rows:
        cost = r["cost"]
        out.append(
            {
                "strategy": r["strategy"],
                "group_id": r["group_id"],
                "question": labels.get(r["group_id"], r["group_id"]),
                "opened_ts": r["opened_ts"],
                "closed_ts": r["closed_ts"],
                "hold_s": max(0.0, r["closed_ts"] - r["opened_ts"]),
                "cost_usd": usd(cost),
                "proceeds_usd": usd(r["proceeds"]),
                "fees_usd": usd(r["fees"]),
                "pnl_usd": usd(r["pnl"]),
                "return_pct": r["pnl"] / cost * 100.0 if cost else None,
                "result": "win" if r["pnl"] > 0 else "loss",
                "closed_by": r["closed_by"],
                "reason": r["reason"] if r["closed_by"] == "sold" else "market resolved",
            }
        )
    return out


def count_closed_bets(session: Session, strategy: str | None = None) -> int:
    """Return how many bets closed (of ``strategy``)."""
    cb = t("closed_bets")
    stmt = select(func.count()).select_from(cb)
    if strategy is not None:
        stmt = stmt.where(cb.c.strategy == strategy)
    return int(session.execute(stmt).scalar() or 0)


def risk_day_start_ts(state: dict[str, tuple[Any, float]]) -> float | None:
    """Return the event time at which the bot's current risk day began (None before it ran)."""
    rm = as_dict(state_value(state, "risk_metrics"))
    day, tz = rm.get("day"), rm.get("timezone") or "UTC"
    if not isinstance(day, str):
        return None
    try:
        start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(str(tz)))
    except (ValueError, KeyError):
        return None
    return start.astimezone(UTC).timestamp()


def today(
    session: Session, state: dict[str, tuple[Any, float]], board: list[Row]
) -> dict[str, Row]:
    """Return per strategy ``{"pnl_usd", "bets", "wins", "day"}`` for the current risk day.

    P&L is equity now (the leaderboard row) minus equity at the day's start (``risk_metrics``);
    bets are the bets closed since the day began. Values are None before the bot ran.
    """
    rm = as_dict(state_value(state, "risk_metrics"))
    starts = as_dict(rm.get("day_start"))
    since = risk_day_start_ts(state)
    counts: dict[str, tuple[int, int]] = {}
    if since is not None:
        cb = t("closed_bets")
        stmt = (
            select(cb.c.strategy, func.count(), func.sum(cast(cb.c.pnl > 0, Integer)))
            .where(cb.c.closed_ts >= since)
            .group_by(cb.c.strategy)
        )
        counts = {s: (int(n), int(w or 0)) for s, n, w in session.execute(stmt)}
    out: dict[str, Row] = {}
    for r in board:
        name = r["strategy"]
        start = starts.get(name)
        eq = r.get("equity_usd")
        n, w = counts.get(name, (0, 0))
        out[name] = {
            "day": rm.get("day"),
            "pnl_usd": None if start is None or eq is None else eq - int(start) / 1_000_000,
            "bets": n if since is not None else None,
            "wins": w if since is not None else None,
        }
    return out
