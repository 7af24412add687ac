"""The engine loop: one path for backtest, paper and live.

feed -> books -> simulated exchange -> strategies -> risk chain -> execution -> portfolios.
The engine wires the parts together; each part lives in its own module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from services.clock import Clock, SimClock
from services.events import (
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    TickSizeChange,
    TradePrint,
)
from services.execution.orders import Fill, Order, OrderStatus, TimeInForce
from services.execution.simulated import SimulatedExchange
from services.instruments import Instrument, Side
from services.markets.base import Feed
from services.money import MICRO, floor_lot, notional, taker_fee
from services.orderbook import BookStore, OrderBook
from services.persistence import Sink
from services.portfolio import Portfolio
from services.risk.chain import RiskChain, RiskEnv, RiskView
from services.runner import StrategyRunner
from services.snapshots import PerformanceTracker
from services.strategies.base import Gateway, Intent, Strategy, StrategyContext
from utils.config import AppConfig

log = logging.getLogger(__name__)


class Engine(Gateway):
    """Runs many strategies side by side on one feed, each with an isolated portfolio."""

    def __init__(
        self,
        cfg: AppConfig,
        clock: Clock,
        feed: Feed | None,
        strategies: list[Strategy],
        sink: Sink,
        risk: RiskChain | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self._sim_clock = clock if isinstance(clock, SimClock) else None
        self.feed = feed
        self.sink = sink
        self.risk = risk or RiskChain()
        # Set by services.risk.safety.SafetyLayer when the safety layer is attached.
        self.risk_env: RiskEnv | None = None
        self.safety: Any = None
        self.books = BookStore()
        self.instruments: dict[str, Instrument] = {}
        self.live: set[str] = set()
        self._events: dict[str, list[Instrument]] = {}
        self._last_mid: dict[str, int] = {}
        self._last_trade: dict[str, int] = {}
        self._tops_dirty: set[str] = set()
        self.order_seq = 0
        self.fill_seq = 0
        self.settlement_seq = 0
        self.exchange = SimulatedExchange(
            self.books,
            self.instruments,
            self,
            self._next_fill_id,
            latency_s=cfg.execution.latency_ms / 1000.0,
        )
        capital = int(cfg.competition.starting_capital_usd * MICRO)
        self.runners: dict[str, StrategyRunner] = {}
        for strat in strategies:
            pf = Portfolio(strat.name, capital)
            self.runners[strat.name] = StrategyRunner(
                strat,
                StrategyContext(strat.name, self),
                pf,
                cfg.competition.strategy_error_limit,
                self._strategy_error,
            )
        self._subs: dict[str, list[StrategyRunner]] = {}
        # Only strategies that override a hook are called for it (saves a call per event).
        self._book_subs: dict[str, list[StrategyRunner]] = {}
        self._trade_subs: dict[str, list[StrategyRunner]] = {}
        self.forget_interval_s = 10.0
        self._next_forget = 0.0
        self._deferred: list[tuple[StrategyRunner, Fill]] = []
        self.tracker = PerformanceTracker(cfg.competition, capital)
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
        }

    # ================================================================== running
    def start(self) -> None:
        """Persist the field and call every strategy's ``on_start``."""
        now = self.clock.now()
        for r in self.runners.values():
            s = r.strategy
            self.sink.strategy(
                {
                    "name": r.name,
                    "class_path": f"{type(s).__module__}:{type(s).__name__}",
                    "params_json": s.params.model_dump_json(),
                    "kind": s.kind,
                    "status": r.status,
                    "status_reason": r.status_reason,
                    "status_since": r.status_since,
                    "starting_capital": r.portfolio.starting_cash,
                    "error_count": r.errors,
                    "created_ts": now,
                    "updated_ts": now,
                }
            )
            r.call("on_start")
        self.started = True

    async def run(self) -> None:
        """Consume the feed until it ends or :meth:`request_stop` is called."""
        if self.feed is None:
            raise RuntimeError("engine has no feed")
        if not self.started:
            self.start()
        max_backlog = self.cfg.bot.writer_max_backlog
        async for batch in self.feed.batches():
            self.process_batch(batch)
            if self.stop_requested:
                break
            await asyncio.sleep(0)
            if self.sink.backlog() > max_backlog:
                # Backpressure: as fast as possible must not outrun the database, or fills
                # reported as stored would wait in memory and control acks would lag.
                while self.sink.backlog() > max_backlog // 2 and not self.stop_requested:
                    await asyncio.sleep(0.005)

    def request_stop(self) -> None:
        """Ask the loop to stop after the current batch."""
        self.stop_requested = True

    def process_batch(self, batch: Iterable[MarketEvent]) -> None:
        """Handle a batch of events, then run clock-driven work (timers, snapshots)."""
        for ev in batch:
            self.handle(ev)
        self.on_clock()

    def handle(self, ev: MarketEvent) -> None:
        """Handle one market event."""
        ts = ev.ts
        if self._sim_clock is not None and ts > self._sim_clock.now():
            self._sim_clock.advance(ts)
        if self.exchange._pending:
            self.exchange.advance(self.clock.now())
        self.exchange.now = self.clock.now()
        self._dispatch[type(ev)](ev)
        self.events_processed += 1
        if self._deferred:
            self._flush_deferred()

    def on_clock(self) -> None:
        """Run timers and snapshots that are due at the current time."""
        now = self.clock.now()
        if self.exchange._pending:
            # Orders delayed by latency arrive on the clock too, not only with market events.
            self.exchange.advance(now)
        if now >= self._next_forget:
            self._next_forget = now + self.forget_interval_s
            self.exchange.forget_inactive()
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

    def finish(self) -> None:
        """Final snapshot (persisted), strategies' ``on_stop``."""
        for r in self.runners.values():
            r.call("on_stop")
        self.tracker.tick(self.clock.now(), self, force_persist=True)
        self._write_tops(self.clock.now())
        for r in self.runners.values():
            r.portfolio.check_ledger()

    # ================================================================== market events
    def _on_delta(self, ev: BookDelta) -> None:
        book = self.books.get(ev.instrument_id)
        set_level = book.set_level
        old = [set_level(side, price, size) for side, price, size in ev.changes]
        book.ts = ev.ts
        book.updates += 1
        self.exchange.on_delta(ev, book, old)
        self._tops_dirty.add(ev.instrument_id)
        subs = self._book_subs.get(ev.instrument_id)
        if subs:
            for r in subs:
                r.call("on_book", book)

    def _on_snapshot(self, ev: BookSnapshot) -> None:
        book = self.books.apply_snapshot(ev)
        self.exchange.on_snapshot(ev, book)
        self._tops_dirty.add(ev.instrument_id)
        for r in self._book_subs.get(ev.instrument_id, ()):
            r.call("on_book", book)

    def _on_trade(self, ev: TradePrint) -> None:
        self.exchange.on_trade(ev)
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
                if r.strategy.wants(inst):
                    r.subscribed[inst.instrument_id] = inst
                    self._subs.setdefault(inst.instrument_id, []).append(r)
                    if _overrides(r.strategy, "on_book"):
                        self._book_subs.setdefault(inst.instrument_id, []).append(r)
                    if _overrides(r.strategy, "on_trade"):
                        self._trade_subs.setdefault(inst.instrument_id, []).append(r)
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
        if ev.status == "closed":
            for iid, inst in self.instruments.items():
                if inst.market_id == ev.market_id and iid in self.live:
                    for o in self.exchange.open_orders():
                        if o.instrument_id == iid:
                            self.exchange.cancel(o.order_id, ev.ts, "market closed")

    def _on_resolved(self, ev: MarketResolved) -> None:
        iids = [iid for iid, _ in ev.payouts]
        self.exchange.on_resolved(iids, ev.ts)
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
        notified: set[str] = set()
        for iid in iids:
            self._book_subs.pop(iid, None)
            self._trade_subs.pop(iid, None)
            for r in self._subs.pop(iid, []):
                r.subscribed.pop(iid, None)
                if r.name not in notified:
                    notified.add(r.name)
                    r.call("on_resolution", ev)
            self.live.discard(iid)
            self.books.drop(iid)
            self._last_mid.pop(iid, None)
            self._tops_dirty.discard(iid)
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

    def portfolio(self, strategy: str) -> Portfolio:
        """Return a strategy's portfolio."""
        return self.runners[strategy].portfolio

    def available(self, strategy: str, instrument_id: str, side: Side, price: int) -> int:
        """Return a level's size not yet consumed by ``strategy``."""
        return self.exchange.available(strategy, instrument_id, side, price)

    def open_orders(self, strategy: str, instrument_id: str | None) -> list[Order]:
        """Return a strategy's active orders."""
        return [
            o
            for o in self.exchange.open_orders(strategy)
            if instrument_id is None or o.instrument_id == instrument_id
        ]

    def submit(self, intent: Intent) -> Order | None:
        """Risk-check an intent, turn it into an order and send it to execution."""
        r = self.runners[intent.strategy]
        now = self.clock.now()
        inst = self.instruments.get(intent.instrument_id)
        if inst is None or intent.instrument_id not in self.live:
            self._reject_event(intent, now, f"instrument {intent.instrument_id} is not live")
            return None
        price = intent.price
        tif = intent.tif
        order_type = "limit"
        if price is None:
            order_type = "market"
            price = MICRO - inst.tick if intent.side is Side.BUY else inst.tick
            if tif is TimeInForce.GTC:
                tif = TimeInForce.FAK
        view = RiskView(
            now,
            inst,
            self.books.find(inst.instrument_id),
            r.portfolio,
            r.strategy.kind,
            r.status,
            price,
            r.name,
            self.risk_env,
        )
        rej = self.risk.check(intent, view)
        if rej is not None:
            # The safety layer throttles repeats of one (strategy, control) refusal.
            skipped = 0 if self.safety is None else self.safety.rejection_gate(r.name, rej, now)
            if skipped is not None:
                self.sink.event(
                    now,
                    "risk_rejection",
                    rej.message,
                    severity="warning",
                    strategy=r.name,
                    instrument_id=intent.instrument_id,
                    value=rej.value,
                    limit=rej.limit,
                    data={
                        "control": rej.control,
                        "side": intent.side.value,
                        "size": intent.size,
                        "suppressed": skipped,
                    },
                )
            return None
        self.order_seq += 1
        order = Order(
            order_id=self.order_seq,
            strategy=r.name,
            instrument_id=inst.instrument_id,
            side=intent.side,
            price=price,
            size=intent.size,
            tif=tif,
            post_only=intent.post_only,
            order_type=order_type,
            reason=intent.reason,
            created_ts=now,
            updated_ts=now,
            reduce_only=intent.reduce_only,
        )
        problem = r.portfolio.check_order(order, inst)
        if problem is not None:
            order.status = OrderStatus.REJECTED
            order.reject_reason = problem
            self.sink.order(order)
            return order
        r.portfolio.reserve(order, inst)
        self.sink.order(order)
        self.exchange.submit(order, now)
        return order

    def cancel(self, strategy: str, order_id: int, reason: str) -> bool:
        """Cancel one of a strategy's orders."""
        o = self.exchange.orders.get(order_id)
        if o is None or o.strategy != strategy:
            return False
        return self.exchange.cancel(order_id, self.clock.now(), reason or "cancelled by strategy")

    # ================================================================== execution listener
    def on_fill(self, order: Order, fill: Fill) -> None:
        """Apply a fill to the owner's portfolio and storage; tell the strategy afterwards."""
        r = self.runners[order.strategy]
        inst = self.instruments[order.instrument_id]
        pf = r.portfolio
        pf.release(order)
        pf.apply_fill(fill, inst)
        if order.active and order.remaining > 0:
            pf.reserve(order, inst)
        self.sink.fill(fill)
        self.sink.order(order)
        self.sink.position(r.name, fill.instrument_id, pf.positions.get(fill.instrument_id))
        self._deferred.append((r, fill))

    def on_order_update(self, order: Order) -> None:
        """Persist an order's new status and free what it held once it is done."""
        if not order.active:
            self.runners[order.strategy].portfolio.release(order)
        self.sink.order(order)

    def _flush_deferred(self) -> None:
        while self._deferred:
            batch, self._deferred = self._deferred, []
            for r, fill in batch:
                r.call("on_fill", fill)

    # ================================================================== helpers
    def mark(self, iid: str) -> int | None:
        """Return the mid of an instrument (last known mid if a side is empty)."""
        book = self.books.find(iid)
        m = book.mid() if book is not None else None
        if m is None:
            return self._last_mid.get(iid)
        self._last_mid[iid] = m
        return m

    def liquidation_value(self, pf: Portfolio) -> int:
        """Return cash plus what selling every position into the bids now would raise, net of fees."""
        total = pf.cash
        for iid, pos in pf.positions.items():
            book = self.books.find(iid)
            inst = self.instruments.get(iid)
            if book is None or inst is None:
                continue
            left = pos.qty
            for price, size in book.levels(Side.BUY):
                q = floor_lot(min(left, size))
                total += notional(q, price) - taker_fee(
                    q, price, inst.fees.rate, inst.fees.exponent
                )
                left -= q
                if left <= 0:
                    break
        return total

    def set_status(self, name: str, status: str, reason: str) -> None:
        """Change a strategy's status (active/paused/disabled); disabling cancels its orders."""
        r = self.runners[name]
        now = self.clock.now()
        r.status, r.status_reason, r.status_since = status, reason, now
        if status == "disabled":
            for o in self.exchange.open_orders(name):
                self.exchange.cancel(o.order_id, now, f"strategy disabled: {reason}")
        self.sink.strategy(
            {
                "name": name,
                "status": status,
                "status_reason": reason,
                "status_since": now,
                "error_count": r.errors,
                "updated_ts": now,
            }
        )

    def _strategy_error(self, r: StrategyRunner, hook: str, exc: BaseException) -> None:
        now = self.clock.now()
        self.sink.event(
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
            log.error("Disabling strategy %s: %s.", r.name, reason)
            self.set_status(r.name, "disabled", reason)
            self.sink.event(
                now,
                "auto_disable",
                f"{r.name} disabled: {reason}",
                severity="critical",
                strategy=r.name,
                value=str(r.errors),
                limit=str(r.error_limit),
            )

    def _reject_event(self, intent: Intent, now: float, message: str) -> None:
        self.sink.event(
            now,
            "risk_rejection",
            message,
            severity="warning",
            strategy=intent.strategy,
            instrument_id=intent.instrument_id,
        )

    def _next_fill_id(self) -> int:
        self.fill_seq += 1
        return self.fill_seq

    def _next_settlement_id(self) -> int:
        self.settlement_seq += 1
        return self.settlement_seq

    def _write_tops(self, now: float) -> None:
        for iid in self._tops_dirty:
            book = self.books.find(iid)
            if book is None:
                continue
            bid, ask = book.best_bid(), book.best_ask()
            self.sink.top(
                {
                    "instrument_id": iid,
                    "best_bid": bid,
                    "best_ask": ask,
                    "bid_size": book.bids.get(bid) if bid else None,
                    "ask_size": book.asks.get(ask) if ask else None,
                    "mid": book.mid(),
                    "last_trade": self._last_trade.get(iid),
                    "updated_ts": book.ts,
                }
            )
        self._tops_dirty.clear()


def _overrides(strategy: Strategy, hook: str) -> bool:
    """Return whether a strategy's class overrides a base-class hook."""
    return getattr(type(strategy), hook) is not getattr(Strategy, hook)
