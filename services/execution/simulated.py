"""The simulated exchange: paper fills against the real (or simulated) displayed book.

Fill rules (see docs/FILLS.md for the reasoning). Wherever the displayed data leaves a choice,
the rule picks the outcome that is worse for the paper order:

* Marketable orders walk the opposite side level by level at each level's price. A level that a
  strategy consumed stays consumed for it: a later update of that level makes more available only
  when it shows more size than the strategy took (a re-sent or shrinking level does not).
  Quantities are floored to the 0.01-share lot.
* On a crossed book (best bid >= best ask, a transient state of real feeds), the displayed orders
  on our side that cross are ahead of us in time: they absorb the crossing volume first, and a
  taker only gets what is left (``_absorbed``).
* FOK fills completely or is cancelled untouched; FAK fills what it can and cancels the rest;
  GTC rests the remainder at its limit price; GTD rests it until its ``expire_ts`` on the engine
  clock, then the order is cancelled with ``extra["expired"]`` set (an ``expired`` event). Post-only is refused with FAK/FOK, and refused when
  it would cross, as the venue does.
* A resting order joins the back of the queue: ``queue_ahead`` starts at the displayed size at
  its price. Trades printed at its price reduce the queue first; only volume beyond the queue
  fills it. Size removed from the level without a trade (cancels) reduces the queue in proportion
  to the share of the level that was ahead; a print that arrives after the update that already
  removed its volume is not counted a second time. A trade printed through its price (a sell
  below our bid, a buy above our ask) fills it, up to the printed size. Orders of one strategy
  share a print in price-time priority.
* Crossing: if the opposite side moves onto or through a resting order's price, the order fills
  as maker at its own price only when no better price is displayed on its own side, and only with
  the crossing volume that the queue ahead of it cannot absorb. Such a fill is provisional
  evidence: the prints that later report the same trades confirm it instead of filling again.
* Takers pay the market's fee; makers pay nothing.
* With ``latency_s > 0``, orders and cancels reach the venue that much event time later.

Every fill carries ``fill_reason`` (``taker``, ``maker_print``, ``maker_cross``), the evidence it
rests on, for the fidelity report.

Paper orders never change the displayed book: every strategy trades as if it were alone in the
market, which is the only honest assumption when several strategies share one real book.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Protocol

from services.events import BookDelta, BookSnapshot, TradePrint
from services.execution.client import WatchedInstruments
from services.execution.orders import ACTIVE_STATUSES, Fill, Order, OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.ladder import Quote
from services.money import MICRO, notional
from services.orderbook import BookStore, OrderBook


class ExecutionListener(Protocol):
    """Receives what the exchange did (the engine applies it to portfolios and storage)."""

    def on_fill(self, order: Order, fill: Fill) -> None:
        """Handle one fill (the order already reflects it)."""
        ...

    def on_order_update(self, order: Order) -> None:
        """Handle a status change of an order (open, cancelled, rejected, filled)."""
        ...


_ARRIVE = 0
# An instrument's unexplained-removal levels are first swept of stale ones at this many levels.
_UNEXPLAINED_SWEEP_MIN = 64
_CANCEL = 1
_EXPIRE = 2

TAKER = "taker"
MAKER_PRINT = "maker_print"
MAKER_CROSS = "maker_cross"
TAKER_PRINT = "taker_print"
"""A marketable order filled by a trade printed at or through its price (prints-only matching:
the displayed book is an assumption, so only a print proves the liquidity was there)."""
FILL_REASONS = (TAKER, MAKER_PRINT, MAKER_CROSS)
"""Evidence behind a fill: a walk of the displayed book, a venue trade print, a crossed book."""


class SimulatedExchange:
    """Matches paper orders against the displayed books.

    Parameters
    ----------
    books : BookStore
        The engine's books (read only here).
    instruments : dict[str, Instrument]
        The instrument registry (tick, min size, fees), shared with the engine.
    listener : ExecutionListener
        Receives fills and order updates.
    next_fill_id : Callable[[], int]
        Fill id sequence.
    latency_s : float
        Event-time delay before an order or cancel reaches the venue.
    """

    skip_uncrossed: bool = True
    """Return from ``_match_crossed`` before sorting when no resting order is crossed (or
    finished); False runs the full loop every time (``tests/test_event_path_shortcuts.py``
    compares the two)."""

    print_match_window_s: float = 0.25
    """How long (event time) a level's unexplained size removal waits for the print that would
    explain it; after that it counts as a cancel for good."""

    def __init__(
        self,
        books: BookStore,
        instruments: dict[str, Instrument],
        listener: ExecutionListener,
        next_fill_id: Callable[[], int],
        latency_s: float = 0.0,
        *,
        prints_only: bool = False,
        print_window_s: float = 60.0,
    ) -> None:
        self.books = books
        self.instruments = instruments
        self.listener = listener
        self._next_fill_id = next_fill_id
        self.latency_s = latency_s
        self.prints_only = prints_only
        """Fill only on trade prints (history with no real book: the trades fidelity). A
        marketable order does not walk the displayed book: it waits up to ``print_window_s`` for
        trades printed at or through its price, then its remainder is cancelled (FAK, FOK) or
        rests (GTC); book updates never fill a resting order."""
        self.print_window_s = print_window_s
        self._takers: set[int] = set()  # prints-only: marketable orders waiting for prints
        self.market_delay_s: dict[str, float] = {}
        """Extra delay of new orders per market id, seconds (Betfair's bet delay in play)."""
        self.orders: dict[int, Order] = {}
        self._resting: dict[str, list[Order]] = {}
        # instrument -> (book side, price) -> strategy -> consumed micro-shares
        self._consumed: dict[str, dict[tuple[Side, int], dict[str, int]]] = {}
        # instrument -> (book side, price) -> traded size since the level's last delta
        self._traded: dict[str, dict[tuple[Side, int], int]] = {}
        # instrument -> (book side, price) -> [(event time, size)] removed by deltas that no
        # print has explained yet: a print arriving after its book update finds its volume here
        self._unexplained: dict[str, dict[tuple[Side, int], list[tuple[float, int]]]] = {}
        # instrument -> number of levels in ``_unexplained`` at which stale ones are next swept
        self._unexplained_sweep_at: dict[str, int] = {}
        # order id -> shares filled on crossing evidence that no print has confirmed yet
        self._cross_credit: dict[int, int] = {}
        self._pending: list[tuple[float, int, int, int]] = []
        self._seq = 0
        self.now = 0.0
        # Every instrument for which ``_resting``, ``_consumed`` or ``_traded`` may hold a
        # non-empty value (a superset: each insertion adds its instrument; a delivered delta
        # that finds all three empty removes it). A delta on an instrument outside it changes
        # nothing here, so the engine does not deliver it (the client's ``delta_watch``).
        self._watched = WatchedInstruments()

    # ------------------------------------------------------------------ order entry
    def submit(self, order: Order, now: float) -> None:
        """Send an order to the venue (after the configured latency)."""
        self.now = now
        self.orders[order.order_id] = order
        order.status = OrderStatus.PENDING
        order.updated_ts = now
        delay = self.latency_s
        if self.market_delay_s:  # a venue's bet delay (Betfair in play) on top of the latency
            inst = self.instruments.get(order.instrument_id)
            if inst is not None:
                delay += self.market_delay_s.get(inst.market_id, 0.0)
        if delay > 0:
            self._seq += 1
            heapq.heappush(self._pending, (now + delay, self._seq, _ARRIVE, order.order_id))
            self.listener.on_order_update(order)
        else:
            self._arrive(order)

    def cancel(self, order_id: int, now: float, reason: str = "cancelled") -> bool:
        """Request a cancel; return False if the order is unknown or no longer active."""
        self.now = now
        order = self.orders.get(order_id)
        if order is None or not order.active:
            return False
        # A cancel travels with the same latency as the order, so it cannot overtake it.
        if self.latency_s > 0:
            self._seq += 1
            order.extra["cancel_reason"] = reason
            heapq.heappush(self._pending, (now + self.latency_s, self._seq, _CANCEL, order_id))
            return True
        self._do_cancel(order, reason)
        return True

    def advance(self, now: float) -> None:
        """Deliver orders and cancels whose latency has elapsed by ``now``."""
        self.now = now
        pending = self._pending
        while pending and pending[0][0] <= now:
            ts, _, kind, oid = heapq.heappop(pending)
            order = self.orders.get(oid)
            if order is None or not order.active:
                continue
            self.now = ts
            if kind == _ARRIVE:
                self._arrive(order)
            elif kind == _EXPIRE:
                self._expire(order)
            else:
                self._do_cancel(order, str(order.extra.get("cancel_reason", "cancelled")))
        self.now = now

    def next_due(self) -> float:
        """Return the event time of the next delayed arrival or cancel (inf: none)."""
        return self._pending[0][0] if self._pending else float("inf")

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        """Return active orders, optionally of one strategy."""
        return [
            o
            for o in self.orders.values()
            if o.active and (strategy is None or o.strategy == strategy)
        ]

    def available(self, strategy: str, instrument_id: str, side: Side, price: int) -> int:
        """Return the displayed size at a level minus what ``strategy`` already consumed there."""
        book = self.books.find(instrument_id)
        if book is None:
            return 0
        shown = book.size_at(side, price)
        used = self._consumed.get(instrument_id, {}).get((side, price), {}).get(strategy, 0)
        return max(0, shown - used)

    def restore(self, order: Order) -> None:
        """Re-rest an open order loaded from storage after a restart (queue from displayed size)."""
        self.orders[order.order_id] = order
        book = self.books.find(order.instrument_id)
        order.queue_ahead = book.size_at(order.side, order.price) if book else 0
        self._resting.setdefault(order.instrument_id, []).append(order)
        self._watched[order.instrument_id] = True
        self._schedule_expiry(order)

    # ------------------------------------------------------------------ market events
    def on_snapshot(self, ev: BookSnapshot, book: OrderBook, now: float | None = None) -> None:
        """A full refresh: consumption and queues are capped at the new displayed sizes.

        ``now`` (the engine's time of the event) stamps what this event fills.
        """
        if now is not None:
            self.now = now
        iid = ev.instrument_id
        self._traded.pop(iid, None)
        self._unexplained.pop(iid, None)
        self._unexplained_sweep_at.pop(iid, None)
        consumed = self._consumed.get(iid)
        if consumed:
            for (side, price), by_strategy in list(consumed.items()):
                _cap_consumed(consumed, (side, price), by_strategy, book.size_at(side, price))
        resting = self._resting.get(iid)
        if resting:
            for o in resting:
                o.queue_ahead = min(o.queue_ahead, book.size_at(o.side, o.price))
            self._match_crossed(iid, book)

    def on_delta(
        self, ev: BookDelta, book: OrderBook, old_sizes: list[int], now: float | None = None
    ) -> None:
        """Level changes: cap consumption, move queues, fill orders the book crossed.

        ``old_sizes[i]`` is the level size before ``ev.changes[i]`` was applied; ``now`` (the
        engine's time of the event) stamps what this event fills.
        """
        if now is not None:
            self.now = now
        iid = ev.instrument_id
        consumed = self._consumed.get(iid)
        traded = self._traded.get(iid)
        resting = self._resting.get(iid)
        if not resting:
            # No order rests here (most updates): only claims to cap and prints to forget, as
            # the loop below does for them (issue 18: empty containers took the whole loop).
            if consumed:
                for side, price, size in ev.changes:
                    key = (side, price)
                    by_strategy = consumed.get(key)
                    if by_strategy is not None:
                        _cap_consumed(consumed, key, by_strategy, size)
            if traded:
                for side, price, _size in ev.changes:
                    traded.pop((side, price), None)
            if not consumed and not traded and iid in self._watched:
                del self._watched[iid]  # nothing left here: later deltas need not be delivered
            return
        for (side, price, size), old in zip(ev.changes, old_sizes, strict=True):
            key = (side, price)
            if consumed:
                by_strategy = consumed.get(key)
                if by_strategy is not None:
                    _cap_consumed(consumed, key, by_strategy, size)
            traded_here = traded.pop(key, 0) if traded else 0
            removed = old - size
            cancelled = removed - traded_here if removed > traded_here else 0
            if cancelled:
                # Possibly a trade whose print has not arrived yet: remember it, so that the
                # print does not move the queue a second time.
                horizon = ev.ts - self.print_match_window_s
                levels = self._unexplained.get(iid)
                if levels is None:
                    levels = self._unexplained[iid] = {}
                pend = levels.get(key)
                if pend is None:
                    if len(levels) >= self._unexplained_sweep_at.get(iid, _UNEXPLAINED_SWEEP_MIN):
                        self._sweep_unexplained(iid, levels, horizon)
                    pend = levels[key] = []
                elif pend and pend[0][0] < horizon:
                    pend[:] = [x for x in pend if x[0] >= horizon]  # too old to be explained
                pend.append((ev.ts, cancelled))
            # The queue was already reduced by the prints: cancels come out of what was left.
            left_after_trades = old - traded_here
            for o in resting:
                if o.side is not side or o.price != price:
                    continue
                if size == 0:
                    o.queue_ahead = 0
                    continue
                if cancelled and o.queue_ahead:
                    o.queue_ahead -= (cancelled * o.queue_ahead) // left_after_trades
                if o.queue_ahead > size:
                    o.queue_ahead = size
        self._match_crossed(iid, book)

    def on_trade(self, ev: TradePrint, now: float | None = None) -> None:
        """A venue trade: advance queues at its price, fill orders it traded through."""
        if now is not None:
            self.now = now
        iid = ev.instrument_id
        aggressor = ev.aggressor
        if aggressor is None:
            book = self.books.find(iid)
            bid_px = book._bid_px if book else None  # OrderBook.best_bid, inlined
            bid = bid_px[-1] if bid_px else None
            aggressor = Side.SELL if bid is not None and ev.price <= bid else Side.BUY
        hit_side = aggressor.opposite  # the book side the trade consumed
        key = (hit_side, ev.price)
        # Volume a book update already removed from this level (counted then as cancels) is not
        # counted again at this price; it still proves a trade through better-priced orders.
        at_price = ev.size - self._explain(iid, key, ev.size, ev.ts)
        traded = self._traded.setdefault(iid, {})
        if at_price:
            traded[key] = traded.get(key, 0) + at_price
            self._watched[iid] = True
        resting = self._resting.get(iid)
        if not resting:
            return
        # Each strategy sees the print's full volume (strategies are independent); orders of one
        # strategy share it in price-time priority: what an earlier order of the strategy took is
        # not there for a later one, and every order's own queue comes first.
        given: dict[str, int] = {}
        for o in sorted(resting, key=_priority_key):
            if o.side is not hit_side:
                continue
            through = ev.price < o.price if o.side is Side.BUY else ev.price > o.price
            if not through and ev.price != o.price:
                continue
            used = given.get(o.strategy, 0)
            if through:
                vol = ev.size - used
            else:
                ahead = o.queue_ahead
                o.queue_ahead = max(0, ahead - at_price)
                vol = at_price - ahead - used
            if vol <= 0:
                continue
            # A crossing already filled this order on the book's word: the print confirms it.
            credit = self._cross_credit.get(o.order_id, 0)
            confirmed = min(credit, vol)
            if confirmed:
                self._cross_credit[o.order_id] = credit - confirmed
            q = self.instruments[iid].floor_lot(min(vol - confirmed, o.remaining))
            if o.order_id in self._takers:
                if o.tif is TimeInForce.FOK and q < o.remaining:
                    continue  # all or nothing: one print must cover it
                given[o.strategy] = used + q
                if q > 0:
                    self._fill(o, o.price, q, maker=False, reason=TAKER_PRINT)
                continue
            given[o.strategy] = used + confirmed + q
            if q > 0:
                self._fill(o, o.price, q, maker=True, reason=MAKER_PRINT)
        self._prune(iid)

    def _sweep_unexplained(
        self, iid: str, levels: dict[tuple[Side, int], list[tuple[float, int]]], horizon: float
    ) -> None:
        """Forget levels whose every unexplained removal is too old for any print to explain.

        Without this a level keeps its (stale) entry until a print at that price, a snapshot or
        the instrument's resolution, so an instrument accumulated one per price level that ever
        saw a cancel beside a resting order. Entries are appended in event time, so a level
        whose last entry is older than ``horizon`` holds nothing a later print could use
        (``_explain`` skips them). The next sweep waits until the levels double, so the cost is
        amortised over the insertions.
        """
        for k in [k for k, pend in levels.items() if not pend or pend[-1][0] < horizon]:
            del levels[k]
        self._unexplained_sweep_at[iid] = max(_UNEXPLAINED_SWEEP_MIN, 2 * len(levels))

    def _explain(self, iid: str, key: tuple[Side, int], size: int, now: float) -> int:
        """Return how much of a print's size an earlier book update already removed."""
        levels = self._unexplained.get(iid)
        pend = levels.get(key) if levels else None
        if not pend:
            return 0
        horizon = now - self.print_match_window_s
        explained = 0
        keep: list[tuple[float, int]] = []
        for ts, vol in pend:
            if ts < horizon:
                continue  # too old to be this print's update: it was a cancel
            take = min(vol, size - explained)
            explained += take
            if vol > take:
                keep.append((ts, vol - take))
        if keep:
            pend[:] = keep
        else:
            del levels[key]  # type: ignore[union-attr]
        return explained

    def on_resolved(self, instrument_ids: list[str], now: float) -> None:
        """Cancel every order on resolved instruments and forget their state."""
        self.close_instruments(instrument_ids, now, "market resolved")

    def close_instruments(
        self, instrument_ids: list[str], now: float, reason: str, keep_persistent: bool = False
    ) -> None:
        """Cancel every order on these instruments at once (the venue did it) and forget them.

        With ``keep_persistent`` (a suspension), orders placed with ``persist`` stay (Betfair
        persistence PERSIST); the others lapse.
        """
        self.now = now
        for iid in instrument_ids:
            kept = False
            for o in list(self._resting.get(iid, [])):
                if keep_persistent and o.extra.get("persist"):
                    kept = True
                    continue
                self._do_cancel(o, reason)
            for o in list(self.orders.values()):
                if o.instrument_id == iid and o.active:
                    if keep_persistent and o.extra.get("persist"):
                        kept = True
                        continue
                    self._do_cancel(o, reason)
            if kept:
                continue
            self._consumed.pop(iid, None)
            self._traded.pop(iid, None)
            self._unexplained.pop(iid, None)
            self._unexplained_sweep_at.pop(iid, None)
            self._resting.pop(iid, None)
            self._watched.pop(iid, None)

    def forget_inactive(self) -> None:
        """Drop finished orders from memory (storage keeps them)."""
        self.orders = {k: o for k, o in self.orders.items() if o.active}
        self._cross_credit = {k: c for k, c in self._cross_credit.items() if k in self.orders}

    # ------------------------------------------------------------------ internals
    def _arrive(self, order: Order) -> None:
        inst = self.instruments.get(order.instrument_id)
        if inst is None:
            self._reject(order, f"unknown instrument {order.instrument_id}")
            return
        err = _venue_check(order, inst)
        if err:
            self._reject(order, err)
            return
        if order.post_only and not order.tif.rests:
            # The venue takes post-only only on resting (GTC/GTD) orders.
            self._reject(order, f"post-only is not allowed with {order.tif.value} orders")
            return
        if order.tif is TimeInForce.GTD and (
            order.expire_ts is None or order.expire_ts <= self.now
        ):
            # A GTD order whose expiry has passed by the time it reaches the venue (latency).
            self._reject(order, f"GTD expiry {order.expire_ts} has passed on arrival")
            return
        book = self.books.get(order.instrument_id)
        opp = order.side.opposite
        if opp is Side.BUY:  # OrderBook.best, inlined
            px = book._bid_px
            best_opp = px[-1] if px else None
        else:
            px = book._ask_px
            best_opp = px[0] if px else None
        crosses = best_opp is not None and (
            best_opp <= order.price if order.side is Side.BUY else best_opp >= order.price
        )
        if order.post_only and crosses:
            self._reject(order, "post-only order would cross the book")
            return
        order.status = OrderStatus.OPEN
        if crosses and self.prints_only:
            self._await_prints(order)
            return
        if crosses:
            absorbed = _absorbed(book, order.side)
            if order.tif is TimeInForce.FOK:
                avail = self._available(order, book, absorbed)
                if avail < order.size:
                    order.status = OrderStatus.CANCELLED
                    order.reject_reason = (
                        f"FOK not filled: {avail / MICRO:.2f} of {order.size / MICRO:.2f} "
                        "shares available"
                    )
                    order.updated_ts = self.now
                    self.listener.on_order_update(order)
                    return
            self._walk(order, book, inst, absorbed)
        if order.remaining == 0:
            return  # _fill reported the FILLED update
        if not order.tif.rests:
            order.status = OrderStatus.CANCELLED
            if order.reject_reason is None and order.filled == 0:
                order.reject_reason = "no liquidity at the limit price"
            order.updated_ts = self.now
            self.listener.on_order_update(order)
            return
        order.queue_ahead = book.size_at(order.side, order.price)
        self._resting.setdefault(order.instrument_id, []).append(order)
        self._watched[order.instrument_id] = True
        order.updated_ts = self.now
        self._schedule_expiry(order)
        self.listener.on_order_update(order)

    def _schedule_expiry(self, order: Order) -> None:
        """A resting GTD order expires at its ``expire_ts`` on the engine clock."""
        if order.tif is TimeInForce.GTD and order.expire_ts is not None:
            self._seq += 1
            heapq.heappush(self._pending, (order.expire_ts, self._seq, _EXPIRE, order.order_id))

    def _expire(self, order: Order) -> None:
        """The venue removes a GTD order at its expiry (status cancelled, ``expired`` event)."""
        order.extra["expired"] = True
        self._do_cancel(order, f"GTD order expired at {order.expire_ts:.3f}")

    def _await_prints(self, order: Order) -> None:
        """Prints-only: a marketable order is first in line at its price and fills only from
        trades printed at or through it; FAK and FOK give up after ``print_window_s``."""
        order.queue_ahead = 0
        self._takers.add(order.order_id)
        self._resting.setdefault(order.instrument_id, []).append(order)
        self._watched[order.instrument_id] = True
        self._schedule_expiry(order)
        if not order.tif.rests:
            self._seq += 1
            order.extra["cancel_reason"] = (
                f"no trade printed through the price within {self.print_window_s:.0f} s"
            )
            heapq.heappush(
                self._pending, (self.now + self.print_window_s, self._seq, _CANCEL, order.order_id)
            )
        order.updated_ts = self.now
        self.listener.on_order_update(order)

    def _available(
        self, order: Order, book: OrderBook, absorbed: dict[int, int] | None = None
    ) -> int:
        consumed = self._consumed.get(order.instrument_id, {})
        opp = order.side.opposite
        floor_lot = self.instruments[order.instrument_id].floor_lot
        total = 0
        for price, size in book.levels(opp):
            if (order.side is Side.BUY and price > order.price) or (
                order.side is Side.SELL and price < order.price
            ):
                break
            used = consumed.get((opp, price), {}).get(order.strategy, 0)
            if absorbed:
                used += absorbed.get(price, 0)
            total += floor_lot(max(0, size - used))  # whole lots per level, as _walk takes them
        return total

    def _walk(
        self,
        order: Order,
        book: OrderBook,
        inst: Instrument,
        absorbed: dict[int, int] | None = None,
    ) -> None:
        opp = order.side.opposite
        consumed = self._consumed.setdefault(order.instrument_id, {})
        self._watched[order.instrument_id] = True
        floor_lot = inst.floor_lot
        for price, size in list(book.levels(opp)):
            if order.remaining <= 0:
                break
            if (order.side is Side.BUY and price > order.price) or (
                order.side is Side.SELL and price < order.price
            ):
                break
            by_strategy = consumed.setdefault((opp, price), {})
            used = by_strategy.get(order.strategy, 0)
            ahead = absorbed.get(price, 0) if absorbed else 0
            q = floor_lot(min(size - used - ahead, order.remaining))
            if q <= 0:
                continue
            by_strategy[order.strategy] = used + q
            self._fill(order, price, q, maker=False, inst=inst, reason=TAKER)

    def _match_crossed(self, iid: str, book: OrderBook) -> None:
        """Fill resting orders that the opposite side now crosses, as maker at their price.

        The displayed orders ahead of ours (better prices on our side, then the queue at our
        price) absorb the crossing volume first; an order behind a better displayed price does
        not fill from the crossing at all (it waits for the update that removes that price, or
        for a print through its price). What the queue absorbed is consumed for the strategy
        too, so a later update of an unrelated level cannot fill the order from it again.
        """
        resting = self._resting.get(iid)
        if not resting or self.prints_only:
            return  # prints-only: an assumed book proves no trade
        # OrderBook.best_bid/best_ask, inlined (issue 18)
        bid_px, ask_px = book._bid_px, book._ask_px
        bid = bid_px[-1] if bid_px else None
        ask = ask_px[0] if ask_px else None
        if bid is None and ask is None:
            return
        if self.skip_uncrossed:
            # Most updates cross no resting order (issue 18): look for one that the loop below
            # would fill, or a finished one that _prune would drop, before sorting. Without
            # either, the loop fills nothing and _prune keeps the list as it is.
            for o in resting:
                if o.status not in ACTIVE_STATUSES or o.size <= o.filled:
                    break
                p = o.price
                if o.side is Side.BUY:
                    if ask is not None and ask <= p and (bid is None or bid <= p):
                        break
                elif bid is not None and bid >= p and (ask is None or ask >= p):
                    break
            else:
                return
        consumed = self._consumed.setdefault(iid, {})
        self._watched[iid] = True
        floor_lot = self.instruments[iid].floor_lot
        for o in sorted(resting, key=_priority_key):
            if o.remaining <= 0:
                continue
            # The opposite side must reach our price, and no better price on our side may be
            # displayed (its orders are ahead of ours).
            if o.side is Side.BUY:
                if ask is None or ask > o.price or (bid is not None and bid > o.price):
                    continue
            elif bid is None or bid < o.price or (ask is not None and ask < o.price):
                continue
            opp = o.side.opposite
            crossing: list[tuple[int, int, dict[str, int]]] = []
            total = 0
            for price, size in book.levels(opp):
                if (o.side is Side.BUY and price > o.price) or (
                    o.side is Side.SELL and price < o.price
                ):
                    break
                by_strategy = consumed.setdefault((opp, price), {})
                free = size - by_strategy.get(o.strategy, 0)
                if free > 0:
                    crossing.append((price, free, by_strategy))
                    total += free
            q = floor_lot(min(total - o.queue_ahead, o.remaining))
            if q <= 0:
                continue
            take = o.queue_ahead + q  # the queue's share and ours, best levels first
            for _price, free, by_strategy in crossing:
                t = min(free, take)
                by_strategy[o.strategy] = by_strategy.get(o.strategy, 0) + t
                take -= t
                if take <= 0:
                    break
            self._cross_credit[o.order_id] = self._cross_credit.get(o.order_id, 0) + q
            self._fill(o, o.price, q, maker=True, reason=MAKER_CROSS)
        self._prune(iid)

    def _fill(
        self,
        order: Order,
        price: int,
        size: int,
        maker: bool,
        inst: Instrument | None = None,
        reason: str = "",
    ) -> None:
        if inst is None:
            inst = self.instruments[order.instrument_id]
        fee = inst.fees.fill_fee(size, price, maker)
        order.filled += size
        order.filled_notional += notional(size, price)
        order.fees += fee
        if maker:
            order.maker_fills += 1
        else:
            order.taker_fills += 1
        order.status = OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        order.updated_ts = self.now
        fill = Fill(
            fill_id=0,  # the ledger id is the engine's; the matcher's sequence is the venue's
            order_id=order.order_id,
            strategy=order.strategy,
            instrument_id=order.instrument_id,
            side=order.side,
            price=price,
            size=size,
            fee=fee,
            liquidity="maker" if maker else "taker",
            ts=self.now,
            fill_reason=reason or (MAKER_PRINT if maker else TAKER),
            venue_fill_id=f"sim-{self._next_fill_id()}",
        )
        self.listener.on_fill(order, fill)
        if order.status is OrderStatus.FILLED:
            self.listener.on_order_update(order)

    def _reject(self, order: Order, reason: str) -> None:
        order.status = OrderStatus.REJECTED
        order.reject_reason = reason
        order.updated_ts = self.now
        self.listener.on_order_update(order)

    def _do_cancel(self, order: Order, reason: str) -> None:
        self._takers.discard(order.order_id)
        order.status = OrderStatus.CANCELLED
        order.reject_reason = order.reject_reason or reason
        order.updated_ts = self.now
        resting = self._resting.get(order.instrument_id)
        if resting and order in resting:
            resting.remove(order)
            if not resting:
                del self._resting[order.instrument_id]
        self.listener.on_order_update(order)

    def _prune(self, iid: str) -> None:
        resting = self._resting.get(iid)
        if resting is None:
            return
        alive = [o for o in resting if o.active and o.remaining > 0]
        if self._takers and len(alive) != len(resting):
            for o in resting:
                if not (o.active and o.remaining > 0):
                    self._takers.discard(o.order_id)
        if alive:
            self._resting[iid] = alive
            self._watched[iid] = True
        else:
            del self._resting[iid]


def _cap_consumed(
    consumed: dict[tuple[Side, int], dict[str, int]],
    key: tuple[Side, int],
    by_strategy: dict[str, int],
    size: int,
) -> None:
    """Keep each strategy's claim on a level until the level empties.

    Had the strategy really traded, the venue would show that much less: so a re-sent, shrunk
    or regrown level offers it only the size beyond its claim, and only a level that empties
    (size 0, or missing from a snapshot) lifts the claim.
    """
    if size <= 0 or not by_strategy:
        del consumed[key]


def _absorbed(book: OrderBook, side: Side) -> dict[int, int]:
    """Return, per opposite-side price, the volume that displayed ``side`` orders absorb first.

    On a crossed book the displayed orders on our side that cross the opposite side are older
    than our order, so the venue matched (or will match) them first. Empty when not crossed.
    """
    if not book.is_crossed():
        return {}
    opp = side.opposite
    mine = [[p, s] for p, s in book.levels(side)]
    out: dict[int, int] = {}
    k = 0
    for price, size in book.levels(opp):
        left = size
        while left > 0 and k < len(mine):
            p, s = mine[k]
            if (side is Side.BUY and p < price) or (side is Side.SELL and p > price):
                return out
            m = min(s, left)
            out[price] = out.get(price, 0) + m
            left -= m
            mine[k][1] -= m
            if mine[k][1] == 0:
                k += 1
        if k >= len(mine):
            break
    return out


def _priority_key(o: Order) -> tuple[int, float, int]:
    # Best price first (highest bid, lowest ask), then time.
    return (-o.price if o.side is Side.BUY else o.price, o.created_ts, o.order_id)


def _venue_check(order: Order, inst: Instrument) -> str | None:
    """Reject what the venue itself would reject (price ladder, price range, minimum size, lot)."""
    if not inst.on_grid(order.price):
        if inst.ladder.quote is Quote.ODDS:
            return (
                f"odds {order.price / MICRO:g} are not on the {inst.ladder.kind} ladder "
                f"[{inst.ladder.min_price / MICRO:g}, {inst.ladder.max_price / MICRO:g}]"
            )
        return (
            f"price {order.price / MICRO:.4f} is not on the tick grid {inst.tick / MICRO:g} "
            f"inside [{inst.tick / MICRO:g}, {1 - inst.tick / MICRO:g}]"
        )
    if order.size < inst.min_size:
        return (
            f"size {order.size / MICRO:.2f} is below the market minimum {inst.min_size / MICRO:.2f}"
        )
    if order.size % inst.lot:
        unit = "share" if inst.ladder.quote is Quote.PROBABILITY else inst.currency
        return f"size {order.size / MICRO} is not a multiple of {inst.lot / MICRO:g} {unit}"
    return None
