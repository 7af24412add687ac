"""Betfair instruments on the dashboard: back/lay, decimal odds, stake currency and liability.

A GBP strategy holds a back (10 at 3.0: 30 payout units) and a lay (4 at 5.0: -20 units,
liability 16) on two runners, with one resting lay order; the positions, orders and fills
show them in Betfair's terms and value them at the current odds (units / odds).
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.dashboard.seed import T0, ins, strategy

M = 1_000_000


def runner(iid: str, name: str) -> dict[str, Any]:
    return {
        "instrument_id": iid, "venue": "betfair", "market_id": "1.9", "event_id": None,
        "outcome": name, "question": "Sheffield OR 280m - WIN", "category": "greyhound racing",
        "tick": 10_000, "min_size": M, "fee_rate": "0.05", "fee_exponent": 1,
        "fee_model": "net_winnings_commission", "ladder": "betfair", "lot": 10_000,
        "currency": "GBP", "allows_short": True, "end_ts": None, "complement_id": None,
        "status": "open", "payout": None, "listed_ts": T0, "resolved_ts": None,
    }  # fmt: skip


def order(oid: int, iid: str, side: str, price: float, size: float, status: str) -> dict[str, Any]:
    filled = size * M if status == "FILLED" else 0
    return {
        "id": oid, "strategy": "bf", "instrument_id": iid, "side": side, "order_type": "limit",
        "tif": "GTC", "post_only": False, "price": int(price * M), "size": int(size * M),
        "filled": int(filled), "avg_price": int(price * M) if filled else None, "fees": 0,
        "status": status, "reason": "test", "reject_reason": None, "liquidity": "taker",
        "created_ts": T0 + oid, "updated_ts": T0 + oid,
    }  # fmt: skip


def seed_betfair(s: Session) -> None:
    ins(s, "strategies", [strategy("bf", kind="directional")])
    ins(s, "instruments", [runner("1.9:1", "Trap 1"), runner("1.9:2", "Trap 2")])
    ins(s, "orders", [
        order(1, "1.9:1", "SELL", 3.0, 10, "FILLED"),  # a back
        order(2, "1.9:2", "BUY", 5.0, 4, "FILLED"),  # a lay
        order(3, "1.9:2", "BUY", 4.5, 2, "OPEN"),  # a resting lay
    ])  # fmt: skip
    ins(s, "fills", [
        {"id": 1, "order_id": 1, "strategy": "bf", "instrument_id": "1.9:1", "side": "SELL",
         "price": 3 * M, "size": 10 * M, "fee": 0, "liquidity": "taker", "ts": T0 + 1},
        {"id": 2, "order_id": 2, "strategy": "bf", "instrument_id": "1.9:2", "side": "BUY",
         "price": 5 * M, "size": 4 * M, "fee": 0, "liquidity": "taker", "ts": T0 + 2},
    ])  # fmt: skip
    ins(s, "positions", [
        {"strategy": "bf", "instrument_id": "1.9:1", "qty": 30 * M, "cost_basis": 10 * M,
         "realized_pnl": 0, "fees": 0, "opened_ts": T0 + 1, "updated_ts": T0 + 1},
        {"strategy": "bf", "instrument_id": "1.9:2", "qty": -20 * M, "cost_basis": -4 * M,
         "realized_pnl": 0, "fees": 0, "opened_ts": T0 + 2, "updated_ts": T0 + 2},
    ])  # fmt: skip
    ins(s, "market_tops", [
        {"instrument_id": "1.9:1", "updated_ts": T0 + 3, "best_bid": int(2.48 * M),
         "best_ask": int(2.52 * M), "mid": int(2.5 * M), "last_trade": None},
        {"instrument_id": "1.9:2", "updated_ts": T0 + 3, "best_bid": int(3.95 * M),
         "best_ask": int(4.05 * M), "mid": 4 * M, "last_trade": None},
    ])  # fmt: skip


def test_positions_orders_and_fills_in_betfair_terms(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        seed_betfair(s)
    rows = {r["instrument_id"]: r for r in client.get("/api/positions").get_json()["positions"]}
    back, lay = rows["1.9:1"], rows["1.9:2"]
    assert (back["side"], back["currency"], back["entry_price"]) == ("BACK", "GBP", 3.0)
    assert back["value_usd"] == 12.0  # 30 units at odds 2.5
    assert back["unrealized_pnl_usd"] == 2.0 and back["liability"] == 10.0
    assert (lay["side"], lay["entry_price"], lay["liability"]) == ("LAY", 5.0, 16.0)
    assert lay["value_usd"] == -5.0 and lay["unrealized_pnl_usd"] == -1.0  # odds shortened to 4
    orders = {o["id"]: o for o in client.get("/api/orders").get_json()["orders"]}
    assert (orders[1]["bet_side"], orders[1]["liability"]) == ("BACK", 10.0)
    assert (orders[3]["bet_side"], orders[3]["liability"], orders[3]["currency"]) == (
        "LAY",
        7.0,
        "GBP",
    )
    html = client.get("/positions").get_data(as_text=True)
    assert "LAY" in html and "liability 7.00" in html and "4.50" in html and "GBP" in html
