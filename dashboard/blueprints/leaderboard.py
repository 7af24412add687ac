"""Leaderboard (``/``), comparison (``/compare``) and their JSON API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from dashboard import validation as v
from dashboard.blueprints.util import page, query, require_strategy
from dashboard.context import ctx
from dashboard.data.common import Row
from dashboard.data.leaderboard import (
    data_version,
    history,
    leaderboard,
    strategy_names,
    summary,
)
from dashboard.validation import ApiError

bp = Blueprint("leaderboard", __name__)

WINDOWS = (("1h", 1.0), ("6h", 6.0), ("24h", 24.0), ("7d", 168.0), ("30d", 720.0))
"""Chart windows offered on the pages: (label, hours)."""

COMPARE_MIN, COMPARE_MAX = 2, 4

# (label, key, higher is better?) — None: no "best" highlighting.
COMPARE_METRICS: tuple[tuple[str, str, bool | None, str], ...] = (
    ("Rank", "rank", False, "int"),
    ("Score", "score", True, "num"),
    ("Return", "return_pct", True, "pct"),
    ("Equity", "equity_usd", True, "usd"),
    ("Realized P&L", "realized_pnl_usd", True, "usd"),
    ("Unrealized P&L", "unrealized_pnl_usd", True, "usd"),
    ("Fees", "fees_usd", False, "usd"),
    ("Sharpe", "sharpe", True, "num"),
    ("Sharpe std. error", "sharpe_se", None, "num"),
    ("Sortino", "sortino", True, "num"),
    ("Calmar", "calmar", True, "num"),
    ("Win rate", "win_rate_pct", True, "pct"),
    ("Profit factor", "profit_factor", True, "num"),
    ("Expectancy a bet", "expectancy_usd", True, "usd"),
    ("Average win", "avg_win_usd", True, "usd"),
    ("Average loss", "avg_loss_usd", True, "usd"),
    ("Largest loss", "largest_loss_usd", True, "usd"),
    ("Max drawdown", "max_drawdown_pct", False, "pct"),
    ("Drawdown now", "drawdown_pct", False, "pct"),
    ("Time in the market", "exposure_time_pct", None, "pct"),
    ("Score evidence", "evidence_pct", None, "pct"),
    ("Trades", "trades", None, "int"),
    ("Closed bets", "round_trips", None, "int"),
    ("Exposure", "exposure_usd", None, "usd"),
)


def cached_board(s: Session) -> list[Row]:
    """Return the leaderboard rows, rebuilt only when a snapshot or status changed."""
    d = ctx()
    return d.cache.get("leaderboard", data_version(s), lambda: leaderboard(s, d.cfg.competition))


def cached_history(s: Session, strategies: list[str], hours: float) -> Row:
    """Return :func:`~dashboard.data.leaderboard.history`, cached per snapshot version."""
    d = ctx()
    comp = d.cfg.competition
    return d.cache.get(
        ("history", tuple(strategies), hours),
        data_version(s)[0],
        lambda: history(
            s,
            strategies,
            hours,
            max_points=d.cfg.dashboard.max_chart_points,
            fine_retention_h=comp.fine_retention_h,
        ),
    )


@bp.get("/")
def index() -> Any:
    """Leaderboard page: summary cards, equity chart, ranked table."""
    with ctx().read() as s:
        rows = cached_board(s)
        return page(
            "leaderboard.html",
            {"summary": "fragments/summary.html", "leaderboard": "fragments/leaderboard.html"},
            rows=rows,
            summary=summary(rows),
            windows=WINDOWS,
        )


@bp.get("/compare")
def compare() -> Any:
    """Comparison page: 2-4 strategies side by side, best value per row highlighted."""
    picked = [n for n in request.args.getlist("s") if n]
    if len(picked) > COMPARE_MAX:
        raise ApiError(400, f"s: pick at most {COMPARE_MAX} strategies (got {len(picked)})", "s")
    with ctx().read() as s:
        names = strategy_names(s)
        for n in picked:
            require_strategy(s, n)
        board = {r["strategy"]: r for r in cached_board(s)}
    cols = [board[n] for n in dict.fromkeys(picked)]
    metrics = []
    for label, key, higher, fmt in COMPARE_METRICS:
        values = [c.get(key) for c in cols]
        known = [x for x in values if x is not None]
        best = None
        if higher is not None and len(known) >= 2 and len(set(known)) > 1:
            best = max(known) if higher else min(known)
        metrics.append({"label": label, "key": key, "fmt": fmt, "cells": values, "best": best})
    return page(
        "compare.html",
        {},
        names=names,
        picked=[c["strategy"] for c in cols],
        cols=cols,
        metrics=metrics,
        windows=WINDOWS,
        enough=len(cols) >= COMPARE_MIN,
    )


@bp.get("/api/leaderboard")
def api_leaderboard() -> Any:
    """Ranked leaderboard rows."""
    with ctx().read() as s:
        rows = cached_board(s)
    return jsonify({"rows": rows})


@bp.get("/api/summary")
def api_summary() -> Any:
    """Summary cards: counts, average return, top performer."""
    with ctx().read() as s:
        rows = cached_board(s)
    return jsonify(summary(rows))


@bp.get("/api/performance")
def api_performance() -> Any:
    """Equity curves of all (or ``strategies=a,b``) strategies over the last ``hours``."""
    q = query()
    hours = v.hours(q)
    raw = v.text(q, "strategies", max_len=2000)
    with ctx().read() as s:
        if raw:
            wanted = [n.strip() for n in raw.split(",") if n.strip()]
            if len(wanted) > 50:
                raise ApiError(400, "strategies: at most 50 names", "strategies")
            for n in wanted:
                v.name({"strategies": n}, "strategies")
                require_strategy(s, n)
        else:
            wanted = strategy_names(s)
        return jsonify(cached_history(s, wanted, hours))
