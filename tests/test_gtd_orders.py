"""GTD orders: how a strategy asks for one, the paper venue expiring it on the engine clock, the
risk chain's rules, and crash recovery with the expiry (the live client: tests/markets/
test_live_gtd.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.models import TABLES
from services.clock import SimClock
from services.execution.client import OrderEvent, OrderEventKind
from services.execution.orders import OrderStatus, TimeInForce
from services.instruments import Side
from services.node import build_node
from services.persistence import Sink
from services.recovery import restore
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from tests.database.rows import order_row, strategy_row
from tests.risk.conftest import T0, Idle, RecordingWriter, make_config, make_harness
from tests.strategies.harness import Harness, binary, px, sh

GTD = TimeInForce.GTD


class Quiet(Strategy):
    """Places nothing by itself; the tests use its context."""


def _rig() -> tuple[Harness, StrategyContext, list[OrderEvent]]:
    h = Harness(Quiet("s", StrategyParams()), capital=1_000)
    yes, no = binary(1, fee_rate="0.02")
    h.list(yes, no)
    h.book("Y1", [(0.40, 100)], [(0.60, 100)])
    events: list[OrderEvent] = []
    client = h.engine.client_of("s")
    emit = client._emit

    def spy(ev: OrderEvent) -> None:
        events.append(ev)
        emit(ev)

    client._emit = spy
    return h, StrategyContext("s", h.engine), events


def test_paper_gtd_rests_fills_partly_then_expires_at_its_time() -> None:
    h, ctx, events = _rig()
    pf = h.pf()
    cash0 = pf.available_cash
    expiry = ctx.now() + 30.0
    o = ctx.buy("Y1", sh(10), px(0.45), tif=GTD, expire_ts=expiry, post_only=True)
    assert o is not None and o.status is OrderStatus.OPEN
    assert o.tif is GTD and o.expire_ts == expiry
    assert pf.available_cash < cash0
    h.trade("Y1", 0.44, 4, Side.SELL, dt=5.0)  # a print through our bid fills 4
    assert o.filled == sh(4) and o.status is OrderStatus.PARTIALLY_FILLED
    h.wait(24.9)
    assert o.active
    h.wait(0.2)  # past the expiry on the engine clock
    assert o.status is OrderStatus.CANCELLED and o.extra.get("expired") is True
    assert o.updated_ts == expiry  # expired at its time, not at the next event
    assert (o.reject_reason or "").startswith("GTD order expired")
    assert [e.kind for e in events][-1] is OrderEventKind.EXPIRED
    assert pf.reserved_cash == 0  # the unfilled rest's reservation is released
    assert pf.positions["Y1"].qty == sh(4)
    pf.check_ledger()


def test_gtd_arriving_after_its_expiry_is_rejected_by_the_paper_venue() -> None:
    h = Harness(Quiet("s", StrategyParams()), latency_ms=2_000, capital=1_000)
    yes, no = binary(1)
    h.list(yes, no)
    h.book("Y1", [(0.40, 100)], [(0.60, 100)])
    ctx = StrategyContext("s", h.engine)
    o = ctx.buy("Y1", sh(10), px(0.45), tif=GTD, expire_ts=ctx.now() + 1.0)
    assert o is not None and o.status is OrderStatus.PENDING
    h.wait(3.0)
    assert o.status is OrderStatus.REJECTED and "passed on arrival" in (o.reject_reason or "")
    assert h.pf().reserved_cash == 0


@pytest.mark.parametrize(
    ("kw", "control"),
    [
        ({"tif": GTD}, "expiry"),  # no expiry
        ({"tif": GTD, "expire_ts": 0.0}, "expiry"),  # not in the future
        ({"tif": TimeInForce.GTC, "expire_ts": 1e12}, "expiry"),  # an expiry without GTD
        ({"tif": TimeInForce.FAK, "post_only": True}, "post_only"),  # post-only: GTC/GTD only
        ({"tif": GTD, "expire_ts": 1e12, "market": True}, "expiry"),  # GTD needs a limit price
    ],
)
def test_risk_chain_refuses_malformed_gtd_and_post_only(kw: dict[str, Any], control: str) -> None:
    h = make_harness()
    ctx = StrategyContext("s1", h.engine)
    if kw.get("expire_ts") == 0.0:
        kw["expire_ts"] = ctx.now()
    price = None if kw.pop("market", False) else px(0.45)
    assert ctx.buy("Y1", sh(10), price, **kw) is None
    (ev,) = [r for r in h.writer.rows.get("events", []) if r["kind"] == "risk_rejection"]
    assert f'"control": "{control}"' in ev["data_json"], ev


def test_full_chain_passes_a_gtd_and_a_gtd_sell_closes_like_gtc() -> None:
    h = make_harness()
    ctx = StrategyContext("s1", h.engine)
    b = ctx.buy("Y1", sh(10), px(0.51), tif=TimeInForce.FAK)
    assert b is not None and b.filled == sh(10)
    s = ctx.sell("Y1", sh(10), px(0.70), tif=GTD, expire_ts=ctx.now() + 10, post_only=True)
    assert s is not None and s.status is OrderStatus.OPEN
    assert h.pf("s1").reserved_shares["Y1"] == sh(10)
    h.at(ctx.now() + 11)
    assert s.extra.get("expired") is True and not h.pf("s1").reserved_shares.get("Y1")
    h.pf("s1").check_ledger()


# ---------------------------------------------------------------------------------- recovery
def _instrument(iid: str, outcome: str, complement: str) -> dict[str, Any]:
    return {
        "instrument_id": iid,
        "venue": "sim",
        "market_id": "M1",
        "outcome": outcome,
        "tick": 10_000,
        "min_size": 5_000_000,
        "fee_rate": "0",
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


def test_recovery_restores_a_gtd_order_with_its_expiry(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.execute(insert(TABLES["strategies"]), [strategy_row("s1")])
        s.execute(
            insert(TABLES["instruments"]),
            [_instrument("Y1", "Yes", "N1"), _instrument("N1", "No", "Y1")],
        )
        s.execute(
            insert(TABLES["orders"]),
            [
                order_row(
                    1,
                    "s1",
                    instrument_id="Y1",
                    tif="GTD",
                    expire_ts=T0 + 100,
                    price=400_000,
                    created_ts=T0,
                    updated_ts=T0,
                    route="paper",
                )
            ],
        )
    writer = RecordingWriter()
    clock = SimClock(T0 + 50)
    node = build_node(make_config(), [Idle("s1", StrategyParams())], Sink(writer), clock=clock)
    engine = node.engine
    restore(engine, sessions)
    (order,) = engine.open_orders("s1", None)
    assert order.tif is GTD and order.expire_ts == T0 + 100
    pf = engine.runners["s1"].portfolio
    assert pf.reserved_cash > 0
    engine.sink.order(order)
    assert writer.rows["orders"][-1]["expire_ts"] == T0 + 100  # written back with its expiry
    clock.advance(T0 + 99)
    engine.on_clock()
    assert order.active
    clock.advance(T0 + 101)
    engine.on_clock()
    assert order.status is OrderStatus.CANCELLED and order.extra.get("expired") is True
    assert pf.reserved_cash == 0
    pf.check_ledger()
