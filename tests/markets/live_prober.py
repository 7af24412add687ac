"""A test strategy for the live end-to-end test: deterministic orders on one token.

``mode: probe``: on the first book, buy 5 shares FAK up to three ticks above the best ask (a taker fill) and rest a
GTC buy of 5 shares three ticks under the best bid. ``mode: wait``: rest one GTC buy two ticks
under the best bid (left for the order timeout to cancel).
"""

from __future__ import annotations

from typing import Literal

from services.execution.orders import TimeInForce
from services.instruments import Instrument
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams

SHARES = 5_000_000


class ProberParams(StrategyParams):
    token: str
    mode: Literal["probe", "wait"] = "probe"


class LiveProber(Strategy):
    """Places a fixed set of orders once."""

    Params = ProberParams
    description = "test strategy (live end-to-end)"

    def __init__(self, name: str, params: ProberParams) -> None:
        super().__init__(name, params)
        self.p = params
        self.done = False

    def wants(self, instrument: Instrument) -> bool:
        return instrument.instrument_id == self.p.token

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        if self.done:
            return
        bid, ask = book.best_bid(), book.best_ask()
        inst = ctx.instrument(book.instrument_id)
        if bid is None or ask is None or inst is None:
            return
        self.done = True
        tick = inst.tick
        if self.p.mode == "probe":
            # Marketable limit: the book may move before the order arrives.
            price = min(ask + 3 * tick, 1_000_000 - tick)
            ctx.buy(book.instrument_id, SHARES, price, tif=TimeInForce.FAK, reason="probe taker")
            ctx.buy(book.instrument_id, SHARES, bid - 3 * tick, reason="probe rest")
        else:
            ctx.buy(book.instrument_id, SHARES, bid - 2 * tick, reason="wait for timeout")
