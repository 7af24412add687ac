"""The machinery shared by directional strategies: sample, signal, enter, manage, exit.

A directional strategy bets on one side of a binary market. Prediction-market shares are long
only, so "short YES" is done by buying NO. The strategies here are clock driven: every
``sample_interval_s`` of event time they read the YES mid of each market they follow, update their
signal, and act. Their cost is therefore independent of how busy the books are.

Entries are FAK taker orders at the best ask (or up to ``entry_slippage_ticks`` above it), sized
by the sizing helper and by what is left of the ask levels for this strategy. Exits are FAK sells
into the bids; the common ones are built in (time stop ``max_hold_s``, stop loss
``stop_loss_ticks``, ``exit_before_end_s``); each strategy adds its own (reversal, reversion...).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from services.enums import StrategyKind
from services.events import MarketResolved
from services.execution.orders import Fill, TimeInForce
from services.instruments import Instrument, Side
from services.money import MICRO, floor_lot
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from services.strategies.common import OwnOrders, fmt_p, is_yes
from services.strategies.sizing import Sizer, SizingParams, sizing_defaults
from services.strategies.universe import Universe, UniverseParams, all_markets


def _directional_sizing() -> SizingParams:
    return sizing_defaults(
        mode="fixed_notional", notional_usd=Decimal("50"), max_notional_usd=Decimal("200")
    )


class DirectionalParams(StrategyParams):
    """Parameters shared by the directional strategies."""

    sizing: SizingParams = Field(
        default_factory=_directional_sizing, description="Position size per entry"
    )
    universe: UniverseParams = Field(
        default_factory=all_markets, description="Which binary markets to follow"
    )
    sample_interval_s: float = Field(
        2.0, gt=0, le=3600, description="Read the mids and decide every this many seconds"
    )
    max_positions: int = Field(5, ge=1, le=1000, description="Markets held at the same time")
    max_entry_spread_ticks: int = Field(
        4, ge=1, le=1000, description="Enter only when the token's spread is at most this, ticks"
    )
    entry_slippage_ticks: int = Field(
        0, ge=0, le=100, description="Pay at most this far above the best ask, ticks"
    )
    exit_slippage_ticks: int = Field(
        3, ge=0, le=100, description="Sell at most this far below the best bid on exit, ticks"
    )
    edge_estimate: Decimal = Field(
        Decimal("0.02"),
        ge=0,
        le=Decimal("0.5"),
        description="Assumed edge over the ask when the signal gives no probability (kelly), prob.",
    )
    max_fee_rate: Decimal = Field(
        Decimal("0.25"),
        ge=0,
        le=1,
        description="Skip markets whose taker fee rate is above this (0 = fee-free markets only)",
    )
    max_hold_s: float = Field(
        1800.0, ge=0, description="Time stop: exit a position held this long, seconds (0 = off)"
    )
    stop_loss_ticks: int = Field(
        0,
        ge=0,
        le=1000,
        description="Exit when the token's mid fell this far below entry (0 = off)",
    )
    no_entry_before_end_s: float = Field(
        600.0, ge=0, description="Open no position this close to the market's end, seconds"
    )
    exit_before_end_s: float = Field(
        120.0,
        ge=0,
        description="Close positions this close to the market's end, seconds (0 = hold)",
    )
    cooldown_s: float = Field(
        60.0, ge=0, description="After a position closes, wait this long before re-entering, s"
    )


@dataclass(slots=True)
class Entry:
    """A signal's request to open a position."""

    token: str  # "YES" or "NO"
    reason: str
    prob: float | None = None  # estimated probability that the token pays 1 (kelly sizing)


@dataclass(slots=True)
class Held:
    """A position the strategy opened."""

    iid: str
    label: str
    entry_ts: float
    entry_price: int
    peak_mid: int


