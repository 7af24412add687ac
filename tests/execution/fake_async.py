"""A hand-written asynchronous venue for tests: what a live client looks like to the engine.

Nothing happens when an order is submitted. At each later moment of event time at which the
engine asks (``on_time``, due while the venue holds orders) the venue does one step for every
order it holds:

* step 1: reject it (if told to) or accept it (``accepted`` event, venue order id given);
* step 2 and after: fill what the displayed book allows at the book's own prices (taker, with
  the market's fee), at most ``max_fill_per_step`` shares a step (so partial fills arrive over
  several batches); FOK fills completely or is cancelled; FAK cancels its rest once nothing more
  can fill; GTC waits for the book;
* a cancel request is honoured on the next step (unless the order finished first).

Order fields change only when the matching event is emitted, as a real venue's messages would
change them. The venue has no queue model and never fills as a maker: it is a protocol double,
not a fill model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.execution.client import (
    ExecutionClient,
    ExecutionReport,
    OrderEvent,
    OrderEventKind,
)
from services.execution.orders import Order, OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.money import floor_lot
from services.orderbook import BookStore
from utils.config import AppConfig


@dataclass
class _Working:
    order: Order
    sent_ts: float
    steps: int = 0
    cancel_reason: str | None = None


@dataclass
class FakeAsyncVenue(ExecutionClient):
    """An execution client whose acknowledgements and fills arrive on later batches."""

    books: BookStore
    instruments: dict[str, Instrument]
    max_fill_per_step: int | None = None  # micro-shares; None: all that the book shows
    reject_reasons: list[str] = field(default_factory=list)  # the next orders are rejected
    silent: bool = False  # the venue answers nothing (a hung connection) while set
    submitted: list[int] = field(default_factory=list)
    filled: dict[int, int] = field(default_factory=dict)  # order id -> quantity the venue filled
    _orders: dict[int, _Working] = field(default_factory=dict)
    _trade_seq: int = 0
    _last_step: float = float("-inf")

    def __post_init__(self) -> None:
        super().__init__()
        self.name = "fake-async"
        self.venue = "fake"

    # ------------------------------------------------------------------ client interface
    def submit(self, order: Order, now: float) -> None:
        """Take the order; nothing is reported until the next batch."""
        self.submitted.append(order.order_id)
        self._orders[order.order_id] = _Working(order, now)
        self.next_due = float("-inf")  # the engine asks on every batch while orders are held

    def cancel(self, order: Order, now: float, reason: str) -> bool:
        """Queue a cancel for the next step."""
        w = self._orders.get(order.order_id)
        if w is None:
            return False
        w.cancel_reason = reason
        return True

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        """Return the orders the venue holds."""
        return [
            w.order
            for w in self._orders.values()
            if strategy is None or w.order.strategy == strategy
        ]

    def report(self) -> ExecutionReport:
        """Return the orders the venue holds and what it filled of every order it saw."""
        return ExecutionReport(self.name, self.open_orders(), dict(self.filled))

    def on_time(self, now: float) -> None:
        """One venue step: acknowledge, fill, cancel."""
        if self.silent or now == self._last_step:
            return  # one step per moment of event time, however often the engine asks
        self._last_step = now
        for oid, w in list(self._orders.items()):
            if now <= w.sent_ts:
                continue  # sent in this very moment: the venue has not seen it yet
            w.steps += 1
            o = w.order
            if w.steps == 1:
                if self.reject_reasons:
                    reason = self.reject_reasons.pop(0)
                    o.status, o.reject_reason, o.updated_ts = OrderStatus.REJECTED, reason, now
                    del self._orders[oid]
                    self._emit(OrderEvent(OrderEventKind.REJECTED, o, now, reason=reason))
                    continue
                o.status, o.venue_order_id, o.updated_ts = OrderStatus.OPEN, f"fake-{oid}", now
                self._emit(OrderEvent(OrderEventKind.ACCEPTED, o, now))
                continue
            if w.cancel_reason is not None:
                self._finish(oid, OrderStatus.CANCELLED, w.cancel_reason, now)
                continue
            self._step_fill(w, now)
        if not self._orders:
            self.next_due = float("inf")

    # ------------------------------------------------------------------ internals
    def _step_fill(self, w: _Working, now: float) -> None:
        o = w.order
        book = self.books.find(o.instrument_id)
        levels = list(book.levels(o.side.opposite)) if book is not None else []
        marketable = [
            (p, s) for p, s in levels if (p <= o.price if o.side is Side.BUY else p >= o.price)
        ]
        can = floor_lot(sum(s for _, s in marketable))
        if o.tif is TimeInForce.FOK and can < o.remaining:
            self._finish(o.order_id, OrderStatus.CANCELLED, "FOK could not fill", now)
            return
        budget = o.remaining if self.max_fill_per_step is None else self.max_fill_per_step
        inst = self.instruments[o.instrument_id]
        for price, size in marketable:
            q = floor_lot(min(size, budget, o.remaining))
            if q <= 0:
                break
            fee = inst.fees.fill_fee(q, price, False)  # the venue's taker fee (0 on Betfair)
            budget -= q
            self._trade_seq += 1
            self._venue_fill(
                o, price, q, fee, "taker", now, f"fake-trade-{self._trade_seq}", self.filled
            )
            done = o.remaining == 0
            if done:
                del self._orders[o.order_id]
                return
        if o.tif is TimeInForce.FAK and (can == 0 or self.max_fill_per_step is None):
            self._finish(o.order_id, OrderStatus.CANCELLED, "FAK rest cancelled", now)

    def _finish(self, oid: int, status: OrderStatus, reason: str, now: float) -> None:
        w = self._orders.pop(oid)
        o = w.order
        o.status, o.updated_ts = status, now
        o.reject_reason = o.reject_reason or reason
        self._emit(OrderEvent(OrderEventKind.CANCELLED, o, now, reason=reason))


def fake_async(**kw: object) -> object:
    """Return a client factory for ``build_node(extra_clients=...)``."""

    def make(
        books: BookStore, instruments: dict[str, Instrument], cfg: AppConfig
    ) -> FakeAsyncVenue:
        venue = FakeAsyncVenue(books, instruments, **kw)  # type: ignore[arg-type]
        made.append(venue)
        return venue

    made: list[FakeAsyncVenue] = []
    make.made = made  # type: ignore[attr-defined]
    return make
