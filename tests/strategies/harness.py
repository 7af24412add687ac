"""A scripted market for strategy tests: crafted events through a real Engine (no storage)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from services.clock import SimClock
from services.events import (
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    TradePrint,
)
from services.execution.orders import Fill, Order, Settlement
from services.instruments import Instrument, Side
from services.money import MICRO, to_micro
from services.node import ClientFactory, build_node
from services.persistence import NullSink
from services.portfolio import Portfolio
from services.strategies.base import Strategy, StrategyParams
from tests.conftest import make_instrument
from utils.config import parse_config

START = 1_000_000.0


def px(p: float | str) -> int:
    """Price (probability) to micro."""
    return to_micro(Decimal(str(p)))


def sh(q: float | str) -> int:
    """Shares to micro-shares."""
    return to_micro(Decimal(str(q)))


def levels(pairs: Iterable[tuple[float, float]]) -> tuple[tuple[int, int], ...]:
    """[(price, shares)] -> micro levels."""
    return tuple((px(p), sh(q)) for p, q in pairs)


class RecordingSink(NullSink):
    """Keeps fills and settlements (everything else is dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self.fills: list[Fill] = []
        self.settlements: list[Settlement] = []
        self.events: list[tuple[str, str]] = []

    def fill(self, f: Fill) -> None:
        self.fills.append(f)

    def settlement(self, s: Settlement) -> None:
        self.settlements.append(s)

    def event(self, ts: float, kind: str, message: str, **kw: Any) -> None:  # type: ignore[override]
        self.events.append((kind, message))


def binary(
    n: int = 1,
    *,
    tick: int = 10_000,
    fee_rate: str = "0",
    end_ts: float | None = None,
    event_id: str | None = None,
    category: str = "politics",
    min_size: int = 5_000_000,
) -> tuple[Instrument, Instrument]:
    """YES and NO instruments of market ``M{n}`` (ids ``Y{n}``, ``N{n}``)."""
    common: dict[str, Any] = dict(
        market_id=f"M{n}",
        tick=tick,
        fee_rate=fee_rate,
        end_ts=end_ts,
        event_id=event_id,
        category=category,
        min_size=min_size,
    )
    yes = make_instrument(f"Y{n}", outcome="Yes", complement_id=f"N{n}", **common)
    no = make_instrument(f"N{n}", outcome="No", complement_id=f"Y{n}", **common)
    return yes, no


def with_params(cls: type[Strategy], name: str = "s", **params: Any) -> Strategy:
    """Instantiate a strategy class with validated parameters."""
    p: StrategyParams = cls.Params.model_validate(params)
    return cls(name, p)


class Harness:
    """Drive an Engine with hand-made events; time only moves forward."""

    def __init__(
        self,
        *strategies: Strategy,
        latency_ms: int = 0,
        capital: int = 10_000,
        start: float = START,
        client: ClientFactory | None = None,
    ) -> None:
        cfg = parse_config(
            {
                "execution": {"latency_ms": latency_ms},
                "competition": {"starting_capital_usd": capital},
            },
            "test",
        )
        self.clock = SimClock(start)
        self.sink = RecordingSink()
        # Strategy unit tests: the bare engine (status gate only), on the paper client or, with
        # ``client``, on another execution client routed for every strategy (e.g. the fake
        # asynchronous venue of tests/execution/fake_async.py).
        extra = {"test": client} if client is not None else None
        routes = {s.name: "test" for s in strategies} if client is not None else None
        self.node = build_node(
            cfg,
            list(strategies),
            self.sink,
            clock=self.clock,
            extra_clients=extra,
            routes=routes,
            safety=False,
        )
        self.engine = self.node.engine
        self.engine.forget_interval_s = float("inf")  # tests inspect every order ever placed
        self.engine.start()
        self.t = start

    # ------------------------------------------------------------------ events
    def send(self, *events: MarketEvent) -> None:
        """Process one batch (then timers)."""
        for ev in events:
            self.t = max(self.t, ev.ts)
        self.engine.process_batch(list(events))

    def at(self, dt: float = 0.0) -> float:
        """Return the timestamp ``dt`` seconds after the current time (and move there)."""
        self.t += dt
        return self.t

    def list(self, *insts: Instrument) -> None:
        """List instruments (one MarketListed)."""
        self.send(MarketListed(self.at(), tuple(insts)))

    def book(
        self,
        iid: str,
        bids: Iterable[tuple[float, float]],
        asks: Iterable[tuple[float, float]],
        dt: float = 0.0,
    ) -> None:
        """Replace a book: ``bids``/``asks`` as (price, shares)."""
        self.send(BookSnapshot(self.at(dt), iid, levels(bids), levels(asks)))

    def books(
        self,
        *snaps: tuple[str, list[tuple[float, float]], list[tuple[float, float]]],
        dt: float = 0.0,
    ) -> None:
        """Replace several books in one batch."""
        ts = self.at(dt)
        self.send(*[BookSnapshot(ts, iid, levels(b), levels(a)) for iid, b, a in snaps])

    def delta(self, iid: str, *changes: tuple[Side, float, float], dt: float = 0.0) -> None:
        """Set level sizes: (side, price, shares); 0 shares removes the level."""
        self.send(BookDelta(self.at(dt), iid, tuple((s, px(p), sh(q)) for s, p, q in changes)))

    def trade(
        self, iid: str, price: float, shares: float, aggressor: Side | None, dt: float = 0.0
    ) -> None:
        """A venue trade print."""
        self.send(TradePrint(self.at(dt), iid, px(price), sh(shares), aggressor))

    def wait(self, seconds: float) -> None:
        """Let event time pass: a heartbeat event delivers due (latency) orders, then timers."""
        self.send(MarketStatus(self.at(seconds), "heartbeat", "open"))

    def resolve(self, market_id: str, *payouts: tuple[str, float], dt: float = 0.0) -> None:
        """Resolve a market: (instrument id, payout per share)."""
        self.send(MarketResolved(self.at(dt), market_id, tuple((i, px(p)) for i, p in payouts)))

    # ------------------------------------------------------------------ inspection
    def pf(self, name: str = "s") -> Portfolio:
        """The strategy's portfolio."""
        return self.engine.runners[name].portfolio

    def orders(self, name: str = "s", iid: str | None = None) -> list[Order]:
        """Every order the strategy sent (any status), oldest first."""
        return sorted(
            (
                o
                for o in self.engine.orders.values()
                if o.strategy == name and (iid is None or o.instrument_id == iid)
            ),
            key=lambda o: o.order_id,
        )

    def active(self, name: str = "s", iid: str | None = None) -> list[Order]:
        """The strategy's active orders."""
        return [o for o in self.orders(name, iid) if o.active]

    def fills(self, name: str = "s", iid: str | None = None) -> list[Fill]:
        """The strategy's fills, oldest first."""
        return [
            f
            for f in self.sink.fills
            if f.strategy == name and (iid is None or f.instrument_id == iid)
        ]

    def qty(self, iid: str, name: str = "s") -> int:
        """Shares held."""
        return self.pf(name).qty(iid)

    def errors(self, name: str = "s") -> int:
        """Exceptions the strategy raised."""
        return self.engine.runners[name].errors

    def pnl(self, name: str = "s") -> int:
        """Realized P&L after fees (micro), meaningful once positions are closed."""
        pf = self.pf(name)
        return pf.realized_pnl - pf.fees


def shares(micro: int) -> float:
    """Micro-shares to shares (for readable asserts)."""
    return micro / MICRO