class _TrackedHistory(deque):  # type: ignore[type-arg]
    """A bounded deque of past mids that keeps a summary of them as they are appended.

    Only :meth:`append` (which the strategies use) updates the summary; any other mutation, or a
    value that is not an ``int``, clears ``_exact`` and the summary is computed from the window
    again on every read.
    """

    __slots__ = ("_exact",)

    def __init__(self, maxlen: int) -> None:
        super().__init__((), maxlen)
        self._exact = True

    def _inexact(self) -> None:
        self._exact = False

    # Every other mutation: the running summary no longer follows (reads recompute).
    def appendleft(self, x: int) -> None:  # noqa: D102
        self._inexact()
        super().appendleft(x)

    def extend(self, xs: Iterable[int]) -> None:  # noqa: D102
        self._inexact()
        super().extend(xs)

    def extendleft(self, xs: Iterable[int]) -> None:  # noqa: D102
        self._inexact()
        super().extendleft(xs)

    def pop(self) -> int:  # type: ignore[override]  # noqa: D102
        self._inexact()
        return super().pop()  # type: ignore[no-any-return]

    def popleft(self) -> int:  # noqa: D102
        self._inexact()
        return super().popleft()  # type: ignore[no-any-return]

    def clear(self) -> None:  # noqa: D102
        self._inexact()
        super().clear()

    def insert(self, i: int, x: int) -> None:  # noqa: D102
        self._inexact()
        super().insert(i, x)

    def remove(self, x: int) -> None:  # noqa: D102
        self._inexact()
        super().remove(x)

    def rotate(self, n: int = 1) -> None:  # noqa: D102
        self._inexact()
        super().rotate(n)

    def reverse(self) -> None:  # noqa: D102
        self._inexact()
        super().reverse()

    def __setitem__(self, i: Any, x: Any) -> None:  # noqa: D105
        self._inexact()
        super().__setitem__(i, x)

    def __delitem__(self, i: Any) -> None:  # noqa: D105
        self._inexact()
        super().__delitem__(i)

    def __iadd__(self, xs: Any) -> _TrackedHistory:  # type: ignore[misc]  # noqa: D105
        self._inexact()
        return super().__iadd__(xs)  # type: ignore[no-any-return]

    def __imul__(self, n: Any) -> _TrackedHistory:  # type: ignore[misc]  # noqa: D105
        self._inexact()
        return super().__imul__(n)  # type: ignore[no-any-return]


class SummedHistory(_TrackedHistory):
    """A window of past mids that keeps their sum and sum of squares as they are appended.

    A strategy that needs the window's mean and variance every sample (mean reversion) reads
    :meth:`sums` in O(1) instead of summing the window (issue 18). Integers add exactly, so the
    sums equal ``sum(h)`` and ``sum(x * x for x in h)`` to the unit.
    """

    __slots__ = ("_total", "_total_sq")

    def __init__(self, maxlen: int) -> None:
        super().__init__(maxlen)
        self._total = 0
        self._total_sq = 0

    def append(self, x: int) -> None:
        """Append ``x`` (the oldest value leaves a full window) and update the sums."""
        if self._exact:
            if type(x) is not int:
                self._exact = False
            else:
                if len(self) == self.maxlen:
                    old = self[0]
                    self._total -= old
                    self._total_sq -= old * old
                self._total += x
                self._total_sq += x * x
        _deque_append(self, x)

    def sums(self) -> tuple[int, int]:
        """Return ``(sum of the values, sum of their squares)``."""
        if self._exact:
            return self._total, self._total_sq
        return sum(self), sum(x * x for x in self)


