"""Leaderboard, summary cards and equity-curve history, as plain dicts."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from dashboard.data.bets import today
from dashboard.data.common import Row, load_state, t, usd
from services.competition import status_label
from utils.config import CompetitionConfig

MEDALS = {1: "gold", 2: "silver", 3: "bronze"}

METRIC_KEYS = (
    "sharpe_se",
    "sortino",
    "sortino_se",
    "calmar",
    "annual_return_pct",
    "returns_period",
    "n_returns",
    "min_returns",
    "exposure_time_pct",
    "profit_factor",
    "expectancy_usd",
    "avg_win_usd",
    "avg_loss_usd",
    "largest_loss_usd",
    "evidence_pct",
)
"""Metrics read from a snapshot's ``metrics_json`` (``services.competition.row_metrics``)."""


def strategy_names(session: Session) -> list[str]:
    """Return every strategy name, sorted."""
    tb = t("strategies")
    return [n for (n,) in session.execute(select(tb.c.name).order_by(tb.c.name))]


def strategy_exists(session: Session, name: str) -> bool:
    """Return whether ``name`` is a known strategy."""
    tb = t("strategies")
    return session.execute(select(tb.c.name).where(tb.c.name == name)).first() is not None


def latest_snapshot(session: Session, strategy: str) -> Row | None:
    """Return ``strategy``'s newest fine-or-hourly snapshot row (index lookup), or None."""
    tb = t("performance_snapshots")
    stmt = (
        select(tb)
        .where(tb.c.strategy == strategy)
        .order_by(tb.c.ts.desc(), tb.c.id.desc())
        .limit(1)
    )
    m = session.execute(stmt).mappings().first()
    return dict(m) if m is not None else None


def leaderboard(session: Session, comp: CompetitionConfig) -> list[Row]:
    """Return the ranked leaderboard: one row per strategy, best score first.

    Each row merges the strategy's newest snapshot with its current status (a strategy paused
    after the last snapshot shows PAUSED at once). Strategies without a snapshot come last.

    Returns
    -------
    list[dict]
        Keys: ``rank``, ``medal`` (gold/silver/bronze/None), ``strategy``, ``stage``,
        ``strategy_status`` (active/paused/disabled), ``status`` (WINNING / MARGINAL / LOSING /
        PAUSED / DISABLED), ``status_reason``, ``score``, ``return_pct``, ``sharpe``,
        ``win_rate_pct``, ``drawdown_pct`` (current), ``max_drawdown_pct`` (all-time),
        ``trades``, ``round_trips``, ``equity_usd``, ``cash_usd``, ``realized_pnl_usd``,
        ``unrealized_pnl_usd``, ``fees_usd``, ``exposure_usd``, ``starting_capital_usd``,
        ``ts`` (snapshot event time or None), the keys of :data:`METRIC_KEYS` (None until
        known; see ``docs/METRICS.md``) and ``today_pnl_usd``, ``today_bets``, ``today_wins``
        (the current risk day; None before the bot ran).
    """
    rows: list[Row] = []
    for s in session.execute(select(t("strategies")).order_by(t("strategies").c.name)).mappings():
        snap = latest_snapshot(session, s["name"])
        rows.append(_row(s, snap, comp))
    rows.sort(
        key=lambda r: (
            r["ts"] is None,
            -(r["score"] or 0.0),
            -(r["return_pct"] or 0.0),
            r["strategy"],
        )
    )
    for i, r in enumerate(rows, start=1):
        r["rank"] = i
        r["medal"] = MEDALS.get(i) if r["ts"] is not None else None
    day = today(session, load_state(session), rows)
    for r in rows:
        d = day.get(r["strategy"], {})
        r["today_pnl_usd"] = d.get("pnl_usd")
        r["today_bets"] = d.get("bets")
        r["today_wins"] = d.get("wins")
    return rows


