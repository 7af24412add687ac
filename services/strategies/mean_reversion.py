"""Mean reversion (contrarian): fade extremes of the mid, by z-score or RSI.

``method: zscore``: the YES mid's z-score against the mean and standard deviation of the previous
``window_s`` seconds (the deviation floored at ``min_std_ticks``). At ``z <= -entry_z`` the mid
is stretched down: buy YES; at ``z >= entry_z`` buy NO. The position closes when the z-score is
back inside ``exit_z`` (reverted), or after the hold period ``max_hold_s``.

``method: rsi``: the relative strength index of the mid's changes over the window. Below
``rsi_oversold`` buy YES, above ``rsi_overbought`` buy NO; close when the RSI crosses
``rsi_exit`` (50: neutral) or after the hold period.

The probability estimate handed to kelly sizing is the window mean: the level the strategy
expects the price to revert to.
"""

from __future__ import annotations

import math
from decimal import Decimal
from operator import mul
from typing import Literal

from pydantic import Field, model_validator

from services.money import MICRO
from services.strategies.base import StrategyContext
from services.strategies.common import fmt_p
from services.strategies.directional import (
    DirectionalParams,
    Entry,
    Held,
    Market,
    SummedHistory,
)
from services.strategies.odds_directional import OddsDirectionalMixin


class MeanReversionParams(DirectionalParams):
    """Parameters of :class:`MeanReversion`."""

    method: Literal["zscore", "rsi"] = Field("zscore", description="zscore or rsi")
    window_s: float = Field(600.0, gt=0, le=86400, description="Statistics window, seconds")
    entry_z: float = Field(3.0, gt=0, le=20, description="zscore: enter at |z| >= this")
    exit_z: float = Field(0.5, ge=0, le=20, description="zscore: exit once |z| <= this")
    min_std_ticks: float = Field(
        2.0, gt=0, le=100, description="zscore: floor of the standard deviation, ticks"
    )
    rsi_oversold: float = Field(25.0, gt=0, lt=50, description="rsi: buy YES below this")
    rsi_overbought: float = Field(75.0, gt=50, lt=100, description="rsi: buy NO above this")
    rsi_exit: float = Field(
        50.0, gt=0, lt=100, description="rsi: exit when the RSI crosses back over this level"
    )
    max_hold_s: float = Field(600.0, ge=0, description="Hold period (time stop), seconds (0 = off)")
    stop_loss_ticks: int = Field(
        10,
        ge=0,
        le=1000,
        description="Exit when the token's mid fell this far below entry (0 = off)",
    )

    max_fee_rate: Decimal = Field(
        Decimal("0"), ge=0, le=1,
        description="Skip markets whose taker fee rate is above this (0 = fee-free markets only)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> MeanReversionParams:
        if self.exit_z >= self.entry_z:
            raise ValueError("exit_z must be smaller than entry_z")
        return self


class MeanReversion(OddsDirectionalMixin):
    """Fades stretched mids (z-score or RSI) and exits when they revert or the hold ends."""

    Params = MeanReversionParams
    description = "Contrarian: buys the side a z-score/RSI extreme says is oversold; holds briefly."
    params: MeanReversionParams
    summed_history = True

    def history_len(self) -> int:
        """Samples in the statistics window."""
        return max(3, round(self.params.window_s / self.params.sample_interval_s))

    def signal(self, ctx: StrategyContext, m: Market, mid: int, now: float) -> Entry | None:
        """Compute the z-score or RSI of ``mid`` against the window (kept in ``m.state``)."""
        h = m.hist
        if len(h) < h.maxlen:  # type: ignore[operator]
            return None
        inst = ctx.instrument(m.yes)
        if inst is None:
            return None
        n = len(h)
        if isinstance(h, SummedHistory):  # O(1), the same integers as summing (issue 18)
            total, total_sq = h.sums()
        else:
            total, total_sq = sum(h), sum(map(mul, h, h))
        mean = total / n
        m.state["mean"] = mean
        p = self.params
        if p.method == "zscore":
            var = max(0.0, total_sq / n - mean * mean)
            std = max(math.sqrt(var), p.min_std_ticks * inst.tick)
            z = (mid - mean) / std
            m.state["z"] = z
            if z <= -p.entry_z:
                return Entry("YES", f"mean reversion: YES mid {fmt_p(mid)} is z={z:.1f} below the "
                                    f"{p.window_s:.0f}s mean {fmt_p(int(mean))}",
                             prob=mean / MICRO)  # fmt: skip
            if z >= p.entry_z:
                return Entry("NO", f"mean reversion: YES mid {fmt_p(mid)} is z={z:.1f} above the "
                                   f"{p.window_s:.0f}s mean {fmt_p(int(mean))}: buy NO",
                             prob=1.0 - mean / MICRO)  # fmt: skip
            return None
        rsi = _rsi(list(h) + [mid])
        m.state["rsi"] = rsi
        if rsi <= p.rsi_oversold:
            return Entry("YES", f"mean reversion: RSI {rsi:.0f} <= {p.rsi_oversold:.0f} "
                                f"(oversold), YES mid {fmt_p(mid)}", prob=mean / MICRO)  # fmt: skip
        if rsi >= p.rsi_overbought:
            return Entry("NO", f"mean reversion: RSI {rsi:.0f} >= {p.rsi_overbought:.0f} "
                               f"(overbought), YES mid {fmt_p(mid)}: buy NO",
                         prob=1.0 - mean / MICRO)  # fmt: skip
        return None

    def exit_signal(
        self, ctx: StrategyContext, m: Market, held: Held, token_mid: int, now: float
    ) -> str | None:
        """Close once the statistic is back toward neutral."""
        p = self.params
        yes = held.label == "YES"
        if p.method == "zscore":
            z = m.state.get("z")
            if z is None:
                return None
            if (yes and z >= -p.exit_z) or (not yes and z <= p.exit_z):
                return f"reverted: z={z:.1f} back inside {p.exit_z:g}"
            return None
        rsi = m.state.get("rsi")
        if rsi is None:
            return None
        if (yes and rsi >= p.rsi_exit) or (not yes and rsi <= 100.0 - p.rsi_exit):
            return f"reverted: RSI {rsi:.0f} crossed {p.rsi_exit:.0f}"
        return None


def _rsi(mids: list[int]) -> float:
    """Return the simple-average RSI (0-100) of a series; 50 when it did not move."""
    gain = loss = 0
    for a, b in zip(mids, mids[1:], strict=False):
        d = b - a
        if d > 0:
            gain += d
        else:
            loss -= d
    if gain == 0 and loss == 0:
        return 50.0
    if loss == 0:
        return 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)
