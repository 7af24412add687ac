"""Positions and orders page (``/positions``), its JSON API and the CSV exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import func, select

from dashboard import validation as v
from dashboard.blueprints.util import csv_response, page, query, require_strategy
from dashboard.context import ctx
from dashboard.data import bets, trading
from dashboard.data.common import prob, shares, t, usd
from dashboard.data.leaderboard import strategy_names
from dashboard.formatting import fmt_ts
from database.models import ORDER_STATUSES

bp = Blueprint("trading", __name__)

STATUS_FILTERS = ("open", *ORDER_STATUSES)
SIDES = ("BUY", "SELL")
EXPORT_BATCH = 2000
EXPORT_MAX_ORDERS = 100_000
CLOSED_BETS_SHOWN = 50


def order_filter(
    q: dict[str, Any], default_limit: int = 50, max_limit: int = 1000
) -> trading.OrderFilter:
    """Build an :class:`~dashboard.data.trading.OrderFilter` from query parameters."""
    return trading.OrderFilter(
        strategy=v.name(q, "strategy", required=False),
        status=v.choice(q, "status", STATUS_FILTERS, required=False),
        side=v.choice(q, "side", SIDES, required=False),
        market=v.text(q, "market", max_len=128),
        limit=v.limit(q, default=default_limit, hi=max_limit),
        offset=v.offset(q),
    )


@bp.get("/positions")
def positions_page() -> Any:
    """All open positions, the order log with filters and paging, recent fills, exports."""
    d = ctx()
    q = query()
    f = order_filter(q)
    with d.read() as s:
        if f.strategy:
            require_strategy(s, f.strategy)
        return page(
            "positions.html",
            {
                "positions": "fragments/positions.html",
                "orders": "fragments/orders.html",
                "fills": "fragments/fills.html",
                "closed_bets": "fragments/closed_bets.html",
            },
            names=strategy_names(s),
            closed_bets=bets.closed_bets(s, f.strategy, limit=CLOSED_BETS_SHOWN),
            bets_strategy=f.strategy,
            positions=trading.positions(s, d.cfg.risk.zones.boundaries, strategy=f.strategy),
            orders=trading.orders(s, f),
            fills=trading.fills(s, strategy=f.strategy, limit=50),
            f=f,
            statuses=STATUS_FILTERS,
            sides=SIDES,
            show_strategy=True,
            next_offset=f.offset + f.limit,
            prev_offset=max(0, f.offset - f.limit),
        )


@bp.get("/api/positions")
def api_positions() -> Any:
    """Open positions (``?strategy=``), valued at the latest mid."""
    d = ctx()
    name = v.name(query(), "strategy", required=False)
    with d.read() as s:
        if name:
            require_strategy(s, name)
        rows = trading.positions(s, d.cfg.risk.zones.boundaries, strategy=name)
    return jsonify({"positions": rows})


@bp.get("/api/orders")
def api_orders() -> Any:
    """Order log, newest first (``strategy``, ``status``, ``side``, ``market``, ``limit``,
    ``offset``)."""
    f = order_filter(query())
    with ctx().read() as s:
        if f.strategy:
            require_strategy(s, f.strategy)
        return jsonify({"orders": trading.orders(s, f), "limit": f.limit, "offset": f.offset})


@bp.get("/api/fills")
def api_fills() -> Any:
    """Fills newest first with the reason of each order (``strategy``, ``limit``, ``offset``)."""
    q = query()
    name = v.name(q, "strategy", required=False)
    limit, offset = v.limit(q), v.offset(q)
    with ctx().read() as s:
        if name:
            require_strategy(s, name)
        rows = trading.fills(s, strategy=name, limit=limit, offset=offset)
    return jsonify({"fills": rows, "limit": limit, "offset": offset})


# ---------------------------------------------------------------------------------- CSV exports


@bp.get("/api/export/trades.csv")
def export_trades() -> Any:
    """Every fill (``?strategy=``) with its order's type and reason, oldest first."""
    name = v.name(query(), "strategy", required=False)
    with ctx().read() as s:
        if name:
            require_strategy(s, name)

    def rows() -> Iterator[list[Any]]:
        f, o = t("fills"), t("orders")
        stmt = select(f, o.c.order_type, o.c.reason).join(o, o.c.id == f.c.order_id)
        if name:
            stmt = stmt.where(f.c.strategy == name)
        with ctx().read() as s:
            for m in s.execute(stmt.order_by(f.c.id).execution_options(yield_per=EXPORT_BATCH)):
                r = m._mapping
                yield [
                    r["id"],
                    fmt_ts(r["ts"]),
                    r["ts"],
                    r["strategy"],
                    r["instrument_id"],
                    r["side"],
                    prob(r["price"]),
                    shares(r["size"]),
                    usd(r["fee"]),
                    r["liquidity"],
                    r["order_id"],
                    r["order_type"],
                    r["reason"],
                ]

    header = [
        "fill_id",
        "time_utc",
        "ts",
        "strategy",
        "instrument_id",
        "side",
        "price",
        "size_shares",
        "fee_usd",
        "liquidity",
        "order_id",
        "order_type",
        "reason",
    ]
    return csv_response("trades.csv", header, rows())


