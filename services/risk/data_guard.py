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

    def entry_refusal(self, instrument_id: str, now: float) -> str | None:
        """Return why a new position on the instrument would be refused now, or None.

        This is the gate's own answer (the same calls as :class:`DataGuardControl`), offered to
        strategies through ``StrategyContext.trusted`` so that they skip an entry the chain would
        refuse instead of sending it every tick.
        """
        if not self.allows_new_positions:
            return f"data pipeline is {self.status}"
        if self.validator is not None:
            ok, reason = self.validator.can_trade(instrument_id, now)
            if not ok:
                return str(reason)
        return None


LIQUIDITY_ONLY = frozenset({"thin_depth"})
"""Validation reasons that say the book is thin, not that its data is wrong: they refuse new
positions but let a reducing order through (its limit price protects it, and refusing it would
trap a position in a market that is thinning out towards its end)."""


class DataGuardControl:
    """Refuse orders on instruments whose data failed validation, and new positions while the
    data pipeline is critical (reducing intents and cancels still pass). A reducing order also
    passes a book that is only thin (:data:`LIQUIDITY_ONLY`); every other validation failure
    refuses it too, because its price cannot be trusted."""

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
            if not ok and not (intent.reduce_only and reason in LIQUIDITY_ONLY):
                return Rejection(
                    self.name,
                    f"market data for {intent.instrument_id} not trusted: {reason}",
                    reason,
                    "valid data",
                )
        return None
