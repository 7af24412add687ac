"""Restart exactness (issue 12): what ``services.recovery.restore`` rebuilds from the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.models import TABLES
from services.clock import SimClock
from services.engine import Engine
from services.execution.orders import OrderStatus
from services.node import build_node
from services.persistence import Sink
from services.recovery import restore
from services.strategies.base import StrategyParams
from tests.database.rows import fill_row, order_row, strategy_row
from tests.risk.conftest import T0, Idle, RecordingWriter, make_config

M = 1_000_000


def _instrument(iid: str, outcome: str, complement: str, market: str = "M1") -> dict[str, Any]:
    return {
        "instrument_id": iid,
        "venue": "sim",
        "market_id": market,
        "outcome": outcome,
        "tick": 10_000,
        "min_size": 5 * M,
        "fee_rate": "0.02",
        "fee_exponent": 1,
        "end_ts": T0 + 3600,
        "complement_id": complement,
        "status": "open",
        "listed_ts": T0,
    }


@pytest.fixture()
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = db_url_from_path(tmp_path / "bot.db")
    migrate(url)
    return make_session_factory(make_engine(url))


def _engine() -> tuple[Engine, RecordingWriter]:
    writer = RecordingWriter()
    strategies = [Idle("s1", StrategyParams())]
    node = build_node(make_config(), strategies, Sink(writer), clock=SimClock(T0))
    return node.engine, writer


def _seed(sessions: sessionmaker[Session]) -> None:
    """s1 bought 10 YES (taker, fee), then rests a SELL of 10 of which 4 filled (maker)."""
    with sessions.begin() as s:
        s.execute(insert(TABLES["strategies"]), [strategy_row("s1")])
        s.execute(
            insert(TABLES["instruments"]),
            [_instrument("Y1", "Yes", "N1"), _instrument("N1", "No", "Y1")],
        )
        buy = order_row(
            1, "s1", instrument_id="Y1", size=10 * M, filled=10 * M, status="filled", price=500_000
        )
        sell = order_row(
            2,
            "s1",
            instrument_id="Y1",
            side="SELL",
            size=10 * M,
            filled=4 * M,
            status="partially_filled",
            price=600_000,
            created_ts=T0 + 20,
        )
        s.execute(insert(TABLES["orders"]), [buy, sell])
        s.execute(
            insert(TABLES["fills"]),
            [
                fill_row(
                    1,
                    1,
                    "s1",
                    instrument_id="Y1",
                    price=500_000,
                    size=10 * M,
                    fee=50_000,
                    liquidity="taker",
                    ts=T0 + 10,
                ),
                fill_row(
                    2,
                    2,
                    "s1",
                    instrument_id="Y1",
                    side="SELL",
                    price=600_000,
                    size=3 * M,
                    fee=0,
                    liquidity="maker",
                    ts=T0 + 30,
                ),
                fill_row(
                    3,
                    2,
                    "s1",
                    instrument_id="Y1",
                    side="SELL",
                    price=610_000,
                    size=1 * M,
                    fee=0,
                    liquidity="maker",
                    ts=T0 + 31,
                ),
            ],
        )


def test_the_other_token_of_a_held_market_is_carried_over(
    sessions: sessionmaker[Session],
) -> None:
    # Only YES has fills and orders; the market must still be re-listed with both tokens
    # (it used to fail "cannot adopt market M1: expected 2 tokens, got 1").
    _seed(sessions)
    engine, _ = _engine()
    rep = restore(engine, sessions)
    assert sorted(i.instrument_id for i in rep.carried_instruments) == ["N1", "Y1"]


def test_a_partly_filled_resting_sell_stays_open_with_its_fill_details(
    sessions: sessionmaker[Session],
) -> None:
    _seed(sessions)
    engine, writer = _engine()
    restore(engine, sessions)
    pf = engine.runners["s1"].portfolio
    assert pf.positions["Y1"].qty == 6 * M
    cancelled = [r for r in writer.rows.get("orders", []) if r["status"] == "cancelled"]
    assert cancelled == []  # was "not funded after restart": the check used the full size
    (order,) = engine.open_orders("s1", None)
    assert (order.order_id, order.filled, order.remaining) == (2, 4 * M, 6 * M)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.avg_price == (3 * 600_000 + 1 * 610_000) // 4
    assert order.fees == 0 and order.liquidity == "maker"
    assert pf.reserved_shares["Y1"] == 6 * M  # the unfilled remainder is held back


def test_a_restored_order_written_again_keeps_avg_price_fees_and_liquidity(
    sessions: sessionmaker[Session],
) -> None:
    _seed(sessions)
    with sessions.begin() as s:  # make the resting order a taker-filled one with fees
        s.execute(
            TABLES["fills"]
            .update()
            .where(TABLES["fills"].c.order_id == 2)
            .values(liquidity="taker", fee=7_000)
        )
    engine, writer = _engine()
    restore(engine, sessions)
    (order,) = engine.open_orders("s1", None)
    engine.sink.order(order)
    row = writer.rows["orders"][-1]
    assert (row["avg_price"], row["fees"], row["liquidity"]) == (602_500, 14_000, "taker")
