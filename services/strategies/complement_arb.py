"""Complement arbitrage: buy YES and NO of a binary market for less than 1 after fees.

Exactly one of the two pays 1 at resolution, so when the asks plus taker fees sum below
``1 - min_edge`` the pair locks in the difference. The reverse holds too: a strategy that holds
both sides sells them when the bids minus fees sum above ``1 + min_edge``. Bundles are sized to
the thinner of the two best ask levels (what is left of it for this strategy), then capped by the
sizing block. Leg risk (one side filling less than the other) is repaired as described in
:mod:`services.strategies.arbitrage`.
"""

from __future__ import annotations

from services.instruments import Instrument
from services.strategies.arbitrage import BundleArbitrage
from services.strategies.base import StrategyContext
from services.strategies.bundles import ArbParams, Bundle
from services.strategies.common import yes_no


class ComplementArbParams(ArbParams):
    """Parameters of :class:`ComplementArbitrage` (all shared with the bundle machinery)."""


class ComplementArbitrage(BundleArbitrage):
    """Buys YES + NO when their asks sum below 1 - fees - margin; sells held pairs above 1."""

    Params = ComplementArbParams
    description = "Buys YES+NO of a binary market when asks + fees sum below 1 - margin."
    params: ComplementArbParams

    def wants(self, instrument: Instrument) -> bool:
        """Both tokens of binary markets in the universe."""
        return instrument.complement_id is not None and self._universe.admits(instrument)

    def on_instruments(self, ctx: StrategyContext, instruments: list[Instrument]) -> None:
        """Register a bundle per binary market once both of its tokens are known."""
        for inst in instruments:
            pair = yes_no(inst)
            if pair is None:
                continue
            yes, no = ctx.instrument(pair[0]), ctx.instrument(pair[1])
            if yes is not None and no is not None:
                self._add_bundle(ctx, inst.market_id, [yes, no])

    def _label(self, b: Bundle) -> str:
        return f"YES+NO of {b.key}:"