@bp.get("/api/closed-bets")
def api_closed_bets() -> Any:
    """Closed bets newest first: entry, exit, hold time, cost, proceeds, fees, P&L, reason
    (``strategy``, ``limit``, ``offset``)."""
    q = query()
    name = v.name(q, "strategy", required=False)
    limit, offset = v.limit(q), v.offset(q)
    with ctx().read() as s:
        if name:
            require_strategy(s, name)
        rows = bets.closed_bets(s, name, limit=limit, offset=offset)
        total = bets.count_closed_bets(s, name)
    return jsonify({"closed_bets": rows, "total": total, "limit": limit, "offset": offset})


@bp.get("/api/export/closed_bets.csv")
def export_closed_bets() -> Any:
    """Every closed bet (``?strategy=``), newest first."""
    name = v.name(query(), "strategy", required=False)
    keys = [
        "strategy",
        "group_id",
        "question",
        "opened_ts",
        "closed_ts",
        "hold_s",
        "cost_usd",
        "proceeds_usd",
        "fees_usd",
        "pnl_usd",
        "return_pct",
        "result",
        "closed_by",
        "reason",
    ]
    with ctx().read() as s:
        if name:
            require_strategy(s, name)
        data = bets.closed_bets(s, name, limit=EXPORT_MAX_ORDERS)
    return csv_response(
        "closed_bets.csv",
        ["entry_utc", "exit_utc", *keys],
        ([fmt_ts(r["opened_ts"]), fmt_ts(r["closed_ts"]), *(r[k] for k in keys)] for r in data),
    )


@bp.get("/api/export/orders.csv")
def export_orders() -> Any:
    """The order log with the page's filters (up to 100,000 rows), newest first."""
    f = order_filter(query(), default_limit=EXPORT_MAX_ORDERS, max_limit=EXPORT_MAX_ORDERS)
    with ctx().read() as s:
        if f.strategy:
            require_strategy(s, f.strategy)
        data = trading.orders(s, f)
    keys = [
        "id",
        "created_ts",
        "updated_ts",
        "strategy",
        "instrument_id",
        "outcome",
        "side",
        "order_type",
        "tif",
        "post_only",
        "price",
        "size_shares",
        "filled_shares",
        "fill_pct",
        "avg_price",
        "status",
        "liquidity",
        "fees_usd",
        "reason",
        "reject_reason",
    ]
    return csv_response(
        "orders.csv",
        ["time_utc", *keys, "expires_utc"],
        ([fmt_ts(r["created_ts"]), *(r[k] for k in keys), _expiry(r["expire_ts"])] for r in data),
    )


def _expiry(ts: float | None) -> str:
    return fmt_ts(ts) if ts is not None else ""


@bp.get("/api/export/portfolio.csv")
def export_portfolio() -> Any:
    """Open positions of every strategy, valued at the latest mid."""
    d = ctx()
    with d.read() as s:
        data = trading.positions(s, d.cfg.risk.zones.boundaries)
    keys = [
        "strategy",
        "instrument_id",
        "question",
        "outcome",
        "side",
        "size_shares",
        "entry_price",
        "current_price",
        "cost_usd",
        "value_usd",
        "unrealized_pnl_usd",
        "pnl_pct",
        "realized_pnl_usd",
        "fees_usd",
        "zone",
        "opened_ts",
        "updated_ts",
    ]
    return csv_response("portfolio.csv", keys, ([r[k] for k in keys] for r in data))


@bp.get("/api/export/snapshots.csv")
def export_snapshots() -> Any:
    """Performance snapshots (``strategy``, ``hours`` back from the newest, ``granularity``)."""
    q = query()
    name = v.name(q, "strategy", required=False)
    hours = v.hours(q, default=24.0)
    gran = v.choice(q, "granularity", ("fine", "hourly"), required=False)
    with ctx().read() as s:
        if name:
            require_strategy(s, name)
    cols = [
        "strategy",
        "ts",
        "granularity",
        "equity",
        "cash",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "exposure",
        "equity_liquidation",
        "return_pct",
        "drawdown_pct",
        "sharpe",
        "win_rate",
        "trades",
        "round_trips",
        "score",
        "rank",
        "status",
    ]
    money = {
        "equity",
        "cash",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "exposure",
        "equity_liquidation",
    }

    def rows() -> Iterator[list[Any]]:
        tb = t("performance_snapshots")
        with ctx().read() as s:
            top = s.execute(select(func.max(tb.c.ts))).scalar()
            if top is None:
                return
            stmt = select(tb).where(tb.c.ts >= float(top) - hours * 3600.0)
            if name:
                stmt = stmt.where(tb.c.strategy == name)
            if gran:
                stmt = stmt.where(tb.c.granularity == gran)
            stmt = stmt.order_by(tb.c.ts, tb.c.id).execution_options(yield_per=EXPORT_BATCH)
            for m in s.execute(stmt).mappings():
                yield [fmt_ts(m["ts"]), *((usd(m[c]) if c in money else m[c]) for c in cols)]

    header = ["time_utc", *[f"{c}_usd" if c in money else c for c in cols]]
    return csv_response("snapshots.csv", header, rows())
