"""The engine loop: one path for backtest, paper and live.

feed -> books -> (paper matcher) -> strategies -> risk chain -> execution client -> portfolios.
The engine wires the parts together; each part lives in its own module. It never builds an
execution client: :func:`services.node.build_node` does, and routes each strategy to one. What a
client does to an order reaches the engine as :class:`~services.execution.client.OrderEvent`
values, applied here in order (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from services.bus import EventBus
from services.clock import Clock, SimClock
from services.enums import MarketState, StrategyStatus
from services.events import (
    VOID_PAYOUT,
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    RunnerRemoved,
    TickSizeChange,
    TradePrint,
)
from services.execution.client import ExecutionClient, OrderEvent, WatchedInstruments
from services.execution.orders import Fill, Order, Settlement
from services.feed import Feed
from services.instruments import Instrument, Side
from services.ladder import Quote
from services.money import MICRO, notional
from services.order_flow import OrderFlow
from services.orderbook import BookStore, OrderBook
from services.persistence import Sink
from services.portfolio import Portfolio
from services.risk.chain import RiskChain, RiskEnv
from services.runner import StrategyRunner
from services.snapshots import PerformanceTracker
from services.strategies.base import Gateway, Strategy, StrategyContext
from utils.config import AppConfig

log = logging.getLogger(__name__)

_BUY = Side.BUY


class Engine(OrderFlow, Gateway):
    """Runs many strategies side by side on one feed, each with an isolated portfolio.

    Build it with :func:`services.node.build_node`, which creates the execution clients, routes
    every strategy to one of them and attaches the safety layer; this constructor only wires.

    Parameters
    ----------
    cfg : AppConfig
        The running configuration.
    clock : Clock
        Event time (backtests, simulation) or wall time (live).
    feed : Feed | None
        The market-data source (may be set later, before :meth:`run`).
    strategies : list[Strategy]
        The competitors.
    sink : Sink
        Where orders, fills, positions and snapshots are stored.
    clients : dict[str, ExecutionClient]
        Execution clients by route name (bound to this engine here).
    routes : dict[str, str]
        Strategy name -> client route name.
    capital : dict[str, int]
        Strategy name -> starting capital, micro-units of the portfolio's currency.
    currencies : dict[str, str] | None
        Strategy name -> portfolio currency (``strategies[].currency``); unnamed: USDC.
    bus : EventBus
        The one event path (audit events); the sink subscribes to it in the builder.
    risk : RiskChain | None
        The pre-trade chain (the builder declares the full chain once).
    books, instruments : BookStore, dict[str, Instrument]
        The node's books and instrument registry, shared with the execution clients.
    """

    skip_quiet_deltas: bool = True
    """``process_batch`` does not deliver a delta to a market-data client that declares it a no-op
    (``ExecutionClient.delta_watch``). False: deliver every delta (the tests compare the two)."""

    def __init__(
        self,
        cfg: AppConfig,
        clock: Clock,
        feed: Feed | None,
        strategies: list[Strategy],
        sink: Sink,
        *,
        clients: dict[str, ExecutionClient],
        routes: dict[str, str],
        capital: dict[str, int],
        currencies: dict[str, str] | None = None,
        bus: EventBus,
        risk: RiskChain | None = None,
        books: BookStore | None = None,
        instruments: dict[str, Instrument] | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self._sim_clock = clock if isinstance(clock, SimClock) else None
        # Exactly a SimClock: handle() reads and moves its time without two method calls.
        self._plain_clock = clock if type(clock) is SimClock else None
        self.feed = feed
        self.sink = sink
        self.bus = bus
        self.risk = risk or RiskChain()
        # Set by services.risk.safety.SafetyLayer when the safety layer is attached.
        self.risk_env: RiskEnv | None = None
        self.safety: Any = None
        self.data_guard: Any = None  # the risk chain's DataGuard, set with the safety layer
        # Shared with the execution clients (the paper client reads them to match orders).
        self.books = books if books is not None else BookStore()
        self.instruments: dict[str, Instrument] = instruments if instruments is not None else {}
        self.live: set[str] = set()
        self.market_state: dict[str, MarketState] = {}
        self._events: dict[str, list[Instrument]] = {}
        self._last_mid: dict[str, int] = {}
        self._last_trade: dict[str, int] = {}
        self._tops_dirty: set[str] = set()
        # Changed market-top rows not yet handed to storage, newest per instrument, and the wall
        # time of the next hand-over (see _write_tops).
        # (The mid is computed at the hand-over: most rows are overwritten before it.)
        self._top_rows: dict[str, tuple[tuple[int | None, ...], float]] = {}
        self._tops_due_wall = 0.0
        self.tops_wall_interval_s = cfg.competition.tops_write_interval_wall_s
        # Book-change sequence: ``_changed_at[iid]`` is the sequence number of the instrument's
        # last book change (or resolution). Cached position values are reused while their
        # book, quantity, cost and instrument are unchanged (see :meth:`market_value`).
        self._book_seq = 0
        self._changed_at: dict[str, int] = {}
        self._mv_cache: dict[int, dict[str, tuple[int, int, int, Any, int]]] = {}
        self._top_written: dict[str, tuple[int | None, ...]] = {}  # last top row written
        # Newest (ts, bid, ask, last trade) of instruments whose top changed since the last
        # price-history point (flushed at the persisted-snapshot cadence; the mid is computed
        # at the flush).
        self._prices_pending: dict[str, tuple[float, int | None, int | None, int | None]] = {}
        self._next_prices = float("-inf")
        self.order_seq = 0
        self.fill_seq = 0
        self.settlement_seq = 0
        # Orders the engine knows (finished ones are forgotten every forget_interval_s; storage
        # keeps them), and the working ones per strategy in submission order.
        self.orders: dict[int, Order] = {}
        self._open: dict[str, dict[int, Order]] = {}
        self.clients = clients
        self._inbox: list[OrderEvent] = []
        for c in clients.values():
            c.bind(self._inbox.append)
        self._clients_t = tuple(clients.values())
        self._md_clients = tuple(c for c in self._clients_t if c.watches_market_data)
        # Called with every order after an event changed it (the safety layer waits on closes).
        self.order_listeners: list[Callable[[Order], None]] = []
        # Called with the time at the end of every on_clock (the lifecycle manager's checks).
        self.clock_listeners: list[Callable[[float], None]] = []
        self.runners: dict[str, StrategyRunner] = {}
        self._route: dict[str, ExecutionClient] = {}
        for strat in strategies:
            pf = Portfolio(
                strat.name, capital[strat.name], (currencies or {}).get(strat.name, "USDC")
            )
            self.runners[strat.name] = StrategyRunner(
                strat,
                self._context(strat.name, pf),
                pf,
                cfg.competition.strategy_error_limit,
                self._strategy_error,
            )
            self._route[strat.name] = clients[routes[strat.name]]
            self._open[strat.name] = {}
        self._subs: dict[str, list[StrategyRunner]] = {}
        # Only strategies that override a hook are called for it (saves a call per event).
        # ``_book_subs`` is ``_book_all`` without the strategies that paused the instrument's
        # on_book (``pause_books``), in subscription order; it is rebuilt, never changed in place.
        self._book_subs: dict[str, list[StrategyRunner]] = {}
        self._book_all: dict[str, list[StrategyRunner]] = {}
        self._book_paused: dict[str, set[str]] = {}
        self._trade_subs: dict[str, list[StrategyRunner]] = {}
        self.forget_interval_s = 10.0
        self._next_forget = 0.0
        self._deferred: list[tuple[StrategyRunner, Fill]] = []
        self.tracker = PerformanceTracker(
            cfg.competition, int(cfg.competition.starting_capital_usd * MICRO), capital
        )
        self.events_processed = 0
        self.started = False
        self.stop_requested = False
        self._dispatch: dict[type, Callable[[Any], None]] = {
            BookDelta: self._on_delta,
            BookSnapshot: self._on_snapshot,
            TradePrint: self._on_trade,
            MarketListed: self._on_listed,
            MarketResolved: self._on_resolved,
            TickSizeChange: self._on_tick_change,
            MarketStatus: self._on_status,
            RunnerRemoved: self._on_removed,
        }
        self._now = clock.now()

    def _context(self, name: str, pf: Portfolio) -> StrategyContext:
        """Build a strategy's context; it reads the clock, the books and its portfolio directly
        when this class answers them as the engine does (not overridden)."""
        ctx = StrategyContext(name, self)
        cls = type(self)
        if cls.now is Engine.now and cls.book is Engine.book and cls.portfolio is Engine.portfolio:
            books = self.books
            # BookStore.find is its dictionary's get: bound directly, a Python frame less per
            # ctx.book() (a store that answers find itself keeps its method).
            find = books._books.get if type(books).find is BookStore.find else books.find
            # Engine.instrument is its registry's get (the registry is never replaced).
            instrument = self.instruments.get if cls.instrument is Engine.instrument else None
            ctx.bind_shortcuts(self.clock.now, find, pf, instrument)
        return ctx

    def client_of(self, strategy: str) -> ExecutionClient:
        """Return the execution client a strategy is routed to."""
        return self._route[strategy]

    def set_route(self, strategy: str, route: str) -> None:
        """Send a strategy's next orders to the client named ``route``.

        The caller (the lifecycle manager) changes a route only while the strategy has no
        working order, so no order is left on a client the engine no longer cancels through.
        """
        if route not in self.clients:
            raise ValueError(f"no execution client named {route!r}")
        if any(o.active for o in self._open.get(strategy, {}).values()):
            raise ValueError(f"{strategy} still has working orders on {self._route[strategy].name}")
        self._route[strategy] = self.clients[route]

    # ================================================================== running
    def start(self) -> None:
        """Persist the field and call every strategy's ``on_start``."""
        now = self.clock.now()
        for r in self.runners.values():
            self._write_strategy(r, now)
            r.call("on_start")
        self.started = True

    def _write_strategy(self, r: StrategyRunner, now: float) -> None:
        s = r.strategy
        self.sink.strategy(
            {
                "name": r.name,
                "class_path": f"{type(s).__module__}:{type(s).__name__}",
                "params_json": s.params.model_dump_json(),
                "kind": str(s.kind),
                "stage": str(r.stage),
                "status": str(r.status),
                "status_reason": r.status_reason,
                "status_since": r.status_since,
                "starting_capital": r.portfolio.starting_cash,
                "error_count": r.errors,
                "created_ts": now,
                "updated_ts": now,
            }
        )

    def add_strategy(
        self, strat: Strategy, capital: int, route: str, currency: str = "USDC"
    ) -> StrategyRunner:
        """Add a strategy to a running engine (a paper twin created at runtime).

        It gets its own portfolio of ``capital`` (micro), is routed to the client ``route``,
        is written to storage, started, and subscribed to the live instruments it wants (its
        ``on_instruments`` follows ``on_start``), exactly as if it had been there from the start.
        """
        if strat.name in self.runners:
            raise ValueError(f"strategy {strat.name!r} already runs")
        if route not in self.clients:
            raise ValueError(f"unknown execution client route {route!r}")
        pf = Portfolio(strat.name, capital, currency)
        r = StrategyRunner(
            strat,
            self._context(strat.name, pf),
            pf,
            self.cfg.competition.strategy_error_limit,
            self._strategy_error,
        )
        self.runners[strat.name] = r
        self._route[strat.name] = self.clients[route]
        self._open[strat.name] = {}
        self.tracker.per_strategy[strat.name] = capital
        now = self.clock.now()
        self._write_strategy(r, now)
        r.call("on_start")
        insts = [
            inst
            for iid, inst in self.instruments.items()
            if iid in self.live and self._subscribe(r, inst)
        ]
        if insts:
            r.call("on_instruments", insts)
        return r

    def _subscribe(self, r: StrategyRunner, inst: Instrument) -> bool:
        """Subscribe a strategy to an instrument it can trade and wants; return whether it did."""
        # A strategy sees only instruments it can trade: its quote kind and currency.
        if not (
            inst.quote in r.strategy.quotes
            and inst.currency == r.portfolio.currency
            and r.strategy.wants(inst)
        ):
            return False
        r.subscribed[inst.instrument_id] = inst
        self._subs.setdefault(inst.instrument_id, []).append(r)
        if _overrides(r.strategy, "on_book"):
            self._book_all.setdefault(inst.instrument_id, []).append(r)
            self._sync_book_subs(inst.instrument_id)
        if _overrides(r.strategy, "on_trade"):
            self._trade_subs.setdefault(inst.instrument_id, []).append(r)
        return True

    def _sync_book_subs(self, iid: str) -> None:
        paused = self._book_paused.get(iid)
        subs = self._book_all.get(iid, [])
        self._book_subs[iid] = [r for r in subs if r.name not in paused] if paused else list(subs)

    def pause_books(self, strategy: str, instrument_ids: Iterable[str], paused: bool) -> None:
        """Stop (``paused``) or resume calling a strategy's ``on_book`` for these instruments.

        For a strategy whose ``on_book`` returns at once for an instrument until its own state
        changes (a market maker without a free quoting slot): the call per book update is saved
        (issue 18). A pause made before the subscription applies to it; a resolution forgets it.
        """
        for iid in instrument_ids:
            names = self._book_paused.get(iid)
            if paused:
                if names is None:
                    names = self._book_paused[iid] = set()
                elif strategy in names:
                    continue
                names.add(strategy)
            else:
                if names is None or strategy not in names:
                    continue
                names.discard(strategy)
                if not names:
                    del self._book_paused[iid]
            if iid in self._book_all:
                self._sync_book_subs(iid)

    async def run(self) -> None:
        """Consume the feed until it ends or :meth:`request_stop` is called."""
        if self.feed is None:
            raise RuntimeError("engine has no feed")
        if not self.started:
            self.start()
        max_backlog = self.cfg.bot.writer_max_backlog
        monotonic = time.monotonic
        backlog = self.sink.backlog
        budget = self.cfg.bot.loop_yield_interval_wall_s
        next_yield = monotonic() + budget
        async for batch in self.feed.batches():
            self.process_batch(batch)
            if self.stop_requested:
                break
            # Other tasks (control commands, the dashboard, watchers) get the event loop at
            # least every bot.loop_yield_interval_wall_s of wall time, not after every batch: a
            # replay at full speed has about one batch per market second, and a loop turn per
            # batch (a select call and the scheduler) cost more than the clock work of many of
            # them (issue 18).
            # A slow batch still yields every time; a live feed awaits its socket anyway.
            if monotonic() >= next_yield:
                await asyncio.sleep(0)
                next_yield = monotonic() + budget
            if backlog() > max_backlog:
                # Backpressure: as fast as possible must not outrun the database, or fills
                # reported as stored would wait in memory and control acks would lag.
                while backlog() > max_backlog // 2 and not self.stop_requested:
                    await asyncio.sleep(0.005)

    def request_stop(self) -> None:
        """Ask the loop to stop after the current batch."""
        self.stop_requested = True

    def process_batch(self, batch: Iterable[MarketEvent]) -> None:
        """Handle a batch of events, then run clock-driven work (timers, snapshots)."""
        clock = self._plain_clock
        if clock is None:
            handle = self.handle
            for ev in batch:
                handle(ev)
        else:
            # handle() and _on_delta(), inlined for a plain SimClock (issue 18: two calls less
            # per event, and the book update of a one-level delta, most deltas, without a call).
            # Change them together (tests/test_event_path_shortcuts.py compares the rows).
            clients = self._clients_t
            dispatch = self._dispatch
            inbox = self._inbox  # bound to the clients once: never replaced
            books = self.books
            find = books._books.get
            changed_at = self._changed_at
            mark_top = self._tops_dirty.add
            book_subs = self._book_subs
            md_clients = self._md_clients
            has_md = bool(md_clients)
            # BookStore.apply_delta, for untold deltas of several levels (a store that
            # overrides it or get() goes through apply_changes as handle() does).
            bs = type(books)
            apply_delta = (
                books.apply_delta
                if bs.apply_delta is BookStore.apply_delta and bs.get is BookStore.get
                else None
            )
            # One market-data client that names what it watches (the paper venue): a delta on an
            # instrument it has nothing for is not delivered (ExecutionClient.delta_watch).
            # One WatchedInstruments (the paper venue's): told when the instrument is a key.
            gated = watched = None
            md_watch = md_clients[0].delta_watch if len(md_clients) == 1 else None
            if md_watch is not None and self.skip_quiet_deltas and len(md_watch) <= 3:
                gated = md_clients[0]
                if len(md_watch) == 1 and type(md_watch[0]) is WatchedInstruments:
                    watched = md_watch[0]
                w1, w2, w3 = [d.get for d in md_watch] + [_nothing] * (3 - len(md_watch))
            told: Any
            n = 0
            try:
                for ev in batch:
                    ts = ev.ts
                    if ts > clock._now:
                        clock._now = ts
                    now = self._now = clock._now
                    for c in clients:
                        if c.next_due <= now:
                            c.on_time(now)
                    if inbox:
                        self._drain()
                    if type(ev) is BookDelta:
                        iid = ev.instrument_id
                        # Whether a market-data client is told of this delta, decided before
                        # the book update (the gate reads the venue's state, which the update
                        # does not change): an untold delta of several levels updates its book
                        # without collecting the previous sizes (BookStore.apply_delta).
                        if watched is not None:
                            told = iid in watched
                        elif gated is not None:
                            told = w1(iid) or w2(iid) or w3(iid)
                        else:
                            told = has_md
                        changes = ev.changes
                        if len(changes) == 1:
                            book = find(iid)
                            if book is None:
                                book = books.get(iid)
                            # OrderBook.apply_changes of one level, inlined.
                            side, price, size = changes[0]
                            if side is _BUY:
                                levels, prices = book.bids, book._bid_px
                            else:
                                levels, prices = book.asks, book._ask_px
                            was = levels.get(price, 0)
                            if size > 0:
                                if not was:
                                    insort(prices, price)
                                levels[price] = size
                            elif was:
                                del levels[price]
                                del prices[bisect_left(prices, price)]
                            book.ts = ts
                            book.updates += 1
                            old = None  # [was], built only for a client that is told
                        elif told or apply_delta is None:
                            book = find(iid)
                            if book is None:
                                book = books.get(iid)
                            old = book.apply_changes(changes)
                            book.ts = ts
                            book.updates += 1
                        else:
                            book = apply_delta(ev)  # sets ts and updates as above
                            old = None
                        seq = self._book_seq = self._book_seq + 1
                        changed_at[iid] = seq
                        if told:
                            if old is None:
                                old = [was]
                            if gated is not None:
                                gated.on_book_delta(ev, book, old, now)
                            else:
                                for c in md_clients:
                                    c.on_book_delta(ev, book, old, now)
                            if inbox:
                                self._drain()
                        mark_top(iid)
                        subs = book_subs.get(iid)
                        if subs:
                            for r in subs:
                                if r.status != "disabled":
                                    try:
                                        r.strategy.on_book(r.ctx, book)
                                    except Exception as exc:  # noqa: BLE001 - as in _on_delta
                                        r.failed("on_book", exc)
                    else:
                        dispatch[type(ev)](ev)
                    n += 1
                    if self._deferred:
                        self._flush_deferred()
            finally:
                self.events_processed += n
        self.on_clock()

    def handle(self, ev: MarketEvent) -> None:
        """Handle one market event.

        ``process_batch`` inlines this body (and ``_on_delta``'s) for a plain ``SimClock``:
        change them together
        (``tests/test_event_path_shortcuts.py::test_inline_batch_handling_writes_what_handle_writes``).
        """
        clock = self._plain_clock
        if clock is not None:  # SimClock.advance and .now, inlined (issue 18)
            ts = ev.ts
            if ts > clock._now:
                clock._now = ts
            now = self._now = clock._now
        else:
            if self._sim_clock is not None and ev.ts > self._sim_clock.now():
                self._sim_clock.advance(ev.ts)
            now = self._now = self.clock.now()
        for c in self._clients_t:
            # Delayed orders arrive before the event that follows them in time.
            if c.next_due <= now:
                c.on_time(now)
        if self._inbox:
            self._drain()
        if type(ev) is BookDelta:  # most events: no dispatch lookup
            self._on_delta(ev)
        else:
            self._dispatch[type(ev)](ev)
        self.events_processed += 1
        if self._deferred:
            self._flush_deferred()

    def on_clock(self) -> None:
        """Run timers and snapshots that are due at the current time."""
        now = self._now = self.clock.now()
        for c in self._clients_t:
            # Orders delayed by latency arrive on the clock too, not only with market events.
            if c.next_due <= now:
                c.on_time(now)
        if self._inbox:
            self._drain()
        if now >= self._next_forget:
            self._next_forget = now + self.forget_interval_s
            self.orders = {k: o for k, o in self.orders.items() if o.active}
            for c in self._clients_t:
                c.housekeeping(now)
        for r in self.runners.values():
            if now >= r.next_timer and r.enabled:
                r.next_timer = now + r.strategy.timer_interval_s
                r.call("on_timer")
                if self._deferred:
                    self._flush_deferred()
        if self.tracker.due(now):
            self.tracker.tick(now, self)
            self._write_tops(now)
        if self.safety is not None:
            self.safety.on_clock(now)
        for fn in self.clock_listeners:
            fn(now)
        if self._inbox:
            self._drain()
            self._flush_deferred()

    def finish(self) -> None:
        """Final snapshot (persisted), strategies' ``on_stop``."""
        for r in self.runners.values():
            r.call("on_stop")
        if self._inbox:
            self._drain()
        self.tracker.tick(self.clock.now(), self, force_persist=True)
        self._write_tops(self.clock.now(), force_prices=True)
        for r in self.runners.values():
            r.portfolio.check_ledger()

    # ================================================================== market events
    def _on_delta(self, ev: BookDelta) -> None:
        # process_batch inlines this body for a plain SimClock: change both together.
        iid = ev.instrument_id
        book = self.books.get(iid)
        old = book.apply_changes(ev.changes)
        book.ts = ev.ts
        book.updates += 1
        seq = self._book_seq = self._book_seq + 1
        self._changed_at[iid] = seq
        if self._md_clients:
            now = self._now
            for c in self._md_clients:
                c.on_book_delta(ev, book, old, now)
            if self._inbox:
                self._drain()
        self._tops_dirty.add(iid)
        subs = self._book_subs.get(iid)
        if subs:
            for r in subs:
                # StrategyRunner.call("on_book", book), inlined: the hook runs for most events.
                if r.status != "disabled":
                    try:
                        r.strategy.on_book(r.ctx, book)
                    except Exception as exc:  # noqa: BLE001 - isolated as in StrategyRunner.call
                        r.failed("on_book", exc)

    def _on_snapshot(self, ev: BookSnapshot) -> None:
        book = self.books.apply_snapshot(ev)
        self._book_seq += 1
        self._changed_at[ev.instrument_id] = self._book_seq
        for c in self._md_clients:
            c.on_book_snapshot(ev, book, self._now)
        if self._inbox:
            self._drain()
        self._tops_dirty.add(ev.instrument_id)
        for r in self._book_subs.get(ev.instrument_id, ()):
            r.call("on_book", book)

    def _on_trade(self, ev: TradePrint) -> None:
        for c in self._md_clients:
            c.on_trade_print(ev, self._now)
        if self._inbox:
            self._drain()
        self._last_trade[ev.instrument_id] = ev.price
        for r in self._trade_subs.get(ev.instrument_id, ()):
            r.call("on_trade", ev)

    def _on_listed(self, ev: MarketListed) -> None:
        new_by_runner: dict[str, list[Instrument]] = {}
        for inst in ev.instruments:
            self.instruments[inst.instrument_id] = inst
            self.live.add(inst.instrument_id)
            if inst.event_id:
                group = self._events.setdefault(inst.event_id, [])
                if all(i.instrument_id != inst.instrument_id for i in group):
                    group.append(inst)
            self.sink.instrument(inst, "open", ev.ts)
            for r in self.runners.values():
                if self._subscribe(r, inst):
                    new_by_runner.setdefault(r.name, []).append(inst)
        for name, insts in new_by_runner.items():
            self.runners[name].call("on_instruments", insts)

    def _on_tick_change(self, ev: TickSizeChange) -> None:
        inst = self.instruments.get(ev.instrument_id)
        if inst is None:
            return
        new = replace(inst, tick=ev.tick)
        self.instruments[ev.instrument_id] = new
        for r in self._subs.get(ev.instrument_id, ()):
            r.subscribed[ev.instrument_id] = new
        if new.event_id:
            group = self._events.get(new.event_id, [])
            self._events[new.event_id] = [
                new if i.instrument_id == new.instrument_id else i for i in group
            ]
        self.sink.instrument(new, "open", ev.ts)

    def _on_status(self, ev: MarketStatus) -> None:
        for c in self._clients_t:
            c.on_market_status(ev.market_id, ev.status, ev.bet_delay_s, ev.ts)
        try:
            state = MarketState(ev.status)
        except ValueError:
            log.warning("Market %s reported unknown status %r; ignored.", ev.market_id, ev.status)
            return
        prev = self.market_state.get(ev.market_id, MarketState.OPEN)
        if state is MarketState.OPEN:
            self.market_state.pop(ev.market_id, None)
        else:
            self.market_state[ev.market_id] = state
        if state is prev or state is MarketState.OPEN:
            return
        iids = [
            iid
            for iid, inst in self.instruments.items()
            if inst.market_id == ev.market_id and iid in self.live
        ]
        if not iids:
            return
        # No new orders from now on (see submit); resting ones go where the venue would send
        # them: a closed, suspended or not-accepting market cancels them (docs/ENGINE.md).
        reason = f"market {state.value.replace('_', ' ')}"
        for c in self._clients_t:
            c.on_market_closed(iids, ev.ts, reason)
        if self._inbox:
            self._drain()

    def _on_removed(self, ev: RunnerRemoved) -> None:
        """A Betfair non-runner: its orders cancelled, its bets void now (also those of a
        position already closed), the other runners' matched odds reduced (docs/BETFAIR.md)."""
        iid = ev.instrument_id
        for c in self._clients_t:
            c.on_market_closed([iid], ev.ts, "runner removed")
        if self._inbox:
            self._drain()
        for r in self.runners.values():
            st = r.portfolio.settle(iid, VOID_PAYOUT, ev.ts, self._next_settlement_id())
            if st is None:
                self.settlement_seq -= 1
            else:
                self.sink.settlement(st)
                self.sink.position(r.name, iid, None)
            if ev.keep_ppm != MICRO:
                for other in ev.reduced:
                    pos = r.portfolio.reduce_odds(other, ev.keep_ppm)
                    if pos is not None:  # a ledger row, so a restart replays the reduction
                        row = Settlement(
                            self._next_settlement_id(), r.name, other, 0, 0, 0, ev.ts,
                            reduction_ppm=ev.keep_ppm,
                        )  # fmt: skip
                        self.sink.settlement(row)
                        self.sink.position(r.name, other, pos)
        inst = self.instruments.get(iid)
        if inst is not None:
            self.sink.instrument(inst, "resolved", ev.ts, payout=VOID_PAYOUT, resolved_ts=ev.ts)

    def _on_resolved(self, ev: MarketResolved) -> None:
        iids = [iid for iid, _ in ev.payouts]
        for c in self._clients_t:
            c.on_market_closed(iids, ev.ts, "market resolved")
        if self._inbox:
            self._drain()
        self.market_state.pop(ev.market_id, None)
        for iid, payout in ev.payouts:
            for r in self.runners.values():
                st = r.portfolio.settle(iid, payout, ev.ts, self._next_settlement_id())
                if st is None:
                    self.settlement_seq -= 1
                    continue
                self.sink.settlement(st)
                self.sink.position(r.name, iid, None)
            inst = self.instruments.get(iid)
            if inst is not None:
                self.sink.instrument(inst, "resolved", ev.ts, payout=payout, resolved_ts=ev.ts)
        self._charge_commission(iids, ev.ts)
        notified: set[str] = set()
        for iid in iids:
            self._book_subs.pop(iid, None)
            self._book_all.pop(iid, None)
            self._book_paused.pop(iid, None)
            self._trade_subs.pop(iid, None)
            for r in self._subs.pop(iid, []):
                r.subscribed.pop(iid, None)
                if r.name not in notified:
                    notified.add(r.name)
                    r.call("on_resolution", ev)
            self.live.discard(iid)
            self.books.drop(iid)
            self._last_mid.pop(iid, None)
            self._book_seq += 1
            self._changed_at[iid] = self._book_seq
            self._tops_dirty.discard(iid)
            self._top_written.pop(iid, None)
            inst = self.instruments.get(iid)
            if inst is not None and inst.event_id and inst.event_id in self._events:
                group = [i for i in self._events[inst.event_id] if i.instrument_id != iid]
                if group:
                    self._events[inst.event_id] = group
                else:
                    del self._events[inst.event_id]

    # ================================================================== gateway
    def now(self) -> float:
        """Return the engine clock's time."""
        return self.clock.now()

    def book(self, instrument_id: str) -> OrderBook | None:
        """Return a book, or None."""
        return self.books.find(instrument_id)

    def instrument(self, instrument_id: str) -> Instrument | None:
        """Return instrument metadata."""
        return self.instruments.get(instrument_id)

    def subscribed(self, strategy: str) -> Iterable[Instrument]:
        """Return the instruments a strategy subscribed to."""
        return list(self.runners[strategy].subscribed.values())

    def event_instruments(self, event_id: str) -> list[Instrument]:
        """Return the live instruments of a neg-risk event."""
        return list(self._events.get(event_id, ()))

    def status(self, strategy: str) -> str:
        """Return a strategy's status: active, paused or disabled."""
        return self.runners[strategy].status

    def trusted(self, instrument_id: str) -> bool:
        """Return whether the data gate accepts new positions on the instrument now."""
        guard = self.data_guard
        return guard is None or guard.entry_refusal(instrument_id, self.clock.now()) is None

    def portfolio(self, strategy: str) -> Portfolio:
        """Return a strategy's portfolio."""
        return self.runners[strategy].portfolio

    # ================================================================== helpers
    def mark(self, iid: str) -> int | None:
        """Return the mid of an instrument (last known mid if a side is empty)."""
        book = self.books.find(iid)
        m = book.mid() if book is not None else None
        if m is None:
            return self._last_mid.get(iid)
        self._last_mid[iid] = m
        return m

    def market_value(self, pf: Portfolio) -> int:
        """Return ``pf.market_value(self.mark)``, recomputing only positions whose book, quantity,
        cost or instrument changed since this portfolio was last valued (issue 18).

        The per-second clock work (performance samples, the safety layer's measures) values
        every portfolio; most positions sit on books that did not move in that second.
        """
        cache = self._mv_cache.get(id(pf))
        if cache is None or len(cache) > 2 * len(pf.positions) + 16:
            cache = self._mv_cache[id(pf)] = {}
        changed_at = self._changed_at
        inst_of = pf._inst_of
        seq = self._book_seq
        # Engine.mark, inlined below (a subclass that overrides mark keeps the call).
        mark = None if type(self).mark is Engine.mark else self.mark
        books = self.books
        find = books._books.get if type(books).find is BookStore.find else books.find
        last_mid = self._last_mid
        total = 0
        for iid, pos in pf.positions.items():
            qty, cost = pos.qty, pos.cost_basis
            inst = inst_of.get(iid)
            hit = cache.get(iid)
            if (
                hit is not None
                and hit[1] == qty
                and hit[2] == cost
                and hit[3] is inst
                and changed_at.get(iid, 0) <= hit[0]
            ):
                total += hit[4]
                continue
            # As Portfolio.market_value, position by position.
            if mark is not None:
                m = mark(iid)
            else:
                # Engine.mark: the book's mid (OrderBook.mid), else the last known mid.
                book = find(iid)
                if book is not None and book._bid_px and book._ask_px:
                    m = last_mid[iid] = (book._bid_px[-1] + book._ask_px[0]) // 2
                else:
                    m = last_mid.get(iid)
            if m is None:
                v = cost
            else:
                v = notional(qty, m) if inst is None else inst.unit_value(qty, m)
            cache[iid] = (seq, qty, cost, inst, v)
            total += v
        return total

    def liquidation_value(self, pf: Portfolio) -> int:
        """Return cash plus what selling every position into the bids now would raise, net of fees."""
        total = pf.cash
        for iid, pos in pf.positions.items():
            book = self.books.find(iid)
            inst = self.instruments.get(iid)
            if book is None or inst is None:
                continue
            if pos.qty < 0 or inst.quote is not Quote.PROBABILITY:
                # Closing a short or an odds-quoted bet is not a sale into the bids: mark it.
                m = self.mark(iid)
                total += inst.unit_value(pos.qty, m) if m is not None else pos.cost_basis
                continue
            left = pos.qty
            for price, size in book.levels(Side.BUY):
                q = inst.floor_lot(min(left, size))
                total += notional(q, price) - inst.fees.taker_fee(q, price)
                left -= q
                if left <= 0:
                    break
        return total

    def set_status(self, name: str, status: str, reason: str) -> None:
        """Change a strategy's status (active/paused/disabled); disabling cancels its orders."""
        status = StrategyStatus(status)
        r = self.runners[name]
        now = self.clock.now()
        r.status, r.status_reason, r.status_since = status, reason, now
        if status == "disabled":
            self.cancel_orders(f"strategy disabled: {reason}", strategy=name)
        self.sink.strategy(
            {
                "name": name,
                "status": str(status),
                "status_reason": reason,
                "status_since": now,
                "error_count": r.errors,
                "updated_ts": now,
            }
        )

    def _strategy_error(self, r: StrategyRunner, hook: str, exc: BaseException) -> None:
        now = self.clock.now()
        self.bus.event(
            now,
            "strategy_error",
            f"{r.name}.{hook} raised {type(exc).__name__}: {exc}",
            severity="warning",
            strategy=r.name,
            value=str(r.errors),
            limit=str(r.error_limit),
        )
        if self.safety is not None:
            self.safety.on_failure(now, "strategy", r.name, f"{hook}: {type(exc).__name__}: {exc}")
        if r.errors >= r.error_limit and r.status != "disabled":
            reason = f"{r.errors} errors reached strategy_error_limit {r.error_limit}"
            log.error("Disabling strategy %s: %s.", r.name, reason, extra={"strategy": r.name})
            self.set_status(r.name, "disabled", reason)
            self.bus.event(
                now,
                "auto_disable",
                f"{r.name} disabled: {reason}",
                severity="critical",
                strategy=r.name,
                value=str(r.errors),
                limit=str(r.error_limit),
            )

    def _charge_commission(self, iids: list[str], ts: float) -> None:
        # Venues such as Betfair charge commission on each market's net result once it settled.
        seen: set[str] = set()
        for iid in iids:
            inst = self.instruments.get(iid)
            if inst is None or not inst.fees.charges_commission or inst.market_id in seen:
                continue
            seen.add(inst.market_id)
            for r in self.runners.values():
                st = r.portfolio.settle_commission(inst, ts, self.settlement_seq + 1)
                if st is not None:
                    self.settlement_seq += 1
                    self.sink.settlement(st)

    def _next_settlement_id(self) -> int:
        self.settlement_seq += 1
        return self.settlement_seq

    def _write_tops(self, now: float, *, force_prices: bool = False) -> None:
        # Only instruments whose book changed since the last tick are looked at (issue 18).
        find = self.books._books.get  # BookStore.find, inlined
        last_trade = self._last_trade
        written = self._top_written
        pending = self._prices_pending
        top_rows = self._top_rows
        for iid in self._tops_dirty:
            book = find(iid)
            if book is None:
                continue
            bid_px, ask_px = book._bid_px, book._ask_px
            bid = bid_px[-1] if bid_px else None
            ask = ask_px[0] if ask_px else None
            last = last_trade.get(iid)
            top = (
                bid,
                ask,
                book.bids.get(bid) if bid else None,
                book.asks.get(ask) if ask else None,
                last,
            )
            ts = book.ts
            if written.get(iid) != top:
                # Only a changed top is written: a book that moved below its touch leaves the
                # row (and its updated_ts, the time the top last changed) as it is. The row
                # itself is built at the hand-over below: most are overwritten before it.
                written[iid] = top
                top_rows[iid] = (top, ts)
            # The price point and its mid are built at its flush (most are overwritten first).
            pending[iid] = (ts, bid, ask, last)
        self._tops_dirty.clear()
        if top_rows:
            # Rows go to storage at most every competition.tops_write_interval_wall_s of wall
            # time, the newest row of each instrument (issue 18). A market_tops row is an
            # upsert per instrument, so the table ends the same; a live run ticks once a wall
            # second and hands every tick's rows over as before, while a replay at full speed
            # no longer upserts a row per instrument per market second (288,000 on the peer
            # workload) that the next tick overwrites. finish() hands everything over.
            wall = time.monotonic()
            if force_prices or wall >= self._tops_due_wall:
                self._tops_due_wall = wall + self.tops_wall_interval_s
                hand_over = self.sink.top
                for iid, ((bid, ask, bid_size, ask_size, last), ts) in top_rows.items():
                    # OrderBook.mid: integer mid rounded down, None if a side is empty.
                    mid = (bid + ask) // 2 if bid is not None and ask is not None else None
                    hand_over(
                        {
                            "instrument_id": iid,
                            "best_bid": bid,
                            "best_ask": ask,
                            "bid_size": bid_size,
                            "ask_size": ask_size,
                            "mid": mid,
                            "last_trade": last,
                            "updated_ts": ts,
                        }
                    )
                top_rows.clear()
        if now < self._next_prices and not force_prices:
            return
        # Price history for the dashboard's price chart: the newest top of each changed instrument
        # once per persisted-snapshot interval (the sink skips points whose prices are unchanged).
        self._next_prices = now + self.cfg.competition.snapshot_interval_s
        price_point = self.sink.price_point
        for iid, (ts, bid, ask, last) in pending.items():
            mid = (bid + ask) // 2 if bid is not None and ask is not None else None
            price_point({"instrument_id": iid, "ts": ts, "mid": mid, "last_trade": last})
        pending.clear()


def _nothing(key: str) -> None:
    """An empty container's ``get`` (pads a client's ``delta_watch`` to three lookups)."""
    return None


def _overrides(strategy: Strategy, hook: str) -> bool:
    """Return whether a strategy's class overrides a base-class hook."""
    return getattr(type(strategy), hook) is not getattr(Strategy, hook)
