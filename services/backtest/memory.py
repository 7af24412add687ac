"""An in-memory writer for backtests: keeps the rows a report needs, drops the rest.

A backtest's node writes through the same :class:`services.persistence.Sink` as the bot; this
writer stands where the database writer stands and keeps orders, fills, settlements, closed bets,
equity snapshots and a count of audit events by kind. Nothing is written to disk here; the
report and the ``backtest_runs`` rows come from what it kept.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

EQUITY_SAMPLE_S = 60.0
"""Event seconds between two equity points kept per strategy (the last one is always kept)."""


class MemoryWriter:
    """Implements the :class:`services.persistence.Writer` protocol in memory."""

    healthy = True
    degraded_for_s = 0.0
    last_store_error = ""

    def __init__(self, equity_sample_s: float = EQUITY_SAMPLE_S) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self.settlements: list[dict[str, Any]] = []
        self.closed_bets: dict[tuple[str, str, float], dict[str, Any]] = {}
        self.equity: dict[str, list[dict[str, Any]]] = {}
        self.event_counts: Counter[str] = Counter()
        self.event_examples: dict[str, str] = {}
        self.equity_sample_s = equity_sample_s
        self._last: dict[str, dict[str, Any]] = {}

    def backlog(self) -> int:
        """Return 0: nothing waits (the engine's backpressure never engages)."""
        return 0

    def insert(self, table: str, row: dict[str, Any]) -> None:
        """Keep the rows of the tables a report reads."""
        if table == "fills":
            self.fills.append(row)
        elif table == "settlements":
            self.settlements.append(row)
        elif table == "performance_snapshots" and row.get("granularity") == "fine":
            name = row["strategy"]
            series = self.equity.setdefault(name, [])
            if not series or row["ts"] - series[-1]["ts"] >= self.equity_sample_s:
                series.append(row)
                self._last.pop(name, None)
            else:
                self._last[name] = row
        elif table == "events":
            kind = str(row.get("kind"))
            self.event_counts[kind] += 1
            self.event_examples.setdefault(kind, str(row.get("message") or ""))

    def equity_series(self, name: str) -> list[dict[str, Any]]:
        """Return a strategy's kept equity points, ending with its newest snapshot."""
        series = list(self.equity.get(name, []))
        last = self._last.get(name)
        if last is not None:
            series.append(last)
        return series

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        """Keep the newest state of orders and closed bets."""
        if table == "orders":
            old = self.orders.get(row["id"])
            self.orders[row["id"]] = {**old, **row} if old else dict(row)
        elif table == "closed_bets":
            self.closed_bets[(row["strategy"], row["group_id"], row["closed_ts"])] = row

    def delete(self, table: str, key: dict[str, Any]) -> None:
        """Nothing to delete: positions are not kept."""
        return None