class RangedHistory(_TrackedHistory):
    """A window of past mids that keeps its highest and lowest value as they are appended.

    A strategy that compares each sample with the window's range (momentum) reads :meth:`range`
    instead of scanning the window twice (issue 18). The range is ``max(h), min(h)`` exactly: it
    keeps each end with the number of times it occurs in the window; a new value widens it or
    adds an occurrence, the value leaving takes one away, and only when the last occurrence of an
    end leaves is that end found again by scanning the window.
    """

    __slots__ = ("_hi", "_n_hi", "_lo", "_n_lo")

    def __init__(self, maxlen: int) -> None:
        super().__init__(maxlen)
        self._hi = self._lo = 0
        self._n_hi = self._n_lo = 0

    def append(self, x: int) -> None:
        """Append ``x`` (the oldest value leaves a full window) and update the range."""
        if not self._exact or type(x) is not int:
            self._exact = False
            _deque_append(self, x)
            return
        if not self:
            _deque_append(self, x)
            self._hi = self._lo = x
            self._n_hi = self._n_lo = 1
            return
        hi, n_hi, lo, n_lo = self._hi, self._n_hi, self._lo, self._n_lo
        if len(self) == self.maxlen:
            old = self[0]
            if old == hi:
                n_hi -= 1
            if old == lo:
                n_lo -= 1
        _deque_append(self, x)
        if x > hi:
            hi, n_hi = x, 1
        elif x == hi:
            n_hi += 1
        elif not n_hi:
            hi = max(self)
            n_hi = self.count(hi)
        if x < lo:
            lo, n_lo = x, 1
        elif x == lo:
            n_lo += 1
        elif not n_lo:
            lo = min(self)
            n_lo = self.count(lo)
        self._hi, self._n_hi, self._lo, self._n_lo = hi, n_hi, lo, n_lo

    def range(self) -> tuple[int, int]:
        """Return ``(max(h), min(h))`` of a non-empty window."""
        if self._exact:
            return self._hi, self._lo
        return max(self), min(self)


_deque_append = deque.append


class Market:
    """What a directional strategy tracks about one binary market."""

    __slots__ = ("market_id", "yes", "no", "hist", "held", "cool_until", "state")

    def __init__(
        self,
        market_id: str,
        yes: str,
        no: str,
        history: int,
        *,
        summed: bool = False,
        ranged: bool = False,
    ) -> None:
        self.market_id = market_id
        self.yes = yes
        self.no = no
        # Past YES mids, micro (with running sums or range when the strategy asks for them).
        n = max(1, history)
        self.hist: deque[int] = (
            SummedHistory(n) if summed else RangedHistory(n) if ranged else deque(maxlen=n)
        )
        self.held: Held | None = None
        self.cool_until = float("-inf")
        self.state: dict[str, float] = {}  # the subclass's signal state


