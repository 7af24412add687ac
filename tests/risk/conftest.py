"""Fixtures of the safety-layer tests: crafted portfolios, a fake risk environment, a small engine
with a recording sink, and an injected clock."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.clock import SimClock
from services.engine import Engine
from services.events import BookSnapshot, MarketListed
from services.execution.orders import Fill, Order, TimeInForce
from services.instruments import Instrument, Side
from services.intents import Intent
from services.money import MICRO
from services.node import ClientFactory, build_node
from services.orderbook import OrderBook
from services.persistence import OpWriter, Sink
from services.portfolio import Portfolio
from services.risk.chain import RiskView
from services.risk.safety import SafetyLayer
from services.strategies.base import Strategy, StrategyParams
from tests.conftest import make_instrument
from utils.config import AppConfig, parse_config

T0 = 1_767_225_600.0
CAPITAL = 10_000 * MICRO


def usd(x: float) -> int:
    """Return USD as micro-USDC."""
    return round(x * MICRO)


def sh(x: float) -> int:
    """Return shares as micro-shares."""
    return round(x * MICRO)


def px(x: float) -> int:
    """Return a probability as a micro price."""
    return round(x * MICRO)


def intent(
    iid: str = "Y1",
    side: Side = Side.BUY,
    size: float = 10,
    price: float | None = 0.5,
    *,
    strategy: str = "s1",
    post_only: bool = False,
    reduce_only: bool | None = None,
    tif: TimeInForce = TimeInForce.GTC,
) -> Intent:
    """Build an intent (sells are reduce-only, like the context makes them)."""
    ro = side is Side.SELL if reduce_only is None else reduce_only
    return Intent(
        strategy,
        iid,
        side,
        sh(size),
        None if price is None else px(price),
        tif,
        post_only,
        "test",
        reduce_only=ro,
    )


def book(
    iid: str = "Y1",
    bids: Iterable[tuple[float, float]] = ((0.49, 100),),
    asks: Iterable[tuple[float, float]] = ((0.51, 100),),
) -> OrderBook:
    """Build a book from (price, shares) levels."""
    b = OrderBook(iid)
    b.apply_snapshot(
        tuple((px(p), sh(s)) for p, s in bids), tuple((px(p), sh(s)) for p, s in asks), T0
    )
    return b


def buy_fill(pf: Portfolio, inst: Instrument, shares: float, price: float, ts: float = T0) -> None:
    """Give a portfolio a position through a real fill."""
    pf.apply_fill(
        Fill(
            pf.fill_count + 1,
            1,
            pf.strategy,
            inst.instrument_id,
            Side.BUY,
            px(price),
            sh(shares),
            0,
            "taker",
            ts,
        ),
        inst,
    )


@dataclass
class FakeEnv:
    """A hand-written RiskEnv: orders, marks, portfolios, day start and peak are set by tests."""

    orders: list[Order] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)
    pfs: list[Portfolio] = field(default_factory=list)
    day_start: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)

    def open_orders(self, strategy: str, instrument_id: str | None) -> list[Order]:
        return [
            o
            for o in self.orders
            if o.strategy == strategy
            and o.active
            and (instrument_id is None or o.instrument_id == instrument_id)
        ]

    def mark(self, instrument_id: str) -> int | None:
        return self.marks.get(instrument_id)

    def portfolios(self) -> list[Portfolio]:
        return self.pfs

    def day_start_equity(self, strategy: str) -> int | None:
        return self.day_start.get(strategy)

    def peak_equity(self, strategy: str) -> int | None:
        return self.peak.get(strategy)


def view(
    it: Intent,
    pf: Portfolio,
    inst: Instrument | None = None,
    *,
    env: FakeEnv | None = None,
    bk: OrderBook | None = None,
    kind: str = "market_making",
    status: str = "active",
    now: float = T0,
) -> RiskView:
    """Build the RiskView the engine would build for ``it``."""
    inst = inst or make_instrument(it.instrument_id)
    price = it.price
    if price is None:
        price = MICRO - inst.tick if it.side is Side.BUY else inst.tick
    return RiskView(now, inst, bk, pf, kind, status, price, it.strategy, env)


def resting(
    oid: int, side: Side, price: float, size: float, *, iid: str = "Y1", strategy: str = "s1"
) -> Order:
    """Build an open resting order."""
    from services.execution.orders import OrderStatus

    return Order(oid, strategy, iid, side, px(price), sh(size), status=OrderStatus.OPEN)


# --------------------------------------------------------------------------- engine harness
class RecordingWriter(OpWriter):
    """Keeps every row the sink writes (events in order, bot_state by key); ignores deletes."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.state: dict[str, Any] = {}

    def op(self, kind: str, table: str, row: dict[str, Any]) -> None:
        if kind == "d":
            return
        if kind == "u" and table == "bot_state":
            self.state[row["key"]] = json.loads(row["value_json"])
        self.rows.setdefault(table, []).append(dict(row))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.rows.get("events", []) if kind is None or e["kind"] == kind]


