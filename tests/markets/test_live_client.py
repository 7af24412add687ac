"""The live Polymarket client through the official SDK against the fake CLOB V2 venue.

Every test drives a real engine (the strategy harness) whose strategy is routed to the live
client; the client signs with ``polymarket-client`` and talks HTTP and WebSocket to
``tests/markets/fake_clob.py`` on 127.0.0.1 (HMAC headers checked by the fake).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.events import BookSnapshot
from services.execution.orders import Fill, Order, OrderStatus, TimeInForce
from services.keys.store import Secrets
from services.markets.polymarket.gamma import parse_gamma_market
from services.markets.polymarket.live.client import LivePolymarketClient
from services.markets.polymarket.live.user_channel import UserChannel
from services.markets.polymarket.live.venue import ClobVenue, connect_sdk
from services.money import MICRO
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from tests.markets.fake_clob import POST_ONLY_CROSS_MSG, TEST_PRIVATE_KEY, FakeClob
from tests.strategies.harness import Harness
from utils.live_config import LiveConfig


class Idle(Strategy):
    """Does nothing on its own; the test places orders through its context. Records the fills
    and reversals it hears of."""

    def __init__(self, name: str, params: StrategyParams) -> None:
        super().__init__(name, params)
        self.fills: list[Fill] = []
        self.reversals: list[Fill] = []

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        self.fills.append(fill)

    def on_fill_reversed(self, ctx: StrategyContext, fill: Fill) -> None:
        self.reversals.append(fill)


@dataclass
class Rig:
    fake: FakeClob
    h: Harness
    client: LivePolymarketClient
    ctx: StrategyContext
    yes: Any
    channel: UserChannel
    verified: list[tuple[int, str, dict[str, Any]]]
    problems: list[tuple[str, str]]

    async def until(self, cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            self.h.engine.on_clock()
            if cond():
                return
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    def buy(self, price: int, size: int, **kw: Any) -> Order:
        o = self.ctx.buy(self.yes.instrument_id, size, price, **kw)
        assert o is not None
        return o

    def sell(self, price: int, size: int, **kw: Any) -> Order:
        o = self.ctx.sell(self.yes.instrument_id, size, price, **kw)
        assert o is not None
        return o


def secrets_for(fake: FakeClob) -> Secrets:
    return Secrets(
        {
            "private_key": TEST_PRIVATE_KEY,
            "api_key": fake.creds["apiKey"],
            "api_secret": fake.creds["secret"],
            "api_passphrase": fake.creds["passphrase"],
        }
    )


async def make_rig(**cfg_kw: Any) -> tuple[Rig, Callable[[], Any]]:
    fake = FakeClob()
    url = await fake.start()
    cfg = LiveConfig(
        enabled=True,
        dry_run=cfg_kw.pop("dry_run", False),
        clob_url=url,
        user_ws_url=fake.user_ws_url,
        request_timeout_s=cfg_kw.pop("request_timeout_s", 2.0),
        **cfg_kw,
    )
    sdk = await connect_sdk(cfg, secrets_for(fake))
    venue = ClobVenue(sdk, cfg)
    holder: dict[str, LivePolymarketClient] = {}

    def factory(books: Any, instruments: Any, app_cfg: Any) -> LivePolymarketClient:
        c = LivePolymarketClient(venue, books, instruments, cfg, clock=h_clock)
        holder["c"] = c
        return c

    s = Idle("s", StrategyParams())
    clock_box: list[Any] = []

    def h_clock() -> float:
        return float(clock_box[0].now())

    h = Harness(s, client=factory, capital=1_000)  # type: ignore[arg-type]
    clock_box.append(h.clock)
    client = holder["c"]
    m = parse_gamma_market(fake.markets[0])
    yes = m.instruments[0]
    h.list(*m.instruments)
    fb = fake.books[yes.instrument_id]
    h.send(
        BookSnapshot(
            h.at(),
            yes.instrument_id,
            tuple(sorted(fb.bids.items(), reverse=True)),
            tuple(sorted(fb.asks.items())),
        )
    )
    verified: list[tuple[int, str, dict[str, Any]]] = []
    problems: list[tuple[str, str]] = []
    client.on_verified = lambda o, label, d: verified.append((o.order_id, label, d))
    client.on_problem = lambda k, m: problems.append((k, m))
    channel = UserChannel(
        cfg.user_ws_url,
        lambda: {
            "apiKey": fake.creds["apiKey"],
            "secret": fake.creds["secret"],
            "passphrase": fake.creds["passphrase"],
        },
        client.on_user_message,
        lambda reason: _refresh(client, reason, problems),
        backoff_s=(0.05, 0.2),
    )
    task = asyncio.create_task(channel.run())
    await asyncio.wait_for(channel.connected.wait(), 5)
    ctx = StrategyContext("s", h.engine)
    rig = Rig(fake, h, client, ctx, yes, channel, verified, problems)

    async def close() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await venue.close()
        await fake.stop()

    return rig, close


async def _refresh(client: LivePolymarketClient, reason: str, problems: list[Any]) -> None:
    for line in await client.refresh(reason):
        problems.append(("reconcile", line))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r, close = await make_rig()
    yield r
    await close()


def best(rig: Rig) -> tuple[int, int]:
    fb = rig.fake.books[rig.yes.instrument_id]
    bid, ask = fb.best_bid(), fb.best_ask()
    assert bid is not None and ask is not None
    return bid, ask


async def test_resting_order_fills_provisionally_then_confirms(rig: Rig) -> None:
    bid, _ = best(rig)
    o = rig.buy(bid, 10 * MICRO)
    assert o.status is OrderStatus.PENDING and o.route == "test"
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted")
    assert o.venue_order_id is not None and o.venue_order_id.startswith("0x")
    assert rig.fake.orders[o.venue_order_id].status == "LIVE"
    rig.fake.confirm_delay_s = 0.3
    await rig.fake.fill_resting(o.venue_order_id, 4 * MICRO)
    await rig.until(lambda: o.filled == 4 * MICRO, "maker fill")
    pf = rig.h.pf()
    assert pf.positions[rig.yes.instrument_id].qty == 4 * MICRO  # counts at once
    assert [t.size for t in rig.client.provisional] == [4 * MICRO]
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.maker_fills == 1
    await rig.until(lambda: not rig.client.provisional, "CONFIRMED")
    assert pf.positions[rig.yes.instrument_id].qty == 4 * MICRO
    assert rig.h.sink.fills[-1].venue_fill_id.startswith("trade-")


async def test_failed_trade_is_reversed_exactly(rig: Rig) -> None:
    _, ask = best(rig)
    pf = rig.h.pf()
    cash0 = pf.cash
    rig.fake.fail_trades = 1
    collateral0 = rig.fake.collateral
    o = rig.buy(ask, 5 * MICRO, tif=TimeInForce.FAK)
    await rig.until(lambda: o.filled == 5 * MICRO, "provisional taker fill")
    assert pf.positions[rig.yes.instrument_id].qty == 5 * MICRO
    assert pf.cash < cash0
    await rig.until(lambda: any(v[0] == o.order_id for v in rig.verified), "FAILED label")
    assert o.filled == 0 and o.status is OrderStatus.CANCELLED
    pos = pf.positions.get(rig.yes.instrument_id)
    assert pos is None or pos.qty == 0
    assert pf.cash == cash0  # the reversal refunds price and fee exactly
    assert rig.fake.collateral == collateral0
    rev = rig.h.sink.fills[-1]
    assert rev.venue_fill_id.endswith(":reversal") and rev.side.value == "SELL"
    assert dict((v[0], v[1]) for v in rig.verified)[o.order_id] == "FAILED"
    assert any(k == "trade_failed" for k, _ in rig.problems)


async def test_taker_fill_is_verified_with_slippage_figures(rig: Rig) -> None:
    _, ask = best(rig)
    o = rig.buy(ask, 5 * MICRO, tif=TimeInForce.FOK)
    await rig.until(lambda: any(v[0] == o.order_id for v in rig.verified), "verification")
    label, detail = next((v[1], v[2]) for v in rig.verified if v[0] == o.order_id)
    assert label == "VERIFIED" and detail["slippage_pct"] == 0.0
    assert detail["ack_latency_ms"] >= 0 and o.extra["verification"] == "VERIFIED"
    assert o.status is OrderStatus.FILLED and o.taker_fills == 1


async def test_venue_and_local_rejections(rig: Rig) -> None:
    bid, ask = best(rig)
    rig.fake.reject_next("not enough balance / allowance: injected")
    refused = rig.buy(bid, 5 * MICRO)  # first of the batch: gets the injected refusal
    crossing = rig.buy(ask, 5 * MICRO, post_only=True)
    off_tick = rig.buy(bid + 1, 5 * MICRO)
    small = rig.buy(bid, 1 * MICRO)
    await rig.until(
        lambda: crossing.status is OrderStatus.REJECTED and refused.status is OrderStatus.REJECTED,
        "venue rejections",
    )
    assert crossing.reject_reason == f"post_only_would_cross: {POST_ONLY_CROSS_MSG}"
    assert refused.reject_reason is not None and refused.reject_reason.startswith(
        "not_enough_balance"
    )
    assert off_tick.status is OrderStatus.REJECTED and "tick" in (off_tick.reject_reason or "")
    assert small.status is OrderStatus.REJECTED and "minimum" in (small.reject_reason or "")
    assert rig.h.pf().reserved_cash == 0


async def test_batch_of_orders_in_one_request(rig: Rig) -> None:
    bid, _ = best(rig)
    a = rig.buy(bid, 5 * MICRO)
    b = rig.buy(bid - rig.yes.tick, 5 * MICRO)
    await rig.until(lambda: a.status is OrderStatus.OPEN and b.status is OrderStatus.OPEN, "acks")
    posts = [p for p, st in rig.fake.request_log if p in ("/order", "/orders")]
    assert posts == ["/orders"]
    assert len(rig.fake.open_orders_list()) == 2


async def test_425_pauses_then_only_post_only_orders_go(rig: Rig) -> None:
    bid, _ = best(rig)
    rig.fake.fail_next("/order", 425, retry_after="0.1")
    o = rig.buy(bid, 5 * MICRO, post_only=True)
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted after the 425")
    assert rig.client.clob.restarts == 1 and rig.client.clob.post_only_mode()
    plain = rig.buy(bid, 5 * MICRO)
    assert plain.status is OrderStatus.REJECTED and "425" in (plain.reject_reason or "")
    ok = rig.buy(bid - rig.yes.tick, 5 * MICRO, post_only=True)
    await rig.until(lambda: ok.status is OrderStatus.OPEN, "post-only accepted")


async def test_429_is_retried_after_retry_after(rig: Rig) -> None:
    bid, _ = best(rig)
    rig.fake.fail_next("/order", 429, retry_after="0.05")
    o = rig.buy(bid, 5 * MICRO)
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted after the 429")
    assert rig.client.clob.throttled == 1
    assert [st for p, st in rig.fake.request_log if p == "/order"] == [429, 200]


async def test_lost_answer_is_never_resent_and_reconciliation_cancels_it() -> None:
    r, close = await make_rig(request_timeout_s=0.3)
    try:
        bid, _ = best(r)
        r.fake.delay_next("/order", 0.6)
        o = r.buy(bid, 5 * MICRO)
        await r.until(lambda: o.status is OrderStatus.REJECTED, "timeout")
        assert "acceptance unknown" in (o.reject_reason or "")
        for _ in range(500):  # the venue did take it (after its delay; slower on a busy machine)
            if r.fake.open_orders_list() and any(p == "/order" for p, _ in r.fake.request_log):
                break
            await asyncio.sleep(0.01)
        assert len(r.fake.open_orders_list()) == 1
        assert [p for p, _ in r.fake.request_log].count("/order") == 1  # never sent twice
        diffs = await r.client.refresh("timer")
        assert len(diffs) == 1 and "does not know" in diffs[0]
        assert r.fake.open_orders_list() == []
    finally:
        await close()


async def test_dropped_user_socket_missed_fill_recovered_over_rest(rig: Rig) -> None:
    bid, _ = best(rig)
    o = rig.buy(bid, 10 * MICRO)
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted")
    rig.fake.mute_user = True  # these messages are lost, as on a real disconnect
    await rig.fake.fill_resting(o.venue_order_id or "", 6 * MICRO)
    await asyncio.sleep(0.2)
    rig.h.engine.on_clock()
    assert o.filled == 0
    rig.fake.mute_user = False
    await rig.fake.drop_user_sockets()
    await rig.until(lambda: o.filled == 6 * MICRO, "REST refresh after reconnect")
    assert rig.channel.connections >= 2
    assert rig.h.pf().positions[rig.yes.instrument_id].qty == 6 * MICRO


async def test_heartbeat_expiry_cancels_everything_at_the_venue(rig: Rig) -> None:
    bid, _ = best(rig)
    rig.fake.heartbeat_timeout_s = 0.3
    o = rig.buy(bid, 5 * MICRO)
    await rig.until(lambda: o.status is OrderStatus.OPEN, "accepted")
    hb1 = await rig.client.clob.heartbeat()
    hb2 = await rig.client.clob.heartbeat()
    assert hb1 != hb2 and rig.fake.heartbeats == 2
    await rig.until(lambda: o.status is OrderStatus.CANCELLED, "dead-man cancel", timeout=3)
    assert rig.fake.heartbeat_expiries == 1
    assert "cancelled by the venue" in (o.reject_reason or "")


async def test_order_timeout_cancels_unfilled_orders() -> None:
    r, close = await make_rig(order_timeout_s=5.0, order_timeout_per_strategy_s={"s": 2.0})
    try:
        bid, _ = best(r)
        o = r.buy(bid, 5 * MICRO)
        await r.until(lambda: o.status is OrderStatus.OPEN, "accepted")
        r.h.wait(1.0)
        assert o.status is OrderStatus.OPEN
        r.h.wait(1.5)  # past the strategy's 2 s timeout (event time)
        await r.until(lambda: o.status is OrderStatus.CANCELLED, "timeout cancel")
        assert o.reject_reason == "order timeout: unfilled after 2 s"
        assert r.fake.orders[o.venue_order_id or ""].status == "CANCELED"
    finally:
        await close()


async def test_kill_cancels_everything_in_one_request(rig: Rig) -> None:
    bid, _ = best(rig)
    orders = [rig.buy(bid - k * rig.yes.tick, 5 * MICRO) for k in range(3)]
    await rig.until(lambda: all(o.status is OrderStatus.OPEN for o in orders), "acks")
    n = await rig.client.kill("kill switch: test")
    assert n == 3 and rig.fake.open_orders_list() == []
    await rig.until(lambda: all(o.status is OrderStatus.CANCELLED for o in orders), "cancelled")
    assert [p for p, _ in rig.fake.request_log].count("/cancel-all") == 1
    late = rig.buy(bid, 5 * MICRO)
    assert late.status is OrderStatus.REJECTED and "kill switch" in (late.reject_reason or "")


async def test_dry_run_signs_but_never_posts() -> None:
    r, close = await make_rig(dry_run=True)
    try:
        bid, _ = best(r)
        o = r.buy(bid, 5 * MICRO)
        await r.until(lambda: o.status is OrderStatus.OPEN, "local ack")
        assert (o.venue_order_id or "").startswith("dry-msb-")
        signed = r.client.clob.signed_dry_run
        assert len(signed) == 1 and signed[0]["taker_amount"] == 5 * MICRO
        assert signed[0]["signer"].lower().startswith("0x")
        assert not [p for p, _ in r.fake.request_log if p in ("/order", "/orders")]
        assert r.fake.posted == []
    finally:
        await close()


async def test_failed_trade_after_the_shares_were_sold_is_reported_not_reversed(rig: Rig) -> None:
    _, ask = best(rig)
    rig.client.held = lambda strategy, iid: 0  # as if the strategy sold them meanwhile
    rig.fake.fail_trades = 1
    o = rig.buy(ask, 5 * MICRO, tif=TimeInForce.FAK)
    await rig.until(lambda: any(v[0] == o.order_id for v in rig.verified), "FAILED label")
    assert o.filled == 5 * MICRO  # no reversal row: the ledger cannot give the shares back
    assert not any(f.venue_fill_id.endswith(":reversal") for f in rig.h.sink.fills)
    assert any(k == "trade_failed" and "not reversed" in m for k, m in rig.problems)