def _row(s: Any, snap: Row | None, comp: CompetitionConfig) -> Row:
    start = usd(s["starting_capital"])
    if snap is None:
        status = {"paused": "PAUSED", "disabled": "DISABLED"}.get(s["status"], "MARGINAL")
        return {
            "rank": 0,
            "medal": None,
            "strategy": s["name"],
            "stage": s["stage"],
            "strategy_status": s["status"],
            "status": status,
            "status_reason": s["status_reason"],
            "score": None,
            "return_pct": None,
            "sharpe": None,
            "win_rate_pct": None,
            "drawdown_pct": None,
            "max_drawdown_pct": None,
            "trades": 0,
            "round_trips": 0,
            "equity_usd": start,
            "cash_usd": start,
            "realized_pnl_usd": 0.0,
            "unrealized_pnl_usd": 0.0,
            "fees_usd": 0.0,
            "exposure_usd": 0.0,
            "starting_capital_usd": start,
            "ts": None,
            **dict.fromkeys(METRIC_KEYS),
        }
    win = snap["win_rate"]
    metrics = _metrics(snap.get("metrics_json"))
    mdd = snap.get("max_drawdown_pct")
    return {
        "rank": 0,
        "medal": None,
        "strategy": s["name"],
        "stage": s["stage"],
        "strategy_status": s["status"],
        "status": status_label(comp, snap["return_pct"], s["status"]),
        "status_reason": s["status_reason"],
        "score": snap["score"],
        "return_pct": snap["return_pct"],
        "sharpe": snap["sharpe"],
        "win_rate_pct": None if win is None else win * 100.0,
        "drawdown_pct": snap["drawdown_pct"],
        "max_drawdown_pct": snap["drawdown_pct"] if mdd is None else mdd,
        "trades": snap["trades"],
        "round_trips": snap["round_trips"],
        "equity_usd": usd(snap["equity"]),
        "cash_usd": usd(snap["cash"]),
        "realized_pnl_usd": usd(snap["realized_pnl"]),
        "unrealized_pnl_usd": usd(snap["unrealized_pnl"]),
        "fees_usd": usd(snap["fees"]),
        "exposure_usd": usd(snap["exposure"]),
        "starting_capital_usd": start,
        "ts": snap["ts"],
        **{k: metrics.get(k) for k in METRIC_KEYS},
    }


