"""The execution-client boundary: the only thing that knows how orders reach a venue.

The engine owns orders (ids, reservations, the ledger); a client carries them to a venue and
reports back. Everything a venue does to an order reaches the engine as an :class:`OrderEvent`
through the ``emit`` callback given in :meth:`ExecutionClient.bind`, never as the return value of
``submit``: the engine applies queued events between market events, so the same engine drives a
paper client whose fills are immediate and a live one whose fills arrive seconds later.

Rules every client follows (docs/ARCHITECTURE.md, "Execution clients"):

* ``submit`` and ``cancel`` never raise for venue reasons; a refusal is a ``rejected`` event.
* An order's fields (``status``, ``filled``, ``filled_notional``, ``fees``, ``venue_order_id``)
  are changed by the client only at the moment it emits the matching event.
* A fill event carries a :class:`~services.execution.orders.Fill` whose ``fill_id`` is 0 and whose
  ``venue_fill_id`` is the venue's trade id; the engine gives it the ledger id when it applies it.
* A client that needs market data (only the simulated one) sets ``watches_market_data``; the
  engine then passes it every book and trade event before strategies see them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.events import BookDelta, BookSnapshot, TradePrint
from services.execution.orders import Fill, Order, OrderStatus
from services.instruments import Side
from services.money import notional
from services.orderbook import OrderBook


class OrderEventKind(StrEnum):
    """What happened to an order at the venue."""

    ACCEPTED = "accepted"  # resting (or working) at the venue; venue_order_id is known
    REJECTED = "rejected"  # refused by the venue; nothing was filled
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"  # by request, by the venue, or the unfilled rest of a FAK/FOK
    EXPIRED = "expired"  # a GTD order reached its expiry


TERMINAL_EVENT_KINDS = frozenset(
    {
        OrderEventKind.REJECTED,
        OrderEventKind.FILLED,
        OrderEventKind.CANCELLED,
        OrderEventKind.EXPIRED,
    }
)


@dataclass(slots=True)
class OrderEvent:
    """One step of an order's life, as a venue (or the simulator) reported it."""

    kind: OrderEventKind
    order: Order
    ts: float
    fill: Fill | None = None  # set for PARTIALLY_FILLED and FILLED
    reason: str | None = None  # set for REJECTED, CANCELLED, EXPIRED


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """What a client believes is true at the venue, for reconciliation with the engine's books.

    Attributes
    ----------
    client : str
        The client's route name.
    open_orders : list[Order]
        Orders working at the venue.
    filled : dict[int, int]
        Order id -> filled quantity (micro) as the venue reports it, for every order the client
        has seen this session.
    """

    client: str
    open_orders: list[Order] = field(default_factory=list)
    filled: dict[int, int] = field(default_factory=dict)


Emit = Callable[[OrderEvent], None]


class WatchedInstruments(dict[str, bool]):
    """A ``delta_watch`` container whose every value is True (an instrument is watched when it is
    a key): the engine tests ``iid in watched`` instead of calling ``get`` per delta (issue 18)."""


