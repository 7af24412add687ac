"""Post-only two-sided market maker with inventory skew (long-only, Polymarket style).

Shares can only be bought or sold from inventory, so "selling YES" when flat is done the way
Polymarket makers do it: by bidding for NO at ``1 - ask``. A filled YES bid plus a filled NO bid
is a pair worth exactly 1 at resolution, bought for ``bid + (1 - ask) < 1``: the spread.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.execution.orders import Order
from services.instruments import Instrument, Side
from services.money import MICRO, floor_lot, to_micro
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class MarketMakerParams(StrategyParams):
    """Parameters of :class:`MarketMaker`."""

    half_spread_ticks: int = Field(2, ge=1, le=50, description="Quote distance from fair, ticks")
    size_shares: Decimal = Field(Decimal("25"), gt=0, le=100_000, description="Quote size, shares")
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
    categories: list[str] = Field(
        default_factory=list, description="Only markets in these categories (empty: all)"
    )


class MarketMaker(Strategy):
    """Quotes both sides of binary markets around the mid, leaning against inventory."""

    Params = MarketMakerParams
    kind = "market_making"
    description = "Post-only two-sided quotes around the mid with inventory skew and limits."
    params: MarketMakerParams

    def __init__(self, name: str, params: MarketMakerParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._markets: dict[str, tuple[str, str]] = {}  # market_id -> (yes id, no id)
        self._last: dict[str, tuple[int, int]] = {}  # market_id -> (fair, net inventory)
        self._stopped: set[str] = set()
        self._size = floor_lot(to_micro(params.size_shares))
        self._max_inv = to_micro(params.max_inventory_shares)

    def wants(self, instrument: Instrument) -> bool:
        """Take binary markets (with a complement) up to ``max_markets``."""
        if instrument.complement_id is None:
            return False
        if self.params.categories and instrument.category not in self.params.categories:
            return False
        mid = instrument.market_id
        if mid in self._markets:
            return True
        if len(self._markets) >= self.params.max_markets:
            return False
        yes, no = (
            (instrument.instrument_id, instrument.complement_id)
            if instrument.outcome.lower() == "yes"
            else (instrument.complement_id, instrument.instrument_id)
        )
        self._markets[mid] = (yes, no)
        return True

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Requote the market this book belongs to when fair value or inventory moved."""
        inst = ctx.instrument(book.instrument_id)
        if inst is None or inst.market_id in self._stopped:
            return
        self._quote(ctx, inst.market_id)

    def on_fill(self, ctx: StrategyContext, fill: object) -> None:
        """Inventory changed: requote."""
        inst = ctx.instrument(fill.instrument_id)  # type: ignore[attr-defined]
        if inst is not None and inst.market_id in self._markets:
            self._last.pop(inst.market_id, None)
            self._quote(ctx, inst.market_id)

    def on_timer(self, ctx: StrategyContext) -> None:
        """Stop quoting markets that are about to end."""
        now = ctx.now()
        for market_id, (yes, _no) in list(self._markets.items()):
            inst = ctx.instrument(yes)
            if inst is None or market_id in self._stopped:
                continue
            if inst.end_ts is not None and inst.end_ts - now <= self.params.stop_before_end_s:
                self._stopped.add(market_id)
                for iid in self._markets[market_id]:
                    ctx.cancel_all(iid, reason="market ends soon: stop quoting")

    def on_resolution(self, ctx: StrategyContext, event: object) -> None:
        """Free the slot of a resolved market."""
        market_id = event.market_id  # type: ignore[attr-defined]
        self._markets.pop(market_id, None)
        self._last.pop(market_id, None)
        self._stopped.discard(market_id)

    # ------------------------------------------------------------------ quoting
    def _quote(self, ctx: StrategyContext, market_id: str) -> None:
        pair = self._markets.get(market_id)
        if pair is None:
            return
        yes_id, no_id = pair
        yb, nb = ctx.book(yes_id), ctx.book(no_id)
        yi, ni = ctx.instrument(yes_id), ctx.instrument(no_id)
        if yb is None or nb is None or yi is None or ni is None:
            return
        y_bid, y_ask = yb.best_bid(), yb.best_ask()
        if y_bid is None or y_ask is None or yb.is_crossed():
            return
        if (y_ask - y_bid) > self.params.max_spread_ticks * yi.tick:
            return
        fair = (y_bid + y_ask) // 2
        pf = ctx.portfolio
        net = pf.qty(yes_id) - pf.qty(no_id)
        last = self._last.get(market_id)
        if last is not None and last[1] == net and abs(last[0] - fair) < yi.tick:
            return
        self._last[market_id] = (fair, net)
        tick = yi.tick
        skew = (self.params.skew_ticks * tick * net) // self._max_inv if self._max_inv else 0
        half = self.params.half_spread_ticks * tick
        bid = yi.round_price(fair - half - skew, Side.BUY)
        ask = yi.round_price(fair + half - skew, Side.SELL)
        bid = min(bid, y_ask - tick)  # post-only: never cross
        ask = max(ask, y_bid + tick)
        want: list[tuple[str, Side, int, str]] = []
        if net < self._max_inv and bid >= tick:
            want.append((yes_id, Side.BUY, bid, f"bid YES {bid / MICRO:.3f} around fair {fair / MICRO:.3f}"))
        held_yes = pf.available_qty(yes_id) + sum(
            o.remaining for o in ctx.open_orders(yes_id) if o.side is Side.SELL
        )
        if held_yes >= self._size and ask <= MICRO - tick:
            want.append((yes_id, Side.SELL, ask, f"offer YES {ask / MICRO:.3f} from inventory"))
        elif net > -self._max_inv:
            n_best_ask = nb.best_ask()
            no_bid = ni.round_price(MICRO - ask, Side.BUY)
            if n_best_ask is not None:
                no_bid = min(no_bid, n_best_ask - ni.tick)
            if no_bid >= ni.tick:
                want.append(
                    (no_id, Side.BUY, no_bid, f"bid NO {no_bid / MICRO:.3f} (= offer YES {ask / MICRO:.3f})")
                )
        self._reconcile(ctx, pair, want)

    def _reconcile(
        self, ctx: StrategyContext, pair: tuple[str, str], want: list[tuple[str, Side, int, str]]
    ) -> None:
        existing: list[Order] = [o for iid in pair for o in ctx.open_orders(iid)]
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
                ctx.cancel(o.order_id, reason="requote")
        for iid, side, price, reason in to_place:
            inst = ctx.instrument(iid)
            size = self._size
            if side is Side.SELL:
                size = floor_lot(min(size, ctx.portfolio.available_qty(iid)))
            if inst is None or size < inst.min_size:
                continue
            if side is Side.BUY:
                ctx.buy(iid, size, price, post_only=True, reason=reason)
            else:
                ctx.sell(iid, size, price, post_only=True, reason=reason)