def _metrics(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        out = json.loads(raw)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def summary(rows: list[Row]) -> Row:
    """Return the summary cards computed from :func:`leaderboard` rows.

    Returns
    -------
    dict
        ``strategies``, ``active`` (status active), ``paused``, ``disabled``,
        ``avg_return_pct`` (None without snapshots), ``total_equity_usd``,
        ``total_pnl_usd`` (equity minus starting capital), ``top`` (the rank-1 row's
        ``strategy`` / ``return_pct`` / ``score`` / ``status``, or None) and ``as_of_ts``.
    """
    with_snap = [r for r in rows if r["ts"] is not None]
    returns = [r["return_pct"] for r in with_snap]
    equity = sum(r["equity_usd"] or 0.0 for r in rows)
    start = sum(r["starting_capital_usd"] or 0.0 for r in rows)
    top = None
    if with_snap:
        best = with_snap[0]
        top = {k: best[k] for k in ("strategy", "return_pct", "score", "status")}
    return {
        "strategies": len(rows),
        "active": sum(1 for r in rows if r["strategy_status"] == "active"),
        "paused": sum(1 for r in rows if r["strategy_status"] == "paused"),
        "disabled": sum(1 for r in rows if r["strategy_status"] == "disabled"),
        "avg_return_pct": sum(returns) / len(returns) if returns else None,
        "total_equity_usd": equity,
        "total_pnl_usd": equity - start,
        "top": top,
        "as_of_ts": max((r["ts"] for r in with_snap), default=None),
    }


def latest_snapshot_ts(session: Session) -> float | None:
    """Return the newest snapshot time (event time) of any strategy, or None."""
    tb = t("performance_snapshots")
    v = session.execute(select(func.max(tb.c.ts))).scalar()
    return None if v is None else float(v)


def history(
    session: Session,
    strategies: list[str],
    hours: float,
    *,
    max_points: int,
    fine_retention_h: float,
) -> Row:
    """Return bucketed equity, return and drawdown curves over the last ``hours``.

    The window ends at the newest snapshot (event time, so a simulated run's chart works too).
    Windows longer than the fine-row retention read the hourly rows. Each curve has at most
    ``max_points`` points: the average of each time bucket (the worst drawdown of it).

    Parameters
    ----------
    session : Session
        Open session.
    strategies : list[str]
        Strategy names (unknown names give empty curves).
    hours : float
        Window length, hours.
    max_points : int
        Most points per curve.
    fine_retention_h : float
        Hours of fine rows the bot keeps (``competition.fine_retention_h``).

    Returns
    -------
    dict
        ``since_ts``, ``until_ts``, ``hours``, ``granularity`` and ``series``: a list of
        ``{"strategy", "ts": [...], "equity_usd": [...], "return_pct": [...],
        "drawdown_pct": [...]}`` in the order of ``strategies``.
    """
    until = latest_snapshot_ts(session)
    empty: Row = {
        "strategy": None,
        "ts": [],
        "equity_usd": [],
        "return_pct": [],
        "drawdown_pct": [],
    }
    if until is None or not strategies:
        return {
            "since_ts": None,
            "until_ts": until,
            "hours": hours,
            "granularity": None,
            "series": [{**empty, "strategy": s} for s in strategies],
        }
    since = until - hours * 3600.0
    order = ["fine", "hourly"] if hours <= fine_retention_h else ["hourly", "fine"]
    points: dict[str, Row] = {}
    used = order[0]
    for gran in order:
        used = gran
        points = _bucketed(session, strategies, since, until, gran, max_points)
        if any(p["ts"] for p in points.values()):
            break
    return {
        "since_ts": since,
        "until_ts": until,
        "hours": hours,
        "granularity": used,
        "series": [points.get(s, {**empty, "strategy": s}) for s in strategies],
    }


def _bucketed(
    session: Session,
    strategies: list[str],
    since: float,
    until: float,
    gran: str,
    max_points: int,
) -> dict[str, Row]:
    tb = t("performance_snapshots")
    # Size the buckets on the data actually in the window, so a short run still gets a fine curve.
    first = session.execute(
        select(func.min(tb.c.ts)).where(tb.c.ts >= since, tb.c.granularity == gran)
    ).scalar()
    start = max(since, float(first)) if first is not None else since
    width = max((until - start) / max_points, 1e-6)
    offset = (tb.c.ts - start) / width
    dialect = session.get_bind().dialect.name
    # CAST truncates on SQLite; PostgreSQL's CAST rounds, so it gets floor().
    bucket = cast(offset, Integer) if dialect == "sqlite" else func.floor(offset)
    stmt = (
        select(
            tb.c.strategy,
            bucket.label("b"),
            func.max(tb.c.ts).label("ts"),
            func.avg(tb.c.equity).label("equity"),
            func.avg(tb.c.return_pct).label("ret"),
            func.max(tb.c.drawdown_pct).label("dd"),
        )
        .where(
            tb.c.strategy.in_(strategies),
            tb.c.granularity == gran,
            tb.c.ts >= since,
            tb.c.ts <= until,
        )
        .group_by(tb.c.strategy, bucket)
        .order_by(tb.c.strategy, bucket)
    )
    out: dict[str, Row] = {}
    for strategy, _b, ts, equity, ret, dd in session.execute(stmt):
        s = out.setdefault(
            strategy,
            {
                "strategy": strategy,
                "ts": [],
                "equity_usd": [],
                "return_pct": [],
                "drawdown_pct": [],
            },
        )
        s["ts"].append(float(ts))
        s["equity_usd"].append(round(float(equity) / 1_000_000, 6))
        s["return_pct"].append(round(float(ret), 6))
        s["drawdown_pct"].append(round(float(dd), 6))
    return out


def max_drawdown(session: Session, strategy: str) -> float | None:
    """Return the largest persisted drawdown of ``strategy``, percent (None without rows)."""
    tb = t("performance_snapshots")
    v = session.execute(select(func.max(tb.c.drawdown_pct)).where(tb.c.strategy == strategy))
    out = v.scalar()
    return None if out is None else float(out)


def data_version(session: Session) -> tuple[int, int, float | None]:
    """Return a cheap version of the leaderboard's inputs (changes with any new snapshot or
    strategy status change): ``(max snapshot id, strategy count, max strategy updated_ts)``."""
    snap = t("performance_snapshots")
    st = t("strategies")
    top = session.execute(select(func.max(snap.c.id))).scalar() or 0
    n, upd = session.execute(select(func.count(), func.max(st.c.updated_ts))).one()
    return int(top), int(n), upd
