"""Bundle arbitrage machinery shared by complement and neg-risk arbitrage.

A *bundle* is a set of outcome tokens of which exactly one pays 1 at resolution (YES + NO of a
binary market; every YES of a neg-risk event). Buying a bundle for less than 1 after fees locks
in the difference; selling a held bundle for more than 1 after fees does too.

Leg risk: the legs are separate FAK orders, so one can fill less than another (the book moved,
or, with latency, the level was gone when the order arrived). The strategy keeps its legs
balanced by looking at its *positions*, which is robust to partial fills, latency and restarts:
whenever a bundle's legs hold different quantities and no order is working on them, it either

* completes the short legs at the current asks, if the whole bundle (what the long legs cost
  plus the completion, fees included) still pays back at least ``1 - repair_min_edge`` per
  share, or
* sells the excess of the long legs into the bids (FAK, at most ``repair_slippage_ticks``
  below the best bid).

A leg imbalance smaller than the market's minimum order size cannot be traded and is held to
resolution; so is one that ``repair_attempts`` tries could not fix.
"""

from __future__ import annotations

from typing import ClassVar

from services.enums import StrategyKind
from services.events import MarketResolved
from services.execution.orders import Fill, OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.money import MICRO, floor_lot, notional, to_micro
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from services.strategies.bundles import ArbParams, Bundle, fee_per_share, leg_room, sweep_asks
from services.strategies.common import OwnOrders, fmt_p
from services.strategies.sizing import Sizer
from services.strategies.universe import Universe