class ExecutionClient(ABC):
    """Carries orders to one venue (or to the paper matcher) and reports their lifecycle.

    Subclasses implement :meth:`submit`, :meth:`cancel` and :meth:`open_orders`; the rest has
    defaults that suit a venue client which needs no market data and no timers.
    """

    name: str = "client"
    venue: str = "sim"
    watches_market_data: bool = False
    # Earliest event time at which :meth:`on_time` has work to do (inf: none). The engine reads it
    # on every market event, so it must be a plain attribute, not a computed property.
    next_due: float = float("inf")
    # Instrument-keyed containers (at most three) such that a book delta on an instrument none
    # of them maps to a non-empty value is a no-op for this client apart from the time it is
    # told; the engine then skips the ``on_book_delta`` call (issue 18: most deltas, on
    # instruments where the paper venue has no resting order, no claim and no unmatched print).
    # None: every delta is delivered. The containers must never be replaced, only changed.
    # One ``WatchedInstruments`` alone: its keys (all mapped to True) are what is watched.
    delta_watch: tuple[dict[str, Any], ...] | None = None

    def __init__(self) -> None:
        self._emit: Emit = _unbound

    def bind(self, emit: Emit) -> None:
        """Connect the client to the engine's event inbox (called once by the node builder)."""
        self._emit = emit

    # ------------------------------------------------------------------ orders
    @abstractmethod
    def submit(self, order: Order, now: float) -> None:
        """Send a new order; its outcome arrives later as events."""

    @abstractmethod
    def cancel(self, order: Order, now: float, reason: str) -> bool:
        """Request a cancel; return False if the client knows the order is no longer working."""

    def cancel_all(self, now: float, reason: str, strategy: str | None = None) -> int:
        """Request a cancel of every working order (of one strategy); return how many."""
        n = 0
        for o in self.open_orders(strategy):
            n += self.cancel(o, now, reason)
        return n

    @abstractmethod
    def open_orders(self, strategy: str | None = None) -> list[Order]:
        """Return the orders the client believes are working at the venue."""

    def restore(self, order: Order) -> None:
        """Take back an order that was working before a restart (paper: re-rest it)."""

    def report(self) -> ExecutionReport:
        """Return the venue's view for reconciliation (open orders and filled quantities)."""
        return ExecutionReport(self.name, self.open_orders(), {})

    def _venue_fill(
        self,
        o: Order,
        price: int,
        size: int,
        fee: int,
        liquidity: str,
        now: float,
        venue_fill_id: str,
        filled: dict[int, int],
        **fill_kw: Any,
    ) -> Fill:
        """Apply a fill the venue reported to ``o`` and emit it; return the fill.

        For venue clients (the paper matcher has its own): the order's filled quantity, notional,
        fees and fill counts, its status (FILLED once nothing remains, while it still works), the
        client's ``filled`` map (order id -> filled, for reconciliation reports), then a
        ``filled`` / ``partially_filled`` event carrying the fill. ``fill_kw``: further
        :class:`Fill` fields (``fill_reason``, ``fee_source``).
        """
        o.filled += size
        o.filled_notional += notional(size, price)
        o.fees += fee
        if liquidity == "maker":
            o.maker_fills += 1
        else:
            o.taker_fills += 1
        o.updated_ts = now
        if o.active:
            o.status = OrderStatus.FILLED if o.filled >= o.size else OrderStatus.PARTIALLY_FILLED
        filled[o.order_id] = o.filled
        fill = Fill(
            0, o.order_id, o.strategy, o.instrument_id, o.side, price, size, fee, liquidity, now,
            venue_fill_id=venue_fill_id, **fill_kw,
        )  # fmt: skip
        done = o.status is OrderStatus.FILLED
        kind = OrderEventKind.FILLED if done else OrderEventKind.PARTIALLY_FILLED
        self._emit(OrderEvent(kind, o, now, fill=fill))
        return fill

    # ------------------------------------------------------------------ time and data
    def on_time(self, now: float) -> None:
        """Do what is due by ``now`` (called only once ``now >= next_due``)."""

    def housekeeping(self, now: float) -> None:
        """Drop what is no longer needed in memory (called every few event seconds)."""

    def available(self, strategy: str, book: OrderBook | None, side: Side, price: int) -> int:
        """Return what ``strategy`` could take at one displayed level (default: all of it)."""
        return book.size_at(side, price) if book is not None else 0

    def on_book_snapshot(self, ev: BookSnapshot, book: OrderBook, now: float) -> None:
        """A full book refresh (only called when ``watches_market_data``)."""

    def on_book_delta(
        self, ev: BookDelta, book: OrderBook, old_sizes: list[int], now: float
    ) -> None:
        """Level changes; ``old_sizes[i]`` is the size before ``ev.changes[i]``."""

    def on_trade_print(self, ev: TradePrint, now: float) -> None:
        """A venue trade print."""

    def on_market_status(self, market_id: str, status: str, bet_delay_s: float, now: float) -> None:
        """A market's status or bet delay changed (before any cancel it causes); default: no-op."""

    def on_market_closed(self, instrument_ids: list[str], now: float, reason: str) -> None:
        """The venue cancelled every order on these instruments (resolution, closure)."""
        for o in self.open_orders():
            if o.instrument_id in instrument_ids:
                self.cancel(o, now, reason)


def _unbound(ev: OrderEvent) -> None:
    raise RuntimeError(
        f"execution client got {ev.kind.value} for order {ev.order.order_id} before bind(): "
        "build engines with services.node.build_node"
    )
