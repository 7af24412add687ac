"""L2 order books: one per instrument, updated from normalized snapshots and deltas.

Each side is a ``dict`` price -> size plus a sorted price list kept with ``bisect``, so a level
update is O(log n) to find and the best price is O(1).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from services.events import BookDelta, BookSnapshot, Level
from services.instruments import Side

_BUY = Side.BUY


class OrderBook:
    """The displayed L2 book of one instrument (prices micro, sizes micro-shares)."""

    __slots__ = ("instrument_id", "bids", "asks", "_bid_px", "_ask_px", "ts", "updates")

    def __init__(self, instrument_id: str) -> None:
        self.instrument_id = instrument_id
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bid_px: list[int] = []  # ascending; best bid is last
        self._ask_px: list[int] = []  # ascending; best ask is first
        self.ts = 0.0
        self.updates = 0

    # ------------------------------------------------------------------ updates
    def apply_snapshot(self, bids: tuple[Level, ...], asks: tuple[Level, ...], ts: float) -> None:
        """Replace the whole book (levels with size 0 are ignored; level order does not matter)."""
        self.bids = {p: s for p, s in bids if s > 0}
        self.asks = {p: s for p, s in asks if s > 0}
        self._bid_px = sorted(self.bids)
        self._ask_px = sorted(self.asks)
        self.ts = ts
        self.updates += 1

    def set_level(self, side: Side, price: int, size: int) -> int:
        """Set the absolute size at one level (0 removes it); return the previous size."""
        if side is Side.BUY:
            levels, prices = self.bids, self._bid_px
        else:
            levels, prices = self.asks, self._ask_px
        old = levels.get(price, 0)
        if size > 0:
            if old == 0:
                insort(prices, price)
            levels[price] = size
        elif old:
            del levels[price]
            i = bisect_left(prices, price)
            del prices[i]
        return old

    def apply_changes(self, changes: tuple[tuple[Side, int, int], ...]) -> list[int]:
        """Apply a delta's ``(side, price, size)`` levels in order (as :meth:`set_level` each);
        return the previous sizes. One call per delta instead of one per level (issue 18)."""
        bids, asks, bid_px, ask_px = self.bids, self.asks, self._bid_px, self._ask_px
        old_sizes: list[int] = []
        append = old_sizes.append
        for side, price, size in changes:  # one branch per side: no per-level rebinding
            if side is _BUY:
                old = bids.get(price, 0)
                if size > 0:
                    if not old:
                        insort(bid_px, price)
                    bids[price] = size
                elif old:
                    del bids[price]
                    del bid_px[bisect_left(bid_px, price)]
            else:
                old = asks.get(price, 0)
                if size > 0:
                    if not old:
                        insort(ask_px, price)
                    asks[price] = size
                elif old:
                    del asks[price]
                    del ask_px[bisect_left(ask_px, price)]
            append(old)
        return old_sizes

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> int | None:
        """Return the best (highest) bid price, or None."""
        return self._bid_px[-1] if self._bid_px else None

    def best_ask(self) -> int | None:
        """Return the best (lowest) ask price, or None."""
        return self._ask_px[0] if self._ask_px else None

    def best(self, side: Side) -> int | None:
        """Return the best price on ``side``."""
        return self.best_bid() if side is Side.BUY else self.best_ask()

    def size_at(self, side: Side, price: int) -> int:
        """Return the displayed size at a price on ``side`` (0 if none)."""
        return (self.bids if side is Side.BUY else self.asks).get(price, 0)

    def mid(self) -> int | None:
        """Return the mid price in micro (integer, rounded down), or None if a side is empty."""
        if not self._bid_px or not self._ask_px:
            return None
        return (self._bid_px[-1] + self._ask_px[0]) // 2

    def spread(self) -> int | None:
        """Return best ask minus best bid, or None."""
        if not self._bid_px or not self._ask_px:
            return None
        return self._ask_px[0] - self._bid_px[-1]

    def is_crossed(self) -> bool:
        """Return whether best bid >= best ask (transiently possible on real feeds)."""
        return bool(self._bid_px and self._ask_px and self._bid_px[-1] >= self._ask_px[0])

    def levels(self, side: Side) -> Iterator[Level]:
        """Iterate levels of ``side`` best first."""
        if side is Side.BUY:
            for p in reversed(self._bid_px):
                yield p, self.bids[p]
        else:
            for p in self._ask_px:
                yield p, self.asks[p]

    def depth(self, side: Side, n: int = 5) -> list[Level]:
        """Return the best ``n`` levels of ``side``."""
        out: list[Level] = []
        for lvl in self.levels(side):
            out.append(lvl)
            if len(out) >= n:
                break
        return out

    def total_size(self, side: Side) -> int:
        """Return total displayed size on ``side``."""
        return sum((self.bids if side is Side.BUY else self.asks).values())

    def size_within(self, side: Side, limit: int) -> int:
        """Return displayed size on ``side`` at prices at least as good as ``limit`` for a taker.

        For ``side=SELL`` (asks), counts asks priced <= limit; for ``BUY`` (bids), bids >= limit.
        """
        total = 0
        for p, s in self.levels(side):
            if (side is Side.SELL and p > limit) or (side is Side.BUY and p < limit):
                break
            total += s
        return total


class BookStore:
    """All books, by instrument id."""

    def __init__(self) -> None:
        self._books: dict[str, OrderBook] = {}

    def get(self, instrument_id: str) -> OrderBook:
        """Return the book for an instrument, creating an empty one if needed."""
        book = self._books.get(instrument_id)
        if book is None:
            book = self._books[instrument_id] = OrderBook(instrument_id)
        return book

    def find(self, instrument_id: str) -> OrderBook | None:
        """Return the book if one exists."""
        return self._books.get(instrument_id)

    def drop(self, instrument_id: str) -> None:
        """Forget an instrument's book (after resolution)."""
        self._books.pop(instrument_id, None)

    def __len__(self) -> int:
        return len(self._books)

    def apply_snapshot(self, ev: BookSnapshot) -> OrderBook:
        """Apply a snapshot event and return the book."""
        book = self.get(ev.instrument_id)
        book.apply_snapshot(ev.bids, ev.asks, ev.ts)
        return book

    def apply_delta(self, ev: BookDelta) -> OrderBook:
        """Apply a delta event and return the book (as :meth:`OrderBook.apply_changes`, inlined
        without collecting the previous sizes: one call per delta on the feed's path)."""
        book = self._books.get(ev.instrument_id)
        if book is None:
            book = self.get(ev.instrument_id)
        bids, asks, bid_px, ask_px = book.bids, book.asks, book._bid_px, book._ask_px
        for side, price, size in ev.changes:
            if side is _BUY:
                if size > 0:
                    if price not in bids:
                        insort(bid_px, price)
                    bids[price] = size
                elif price in bids:
                    del bids[price]
                    del bid_px[bisect_left(bid_px, price)]
            elif size > 0:
                if price not in asks:
                    insort(ask_px, price)
                asks[price] = size
            elif price in asks:
                del asks[price]
                del ask_px[bisect_left(ask_px, price)]
        book.ts = ev.ts
        book.updates += 1
        return book
