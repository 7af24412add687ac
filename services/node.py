"""The one node builder: every engine (the bot, a replay, a backtest, a test, a benchmark) is
assembled here, so that they cannot disagree about what guards trading.

A node is: a clock, a feed (set later by the caller when it depends on restored state), the
execution clients with a route for every strategy, the strategies with their own capital, the
event bus with the database sink subscribed, and the safety layer with the whole risk chain
(declared once in :func:`services.risk.controls.build_chain`, the data guard included).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.bus import EventBus
from services.clock import Clock, SimClock
from services.engine import Engine
from services.execution.client import ExecutionClient
from services.execution.sim_client import SimulatedClient
from services.feed import Feed
from services.instruments import Instrument
from services.money import MICRO
from services.orderbook import BookStore
from services.persistence import Sink
from services.risk.data_guard import DataGuard
from services.risk.safety import SafetyLayer
from services.risk.store_guard import store_state_of
from services.strategies.base import Strategy
from utils.config import AppConfig

PAPER = "paper"
"""Route name of the simulated (paper) execution client that every node has."""

ClientFactory = Callable[[BookStore, dict[str, Instrument], AppConfig], ExecutionClient]


@dataclass
class Node:
    """One assembled engine and the parts a caller may need to reach."""

    cfg: AppConfig
    engine: Engine
    bus: EventBus
    data_guard: DataGuard
    safety: SafetyLayer | None
    clients: dict[str, ExecutionClient] = field(default_factory=dict)

    @property
    def clock(self) -> Clock:
        """Return the node's clock."""
        return self.engine.clock


def strategy_capital(cfg: AppConfig, names: list[str]) -> dict[str, int]:
    """Return each strategy's starting capital in micro-units (its own or the competition's)."""
    default = cfg.competition.starting_capital_usd
    own = {e.name: e.capital_usd for e in cfg.strategies if e.capital_usd is not None}
    return {n: int(own.get(n, default) * MICRO) for n in names}


def strategy_currency(cfg: AppConfig, names: list[str]) -> dict[str, str]:
    """Return each strategy's portfolio currency (``strategies[].currency``, default USDC)."""
    own = {e.name: e.currency for e in cfg.strategies}
    return {n: own.get(n, "USDC") for n in names}


def build_node(
    cfg: AppConfig,
    strategies: list[Strategy],
    sink: Sink,
    *,
    clock: Clock | None = None,
    feed: Feed | None = None,
    extra_clients: Mapping[str, ClientFactory] | None = None,
    routes: Mapping[str, str] | None = None,
    safety: bool = True,
    wall: Callable[[], float] = time.time,
) -> Node:
    """Assemble a node.

    Parameters
    ----------
    cfg : AppConfig
        The configuration (execution latency, capital, risk, breakers, ...).
    strategies : list[Strategy]
        The competitors.
    sink : Sink
        Storage; subscribed to the event bus for audit events.
    clock : Clock | None
        Defaults to a simulated clock at ``market_data.start_ts``.
    feed : Feed | None
        The market-data source, or None to set ``node.engine.feed`` later.
    extra_clients : Mapping[str, ClientFactory] | None
        More execution clients by route name (a live venue, a test double), each built from the
        node's books, instrument registry and config. The paper client always exists.
    routes : Mapping[str, str] | None
        Strategy name -> route name; unnamed strategies go to the paper client.
    safety : bool
        Attach the safety layer (kill switch, breakers, health, exits, the whole risk chain).
        Only strategy unit tests and the bare-engine benchmark turn it off: they then get the
        status gate alone, exactly as documented in docs/TESTING.md.
    wall : Callable[[], float]
        Wall clock for latency measurements of the kill switch (never for decisions).

    Returns
    -------
    Node
        The assembled node; call ``node.engine.start()`` (the app restores state first).
    """
    clock = clock if clock is not None else SimClock(cfg.market_data.start_ts)
    books = BookStore()
    instruments: dict[str, Instrument] = {}
    clients: dict[str, ExecutionClient] = {
        PAPER: SimulatedClient(
            books, instruments, latency_s=cfg.execution.latency_ms / 1000.0, name=PAPER
        )
    }
    for name, make in (extra_clients or {}).items():
        if name in clients:
            raise ValueError(f"execution client route {name!r} is defined twice")
        client = make(books, instruments, cfg)
        client.name = name
        clients[name] = client
    names = [s.name for s in strategies]
    chosen = dict(routes or {})
    unknown = sorted(set(chosen.values()) - set(clients))
    if unknown:
        raise ValueError(f"strategies routed to unknown execution clients: {', '.join(unknown)}")
    route_of = {n: chosen.get(n, PAPER) for n in names}
    bus = EventBus()
    bus.subscribe(sink.audit)
    engine = Engine(
        cfg,
        clock,
        feed,
        strategies,
        sink,
        clients=clients,
        routes=route_of,
        capital=strategy_capital(cfg, names),
        currencies=strategy_currency(cfg, names),
        bus=bus,
        books=books,
        instruments=instruments,
    )
    guard = DataGuard()
    layer = (
        SafetyLayer(engine, cfg, data_guard=guard, store=store_state_of(sink.w), wall=wall)
        if safety
        else None
    )
    return Node(cfg, engine, bus, guard, layer, clients)
