"""A test strategy for the live Betfair end-to-end test: two resting backs on one runner.

On the runner's first book it backs 10 at 30.0 (``reason: match me``; the test matches 4 of it
at the fake exchange, and the strategy cancels the rest on that fill) and 5 at 40.0 (``reason:
rest``; left working for the kill switch's cancel-all). Both PERSIST.
"""

from __future__ import annotations

from services.execution.orders import Fill
from services.instruments import Instrument
from services.ladder import Quote
from services.money import MICRO
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class BettorParams(StrategyParams):
    runner: str


class LiveBettor(Strategy):
    """Places two backs once; cancels the first on its first fill."""

    Params = BettorParams
    quotes = frozenset({Quote.ODDS})
    description = "test strategy (live Betfair end-to-end)"

    def __init__(self, name: str, params: BettorParams) -> None:
        super().__init__(name, params)
        self.p = params
        self.done = False
        self.first: int | None = None

    def wants(self, instrument: Instrument) -> bool:
        return instrument.instrument_id == self.p.runner

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        if self.done:
            return
        self.done = True
        o = ctx.back(book.instrument_id, 10 * MICRO, 30 * MICRO, persist=True, reason="match me")
        self.first = o.order_id if o is not None else None
        ctx.back(book.instrument_id, 5 * MICRO, 40 * MICRO, persist=True, reason="rest")

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        if fill.order_id == self.first:
            ctx.cancel(fill.order_id, "cancel the rest after the first fill")
