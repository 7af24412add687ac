"""The simulated (paper) execution client: the paper matcher behind the client boundary.

It is the only part of the system that watches market data to match orders: the engine hands it
every book and trade event before strategies see them (``watches_market_data``), and it reports
what the matcher did as :class:`~services.execution.client.OrderEvent` values. The matching rules
themselves live in :mod:`services.execution.simulated` (docs/FILLS.md).
"""

from __future__ import annotations

from typing import Any

from services.execution.client import ExecutionClient, ExecutionReport, OrderEvent, OrderEventKind
from services.execution.orders import Fill, Order, OrderStatus
from services.execution.simulated import SimulatedExchange
from services.instruments import Instrument, Side
from services.orderbook import BookStore, OrderBook


class SimulatedClient(ExecutionClient):
    """Paper execution against the displayed books, with queue position, latency and fees.

    Parameters
    ----------
    books : BookStore
        The node's books (read only).
    instruments : dict[str, Instrument]
        The node's instrument registry (tick, minimum size, fees), shared, read only.
    latency_s : float
        Event-time delay before an order or a cancel reaches the simulated venue.
    name : str
        The route name strategies are sent to.
    """

    watches_market_data = True

    def __init__(
        self,
        books: BookStore,
        instruments: dict[str, Instrument],
        *,
        latency_s: float = 0.0,
        name: str = "paper",
        venue: str = "sim",
        prints_only: bool = False,
        print_window_s: float = 60.0,
    ) -> None:
        super().__init__()
        self.name = name
        self.venue = venue
        self._fill_seq = 0
        self.matcher = SimulatedExchange(
            books,
            instruments,
            self,
            self._next_venue_fill,
            latency_s=latency_s,
            prints_only=prints_only,
            print_window_s=print_window_s,
        )
        self.next_due = float("inf")
        self._filled: dict[int, int] = {}
        self._suspended: set[str] = set()
        # The engine calls these once per book or trade event: bound straight to the matcher
        # (same signatures as ExecutionClient's hooks), so no wrapper call is paid per event.
        self.on_book_snapshot = self.matcher.on_snapshot  # type: ignore[method-assign]
        self.on_book_delta = self.matcher.on_delta  # type: ignore[method-assign]
        self.on_trade_print = self.matcher.on_trade  # type: ignore[method-assign]
        # SimulatedExchange.on_delta changes nothing for an instrument without resting orders,
        # claims or unmatched prints: the engine skips those calls (also while a market is
        # suspended, when the gated hook below would deliver even less). The matcher keeps
        # the instruments that may have any in one ``WatchedInstruments`` (a membership test
        # per delta instead of three lookups). What the skipped call would have set, the
        # matcher's ``now``, is set again by every matcher entry point before it is read.
        self.delta_watch = (self.matcher._watched,)

    # ------------------------------------------------------------------ orders
    def submit(self, order: Order, now: float) -> None:
        """Send an order to the paper venue (after the configured latency)."""
        self.matcher.submit(order, now)
        self._sync_due()

    def cancel(self, order: Order, now: float, reason: str) -> bool:
        """Request a cancel (it travels with the same latency as orders)."""
        ok = self.matcher.cancel(order.order_id, now, reason)
        self._sync_due()
        return ok

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        """Return the orders resting or travelling at the paper venue."""
        return self.matcher.open_orders(strategy)

    def restore(self, order: Order) -> None:
        """Re-rest an order that was open before a restart."""
        if order.venue_order_id is None:
            order.venue_order_id = f"sim-{order.order_id}"
        self.matcher.restore(order)
        self._sync_due()  # a restored GTD order's expiry

    def report(self) -> ExecutionReport:
        """Return the paper venue's open orders and filled quantities."""
        return ExecutionReport(self.name, self.open_orders(), dict(self._filled))

    # ------------------------------------------------------------------ time and data
    def on_time(self, now: float) -> None:
        """Deliver delayed orders and cancels that are due."""
        self.matcher.advance(now)
        self._sync_due()

    def housekeeping(self, now: float) -> None:
        """Forget finished orders (storage keeps them), and their filled quantities."""
        self.matcher.forget_inactive()
        known = self.matcher.orders
        self._filled = {k: v for k, v in self._filled.items() if k in known}

    def available(self, strategy: str, book: OrderBook | None, side: Side, price: int) -> int:
        """Return the displayed size at a level minus what ``strategy`` already took there."""
        if book is None:
            return 0
        return self.matcher.available(strategy, book.instrument_id, side, price)

    def on_market_status(self, market_id: str, status: str, bet_delay_s: float, now: float) -> None:
        """Note a market's bet delay (added to new orders) and whether it is suspended."""
        delays = self.matcher.market_delay_s
        if bet_delay_s > 0:
            delays[market_id] = bet_delay_s
        else:
            delays.pop(market_id, None)
        if status == "suspended":
            self._suspended.add(market_id)
        else:
            self._suspended.discard(market_id)
        self._bind_market_data()

    def _bind_market_data(self) -> None:
        """Bind the market-data hooks: straight to the matcher, or gated while any market is
        suspended (a suspended market matches nothing: its PERSIST orders wait for it to reopen,
        as on Betfair)."""
        m = self.matcher
        if not self._suspended:
            self.on_book_snapshot = m.on_snapshot  # type: ignore[method-assign]
            self.on_book_delta = m.on_delta  # type: ignore[method-assign]
            self.on_trade_print = m.on_trade  # type: ignore[method-assign]
            return
        insts, suspended = m.instruments, self._suspended

        def halted(iid: str) -> bool:
            inst = insts.get(iid)
            return inst is not None and inst.market_id in suspended

        def snapshot(ev: Any, book: Any, now: float | None = None) -> None:
            if not halted(ev.instrument_id):
                m.on_snapshot(ev, book, now)

        def delta(ev: Any, book: Any, old: list[int], now: float | None = None) -> None:
            if not halted(ev.instrument_id):
                m.on_delta(ev, book, old, now)

        def trade(ev: Any, now: float | None = None) -> None:
            if not halted(ev.instrument_id):
                m.on_trade(ev, now)

        self.on_book_snapshot = snapshot  # type: ignore[method-assign]
        self.on_book_delta = delta  # type: ignore[method-assign,assignment]
        self.on_trade_print = trade  # type: ignore[method-assign]

    def on_market_closed(self, instrument_ids: list[str], now: float, reason: str) -> None:
        """Cancel every order on these instruments at once (no latency: the venue did it).

        When the market is only suspended, orders placed with ``persist`` stay (PERSIST).
        """
        insts = self.matcher.instruments
        suspended = bool(self._suspended) and all(
            iid in insts and insts[iid].market_id in self._suspended for iid in instrument_ids
        )
        self.matcher.close_instruments(instrument_ids, now, reason, keep_persistent=suspended)

    # ------------------------------------------------------------------ matcher listener
    def on_fill(self, order: Order, fill: Fill) -> None:
        """Relay one paper fill as an event."""
        if order.venue_order_id is None:
            order.venue_order_id = f"sim-{order.order_id}"
        self._filled[order.order_id] = order.filled
        kind = (
            OrderEventKind.FILLED
            if order.status is OrderStatus.FILLED
            else OrderEventKind.PARTIALLY_FILLED
        )
        self._emit(OrderEvent(kind, order, fill.ts, fill=fill))

    def on_order_update(self, order: Order) -> None:
        """Relay a status change as an event (a FILLED update was already sent with its fill)."""
        st = order.status
        if st is OrderStatus.OPEN or st is OrderStatus.PARTIALLY_FILLED:
            if order.venue_order_id is None:
                order.venue_order_id = f"sim-{order.order_id}"
            self._emit(OrderEvent(OrderEventKind.ACCEPTED, order, order.updated_ts))
        elif st is OrderStatus.CANCELLED:
            kind = (
                OrderEventKind.EXPIRED if order.extra.get("expired") else OrderEventKind.CANCELLED
            )
            self._emit(OrderEvent(kind, order, order.updated_ts, reason=order.reject_reason))
        elif st is OrderStatus.REJECTED:
            self._emit(
                OrderEvent(
                    OrderEventKind.REJECTED, order, order.updated_ts, reason=order.reject_reason
                )
            )
        # PENDING (travelling) needs no event: the engine stored the order when it sent it.

    # ------------------------------------------------------------------ internals
    def _next_venue_fill(self) -> int:
        self._fill_seq += 1
        return self._fill_seq

    def _sync_due(self) -> None:
        self.next_due = self.matcher.next_due()
