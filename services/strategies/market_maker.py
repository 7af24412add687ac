"""Post-only two-sided market maker with inventory skew (long-only, Polymarket style).

Shares can only be bought or sold from inventory, so "selling YES" when flat is done the way
Polymarket makers do it: by bidding for NO at ``1 - ask``. A filled YES bid plus a filled NO bid
is a pair worth exactly 1 at resolution, bought for ``bid + (1 - ask) < 1``: the spread. When the
strategy holds inventory it quotes out of it instead (offers YES it holds, or offers NO it holds
at ``1 - bid``), so inventory turns over rather than piling up.

Quotes sit ``half_spread_ticks`` around the mid, shifted against net inventory by up to
``skew_ticks``; one side stops at ``max_inventory_shares``. Quotes move only when the target moved
``requote_ticks``; they are cancelled when the book's spread is too wide, when the market fails
the universe filter, and ``stop_before_end_s`` before the market ends.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from services.enums import StrategyKind
from services.events import MarketResolved
from services.execution.orders import Fill, Order
from services.instruments import Instrument, Side
from services.money import MICRO, to_micro
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from services.strategies.common import OwnOrders, fmt_p, is_yes, yes_no
from services.strategies.sizing import Sizer, SizingParams, sizing_defaults
from services.strategies.universe import Universe, UniverseParams, all_markets

_TRUST_CHECK_S = 5.0
"""Seconds between two checks that the data behind resting quotes is still trusted (a stale or
broken book sends no update to requote on)."""


def _mm_sizing() -> SizingParams:
    return sizing_defaults(mode="fixed_shares", shares=Decimal("25"), max_shares=Decimal("500"))


class MarketMakerParams(StrategyParams):
    """Parameters of :class:`MarketMaker`."""

    half_spread_ticks: int = Field(2, ge=1, le=50, description="Quote distance from the mid, ticks")
    sizing: SizingParams = Field(
        default_factory=_mm_sizing,
        description="Quote size (kelly uses the mid as the probability estimate)",
    )
    max_inventory_shares: Decimal = Field(
        Decimal("250"), gt=0, description="Net YES-minus-NO shares beyond which one side stops"
    )
    skew_ticks: int = Field(
        2, ge=0, le=50, description="Quote shift (ticks) at full inventory, to lean against it"
    )
    requote_ticks: int = Field(
        1, ge=1, le=20, description="Move a quote only when the target moved this many ticks"
    )
    max_markets: int = Field(8, ge=1, le=500, description="Markets quoted at the same time")
    stop_before_end_s: float = Field(
        60.0, ge=0, description="Cancel quotes and stop this long before a market's end, seconds"
    )
    max_spread_ticks: int = Field(
        30, ge=1, description="Do not quote a market whose book spread is wider, ticks"
    )
    universe: UniverseParams = Field(
        default_factory=all_markets, description="Which binary markets to quote"
    )


class MarketMaker(Strategy):
    """Quotes both sides of binary markets around the mid, leaning against inventory."""

    Params = MarketMakerParams
    kind = StrategyKind.MARKET_MAKING
    description = "Post-only two-sided quotes around the mid with inventory skew and limits."
    params: MarketMakerParams
    pause_idle_books: ClassVar[bool] = True
    """Pause on_book of markets it would ignore (False: every update is delivered; the tests
    compare the two)."""

    def __init__(self, name: str, params: MarketMakerParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._pairs: dict[str, tuple[str, str]] = {}  # market_id -> (yes id, no id)
        self._yes_market: dict[str, str] = {}  # YES id -> market_id (books that drive quotes)
        self._dirty: set[str] = set()  # markets whose inventory changed since the last quote
        # Iterated collections are dicts used as ordered sets: iterating a set of strings depends
        # on the process's hash seed, and the same seed must replay the same competition.
        self._waiting: dict[str, None] = {}  # markets whose NO book was missing (timer retries)
        self._active: dict[str, None] = {}  # markets holding a quoting slot
        self._last: dict[str, tuple[int, int, int]] = {}  # market_id -> (fair, net, tick)
        self._stopped: set[str] = set()
        self._max_inv = to_micro(params.max_inventory_shares)
        self._sizer = Sizer(params.sizing)
        self._universe = Universe(params.universe)
        self.orders = OwnOrders()
        self._next_trust_check = 0.0  # event time of the next data-gate check of held quotes
        # Markets whose YES on_book is paused (issue 18): on_book returns at once for a stopped
        # market, and for one without a slot while every slot is taken. Re-synced at the end
        # of each hook that changed the slots (see _sync_pauses).
        self._paused: set[str] = set()
        self._slots_changed = False

    def wants(self, instrument: Instrument) -> bool:
        """The YES token of binary markets in the universe: its book drives the quotes.

        The NO token is quoted too, but its book changes need no reaction (a NO bid the book
        crosses simply fills), so the strategy does not subscribe to it. Quoting slots
        (``max_markets``) are taken when a market first gets quotes.
        """
        if instrument.complement_id is None or not is_yes(instrument):
            return False
        if not self._universe.admits(instrument):
            return False
        pair = yes_no(instrument)
        if pair is not None:
            self._pairs.setdefault(instrument.market_id, pair)
            self._yes_market[pair[0]] = instrument.market_id
            self._slots_changed = True
        return True

    def on_instruments(self, ctx: StrategyContext, instruments: list[Instrument]) -> None:
        """New markets start paused when every quoting slot is taken."""
        if self._slots_changed:
            self._sync_pauses(ctx)

    def on_start(self, ctx: StrategyContext) -> None:
        """Adopt orders restored after a restart."""
        self.orders.seed(ctx)
        for o in ctx.open_orders():
            inst = ctx.instrument(o.instrument_id)
            if inst is not None:
                self._active[inst.market_id] = None
                self._slots_changed = True
        if self._slots_changed:
            self._sync_pauses(ctx)

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Requote a market when its YES mid moved (its NO book only bounds the quotes)."""
        market_id = self._yes_market.get(book.instrument_id)
        if market_id is None or market_id in self._stopped:
            return
        if market_id not in self._active and len(self._active) >= self.params.max_markets:
            return
        last = self._last.get(market_id)
        if last is not None and market_id not in self._dirty:
            # OrderBook.best_bid/best_ask, inlined (issue 18)
            bid_px, ask_px = book._bid_px, book._ask_px
            bid = bid_px[-1] if bid_px else None
            ask = ask_px[0] if ask_px else None
            if bid is not None and ask is not None and abs((bid + ask) // 2 - last[0]) < last[2]:
                return  # fair value unchanged and inventory unchanged: nothing to do
        try:
            self._quote(ctx, market_id)
        finally:
            if self._slots_changed:
                self._sync_pauses(ctx)

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Inventory changed: requote."""
        inst = ctx.instrument(fill.instrument_id)
        if inst is not None and inst.market_id in self._active:
            self._dirty.add(inst.market_id)
            try:
                self._quote(ctx, inst.market_id)
            finally:
                if self._slots_changed:
                    self._sync_pauses(ctx)

    def on_timer(self, ctx: StrategyContext) -> None:
        """Quote markets whose NO book arrived after the YES book; stop those about to end; pull
        quotes from markets whose data the data gate no longer trusts."""
        try:
            self._on_timer(ctx)
        finally:
            if self._slots_changed:
                self._sync_pauses(ctx)

    def _on_timer(self, ctx: StrategyContext) -> None:
        for market_id in list(self._waiting):
            self._waiting.pop(market_id, None)
            if market_id not in self._stopped and (
                market_id in self._active or len(self._active) < self.params.max_markets
            ):
                self._quote(ctx, market_id)
        now = ctx.now()
        check_trust = now >= self._next_trust_check
        if check_trust:
            self._next_trust_check = now + _TRUST_CHECK_S
        for market_id in list(self._active):
            pair = self._pairs.get(market_id)
            inst = ctx.instrument(pair[0]) if pair else None
            if inst is None:
                continue
            if inst.end_ts is not None and inst.end_ts - now <= self.params.stop_before_end_s:
                self._stopped.add(market_id)
                self._slots_changed = True
                self._release(ctx, market_id, "market ends soon: stop quoting")
            elif check_trust and pair and not (ctx.trusted(pair[0]) and ctx.trusted(pair[1])):
                # A stale or broken book sends no update to requote on: pull the quotes here.
                self._release(ctx, market_id, "market data not trusted: stop quoting")

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Forget a resolved market and free its slot."""
        market_id = event.market_id
        pair = self._pairs.pop(market_id, None)
        self._dirty.discard(market_id)
        if pair:
            self._yes_market.pop(pair[0], None)
        self._active.pop(market_id, None)
        self._last.pop(market_id, None)
        self._stopped.discard(market_id)
        self._waiting.pop(market_id, None)
        self._paused.discard(market_id)  # the engine forgets a resolved instrument's pause
        if pair:
            for iid in pair:
                self.orders.forget(iid)
        self._slots_changed = True
        self._sync_pauses(ctx)

    # ------------------------------------------------------------------ quoting
    def _release(self, ctx: StrategyContext, market_id: str, reason: str) -> None:
        """Cancel a market's quotes and give its slot back."""
        pair = self._pairs.get(market_id)
        if pair:
            for iid in pair:
                self.orders.cancel(ctx, iid, reason)
        self._active.pop(market_id, None)
        self._last.pop(market_id, None)
        self._dirty.discard(market_id)
        self._slots_changed = True

    def _sync_pauses(self, ctx: StrategyContext) -> None:
        """Pause on_book of exactly the markets for which it would return at once: stopped
        ones, and, while every slot is taken, those without one; resume the others."""
        self._slots_changed = False
        if not self.pause_idle_books:
            return
        full = len(self._active) >= self.params.max_markets
        pause: list[str] = []
        resume: list[str] = []
        for yes_id, market_id in self._yes_market.items():
            idle = market_id in self._stopped or (full and market_id not in self._active)
            if idle != (market_id in self._paused):
                if idle:
                    self._paused.add(market_id)
                    pause.append(yes_id)
                else:
                    self._paused.discard(market_id)
                    resume.append(yes_id)
        if pause:
            ctx.pause_books(pause)
        if resume:
            ctx.pause_books(resume, paused=False)

    def _quote(self, ctx: StrategyContext, market_id: str) -> None:
        pair = self._pairs.get(market_id)
        if pair is None or ctx.status() != "active":
            return  # a paused maker keeps what it holds but posts no new quotes
        yes_id, no_id = pair
        yb, nb = ctx.book(yes_id), ctx.book(no_id)
        yi, ni = ctx.instrument(yes_id), ctx.instrument(no_id)
        if yb is None or nb is None or yi is None or ni is None:
            self._waiting[market_id] = None
            return
        if not (ctx.trusted(yes_id) and ctx.trusted(no_id)):
            if market_id in self._active:
                self._release(ctx, market_id, "market data not trusted: stop quoting")
            return  # re-quoted on the next book update once the data gate passes again
        if yi.end_ts is not None and yi.end_ts - ctx.now() <= self.params.stop_before_end_s:
            self._stopped.add(market_id)
            self._slots_changed = True
            self._release(ctx, market_id, "market ends soon: stop quoting")
            return
        bid_px, ask_px = yb._bid_px, yb._ask_px  # OrderBook.best_bid/best_ask, inlined (issue 18)
        y_bid = bid_px[-1] if bid_px else None
        y_ask = ask_px[0] if ask_px else None
        tick = yi.tick
        if (
            y_bid is None
            or y_ask is None
            or y_bid >= y_ask
            or (y_ask - y_bid) > self.params.max_spread_ticks * tick
            or not self._universe.passes(yb, tick)
        ):
            if market_id in self._active:
                self._release(ctx, market_id, "book too wide or outside the universe filter")
            return
        fair = (y_bid + y_ask) // 2
        pf = ctx.portfolio
        held_yes, held_no = pf.qty(yes_id), pf.qty(no_id)
        net = held_yes - held_no
        self._dirty.discard(market_id)
        last = self._last.get(market_id)
        if last is not None and last[1] == net and abs(last[0] - fair) < tick:
            return
        if market_id not in self._active:
            self._active[market_id] = None
            self._slots_changed = True
        self._last[market_id] = (fair, net, tick)
        skew = (self.params.skew_ticks * tick * net) // self._max_inv
        half = self.params.half_spread_ticks * tick
        bid = min(yi.round_price(fair - half - skew, Side.BUY), y_ask - tick)  # post-only
        ask = max(yi.round_price(fair + half - skew, Side.SELL), y_bid + tick)
        want: list[tuple[str, Side, int, str]] = []
        # Bid side: buy YES, or sell NO held (the same exposure, and it frees inventory).
        if net < self._max_inv:
            no_ask = ni.round_price(MICRO - bid, Side.SELL)
            n_px = nb._bid_px  # OrderBook.best_bid, inlined
            n_bid = n_px[-1] if n_px else None
            if n_bid is not None:
                no_ask = max(no_ask, n_bid + ni.tick)
            if held_no >= ni.min_size and no_ask <= MICRO - ni.tick:
                want.append((no_id, Side.SELL, no_ask,
                             f"offer NO {fmt_p(no_ask)} from inventory (= bid YES {fmt_p(bid)}), "
                             f"mid {fmt_p(fair)}"))  # fmt: skip
            elif bid >= tick:
                want.append((yes_id, Side.BUY, bid,
                             f"bid YES {fmt_p(bid)}, mid {fmt_p(fair)}, net {net / MICRO:+.0f}"))  # fmt: skip
        # Ask side: sell YES held, or bid NO at 1 - ask.
        if net > -self._max_inv:
            if held_yes >= yi.min_size and ask <= MICRO - tick:
                want.append((yes_id, Side.SELL, ask,
                             f"offer YES {fmt_p(ask)} from inventory, mid {fmt_p(fair)}"))  # fmt: skip
            else:
                no_bid = ni.round_price(MICRO - ask, Side.BUY)
                n_px = nb._ask_px  # OrderBook.best_ask, inlined
                n_ask = n_px[0] if n_px else None
                if n_ask is not None:
                    no_bid = min(no_bid, n_ask - ni.tick)
                if no_bid >= ni.tick:
                    want.append((no_id, Side.BUY, no_bid,
                                 f"bid NO {fmt_p(no_bid)} (= offer YES {fmt_p(ask)}), "
                                 f"mid {fmt_p(fair)}, net {net / MICRO:+.0f}"))  # fmt: skip
        self._reconcile(ctx, pair, want, fair)

    def _reconcile(
        self,
        ctx: StrategyContext,
        pair: tuple[str, str],
        want: list[tuple[str, Side, int, str]],
        fair: int,
    ) -> None:
        existing: list[Order] = self.orders.active(pair[0]) + self.orders.active(pair[1])
        keep: set[int] = set()
        to_place: list[tuple[str, Side, int, str]] = []
        for iid, side, price, reason in want:
            inst = ctx.instrument(iid)
            tick = inst.tick if inst else 10_000
            match = next(
                (
                    o
                    for o in existing
                    if o.instrument_id == iid
                    and o.side is side
                    and o.order_id not in keep
                    and abs(o.price - price) < self.params.requote_ticks * tick
                ),
                None,
            )
            if match is not None:
                keep.add(match.order_id)
            else:
                to_place.append((iid, side, price, reason))
        for o in existing:
            if o.order_id not in keep:
                ctx.cancel(o.order_id, reason="requote: target moved")
        pf = ctx.portfolio
        for iid, side, price, reason in to_place:
            inst = ctx.instrument(iid)
            if inst is None:
                continue
            if side is Side.BUY:
                prob = fair / MICRO if iid == pair[0] else 1.0 - fair / MICRO
                size = self._sizer.size_for(inst, price, pf.available_cash, prob=prob, taker=False)
                if size:
                    self.orders.add(ctx.buy(iid, size, price, post_only=True, reason=reason))
            else:
                size = self._sizer.sell_size(price, pf.available_qty(iid), inst.min_size)
                if size:
                    self.orders.add(ctx.sell(iid, size, price, post_only=True, reason=reason))
