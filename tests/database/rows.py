"""Row builders for database tests (money in micro-units, times in epoch seconds)."""

from __future__ import annotations

from typing import Any


def strategy_row(name: str = "mm", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "class_path": "services.strategies.mm.MarketMaker",
        "params_json": "{}",
        "kind": "market_making",
        "starting_capital": 1_000_000_000,
        "created_ts": 1.0,
        "updated_ts": 1.0,
    }
    row.update(over)
    return row


def order_row(order_id: int, strategy: str = "mm", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": order_id,
        "strategy": strategy,
        "instrument_id": "tok-yes",
        "side": "BUY",
        "order_type": "limit",
        "tif": "GTC",
        "post_only": False,
        "price": 530_000,
        "size": 10_000_000,
        "filled": 0,
        "fees": 0,
        "status": "open",
        "reason": "quote",
        "created_ts": 10.0 + order_id,
        "updated_ts": 10.0 + order_id,
    }
    row.update(over)
    return row


def fill_row(fill_id: int, order_id: int, strategy: str = "mm", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": fill_id,
        "order_id": order_id,
        "strategy": strategy,
        "instrument_id": "tok-yes",
        "side": "BUY",
        "price": 530_000,
        "size": 1_000_000,
        "fee": 0,
        "liquidity": "maker",
        "ts": 100.0 + fill_id,
    }
    row.update(over)
    return row


def position_row(strategy: str, instrument_id: str, qty: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "strategy": strategy,
        "instrument_id": instrument_id,
        "qty": qty,
        "cost_basis": qty // 2,
        "realized_pnl": 0,
        "fees": 0,
        "opened_ts": 1.0,
        "updated_ts": 2.0,
    }
    row.update(over)
    return row
