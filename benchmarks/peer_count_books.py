"""The peer workload's strategy for ``bench_peer.py``: watches every book and counts updates.

Loaded by ``bot.py`` as a user strategy file (``class: benchmarks/peer_count_books.py:CountBooks``),
as a user's own strategy would be. It never trades, like the flumine baseline's no-op strategy
(``../shared/bench/betfair/bench_flumine.py --mode noop``), which also sees every market book.
"""

from __future__ import annotations

from services.orderbook import OrderBook
from services.strategies.base import Strategy, StrategyContext, StrategyParams


class CountBooks(Strategy):
    """Subscribes to every instrument and counts the book updates it is shown."""

    kind = "directional"
    description = "Benchmark: counts every book update, never trades."

    def __init__(self, name: str, params: StrategyParams) -> None:
        super().__init__(name, params)
        self.books = 0

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        """Count one book update."""
        self.books += 1

    def on_stop(self, ctx: StrategyContext) -> None:
        """Print the count, which ``bench_peer.py`` reads back from the output."""
        print(f"COUNTBOOKS {self.books}", flush=True)
