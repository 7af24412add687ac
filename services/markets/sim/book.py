"""The simulator's own order book of one token: maker-owned orders in FIFO queues per level.

The engine only ever sees the aggregated L2 view (``BookSnapshot`` / ``BookDelta``); the queues
here decide which maker a taker fills first, so makers can refill what they lost.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Protocol

from services.events import BookDelta, Level, MarketEvent, TradePrint
from services.instruments import Side
from services.money import MICRO

BID = 0
ASK = 1
_SIDE_ENUM = (Side.BUY, Side.SELL)

Change = tuple[Side, int, int]


class OrderOwner(Protocol):
    """Anything that owns resting orders: ``own[BID]`` / ``own[ASK]`` map price -> size."""

    own: tuple[dict[int, int], dict[int, int]]


class _BookSide:
    """One side: total size per price, ascending price list, FIFO queue of [owner, size]."""

    __slots__ = ("tot", "px", "q")

    def __init__(self) -> None:
        self.tot: dict[int, int] = {}
        self.px: list[int] = []
        self.q: dict[int, list[list]] = {}  # price -> [[owner, size], ...] in time priority

    def append(self, owner: OrderOwner, price: int, size: int) -> None:
        q = self.q.get(price)
        if q is None:
            self.q[price] = [[owner, size]]
            self.tot[price] = size
            insort(self.px, price)
        else:
            q.append([owner, size])
            self.tot[price] += size

    def remove(self, owner: OrderOwner, price: int, size: int) -> None:
        q = self.q[price]
        for i, entry in enumerate(q):
            if entry[0] is owner:
                del q[i]
                break
        left = self.tot[price] - size
        if left:
            self.tot[price] = left
        else:
            del self.tot[price]
            del self.q[price]
            del self.px[bisect_left(self.px, price)]

    def shrink(self, owner: OrderOwner, price: int, by: int) -> None:
        for entry in self.q[price]:
            if entry[0] is owner:
                entry[1] -= by
                break
        self.tot[price] -= by


class SimBook:
    """Order book of one simulated token.

    Parameters
    ----------
    tick : int
        Price tick in micro-USDC.
    """

    __slots__ = ("tick", "sides")

    def __init__(self, tick: int) -> None:
        self.tick = tick
        self.sides = (_BookSide(), _BookSide())

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> int | None:
        """Return the best bid price (micro), or None."""
        px = self.sides[BID].px
        return px[-1] if px else None

    def best_ask(self) -> int | None:
        """Return the best ask price (micro), or None."""
        px = self.sides[ASK].px
        return px[0] if px else None

    def mid(self) -> int | None:
        """Return the mid price (micro, rounded down), or None if a side is empty."""
        b, a = self.sides[BID].px, self.sides[ASK].px
        if not b or not a:
            return None
        return (b[-1] + a[0]) // 2

    def levels(self, side: int) -> tuple[Level, ...]:
        """Return ``(price, size)`` levels of ``side`` (BID or ASK), best first."""
        s = self.sides[side]
        px = reversed(s.px) if side == BID else s.px
        return tuple((p, s.tot[p]) for p in px)

    def other_best(self, side: int, owner: OrderOwner) -> int | None:
        """Return the best price on ``side`` among orders not owned by ``owner``."""
        s = self.sides[side]
        mine = owner.own[side]
        px = reversed(s.px) if side == BID else s.px
        for p in px:
            if s.tot[p] > mine.get(p, 0):
                return p
        return None

    # ------------------------------------------------------------------ maker actions
    def set_orders(
        self, owner: OrderOwner, side: int, new: dict[int, int], out: list[Change]
    ) -> None:
        """Make ``owner``'s orders on ``side`` equal to ``new`` (price -> size).

        Unchanged orders keep their queue position, reduced ones too; increased or new orders go
        to the back of the queue. One ``(side, price, new total)`` change is appended to ``out``
        per level whose total changed.
        """
        old = owner.own[side]
        if old == new:
            return
        bs = self.sides[side]
        tot, queues = bs.tot, bs.q
        enum = _SIDE_ENUM[side]
        for p, s in list(old.items()):
            ns = new.get(p, 0)
            if ns == s:
                continue
            q = queues[p]
            i = 0
            while q[i][0] is not owner:
                i += 1
            entry = q[i]
            if 0 < ns < s:  # a reduction keeps priority
                entry[1] = ns
                old[p] = ns
                left = tot[p] - s + ns
            else:
                del q[i]
                left = tot[p] - s
                if ns:
                    q.append([owner, ns])
                    left += ns
                    old[p] = ns
                else:
                    del old[p]
            if left:
                tot[p] = left
            else:
                del tot[p]
                del queues[p]
                del bs.px[bisect_left(bs.px, p)]
            out.append((enum, p, left))
        for p, ns in new.items():
            if p not in old and ns > 0:
                old[p] = ns
                queue = queues.get(p)
                if queue is None:
                    queues[p] = [[owner, ns]]
                    tot[p] = ns
                    insort(bs.px, p)
                    out.append((enum, p, ns))
                else:
                    queue.append([owner, ns])
                    left = tot[p] + ns
                    tot[p] = left
                    out.append((enum, p, left))

    def requote(
        self,
        owner: OrderOwner,
        bids: dict[int, int],
        asks: dict[int, int],
        out: list[Change],
    ) -> None:
        """Replace ``owner``'s ladder, post-only: never cross another owner's orders.

        Bids at or above the others' best ask are moved one tick below it, asks likewise above
        the others' best bid; levels pushed outside ``[tick, 1 - tick]`` are dropped.
        """
        tick = self.tick
        oa = self.other_best(ASK, owner)
        if oa is not None and bids and max(bids) >= oa:
            lim = oa - tick
            clipped: dict[int, int] = {}
            for p, s in bids.items():
                if p > lim:
                    p = lim
                if p >= tick:
                    clipped[p] = clipped.get(p, 0) + s
            bids = clipped
        ob = self.other_best(BID, owner)
        if ob is not None and asks and min(asks) <= ob:
            lim = ob + tick
            top = MICRO - tick
            clipped = {}
            for p, s in asks.items():
                if p < lim:
                    p = lim
                if p <= top:
                    clipped[p] = clipped.get(p, 0) + s
            asks = clipped
        self.set_orders(owner, BID, bids, out)
        self.set_orders(owner, ASK, asks, out)

    def set_order(self, owner: OrderOwner, side: int, price: int, size: int) -> int:
        """Set ``owner``'s order at one existing price to ``size`` (0 cancels); return new total.

        A reduction keeps queue priority, an increase goes to the back, as on the venue.
        """
        bs = self.sides[side]
        mine = owner.own[side]
        old = mine.get(price, 0)
        if size == old:
            return bs.tot.get(price, 0)
        if size == 0:
            bs.remove(owner, price, old)
            del mine[price]
        elif size < old:
            bs.shrink(owner, price, old - size)
            mine[price] = size
        else:
            if old:
                bs.remove(owner, price, old)
            bs.append(owner, price, size)
            mine[price] = size
        return bs.tot.get(price, 0)

    def shift_down(self, delta: int) -> list[Change]:
        """Move every order ``delta`` micro lower (a dislocation); return the level changes.

        All orders move by the same amount, so the book stays uncrossed; orders that would land
        below one tick are dropped.
        """
        tick = self.tick
        changes: list[Change] = []
        owners: dict[int, OrderOwner] = {}
        for bs in self.sides:
            for q in bs.q.values():
                for entry in q:
                    owners[id(entry[0])] = entry[0]
        for side, bs in enumerate(self.sides):
            old_tot = bs.tot
            bs.tot = {p - delta: s for p, s in old_tot.items() if p - delta >= tick}
            bs.q = {p - delta: q for p, q in bs.q.items() if p - delta >= tick}
            bs.px = [p - delta for p in bs.px if p - delta >= tick]
            enum = _SIDE_ENUM[side]
            for p in sorted(set(old_tot) | set(bs.tot)):
                new = bs.tot.get(p, 0)
                if new != old_tot.get(p, 0):
                    changes.append((enum, p, new))
            for owner in owners.values():
                mine = owner.own[side]
                moved = {p - delta: s for p, s in mine.items() if p - delta >= tick}
                mine.clear()
                mine.update(moved)
        return changes

    # ------------------------------------------------------------------ takers
    def take(
        self,
        ts: float,
        instrument_id: str,
        buy: bool,
        limit: int,
        qty: int,
        out: list[MarketEvent],
        hit: list[OrderOwner],
    ) -> int:
        """Fill a taker order against the book (FAK) and emit what the venue would publish.

        Appends one ``TradePrint`` per price level consumed, then one ``BookDelta`` with the new
        level sizes, to ``out``; appends each maker filled to ``hit``. Returns the filled size.

        Parameters
        ----------
        buy : bool
            True to lift asks (aggressor BUY), False to hit bids.
        limit : int
            Worst price the taker accepts, micro.
        qty : int
            Size wanted, micro-shares.
        """
        side = ASK if buy else BID
        bs = self.sides[side]
        px, tot, queues = bs.px, bs.tot, bs.q
        aggressor = Side.BUY if buy else Side.SELL
        level_side = _SIDE_ENUM[side]
        changes: list[Change] = []
        filled_total = 0
        while qty > 0 and px:
            p = px[0] if buy else px[-1]
            if (p > limit) if buy else (p < limit):
                break
            q = queues[p]
            filled = 0
            while q and qty > 0:
                entry = q[0]
                owner = entry[0]
                s = entry[1]
                mine = owner.own[side]
                if s <= qty:
                    del q[0]
                    del mine[p]
                    f = s
                else:
                    entry[1] = s - qty
                    mine[p] = s - qty
                    f = qty
                qty -= f
                filled += f
                hit.append(owner)
            left = tot[p] - filled
            if left:
                tot[p] = left
            else:
                del tot[p]
                del queues[p]
                if buy:
                    del px[0]
                else:
                    px.pop()
            out.append(TradePrint(ts, instrument_id, p, filled, aggressor))
            changes.append((level_side, p, left))
            filled_total += filled
        if changes:
            out.append(BookDelta(ts, instrument_id, tuple(changes)))
        return filled_total

    # ------------------------------------------------------------------ checks
    def check(self, owners: list[OrderOwner]) -> None:
        """Raise AssertionError if totals, queues and owners' orders disagree (tests)."""
        for side, bs in enumerate(self.sides):
            assert bs.px == sorted(bs.tot), "price list out of sync"
            assert set(bs.q) == set(bs.tot), "queues out of sync"
            for p, q in bs.q.items():
                assert sum(e[1] for e in q) == bs.tot[p] > 0, f"level {p} total mismatch"
                assert all(e[1] > 0 for e in q), f"empty order at {p}"
                assert p % self.tick == 0 and self.tick <= p <= MICRO - self.tick, p
            per_owner: dict[int, dict[int, int]] = {}
            for p, q in bs.q.items():
                for e in q:
                    d = per_owner.setdefault(id(e[0]), {})
                    assert p not in d, "two orders of one owner at one level"
                    d[p] = e[1]
            for owner in owners:
                assert per_owner.get(id(owner), {}) == owner.own[side], "owner orders mismatch"
        b, a = self.best_bid(), self.best_ask()
        assert b is None or a is None or b < a, f"crossed book {b} >= {a}"
