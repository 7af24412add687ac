"""Multi-outcome (neg-risk) arbitrage: buy every outcome of an event for less than 1.

In a neg-risk event exactly one of the mutually exclusive outcomes resolves YES, so holding one
YES share of every outcome pays exactly 1. When the YES asks plus taker fees sum below
``1 - min_edge``, the strategy buys the whole set, sized to the thinnest book; when it holds sets
and the YES bids minus fees sum above ``1 + min_edge``, it sells them. Leg risk is repaired as in
:mod:`services.strategies.arbitrage`.

The set is only traded when every outcome of the event is listed; an event with a resolved
outcome is no longer traded (its positions settle normally).
"""

from __future__ import annotations

from pydantic import Field

from services.instruments import Instrument
from services.strategies.arbitrage import BundleArbitrage
from services.strategies.base import StrategyContext
from services.strategies.bundles import ArbParams, Bundle
from services.strategies.common import is_yes


class NegRiskArbParams(ArbParams):
    """Parameters of :class:`NegRiskArbitrage`."""

    min_outcomes: int = Field(
        2, ge=2, le=100, description="Trade only events with at least this many outcomes"
    )


class NegRiskArbitrage(BundleArbitrage):
    """Buys every YES of a neg-risk event when their asks + fees sum below 1 - margin."""

    Params = NegRiskArbParams
    description = "Buys every outcome's YES of a neg-risk event when asks + fees sum below 1."
    params: NegRiskArbParams

    def wants(self, instrument: Instrument) -> bool:
        """YES tokens of neg-risk events in the universe."""
        return (
            instrument.event_id is not None
            and is_yes(instrument)
            and self._universe.admits(instrument)
        )

    def on_instruments(self, ctx: StrategyContext, instruments: list[Instrument]) -> None:
        """Register one bundle per event (all its outcomes' YES tokens)."""
        for eid in dict.fromkeys(i.event_id for i in instruments if i.event_id is not None):
            legs = [i for i in ctx.event_instruments(eid) if is_yes(i)]
            if len(legs) < self.params.min_outcomes or not all(self.wants(i) for i in legs):
                continue
            old = self._bundles.get(eid)
            if old is not None and len(old.legs) != len(legs):
                self._drop(old)  # an outcome was added after the event was first seen
            self._add_bundle(ctx, eid, legs)

    def _label(self, b: Bundle) -> str:
        return f"all {len(b.legs)} YES of event {b.key}:"