class DirectionalStrategy(Strategy):
    """Base of the clock-driven directional strategies (see the module docstring).

    Subclasses implement :meth:`signal` (and optionally :meth:`exit_signal`,
    :meth:`history_len`, :meth:`can_enter`).
    """

    Params: ClassVar[type[StrategyParams]] = DirectionalParams
    kind = StrategyKind.DIRECTIONAL
    params: DirectionalParams
    summed_history: ClassVar[bool] = False
    """True: ``m.hist`` is a :class:`SummedHistory` (its sums read in O(1))."""
    ranged_history: ClassVar[bool] = False
    """True: ``m.hist`` is a :class:`RangedHistory` (its range read in O(1) mostly)."""

    def __init__(self, name: str, params: DirectionalParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self.timer_interval_s = params.sample_interval_s  # type: ignore[misc]
        self._sizer = Sizer(params.sizing)
        self._universe = Universe(params.universe)
        self._markets: dict[str, Market] = {}
        self.orders = OwnOrders()

    # ------------------------------------------------------------------ to override
    def history_len(self) -> int:
        """Return how many past samples of the YES mid to keep."""
        return 1

    def signal(self, ctx: StrategyContext, m: Market, mid: int, now: float) -> Entry | None:
        """Update the market's signal with a new YES mid (``m.hist`` holds the past ones).

        Called every sample, also while a position is held (to keep the state current). Return
        an :class:`Entry` to open a position (acted on only when flat and allowed).
        """
        return None

    def exit_signal(
        self, ctx: StrategyContext, m: Market, held: Held, token_mid: int, now: float
    ) -> str | None:
        """Return a reason to close the position now, or None (the built-in exits run first)."""
        return None

    def can_enter(self, inst: Instrument, now: float) -> bool:
        """Return whether a new position may be opened in this market now."""
        return inst.end_ts is None or inst.end_ts - now >= max(
            self.params.no_entry_before_end_s, 5.0
        )

    # ------------------------------------------------------------------ hooks
    def wants(self, instrument: Instrument) -> bool:
        """The YES token of each binary market in the universe (the NO token is traded too)."""
        if instrument.complement_id is None or not is_yes(instrument):
            return False
        if instrument.fees.rate > self.params.max_fee_rate or not self._universe.admits(instrument):
            return False
        self._markets.setdefault(
            instrument.market_id,
            Market(instrument.market_id, instrument.instrument_id, instrument.complement_id,
                   self.history_len(), summed=self.summed_history,
                   ranged=self.ranged_history),
        )  # fmt: skip
        return True

    def on_start(self, ctx: StrategyContext) -> None:
        """Adopt orders restored after a restart (positions are adopted as markets relist)."""
        self.orders.seed(ctx)

    def on_timer(self, ctx: StrategyContext) -> None:
        """Sample every followed market, then manage positions and open new ones."""
        now = ctx.now()
        n_held = sum(1 for m in self._markets.values() if m.held is not None)
        positions = ctx.portfolio.positions  # changed in place, never replaced
        active = self.orders.active
        for m in self._markets.values():
            book = ctx.book(m.yes)
            if book is None:
                continue
            # OrderBook.best_bid/best_ask, inlined (issue 18)
            bid_px, ask_px = book._bid_px, book._ask_px
            bid = bid_px[-1] if bid_px else None
            ask = ask_px[0] if ask_px else None
            if bid is None or ask is None or bid >= ask:
                continue
            mid = (bid + ask) // 2
            entry = self.signal(ctx, m, mid, now)
            m.hist.append(mid)
            if (
                m.held is None
                and (m.yes in positions or m.no in positions)  # else _adopt finds nothing
                and not active(m.yes)
                and not active(m.no)
            ):
                self._adopt(ctx, m, now)  # a position from before a restart, or a late fill
            if m.held is not None:
                if self._manage(ctx, m, now):
                    n_held -= 1
            elif (
                entry is not None
                and n_held < self.params.max_positions
                and now >= m.cool_until
                and self._enter(ctx, m, entry, now)
            ):
                n_held += 1

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Record the average entry price once an entry fills."""
        inst = ctx.instrument(fill.instrument_id)
        m = self._markets.get(inst.market_id) if inst is not None else None
        if m is None or m.held is None or m.held.iid != fill.instrument_id:
            return
        if fill.side is Side.BUY:
            pos = ctx.portfolio.positions.get(fill.instrument_id)
            if pos is not None and pos.qty:
                m.held.entry_price = pos.avg_price

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Forget a resolved market."""
        m = self._markets.pop(event.market_id, None)
        if m is not None:
            self.orders.forget(m.yes)
            self.orders.forget(m.no)

    # ------------------------------------------------------------------ internals
    def _adopt(self, ctx: StrategyContext, m: Market, now: float) -> None:
        pf = ctx.portfolio
        for iid, label in ((m.yes, "YES"), (m.no, "NO")):
            pos = pf.positions.get(iid)
            if pos is not None and pos.qty > 0:
                m.held = Held(iid, label, now, pos.avg_price, pos.avg_price)
                return

    def _enter(self, ctx: StrategyContext, m: Market, e: Entry, now: float) -> bool:
        iid = m.yes if e.token == "YES" else m.no
        inst = ctx.instrument(iid)
        book = ctx.book(iid)
        if inst is None or book is None or not self.can_enter(inst, now):
            return False
        if ctx.status() != "active":
            return False  # paused: exits only
        if not ctx.trusted(iid):
            return False  # the data gate would refuse it (stale, thin, crossed, ...)
        if self.orders.active(m.yes) or self.orders.active(m.no):
            return False
        # OrderBook.best_bid/best_ask, inlined (issue 18)
        bid_px, ask_px = book._bid_px, book._ask_px
        bid = bid_px[-1] if bid_px else None
        ask = ask_px[0] if ask_px else None
        if ask is None or bid is None or ask - bid > self.params.max_entry_spread_ticks * inst.tick:
            return False
        if not self._universe.passes(ctx.book(m.yes), inst.tick):
            return False
        limit = min(MICRO - inst.tick, ask + self.params.entry_slippage_ticks * inst.tick)
        depth = 0
        for price, _size in book.levels(Side.SELL):
            if price > limit:
                break
            depth += floor_lot(ctx.available(iid, Side.SELL, price))
        prob = (
            e.prob
            if e.prob is not None
            else min(0.999, ask / MICRO + float(self.params.edge_estimate))
        )
        size = self._sizer.size_for(
            inst, limit, ctx.portfolio.available_cash, prob=prob, limit=depth
        )
        if size == 0:
            return False
        o = ctx.buy(iid, size, limit, tif=TimeInForce.FAK, reason=e.reason)
        if o is None or o.filled == 0 and not o.active:
            return False
        self.orders.add(o)
        tok_mid = (bid + ask) // 2
        m.held = Held(iid, e.token, now, o.avg_price or ask, tok_mid)
        return True

    def _manage(self, ctx: StrategyContext, m: Market, now: float) -> bool:
        """Exit if a rule says so; return True once the position is gone."""
        held = m.held
        assert held is not None
        if self.orders.active(held.iid):
            return False  # entry or exit still working
        qty = ctx.portfolio.available_qty(held.iid)
        if qty <= 0:
            m.held = None
            m.cool_until = now + self.params.cooldown_s
            return True
        inst = ctx.instrument(held.iid)
        book = ctx.book(held.iid)
        if inst is None or book is None:
            return False
        # OrderBook.best_bid/best_ask, inlined (issue 18)
        bid_px, ask_px = book._bid_px, book._ask_px
        bid = bid_px[-1] if bid_px else None
        ask = ask_px[0] if ask_px else None
        if bid is None:
            return False
        token_mid = (bid + ask) // 2 if ask is not None else bid
        if token_mid > held.peak_mid:
            held.peak_mid = token_mid
        p = self.params
        reason: str | None = None
        if (
            inst.end_ts is not None
            and p.exit_before_end_s > 0
            and inst.end_ts - now <= p.exit_before_end_s
        ):
            reason = f"market ends in {inst.end_ts - now:.0f} s: flatten"
        elif p.max_hold_s > 0 and now - held.entry_ts >= p.max_hold_s:
            reason = f"time stop: held {now - held.entry_ts:.0f} s >= {p.max_hold_s:.0f} s"
        elif p.stop_loss_ticks and token_mid <= held.entry_price - p.stop_loss_ticks * inst.tick:
            reason = (
                f"stop loss: {held.label} mid {fmt_p(token_mid)} is {p.stop_loss_ticks}+ ticks "
                f"below entry {fmt_p(held.entry_price)}"
            )
        else:
            reason = self.exit_signal(ctx, m, held, token_mid, now)
        if reason is None:
            return False
        if qty < inst.min_size:
            return False  # below the venue minimum: hold to resolution
        limit = max(inst.tick, bid - p.exit_slippage_ticks * inst.tick)
        self.orders.add(
            ctx.sell(held.iid, floor_lot(qty), limit, tif=TimeInForce.FAK, reason=reason)
        )
        if ctx.portfolio.qty(held.iid) == 0:
            m.held = None
            m.cool_until = now + p.cooldown_s
            return True
        return False
