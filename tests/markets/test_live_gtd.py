"""GTD orders on the live Polymarket client against the fake CLOB V2 venue.

The venue expires a GTD order one minute before its signed ``expiration`` and wants that
expiration at least three minutes ahead (docs.polymarket.com/trading/place-orders); the client
signs ``expiry + 60`` and refuses lifetimes under two minutes locally with a clear reason.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.execution.client import OrderEventKind
from services.execution.orders import OrderStatus, TimeInForce
from services.markets.polymarket.live.client import GTD_MIN_LIFETIME_S
from services.money import MICRO
from tests.markets.test_live_client import Rig, best, make_rig


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r, close = await make_rig(order_timeout_s=5.0)
    yield r
    await close()


async def test_gtd_is_signed_with_the_security_threshold_and_expires_at_the_venue(
    rig: Rig,
) -> None:
    bid, _ = best(rig)
    now = rig.h.clock.now()
    kinds: list[OrderEventKind] = []
    emit = rig.client._emit

    def spy(ev: Any) -> None:
        kinds.append(ev.kind)
        emit(ev)

    rig.client._emit = spy
    cash0 = rig.h.pf().available_cash
    wall0 = time.time()
    o = rig.buy(bid, 5 * MICRO, tif=TimeInForce.GTD, expire_ts=now + 150, post_only=True)
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted")
    assert rig.h.pf().available_cash < cash0  # reserved while it rests
    vo = rig.fake.orders[o.venue_order_id or ""]
    assert vo.order_type == "GTD" and vo.post_only
    assert rig.fake.posted[-1]["orderType"] == "GTD"
    # Signed expiration = wall time of the expiry + 60 s (the venue's security threshold).
    assert wall0 + 150 + 60 <= vo.expiration <= time.time() + 150 + 60 + 1
    # The order timeout (5 s) does not cut a GTD order short: the strategy chose its lifetime.
    rig.h.wait(10.0)
    await rig.until(lambda: True, "a tick")
    assert o.status is OrderStatus.OPEN
    # 150 s later the venue expires it (its clock moved on); the client reports an expiry.
    rig.h.wait(140.0)
    rig.fake.time_shift_s = 151.0
    await rig.until(lambda: o.status is OrderStatus.CANCELLED, "expiry")
    assert vo.id in rig.fake.expired
    assert o.extra.get("expired") is True
    assert kinds == [OrderEventKind.ACCEPTED, OrderEventKind.EXPIRED]
    assert (o.reject_reason or "").startswith("GTD order expired")
    assert rig.h.pf().available_cash == cash0  # reservation released
    rig.h.pf().check_ledger()


async def test_gtd_too_near_is_refused_locally_with_the_reason(rig: Rig) -> None:
    bid, _ = best(rig)
    now = rig.h.clock.now()
    o = rig.buy(bid, 5 * MICRO, tif=TimeInForce.GTD, expire_ts=now + GTD_MIN_LIFETIME_S - 1)
    assert o.status is OrderStatus.REJECTED
    assert "too near" in (o.reject_reason or "") and "120 s" in (o.reject_reason or "")
    assert not rig.fake.posted
    assert rig.h.pf().reserved_cash == 0


async def test_gtd_expiry_missed_by_the_channel_is_found_by_the_refresh(rig: Rig) -> None:
    bid, _ = best(rig)
    now = rig.h.clock.now()
    o = rig.buy(bid, 5 * MICRO, tif=TimeInForce.GTD, expire_ts=now + 130)
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted")
    rig.fake.mute_user = True
    rig.fake.time_shift_s = 131.0
    await rig.until(lambda: bool(rig.fake.expired), "venue expiry")
    rig.h.wait(130.0)
    lines = await rig.client.refresh("timer")
    assert lines == []  # an expiry is not a difference
    assert o.status is OrderStatus.CANCELLED and o.extra.get("expired") is True


# ------------------------------------------------------------------ fees from the trade
async def test_taker_fee_comes_from_the_trades_fee_rate_bps(rig: Rig) -> None:
    from decimal import Decimal

    from services.money import taker_fee

    _, ask = best(rig)
    rig.fake.trade_fee_bps = "100"  # the venue charges 1 %, the market's schedule says 7.2 %
    o = rig.buy(ask, 5 * MICRO, tif=TimeInForce.FAK)
    await rig.until(lambda: o.filled == 5 * MICRO, "taker fill")
    fill = rig.h.sink.fills[-1]
    assert fill.fee_source == "trade"
    assert (
        fill.fee
        == taker_fee(5 * MICRO, ask, Decimal("0.01"))
        != rig.yes.fees.taker_fee(5 * MICRO, ask)
    )
    assert o.fees == fill.fee


async def test_fee_falls_back_to_the_model_without_a_rate(rig: Rig) -> None:
    _, ask = best(rig)
    rig.fake.omit_fee_rate = True
    o = rig.buy(ask, 5 * MICRO, tif=TimeInForce.FAK)
    await rig.until(lambda: o.filled == 5 * MICRO, "taker fill")
    fill = rig.h.sink.fills[-1]
    assert fill.fee_source == "model"
    assert fill.fee == rig.yes.fees.taker_fee(5 * MICRO, ask) > 0


# ------------------------------------------------------------------ reversals
async def test_a_reversal_reaches_the_strategy_as_on_fill_reversed(rig: Rig) -> None:
    from tests.markets.test_live_client import Idle

    strat = rig.h.engine.runners["s"].strategy
    assert isinstance(strat, Idle)
    _, ask = best(rig)
    rig.fake.fail_trades = 1
    o = rig.buy(ask, 5 * MICRO, tif=TimeInForce.FAK)
    await rig.until(lambda: any(v[0] == o.order_id for v in rig.verified), "FAILED label")
    rig.h.wait(0.1)  # strategies hear of fills after the next market event
    assert [(f.side.value, f.size, f.is_reversal) for f in strat.fills] == [
        ("BUY", 5 * MICRO, False)
    ]
    (rev,) = strat.reversals
    assert rev.is_reversal and rev.side.value == "SELL" and rev.size == 5 * MICRO
    assert rev.fee == -strat.fills[0].fee and rev.venue_fill_id.endswith(":reversal")
    pos = rig.h.pf().positions.get(rig.yes.instrument_id)
    assert pos is None or pos.qty == 0  # the ledger undid it as before


# ------------------------------------------------------------------ restart
async def test_a_restored_gtd_order_keeps_its_expiry_and_expires_after_the_restart(
    rig: Rig,
) -> None:
    """A restart (a new client over the same venue) takes back a working GTD order as recovery
    builds it from the database; the venue expires it while the bot is down; the start-up
    refresh records the expiry, not a difference."""
    from services.execution.client import OrderEvent
    from services.execution.orders import Order
    from services.markets.polymarket.live.client import LivePolymarketClient

    bid, _ = best(rig)
    now = rig.h.clock.now()
    o = rig.buy(bid, 5 * MICRO, tif=TimeInForce.GTD, expire_ts=now + 200)
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted")
    stored = Order(
        order_id=o.order_id,
        strategy=o.strategy,
        instrument_id=o.instrument_id,
        side=o.side,
        price=o.price,
        size=o.size,
        tif=o.tif,
        expire_ts=o.expire_ts,
        status=OrderStatus.OPEN,
        client_order_id=o.client_order_id,
        venue_order_id=o.venue_order_id,
        route=o.route,
    )
    clock = [now + 300.0]
    fresh = LivePolymarketClient(
        rig.client.clob, rig.client.books, rig.client.instruments, rig.client.cfg,
        clock=lambda: clock[0],
    )  # fmt: skip
    events: list[OrderEvent] = []
    fresh.bind(events.append)
    fresh.restore(stored)
    assert fresh.next_due == now + 200 + 5  # the expiry, not the order timeout
    rig.fake.time_shift_s = 201.0  # the venue expired it while the bot was down
    await rig.until(lambda: bool(rig.fake.expired), "venue expiry")
    assert await fresh.refresh("start") == []
    assert stored.status is OrderStatus.CANCELLED and stored.extra.get("expired") is True
    assert [e.kind for e in events] == [OrderEventKind.EXPIRED]
