"""Buy each market's YES at the first ask and hold it to settlement: the simplest backtest baseline.

Run it on the shared L1 day (docs/BACKTESTING.md)::

    strategies:
      - name: hold_yes
        class: examples/buy_and_hold.py:BuyYesAndHold
        params: {shares: 10}

It sends one fill-and-kill order per YES token, at the first ask it sees, and never sells: its
P&L is the settlement of every share minus what it paid and the taker fees, which makes it the
reference for checking a backtest's arithmetic by hand.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.execution.orders import TimeInForce
from services.instruments import Instrument
from services.money import MICRO
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class BuyYesAndHoldParams(StrategyParams):
    """Parameters (validated from config.yaml; unknown keys are errors)."""

    shares: Decimal = Field(Decimal("10"), gt=0, le=Decimal("1e6"), description="Shares, each")
    max_price: Decimal = Field(
        Decimal("0.99"), gt=0, lt=1, description="Skip markets whose first ask is above, prob."
    )


class BuyYesAndHold(Strategy):
    """Buys ``shares`` YES of every market once, at its first ask, and holds to settlement."""

    Params = BuyYesAndHoldParams
    kind = "directional"
    description = "Baseline: buy YES at the first ask of every market, hold to settlement."
    params: BuyYesAndHoldParams

    def __init__(self, name: str, params: BuyYesAndHoldParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self.tried: set[str] = set()
        self.size = int(params.shares * MICRO)
        self.max_price = int(params.max_price * MICRO)

    def wants(self, instrument: Instrument) -> bool:
        """Only YES tokens of binary markets."""
        return instrument.outcome.lower() == "yes" and instrument.complement_id is not None

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """On the first book of a YES token, buy at its ask (fill and kill)."""
        iid = book.instrument_id
        if iid in self.tried:
            return
        ask = book.best_ask()
        if ask is None:
            return
        self.tried.add(iid)
        if ask > self.max_price:
            return
        ctx.buy(iid, self.size, ask, tif=TimeInForce.FAK, reason=f"hold YES from {ask / MICRO}")