class Idle(Strategy):
    """A strategy that never trades on its own (tests submit intents for it)."""

    kind = "market_making"


class Directional(Strategy):
    """An idle directional strategy (zone rules apply to it)."""

    kind = "directional"


@dataclass
class Harness:
    """An engine with two idle strategies, one binary market listed with books, and safety."""

    engine: Engine
    safety: SafetyLayer
    writer: RecordingWriter
    clock: SimClock
    yes: Instrument
    no: Instrument

    def at(self, ts: float) -> None:
        """Move event time and run the clock-driven work (breakers, health, exits)."""
        self.clock.advance(ts)
        self.engine.on_clock()

    def buy(
        self, strategy: str, iid: str, shares: float, price: float | None = None, **kw: Any
    ) -> Order | None:
        """Submit a buy through the normal path (market when ``price`` is None)."""
        return self.engine.submit(intent(iid, Side.BUY, shares, price, strategy=strategy, **kw))

    def sell(
        self, strategy: str, iid: str, shares: float, price: float | None = None, **kw: Any
    ) -> Order | None:
        return self.engine.submit(intent(iid, Side.SELL, shares, price, strategy=strategy, **kw))

    def set_book(
        self,
        iid: str,
        bids: Iterable[tuple[float, float]],
        asks: Iterable[tuple[float, float]],
        ts: float | None = None,
    ) -> None:
        t = self.clock.now() if ts is None else ts
        self.engine.handle(
            BookSnapshot(
                t,
                iid,
                tuple((px(p), sh(s)) for p, s in bids),
                tuple((px(p), sh(s)) for p, s in asks),
            )
        )

    def pf(self, name: str) -> Portfolio:
        return self.engine.runners[name].portfolio


def make_config(extra: dict[str, Any] | None = None) -> AppConfig:
    """Return a config with the given sections (no strategies list: overrides unchecked)."""
    return parse_config(extra or {}, "test.yaml")


def make_harness(
    cfg: AppConfig | None = None,
    *,
    kinds: tuple[str, ...] = ("market_making", "market_making"),
    state: dict[str, Any] | None = None,
    start: bool = True,
    client: ClientFactory | None = None,
) -> Harness:
    """Build the harness; ``state`` restores persisted ``bot_state`` values first.

    ``client`` routes both strategies to another execution client (the fake asynchronous venue
    of tests/execution/fake_async.py) instead of the paper client.
    """
    cfg = cfg or make_config()
    clock = SimClock(T0)
    writer = RecordingWriter()
    strategies: list[Strategy] = []
    for i, kind in enumerate(kinds, start=1):
        cls = Directional if kind == "directional" else Idle
        strategies.append(cls(f"s{i}", StrategyParams()))
    node = build_node(
        cfg,
        strategies,
        Sink(writer),
        clock=clock,
        extra_clients={"test": client} if client is not None else None,
        routes={s.name: "test" for s in strategies} if client is not None else None,
        wall=lambda: 1000.0,
    )
    engine = node.engine
    assert node.safety is not None
    safety = node.safety
    if state is not None:
        safety.restore(lambda k: state.get(k))
    yes = make_instrument("Y1", end_ts=T0 + 7200)
    no = make_instrument("N1", outcome="No", complement_id="Y1", end_ts=T0 + 7200)
    engine.handle(MarketListed(T0, (yes, no)))
    h = Harness(engine, safety, writer, clock, yes, no)
    h.set_book("Y1", [(0.49, 1000)], [(0.51, 1000)], T0)
    h.set_book("N1", [(0.49, 1000)], [(0.51, 1000)], T0)
    if start:
        engine.start()
        safety.startup()
    return h


@pytest.fixture
def harness() -> Harness:
    """A started harness with the default configuration."""
    return make_harness()
