"""A test strategy for the graduation end-to-end test: resting buys at fixed prices.

Whenever it has no working order on its token it rests one GTC buy of ``shares`` at each of
``prices`` (far under the book: nothing fills). On paper every order is accepted; in a live stage
whose capital is smaller than their sum, the stage-capital gate refuses the ones over it.
"""

from __future__ import annotations

from decimal import Decimal

from services.instruments import Instrument
from services.money import MICRO
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class GradParams(StrategyParams):
    token: str
    prices: tuple[Decimal, ...] = (Decimal("0.25"), Decimal("0.24"), Decimal("0.23"))
    shares: int = 10


class GradProber(Strategy):
    """Rests the same ladder of buys whenever none of its orders works."""

    Params = GradParams
    description = "test strategy (graduation end-to-end)"

    def __init__(self, name: str, params: GradParams) -> None:
        super().__init__(name, params)
        self.p = params

    def wants(self, instrument: Instrument) -> bool:
        return instrument.instrument_id == self.p.token

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        if ctx.open_orders(self.p.token):
            return
        for px in self.p.prices:
            ctx.buy(self.p.token, self.p.shares * MICRO, int(px * MICRO), reason=f"ladder {px}")