class BundleArbitrage(Strategy):
    """Base of the arbitrage strategies: find bundles, buy/sell them, keep legs balanced.

    Subclasses register bundles with :meth:`_add_bundle` (from ``on_instruments``) and the
    engine's book updates drive everything else.
    """

    Params: ClassVar[type[StrategyParams]] = ArbParams
    kind = StrategyKind.ARBITRAGE
    params: ArbParams
    cache_held: ClassVar[bool] = True
    """Reuse a bundle's sellable sets while the portfolio's version is unchanged (False: compute
    them on every book update; the tests compare the two)."""

    def __init__(self, name: str, params: ArbParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._sizer = Sizer(params.sizing)
        self._universe = Universe(params.universe)
        self._edge = to_micro(params.min_edge)
        self._repair_edge = to_micro(params.repair_min_edge)
        self._max_raw = MICRO - self._edge  # asks summing above this can never pay
        self._bundles: dict[str, Bundle] = {}
        self._leg_of: dict[str, list[tuple[Bundle, int]]] = {}  # iid -> (bundle, leg index)
        self._holding: set[str] = set()  # bundles in which we hold complete sets
        # Bundles to rebalance; a dict keeps insertion order, so runs replay identically
        # (iterating a set of strings depends on the process's hash seed).
        self._dirty: dict[str, None] = {}
        self.orders = OwnOrders()

    # ------------------------------------------------------------------ hooks
    def on_start(self, ctx: StrategyContext) -> None:
        """Adopt restored orders; positions are reconciled as bundles are registered."""
        self.orders.seed(ctx)

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Update the bundles this book belongs to and trade any that pay."""
        entries = self._leg_of.get(book.instrument_id)
        if not entries:
            return
        ask_px = book._ask_px  # OrderBook.best_ask, inlined: this runs on every book update
        ask = ask_px[0] if ask_px else None
        for b, i in entries:
            if b.asks[i] != ask:  # Bundle.set_ask returns at once for an unchanged ask
                b.set_ask(i, ask)
            if b.dirty:
                self._reconcile(ctx, b)
                continue
            # b.cheap: every leg has an ask and they sum to at most _max_raw (kept by set_ask);
            # b.holding: b.key in _holding (kept by _hold). Each read per book update of a leg.
            if b.cheap:
                if b.armed:
                    self._try_buy(ctx, b)
            else:
                b.armed = True  # the dislocation is over: the next one may be bought
                if b.holding and self.params.sell_side:
                    self._try_sell(ctx, b)

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """A leg filled: check the balance of its bundles."""
        for b, _ in self._leg_of.get(fill.instrument_id, ()):
            self._mark_dirty(b)
            self._reconcile(ctx, b)

    def on_timer(self, ctx: StrategyContext) -> None:
        """Retry rebalancing bundles that could not be fixed at once."""
        for key in list(self._dirty):
            b = self._bundles.get(key)
            if b is None:
                self._dirty.pop(key, None)
            else:
                self._reconcile(ctx, b)

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """Drop every bundle with a resolved leg (the positions are settled by the engine)."""
        for iid, _ in event.payouts:
            for b, _ in list(self._leg_of.get(iid, ())):
                self._drop(b)
            self.orders.forget(iid)

    # ------------------------------------------------------------------ registry
    def _add_bundle(self, ctx: StrategyContext, key: str, legs: list[Instrument]) -> None:
        if key in self._bundles or len(legs) < 2:
            return
        b = Bundle(key, legs, self._max_raw)
        self._bundles[key] = b
        for i, leg in enumerate(legs):
            self._leg_of.setdefault(leg.instrument_id, []).append((b, i))
            book = ctx.book(leg.instrument_id)
            b.set_ask(i, book.best_ask() if book is not None else None)
        if any(ctx.position(leg.instrument_id) for leg in legs):  # restored positions
            self._mark_dirty(b)

    def _hold(self, b: Bundle, holding: bool) -> None:
        """Record whether complete sets of ``b`` are held (``_holding`` and ``b.holding``)."""
        if holding:
            self._holding.add(b.key)
        else:
            self._holding.discard(b.key)
        b.holding = holding

    def _drop(self, b: Bundle) -> None:
        self._bundles.pop(b.key, None)
        self._hold(b, False)
        self._dirty.pop(b.key, None)
        for leg in b.legs:
            entries = self._leg_of.get(leg.instrument_id)
            if entries is not None:
                entries[:] = [e for e in entries if e[0] is not b]
                if not entries:
                    del self._leg_of[leg.instrument_id]

    def _mark_dirty(self, b: Bundle) -> None:
        b.dirty = True
        self._dirty[b.key] = None

    def _legs_now(self, ctx: StrategyContext, b: Bundle) -> list[Instrument] | None:
        """Return the legs with their current metadata (tick changes), or None if one is gone."""
        out = []
        for leg in b.legs:
            inst = ctx.instrument(leg.instrument_id)
            if inst is None:
                return None
            out.append(inst)
        return out

    # ------------------------------------------------------------------ buying
    def _try_buy(self, ctx: StrategyContext, b: Bundle) -> None:
        now = ctx.now()
        if now < b.cool_until or ctx.status() != "active":
            return
        legs = self._legs_now(ctx, b)
        if legs is None or not self._tradable(ctx, legs, now):
            return
        asks: list[int] = [a for a in b.asks if a is not None]
        raw = b.ask_sum
        fee_est = sum(fee_per_share(leg, a) for leg, a in zip(legs, asks, strict=True))
        if raw + fee_est > self._max_raw + len(legs):  # fees eat the edge (estimate rounds up)
            return
        depth = min(
            ctx.available(leg.instrument_id, Side.SELL, a)
            for leg, a in zip(legs, asks, strict=True)
        )
        room = [
            leg_room(ctx.portfolio.qty(leg.instrument_id), a, self.params.max_leg_position_usd)
            for leg, a in zip(legs, asks, strict=True)
        ]
        if any(r is not None for r in room):
            depth = min([depth, *(r for r in room if r is not None)])
        min_size = max(leg.min_size for leg in legs)
        if depth < min_size:
            return
        size = self._sizer.size(
            raw, ctx.portfolio.available_cash, min_size, prob=1.0,
            cost_per_share=raw + fee_est, limit=depth,
        )  # fmt: skip
        if size == 0:
            return
        cost = sum(
            notional(size, a) + leg.fees.taker_fee(size, a)
            for leg, a in zip(legs, asks, strict=True)
        )
        edge = size - cost  # exactly one leg pays 1 per share
        if edge < notional(size, self._edge):
            return
        if not self._trusted(ctx, legs):
            return
        b.cool_until = now + self.params.cooldown_s
        b.armed = not self.params.once_per_dislocation
        reason = (
            f"{self._label(b)} asks sum {raw / MICRO:.4f} + fees "
            f"{(cost - notional(size, raw)) / max(size, 1):.4f}/sh < 1 - margin: "
            f"locks {edge / MICRO:.2f} USDC on {size / MICRO:.2f} sets"
        )
        self._submit_legs(ctx, b, legs, asks, size, Side.BUY, reason)

    def _try_sell(self, ctx: StrategyContext, b: Bundle) -> None:
        now = ctx.now()
        if now < b.cool_until or b.dirty:
            return
        pf = ctx.portfolio
        if self.cache_held and b.held_version == pf.version:
            held = b.held  # nothing changed in the portfolio since it was computed
        else:
            held = b.held = pf.min_available_qty(b.legs)
            b.held_version = pf.version
        if held <= 0:
            self._hold(b, False)
            return
        # The bids first: they rarely pay, and every check before the order only reads (issue
        # 18: this runs on each book update of a held bundle).
        bids: list[int] = []
        book_of = ctx.book
        for leg in b.legs:
            book = book_of(leg.instrument_id)
            if book is None or not book._bid_px:  # OrderBook.best_bid, inlined
                return
            bid = book._bid_px[-1]
            bids.append(bid)
        if sum(bids) <= MICRO + self._edge:
            return
        legs = self._legs_now(ctx, b)
        if legs is None or not self._tradable(ctx, legs, now):
            return
        depth = min(
            ctx.available(leg.instrument_id, Side.BUY, p) for leg, p in zip(legs, bids, strict=True)
        )
        size = floor_lot(min(held, depth))
        if size < max(leg.min_size for leg in legs):
            return
        proceeds = sum(
            notional(size, p) - leg.fees.taker_fee(size, p)
            for leg, p in zip(legs, bids, strict=True)
        )
        gain = proceeds - size
        if gain < notional(size, self._edge):
            return
        if not self._trusted(ctx, legs):
            return
        b.cool_until = now + self.params.cooldown_s
        reason = (
            f"{self._label(b)} bids sum {sum(bids) / MICRO:.4f} > 1 + fees + margin: "
            f"sell {size / MICRO:.2f} sets for {gain / MICRO:.2f} USDC over their payout"
        )
        self._submit_legs(ctx, b, legs, bids, size, Side.SELL, reason)

    def _submit_legs(
        self,
        ctx: StrategyContext,
        b: Bundle,
        legs: list[Instrument],
        prices: list[int],
        size: int,
        side: Side,
        reason: str,
    ) -> None:
        """Send one FAK per leg, thinnest book first; shrink later legs to what filled."""
        book_side = Side.SELL if side is Side.BUY else Side.BUY
        order = sorted(
            range(len(legs)),
            key=lambda i: ctx.available(legs[i].instrument_id, book_side, prices[i]),
        )
        self._mark_dirty(b)
        target = size
        for i in order:
            leg, price = legs[i], prices[i]
            if target < leg.min_size:
                break
            if side is Side.BUY:
                o = ctx.buy(leg.instrument_id, target, price, tif=TimeInForce.FAK, reason=reason)
            else:
                o = ctx.sell(leg.instrument_id, target, price, tif=TimeInForce.FAK, reason=reason)
            if o is None or o.status is OrderStatus.REJECTED:
                break
            self.orders.add(o)
            if not o.active:  # zero latency: the FAK is done, later legs match what it got
                target = floor_lot(o.filled)
        self._reconcile(ctx, b)

    # ------------------------------------------------------------------ leg risk
    def _reconcile(self, ctx: StrategyContext, b: Bundle) -> None:
        """Balance the legs of a bundle (see the module docstring)."""
        ids = [leg.instrument_id for leg in b.legs]
        if self.orders.any_active(ids):
            return  # wait for working orders to finish
        pf = ctx.portfolio
        qtys = [pf.qty(iid) for iid in ids]
        hi, lo = max(qtys), min(qtys)
        if hi == lo:
            b.dirty = False
            b.tries = 0
            self._dirty.pop(b.key, None)
            self._hold(b, lo > 0)
            return
        self._hold(b, False)
        now = ctx.now()
        if now < b.next_try or b.tries >= self.params.repair_attempts:
            if b.tries >= self.params.repair_attempts:  # give up: hold to resolution
                b.dirty = False
                self._dirty.pop(b.key, None)
            return
        legs = self._legs_now(ctx, b)
        if legs is None:
            return
        b.tries += 1
        b.next_try = now + self.params.repair_retry_s
        if self._complete(ctx, b, legs, qtys, hi):
            return
        self._sell_excess(ctx, legs, qtys, lo)

    def _complete(
        self, ctx: StrategyContext, b: Bundle, legs: list[Instrument], qtys: list[int], hi: int
    ) -> bool:
        """Buy the short legs up to ``hi`` if the bundle still pays; return whether it tried."""
        pf = ctx.portfolio
        unit_cost = 0  # micro per set: what the long legs cost plus completing the short ones
        buys: list[tuple[Instrument, int, int]] = []
        for leg, q in zip(legs, qtys, strict=True):
            iid = leg.instrument_id
            if q == hi:
                pos = pf.positions.get(iid)
                if pos is None or pos.qty == 0:
                    return False
                unit_cost += (pos.cost_basis + pos.fees) * MICRO // pos.qty
                continue
            missing = hi - q
            if missing < leg.min_size:
                return False
            sweep = sweep_asks(ctx, leg, missing)
            if sweep is None:
                return False
            limit, cost = sweep
            unit_cost += cost * MICRO // missing
            buys.append((leg, missing, limit))
        if unit_cost > MICRO - self._repair_edge:
            return False
        for leg, missing, limit in buys:
            reason = (
                f"leg repair {self._label(b)} complete {missing / MICRO:.2f} "
                f"{leg.outcome} up to {fmt_p(limit)} (bundle costs {unit_cost / MICRO:.4f}/set "
                "with fees, still <= 1)"
            )
            self.orders.add(
                ctx.buy(leg.instrument_id, missing, limit, tif=TimeInForce.FAK, reason=reason)
            )
        return True

    def _sell_excess(
        self, ctx: StrategyContext, legs: list[Instrument], qtys: list[int], lo: int
    ) -> None:
        """Sell each leg's holding above ``lo`` into the bids."""
        pf = ctx.portfolio
        for leg, q in zip(legs, qtys, strict=True):
            iid = leg.instrument_id
            excess = floor_lot(min(q - lo, pf.available_qty(iid)))
            if excess <= 0 or excess < leg.min_size:
                continue
            book = ctx.book(iid)
            if book is None or not book._bid_px:  # OrderBook.best_bid, inlined
                continue
            bid = book._bid_px[-1]
            limit = max(leg.tick, bid - self.params.repair_slippage_ticks * leg.tick)
            reason = (
                f"leg repair: sell {excess / MICRO:.2f} excess {leg.outcome} near bid "
                f"{fmt_p(bid)} (completing the bundle would not pay)"
            )
            self.orders.add(ctx.sell(iid, excess, limit, tif=TimeInForce.FAK, reason=reason))

    # ------------------------------------------------------------------ helpers
    def _tradable(self, ctx: StrategyContext, legs: list[Instrument], now: float) -> bool:
        """No new bundles in markets about to end, or failing the universe filter."""
        for leg in legs:
            if leg.end_ts is not None and leg.end_ts - now < 5.0:
                return False
            if self._universe.dynamic and not self._universe.passes(
                ctx.book(leg.instrument_id), leg.tick
            ):
                return False
        return True

    @staticmethod
    def _trusted(ctx: StrategyContext, legs: list[Instrument]) -> bool:
        """Whether the data gate accepts every leg (asked last: it is the costliest check)."""
        return all(ctx.trusted(leg.instrument_id) for leg in legs)

    def _label(self, b: Bundle) -> str:
        return b.key
