"""Momentum: trade breakouts of the mid out of its recent range.

Every sample the YES mid is compared with the range (high and low) of the previous
``lookback_s`` seconds. A mid ``breakout_ticks`` above the high starts an up-breakout; it is
confirmed when ``confirm_samples`` consecutive samples stay that far above the old high, and the
strategy buys YES. A down-breakout buys NO. Exits: a reversal (the held token's mid falls
``reversal_ticks`` below its best since entry: a trailing stop), an optional take-profit, and
the shared time stop / stop loss / end-of-market exits.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.strategies.base import StrategyContext
from services.strategies.common import fmt_p
from services.strategies.directional import (
    DirectionalParams,
    Entry,
    Held,
    Market,
    RangedHistory,
)
from services.strategies.odds_directional import OddsDirectionalMixin


class MomentumParams(DirectionalParams):
    """Parameters of :class:`Momentum`."""

    lookback_s: float = Field(60.0, gt=0, le=86400, description="Range window, seconds")
    breakout_ticks: int = Field(
        3, ge=1, le=100, description="A breakout clears the range by at least this, ticks"
    )
    confirm_samples: int = Field(
        1, ge=1, le=100, description="Consecutive samples the breakout must hold before entry"
    )
    reversal_ticks: int = Field(
        6, ge=1, le=1000, description="Exit when the mid falls this far from its best since entry"
    )
    take_profit_ticks: int = Field(
        0, ge=0, le=1000, description="Exit when the mid rose this far above entry (0 = off)"
    )
    max_hold_s: float = Field(900.0, ge=0, description="Time stop, seconds (0 = off)")
    sample_interval_s: float = Field(
        1.0, gt=0, le=3600, description="Read the mids and decide every this many seconds"
    )
    max_fee_rate: Decimal = Field(
        Decimal("0"), ge=0, le=1,
        description="Skip markets whose taker fee rate is above this (0 = fee-free markets only)",
    )  # fmt: skip
    edge_estimate: Decimal = Field(
        Decimal("0.02"), ge=0, le=Decimal("0.5"),
        description="Assumed edge of a confirmed breakout over the ask (kelly sizing), prob.",
    )  # fmt: skip


class Momentum(OddsDirectionalMixin):
    """Buys the side that broke out of its recent range; exits on reversal or time."""

    Params = MomentumParams
    description = "Buys YES (NO) on a confirmed breakout above (below) the recent mid range."
    params: MomentumParams
    ranged_history = True

    def history_len(self) -> int:
        """Samples in the lookback window."""
        return max(2, round(self.params.lookback_s / self.params.sample_interval_s))

    def signal(self, ctx: StrategyContext, m: Market, mid: int, now: float) -> Entry | None:
        """Track up/down breakouts against the range frozen when the breakout started."""
        h = m.hist
        if len(h) < h.maxlen:  # type: ignore[operator]
            return None
        inst = ctx.instrument(m.yes)
        if inst is None:
            return None
        thr = self.params.breakout_ticks * inst.tick
        st = m.state
        up, down = st.get("up", 0.0), st.get("down", 0.0)
        if up and mid >= st["level"] + thr:
            up += 1
        elif down and mid <= st["level"] - thr:
            down += 1
        else:
            up = down = 0.0
            if isinstance(h, RangedHistory):  # mostly O(1), exactly max and min (issue 18)
                hi, lo = h.range()
            else:
                hi, lo = max(h), min(h)
            if mid >= hi + thr:
                up, st["level"] = 1.0, hi
            elif mid <= lo - thr:
                down, st["level"] = 1.0, lo
        st["up"], st["down"] = up, down
        need = self.params.confirm_samples
        if up >= need:
            return Entry("YES", f"momentum: YES mid {fmt_p(mid)} broke above the "
                                f"{self.params.lookback_s:.0f}s high {fmt_p(int(st['level']))} "
                                f"for {int(up)} samples")  # fmt: skip
        if down >= need:
            return Entry("NO", f"momentum: YES mid {fmt_p(mid)} broke below the "
                               f"{self.params.lookback_s:.0f}s low {fmt_p(int(st['level']))} "
                               f"for {int(down)} samples: buy NO")  # fmt: skip
        return None

    def exit_signal(
        self, ctx: StrategyContext, m: Market, held: Held, token_mid: int, now: float
    ) -> str | None:
        """Trailing reversal stop and optional take-profit."""
        inst = ctx.instrument(held.iid)
        if inst is None:
            return None
        p = self.params
        if token_mid <= held.peak_mid - p.reversal_ticks * inst.tick:
            return (
                f"reversal: {held.label} mid {fmt_p(token_mid)} fell {p.reversal_ticks}+ ticks "
                f"from its peak {fmt_p(held.peak_mid)}"
            )
        if p.take_profit_ticks and token_mid >= held.entry_price + p.take_profit_ticks * inst.tick:
            return f"take profit: {held.label} mid {fmt_p(token_mid)} vs entry {fmt_p(held.entry_price)}"
        return None
