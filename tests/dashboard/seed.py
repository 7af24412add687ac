"""Seed a dashboard test database with a small, known field (values are asserted in tests)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from database.models import TABLES

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC (event time)
WALL = 1_800_000_000.0  # fake wall clock of the tests
M = 1_000_000


def ins(s: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows into ``table`` (grouped by key set: executemany needs uniform rows)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(sorted(r)), []).append(r)
    for group in groups.values():
        s.execute(TABLES[table].insert(), group)


def strategy(name: str, *, status: str = "active", kind: str = "market_making") -> dict[str, Any]:
    return {
        "name": name,
        "class_path": f"x:{name}",
        "params_json": json.dumps({"spread": 2}),
        "kind": kind,
        "stage": "paper",
        "status": status,
        "status_reason": None,
        "status_since": None,
        "starting_capital": 10_000 * M,
        "error_count": 0,
        "created_ts": T0,
        "updated_ts": T0,
    }


def snapshot(
    name: str,
    ts: float,
    equity_usd: float,
    *,
    score: float,
    dd: float = 0.0,
    gran: str = "fine",
    status: str = "MARGINAL",
) -> dict[str, Any]:
    eq = round(equity_usd * M)
    ret = (equity_usd / 10_000 - 1) * 100
    return {
        "strategy": name,
        "ts": ts,
        "granularity": gran,
        "equity": eq,
        "cash": eq,
        "realized_pnl": eq - 10_000 * M,
        "unrealized_pnl": 0,
        "fees": 1_500_000,
        "exposure": 0,
        "equity_liquidation": eq,
        "return_pct": ret,
        "drawdown_pct": dd,
        "sharpe": 1.5,
        "win_rate": 0.6,
        "trades": 12,
        "round_trips": 5,
        "score": score,
        "rank": 0,
        "status": status,
    }


def seed(s: Session) -> None:
    """Three strategies (alpha best, beta, gamma paused), two instruments, orders, fills, a
    position, snapshots over two hours, events and bot state."""
    ins(
        s,
        "strategies",
        [strategy("alpha"), strategy("beta"), strategy("gamma", status="paused", kind="arbitrage")],
    )
    ins(
        s,
        "instruments",
        [
            {
                "instrument_id": "Y1",
                "venue": "sim",
                "market_id": "M1",
                "outcome": "Yes",
                "question": "Will it rain?",
                "tick": 10_000,
                "min_size": 5 * M,
                "listed_ts": T0,
            },
            {
                "instrument_id": "N1",
                "venue": "sim",
                "market_id": "M1",
                "outcome": "No",
                "question": "Will it rain?",
                "tick": 10_000,
                "min_size": 5 * M,
                "listed_ts": T0,
            },
        ],
    )
    snaps = []
    for i in range(0, 721):  # two hours of 10-second snapshots
        ts = T0 + i * 10
        snaps.append(snapshot("alpha", ts, 10_000 + i * 0.5, score=70.0, status="WINNING"))
        snaps.append(snapshot("beta", ts, 10_000 - i * 0.1, score=40.0, dd=0.7))
        snaps.append(snapshot("gamma", ts, 10_000.0, score=50.0, status="PAUSED"))
    ins(s, "performance_snapshots", snaps)
    ins(
        s,
        "orders",
        [
            {
                "id": 1,
                "strategy": "alpha",
                "instrument_id": "Y1",
                "side": "BUY",
                "order_type": "limit",
                "tif": "GTC",
                "price": 400_000,
                "size": 100 * M,
                "filled": 100 * M,
                "avg_price": 400_000,
                "fees": 0,
                "status": "filled",
                "reason": "bid below fair value",
                "liquidity": "maker",
                "created_ts": T0 + 5,
                "updated_ts": T0 + 6,
            },
            {
                "id": 2,
                "strategy": "alpha",
                "instrument_id": "Y1",
                "side": "SELL",
                "order_type": "limit",
                "tif": "GTC",
                "price": 600_000,
                "size": 50 * M,
                "filled": 0,
                "status": "open",
                "reason": "offer above fair value",
                "created_ts": T0 + 7,
                "updated_ts": T0 + 7,
            },
            {
                "id": 3,
                "strategy": "beta",
                "instrument_id": "N1",
                "side": "BUY",
                "order_type": "market",
                "tif": "FAK",
                "price": 990_000,
                "size": 10 * M,
                "filled": 0,
                "status": "rejected",
                "reason": "arb leg",
                "reject_reason": "insufficient cash",
                "created_ts": T0 + 8,
                "updated_ts": T0 + 8,
            },
        ],
    )
    ins(
        s,
        "fills",
        [
            {
                "id": 1,
                "order_id": 1,
                "strategy": "alpha",
                "instrument_id": "Y1",
                "side": "BUY",
                "price": 400_000,
                "size": 100 * M,
                "fee": 0,
                "liquidity": "maker",
                "ts": T0 + 6,
            },
        ],
    )
    ins(
        s,
        "positions",
        [
            {
                "strategy": "alpha",
                "instrument_id": "Y1",
                "qty": 100 * M,
                "cost_basis": 40 * M,
                "realized_pnl": 0,
                "fees": 0,
                "opened_ts": T0 + 6,
                "updated_ts": T0 + 6,
            },
        ],
    )
    # Price history of Y1: a point a minute from T0 to T0 + 7140, mid 0.40 rising 0.0008 a minute
    # (the newest market_tops row, mid 0.50 at T0 + 7200, is the chart's last point).
    ins(
        s,
        "price_history",
        [
            {
                "instrument_id": "Y1",
                "ts": T0 + 60 * i,
                "mid": 400_000 + 800 * i,
                "last_trade": 400_000 if i < 60 else None,
            }
            for i in range(120)
        ],
    )
    ins(
        s,
        "market_tops",
        [
            {
                "instrument_id": "Y1",
                "best_bid": 490_000,
                "best_ask": 510_000,
                "mid": 500_000,
                "updated_ts": T0 + 7200,
            },
        ],
    )
    ins(
        s,
        "events",
        [
            {
                "ts": T0 + 100,
                "kind": "risk_rejection",
                "severity": "warning",
                "strategy": "beta",
                "message": "order notional 1,250.00 exceeds max_order_usd 1,000.00",
                "value": "1250",
                "limit_value": "1000",
            },
            {
                "ts": T0 + 200,
                "kind": "breaker_trip",
                "severity": "critical",
                "strategy": "gamma",
                "message": "3 consecutive losses",
                "value": "3",
                "limit_value": "3",
            },
        ],
    )
    state = {
        "heartbeat": {"wall_ts": WALL - 1.0, "pid": 4242},
        "engine": {"event_ts": T0 + 7200, "events_processed": 5000, "live_instruments": 2},
        "kill_switch": {"state": "ACTIVE", "active": False, "reason": None, "since_ts": None},
        "breakers": {
            "breakers": {
                "consecutive_losses:gamma": {
                    "name": "consecutive_losses",
                    "strategy": "gamma",
                    "state": "OPEN",
                    "since_ts": T0 + 200,
                    "reason": "3 consecutive losses",
                    "until_ts": T0 + 86600,
                    "value": "3",
                    "limit": "3",
                    "trips": 1,
                }
            },
            "streak_base": {},
            "failures": [],
        },
        "strategy_risk": {
            "alpha": {
                "consecutive_losses": 0,
                "wins": 3,
                "losses": 2,
                "max_drawdown_pct": 0.4,
                "errors": 0,
            },
            "gamma": {
                "consecutive_losses": 3,
                "wins": 0,
                "losses": 3,
                "max_drawdown_pct": 1.2,
                "errors": 0,
            },
        },
        "risk_limits": {
            "limits": {"alpha": {"max_drawdown_pct": 15.0}, "beta": {"max_drawdown_pct": 10.0}},
            "breakers": {"strategy_drawdown_pct": 25.0},
        },
    }
    ins(
        s,
        "bot_state",
        [
            {"key": k, "value_json": json.dumps(v), "updated_ts": T0 + 7200}
            for k, v in state.items()
        ],
    )
