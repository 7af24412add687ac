"""``create_twin``: a paper twin created for a named strategy in a running engine (the entry
point graduation calls when it routes a strategy live)."""

from __future__ import annotations

import pytest

from services.execution.orders import TimeInForce
from services.markets.polymarket.live.runtime import create_twin
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from tests.strategies.harness import Harness, binary, px, sh


class BuyOnce(Strategy):
    """Buys 5 YES at the ask on the first book it sees."""

    def __init__(self, name: str, params: StrategyParams) -> None:
        super().__init__(name, params)
        self.started = False
        self.done = False

    def on_start(self, ctx: StrategyContext) -> None:
        self.started = True

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        ask = book.best_ask()
        if not self.done and ask is not None:
            self.done = True
            ctx.buy(book.instrument_id, sh(5), ask, tif=TimeInForce.FAK, reason="once")


def test_create_twin_at_runtime_runs_the_same_strategy_on_paper() -> None:
    h = Harness(BuyOnce("s", StrategyParams()), capital=500)
    yes, no = binary(1)
    h.list(yes, no)
    h.book("Y1", [(0.40, 100)], [(0.60, 100)])
    assert h.pf("s").positions["Y1"].qty == sh(5)
    name = create_twin(h.engine, "s")
    assert name == "s__twin"
    r = h.engine.runners[name]
    twin = r.strategy
    assert (
        isinstance(twin, BuyOnce)
        and twin.started
        and twin.params == h.engine.runners["s"].strategy.params
    )
    assert h.engine.client_of(name).name == "paper"
    assert "Y1" in r.subscribed and r.portfolio.starting_cash == h.pf("s").starting_cash
    h.book("Y1", [(0.40, 100)], [(0.61, 100)], dt=1.0)
    assert h.pf(name).positions["Y1"].qty == sh(5)
    (order,) = [o for o in h.engine.orders.values() if o.strategy == name]
    assert order.avg_price == px(0.61) and order.route == "paper"
    assert create_twin(h.engine, "s") == name  # idempotent
    with pytest.raises(KeyError):
        create_twin(h.engine, "nobody")
