"""An example user strategy: trade order-book imbalance. Copy this file and make it yours.

Run it in the competition by naming it in config.yaml (paths are relative to the config file)::

    strategies:
      - name: my_book_imbalance
        class: examples/my_strategies.py:BookImbalance
        params:
          imbalance_ratio: 3

The idea: when the best bid holds many times the size of the best ask, buyers outnumber
sellers at the top of the book and the price is more likely to tick up than down. Buy YES at
the ask; take the profit a few ticks higher, cut the loss a few ticks lower, or leave after a
hold period. (Whether that edge survives the spread and fees is what the competition tells you.)

Everything a strategy knows comes through ``ctx`` (books, instruments, its own portfolio and
orders, the clock); everything it does is an intent (``ctx.buy``/``ctx.sell``/``ctx.cancel``)
with a human-readable reason.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.events import MarketResolved
from services.execution.orders import Fill, Order, TimeInForce
from services.instruments import Instrument, Side
from services.money import MICRO, floor_lot
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from services.strategies.sizing import Sizer, SizingParams, sizing_defaults
from services.strategies.universe import Universe, UniverseParams, all_markets


def _default_sizing() -> SizingParams:
    return sizing_defaults(mode="fixed_notional", notional_usd=Decimal("40"))


class BookImbalanceParams(StrategyParams):
    """Parameters (validated from config.yaml; unknown keys are errors)."""

    imbalance_ratio: float = Field(
        3.0, gt=1, le=1000, description="Enter when best-bid size >= this times best-ask size"
    )
    min_top_shares: Decimal = Field(
        Decimal("50"), ge=0, description="...and the best bid holds at least this many shares"
    )
    max_spread_ticks: int = Field(2, ge=1, le=100, description="Only books this tight, ticks")
    take_profit_ticks: int = Field(2, ge=1, le=100, description="Sell this far above entry, ticks")
    stop_loss_ticks: int = Field(3, ge=1, le=100, description="Sell this far below entry, ticks")
    hold_s: float = Field(300.0, gt=0, description="Leave after this long anyway, seconds")
    max_positions: int = Field(3, ge=1, le=100, description="Markets held at the same time")
    sizing: SizingParams = Field(default_factory=_default_sizing, description="Entry size")
    universe: UniverseParams = Field(default_factory=all_markets, description="Markets")


class BookImbalance(Strategy):
    """Buys YES when the best bid dwarfs the best ask; exits on target, stop or time."""

    Params = BookImbalanceParams
    kind = "directional"  # the risk layer may bar directional strategies from price zones
    description = "Example user strategy: buys YES on top-of-book imbalance, exits on target/stop."
    timer_interval_s = 1.0  # on_timer runs every second of event time
    params: BookImbalanceParams

    def __init__(self, name: str, params: BookImbalanceParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self.sizer = Sizer(params.sizing)
        self.universe = Universe(params.universe)
        self.min_top = int(params.min_top_shares * MICRO)
        self.entries: dict[str, tuple[float, int]] = {}  # YES id -> (entry time, entry price)
        self.working: dict[str, Order] = {}  # YES id -> our last order there

    def wants(self, instrument: Instrument) -> bool:
        """Only YES tokens of binary markets in our universe: we never see other books."""
        is_yes = instrument.outcome.lower() == "yes" and instrument.complement_id is not None
        return is_yes and self.universe.admits(instrument)

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Look for an imbalance on every update of a YES book (keep this cheap)."""
        iid = book.instrument_id
        if iid in self.entries or len(self.entries) >= self.params.max_positions:
            return
        order = self.working.get(iid)
        if order is not None and order.active:
            return
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return
        inst = ctx.instrument(iid)
        if inst is None or ask - bid > self.params.max_spread_ticks * inst.tick:
            return
        if inst.end_ts is not None and inst.end_ts - ctx.now() < 600:
            return  # no new positions in a market's last ten minutes
        bid_size, ask_size = book.bids[bid], book.asks[ask]
        if bid_size < self.min_top or bid_size < self.params.imbalance_ratio * ask_size:
            return
        # Size: the sizing block, capped by what is left at the ask for us (paper orders do not
        # remove liquidity from the displayed book; ctx.available does the accounting).
        size = self.sizer.size_for(
            inst, ask, ctx.portfolio.available_cash,
            limit=ctx.available(iid, Side.SELL, ask),
        )  # fmt: skip
        if size == 0:  # below the market's minimum size, or no cash
            return
        reason = (
            f"book imbalance: bid {bid_size / MICRO:.0f} vs ask {ask_size / MICRO:.0f} shares "
            f"(>= {self.params.imbalance_ratio:g}x), buy YES at {ask / MICRO:.3f}"
        )
        order = ctx.buy(iid, size, ask, tif=TimeInForce.FAK, reason=reason)
        if order is not None:
            self.working[iid] = order

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        """Remember when and at what price we got in."""
        if fill.side is Side.BUY and fill.instrument_id not in self.entries:
            self.entries[fill.instrument_id] = (fill.ts, fill.price)

    def on_timer(self, ctx: StrategyContext) -> None:
        """Check exits once a second."""
        now = ctx.now()
        for iid, (since, entry) in list(self.entries.items()):
            held = ctx.portfolio.available_qty(iid)
            if ctx.position(iid) == 0:
                del self.entries[iid]  # sold (or settled)
                continue
            book, inst = ctx.book(iid), ctx.instrument(iid)
            if book is None or inst is None or held < inst.min_size:
                continue
            bid = book.best_bid()
            if bid is None:
                continue
            p = self.params
            if bid >= entry + p.take_profit_ticks * inst.tick:
                reason = f"take profit: bid {bid / MICRO:.3f} vs entry {entry / MICRO:.3f}"
            elif bid <= entry - p.stop_loss_ticks * inst.tick:
                reason = f"stop loss: bid {bid / MICRO:.3f} vs entry {entry / MICRO:.3f}"
            elif now - since >= p.hold_s:
                reason = f"hold period over ({p.hold_s:.0f} s)"
            else:
                continue
            order = ctx.sell(iid, floor_lot(held), bid, tif=TimeInForce.FAK, reason=reason)
            if order is not None:
                self.working[iid] = order

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        """The engine settled our position; forget the market."""
        for iid, _payout in event.payouts:
            self.entries.pop(iid, None)
            self.working.pop(iid, None)
