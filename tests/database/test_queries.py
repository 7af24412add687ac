"""Read helpers return what the writer wrote."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from database import queries
from database.writer import DbWriter
from tests.database.rows import fill_row, order_row, position_row, strategy_row


def snapshot_row(strategy: str, ts: float, equity: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "strategy": strategy,
        "ts": ts,
        "granularity": "fine",
        "equity": equity,
        "cash": equity,
        "realized_pnl": 0,
        "unrealized_pnl": 0,
        "fees": 0,
        "exposure": 0,
        "equity_liquidation": equity,
        "return_pct": 0.0,
        "drawdown_pct": 0.0,
        "trades": 0,
        "round_trips": 0,
        "score": 0.0,
        "rank": 1,
        "status": "active",
    }
    row.update(over)
    return row


def instrument_row(instrument_id: str, market_id: str = "m1", **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "instrument_id": instrument_id,
        "venue": "sim",
        "market_id": market_id,
        "outcome": "Yes",
        "question": "Will it rain?",
        "category": "weather",
        "tick": 10_000,
        "min_size": 5_000_000,
        "fee_rate": "0.02",
        "fee_exponent": 1,
        "listed_ts": 1.0,
    }
    row.update(over)
    return row


@pytest.fixture()
def populated(writer: DbWriter) -> DbWriter:
    writer.upsert("strategies", strategy_row("mm"))
    writer.upsert("strategies", strategy_row("arb", kind="arbitrage", stage="live"))
    writer.upsert("orders", order_row(1, "mm", status="filled", updated_ts=50.0))
    writer.upsert("orders", order_row(2, "mm", status="open"))
    writer.upsert("orders", order_row(3, "arb", status="partially_filled"))
    writer.upsert("orders", order_row(4, "arb", status="pending"))
    writer.upsert("orders", order_row(5, "arb", status="cancelled"))
    writer.upsert("orders", order_row(6, "arb", status="rejected", reject_reason="max exposure"))
    writer.insert("fills", fill_row(2, 3, "arb", ts=120.0))
    writer.insert("fills", fill_row(1, 1, "mm", ts=110.0))
    writer.insert("fills", fill_row(3, 1, "mm", ts=130.0))
    writer.insert(
        "settlements",
        {
            "id": 1,
            "strategy": "mm",
            "instrument_id": "tok-yes",
            "size": 2_000_000,
            "payout_per_share": 1_000_000,
            "amount": 2_000_000,
            "ts": 140.0,
        },
    )
    writer.upsert("positions", position_row("mm", "tok-yes", 2_000_000))
    for i in range(3):
        writer.upsert("instruments", instrument_row(f"tok-{i}", end_ts=1000.0 + i))
    assert writer.flush()
    return writer


def test_empty_database(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        assert queries.max_ids(session) == {"orders": 0, "fills": 0, "settlements": 0}
        assert queries.last_event_ts(session) is None
        assert queries.load_strategies(session) == []
        assert queries.latest_snapshots(session) == []
        assert queries.get_state(session, "missing") is None
        assert queries.get_state(session, "missing", default={"x": 1}) == {"x": 1}


def test_strategies_fills_settlements(
    populated: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        strategies = queries.load_strategies(session)
        assert [(s["name"], s["kind"], s["stage"]) for s in strategies] == [
            ("arb", "arbitrage", "live"),
            ("mm", "market_making", "paper"),
        ]
        assert [f["id"] for f in queries.load_fills(session)] == [1, 2, 3]
        mm_fills = queries.load_fills(session, strategy="mm")
        assert [(f["id"], f["order_id"], f["ts"]) for f in mm_fills] == [
            (1, 1, 110.0),
            (3, 1, 130.0),
        ]
        assert queries.load_fills(session, strategy="nobody") == []
        settlements = queries.load_settlements(session)
        assert [(s["id"], s["amount"]) for s in settlements] == [(1, 2_000_000)]
        assert queries.load_settlements(session, strategy="arb") == []
        positions = queries.load_positions(session, strategy="mm")
        assert [(p["instrument_id"], p["qty"]) for p in positions] == [("tok-yes", 2_000_000)]


def test_open_orders_and_ids(populated: DbWriter, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        open_orders = queries.load_open_orders(session)
        assert [(o["id"], o["status"]) for o in open_orders] == [
            (2, "open"),
            (3, "partially_filled"),
            (4, "pending"),
        ]
        assert queries.max_ids(session) == {"orders": 6, "fills": 3, "settlements": 1}
        assert queries.last_event_ts(session) == 140.0  # the settlement


def test_last_event_ts_includes_snapshots_and_orders(
    populated: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    populated.insert("performance_snapshots", snapshot_row("mm", 500.0, 1))
    assert populated.flush()
    with session_factory() as session:
        assert queries.last_event_ts(session) == 500.0
    populated.update("orders", {"id": 2, "status": "cancelled", "updated_ts": 900.0})
    assert populated.flush()
    with session_factory() as session:
        assert queries.last_event_ts(session) == 900.0


def test_load_instruments(populated: DbWriter, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        all_rows = queries.load_instruments(session)
        assert [r["instrument_id"] for r in all_rows] == ["tok-0", "tok-1", "tok-2"]
        assert all_rows[1]["end_ts"] == 1001.0
        assert all_rows[0]["fee_rate"] == "0.02"
        assert all_rows[0]["status"] == "open"  # server default
        some = queries.load_instruments(session, ids=["tok-2", "tok-0", "unknown"])
        assert [r["instrument_id"] for r in some] == ["tok-0", "tok-2"]
        assert queries.load_instruments(session, ids=[]) == []


def test_load_instruments_with_many_ids(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    for i in range(1200):
        writer.upsert("instruments", instrument_row(f"t{i:05d}"))
    assert writer.flush()
    wanted = [f"t{i:05d}" for i in range(0, 1200, 1)] + ["nope"]
    with session_factory() as session:
        rows = queries.load_instruments(session, ids=wanted)
    assert len(rows) == 1200
    assert rows[0]["instrument_id"] == "t00000" and rows[-1]["instrument_id"] == "t01199"


def test_snapshots(writer: DbWriter, session_factory: sessionmaker[Session]) -> None:
    for ts, equity in [(10.0, 100), (20.0, 110), (30.0, 105)]:
        writer.insert("performance_snapshots", snapshot_row("mm", ts, equity))
    writer.insert("performance_snapshots", snapshot_row("arb", 25.0, 7, granularity="hourly"))
    writer.insert("performance_snapshots", snapshot_row("arb", 15.0, 6))
    # A tie on ts: the later row (higher id) is the latest.
    writer.insert("performance_snapshots", snapshot_row("arb", 25.0, 8))
    assert writer.flush()
    with session_factory() as session:
        latest = queries.latest_snapshots(session)
        assert [(r["strategy"], r["ts"], r["equity"]) for r in latest] == [
            ("arb", 25.0, 8),
            ("mm", 30.0, 105),
        ]
        assert "_rn" not in latest[0]
        history = queries.snapshot_history(session, "mm", since_ts=20.0)
        assert [(r["ts"], r["equity"]) for r in history] == [(20.0, 110), (30.0, 105)]
        hourly = queries.snapshot_history(session, "arb", since_ts=0.0, granularity="hourly")
        assert [r["equity"] for r in hourly] == [7]
    with session_factory.begin() as session:
        assert queries.prune_snapshots(session, "fine", older_than_ts=25.0) == 3
    with session_factory() as session:
        remaining = sorted(
            (r["strategy"], r["ts"]) for r in queries.snapshot_history(session, "mm", 0.0)
        )
        assert remaining == [("mm", 30.0)]
        assert len(queries.snapshot_history(session, "arb", 0.0)) == 2


def test_state_round_trip(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        queries.set_state(session, "kill_switch", {"active": True, "reason": "manual"}, ts=1.0)
        queries.set_state(session, "breakers", [1, 2], ts=1.0)
    with session_factory.begin() as session:
        queries.set_state(session, "kill_switch", {"active": False}, ts=2.0)
    with session_factory() as session:
        assert queries.get_state(session, "kill_switch") == {"active": False}
        assert queries.get_state(session, "breakers") == [1, 2]
        assert queries.table_counts(session, ["bot_state"]) == {"bot_state": 2}


def test_commands(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        first = queries.submit_command(
            session, "kill_switch", {"active": True}, source="dashboard", created_ts=1.0
        )
        second = queries.submit_command(
            session, "pause", {"strategy": "mm"}, source="cli", created_ts=2.0
        )
    with session_factory() as session:
        pending = queries.pending_commands(session)
        assert [(c["id"], c["command"], c["args_json"]) for c in pending] == [
            (first, "kill_switch", '{"active": true}'),
            (second, "pause", '{"strategy": "mm"}'),
        ]
    with session_factory.begin() as session:
        queries.finish_command(session, first, ok=True, result="halted", applied_ts=3.0)
        queries.finish_command(session, second, ok=False, result="no such strategy", applied_ts=3.0)
    with session_factory() as session:
        assert queries.pending_commands(session) == []
        recent = queries.recent_commands(session, limit=10)
        assert [(c["id"], c["status"], c["result"], c["applied_ts"]) for c in recent] == [
            (second, "failed", "no such strategy", 3.0),
            (first, "applied", "halted", 3.0),
        ]
        assert len(queries.recent_commands(session, limit=1)) == 1
        counts = queries.table_counts(session, ["control_commands"])
        assert counts == {"control_commands": 2}
