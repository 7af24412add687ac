"""A strategy whose ``on_book`` raises is isolated, counted and disabled at its error limit, on
deltas (the engine calls that hook inline, issue 18) as on snapshots; the others go on."""

from __future__ import annotations

from services.instruments import Side
from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from tests.strategies.harness import Harness, binary


class Books(Strategy):
    """Counts the books it sees; raises on each one when ``fail`` is set."""

    Params = StrategyParams

    def __init__(self, name: str, fail: bool) -> None:
        super().__init__(name, StrategyParams())
        self.fail = fail
        self.seen = 0

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        self.seen += 1
        if self.fail:
            raise ValueError(f"bad book {book.instrument_id}")


def test_a_raising_on_book_is_isolated_counted_and_disabled_at_the_limit() -> None:
    bad, good = Books("bad", fail=True), Books("good", fail=False)
    h = Harness(bad, good)
    limit = h.engine.cfg.competition.strategy_error_limit
    yes, no = binary()
    h.list(yes, no)
    h.book(yes.instrument_id, [(0.40, 100)], [(0.42, 100)])  # a snapshot: StrategyRunner.call
    h.delta(yes.instrument_id, (Side.BUY, 0.40, 50), dt=1.0)  # deltas: the inlined call
    assert (bad.seen, good.seen) == (2, 2)
    assert h.engine.runners["bad"].errors == 2
    for i in range(limit + 3):
        h.delta(yes.instrument_id, (Side.SELL, 0.42, 60 + i), dt=1.0)
    r = h.engine.runners["bad"]
    assert r.errors == limit
    assert r.status == "disabled"
    assert bad.seen == limit  # no hook runs once disabled
    assert good.seen == limit + 5  # every book, the bad strategy's errors notwithstanding
    kinds = [k for k, _ in h.sink.events]
    assert kinds.count("strategy_error") == limit
    assert "auto_disable" in kinds
