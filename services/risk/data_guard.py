"""The data gate of the risk chain: no order on market data that failed validation, and no new
positions while the data pipeline is critical. It is always in the chain (live, replay, sim and
backtest alike); with no validator attached everything passes.
"""

from __future__ import annotations

from typing import Any

from services.intents import Intent
from services.risk.chain import Rejection, RiskView


class DataGuard:
    """What the risk chain needs to know about the data: per-instrument validity and pipeline
    status. ``validator`` is the source's :class:`DataValidator` (``FeedBundle.validator``: live,
    replay and simulator alike); without one every instrument passes."""

    def __init__(self) -> None:
        self.validator: Any = None
        self.allows_new_positions = True
        self.status = "healthy"


class DataGuardControl:
    """Refuse orders on instruments whose data failed validation, and new positions while the
    data pipeline is critical (reducing intents and cancels still pass)."""

    name = "data_guard"

    def __init__(self, guard: DataGuard) -> None:
        self.guard = guard

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Return a rejection when the data behind the intent cannot be trusted."""
        g = self.guard
        if not g.allows_new_positions and not intent.reduce_only:
            return Rejection(
                self.name, f"data pipeline is {g.status}: no new positions", g.status, "healthy"
            )
        if g.validator is not None:
            ok, reason = g.validator.can_trade(intent.instrument_id, view.now)
            if not ok:
                return Rejection(
                    self.name,
                    f"market data for {intent.instrument_id} not trusted: {reason}",
                    reason,
                    "valid data",
                )
        return None
