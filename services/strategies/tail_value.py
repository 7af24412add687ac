"""Tail-risk / low-liquidity value (PETS "Bot 8"): small bets where thin extreme books misprice.

Markets priced near 0 or 1 with little size at the top of the book are where stale quotes and
fat-finger orders leave value: an ask well below where the market has recently traded. The
strategy follows markets whose YES mid is within ``extreme_price`` of 0 or 1 and whose best bid
plus best ask size is at most ``max_top_depth_shares``. It keeps an exponential average of each
market's mid (half-life ``ema_half_life_s``) and buys a token whose ask is ``edge_ticks`` or more
below that average. Positions are small (sizing defaults to 10 USD, at most 25). It sells once
the token's bid is back at the average (the mispricing closed), or on the time stop / stop loss.

Risk: a price that fell for a reason (news, the end game) looks the same as a mispricing; the
small size and the stops are what limit that.
"""

from __future__ import annotations

import math
from decimal import Decimal

from pydantic import Field

from services.money import MICRO, to_micro
from services.strategies.base import StrategyContext
from services.strategies.common import fmt_p
from services.strategies.directional import (
    DirectionalParams,
    DirectionalStrategy,
    Entry,
    Held,
    Market,
)
from services.strategies.sizing import SizingParams, sizing_defaults


def _tail_sizing() -> SizingParams:
    return sizing_defaults(
        mode="fixed_notional", notional_usd=Decimal("10"), max_notional_usd=Decimal("25"),
        max_shares=Decimal("2000"),
    )  # fmt: skip


class TailValueParams(DirectionalParams):
    """Parameters of :class:`TailValue`."""

    sizing: SizingParams = Field(default_factory=_tail_sizing, description="Position size")
    extreme_price: Decimal = Field(
        Decimal("0.12"), gt=0, lt=Decimal("0.5"),
        description="Follow markets whose YES mid is below this or above 1 minus this, prob.",
    )  # fmt: skip
    max_top_depth_shares: Decimal = Field(
        Decimal("600"), gt=0, description="Thin: best bid + best ask size at most this, shares"
    )
    ema_half_life_s: float = Field(
        120.0, gt=0, le=86400, description="Half-life of the recent-mid average, seconds"
    )
    min_samples: int = Field(
        20, ge=1, le=100_000, description="Samples of the average needed before trading"
    )
    edge_ticks: int = Field(
        3, ge=1, le=1000, description="Buy when the ask is this far below the average, ticks"
    )
    sample_interval_s: float = Field(1.0, gt=0, le=3600, description="Decide every this many s")
    max_positions: int = Field(10, ge=1, le=1000, description="Markets held at the same time")
    max_entry_spread_ticks: int = Field(
        30, ge=1, le=1000, description="Enter only when the token's spread is at most this, ticks"
    )
    max_hold_s: float = Field(1800.0, ge=0, description="Time stop, seconds (0 = off)")
    stop_loss_ticks: int = Field(
        10,
        ge=0,
        le=1000,
        description="Exit when the token's mid fell this far below entry (0 = off)",
    )


class TailValue(DirectionalStrategy):
    """Small buys of tokens whose thin, extreme-priced book dips below the recent mid."""

    Params = TailValueParams
    description = (
        "Small bets in thin extreme-priced markets when the ask dips below the recent mid."
    )
    params: TailValueParams

    def __init__(self, name: str, params: TailValueParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._alpha = 1.0 - math.exp(
            -math.log(2) * params.sample_interval_s / params.ema_half_life_s
        )
        self._extreme = to_micro(params.extreme_price)
        self._max_depth = to_micro(params.max_top_depth_shares)

    def signal(self, ctx: StrategyContext, m: Market, mid: int, now: float) -> Entry | None:
        """Update the average; look for an ask below it in a thin, extreme market."""
        st = m.state
        ema = st.get("ema")
        n = st.get("n", 0.0) + 1
        st["n"] = n
        st["ema"] = mid if ema is None else ema + self._alpha * (mid - ema)
        if ema is None or n <= self.params.min_samples:
            return None
        if self._extreme < mid < MICRO - self._extreme:
            return None
        yb = ctx.book(m.yes)
        inst = ctx.instrument(m.yes)
        if yb is None or inst is None:
            return None
        bid, ask = yb.best_bid(), yb.best_ask()
        if bid is None or ask is None or yb.bids[bid] + yb.asks[ask] > self._max_depth:
            return None
        edge = self.params.edge_ticks * inst.tick
        if ask <= ema - edge:
            return Entry("YES", f"tail value: thin YES ask {fmt_p(ask)} is {(ema - ask) / inst.tick:.0f} "
                                f"ticks below its recent mid {fmt_p(int(ema))}",
                         prob=ema / MICRO)  # fmt: skip
        nb = ctx.book(m.no)
        n_ask = nb.best_ask() if nb is not None else None
        if n_ask is not None and n_ask <= (MICRO - ema) - edge:
            return Entry("NO", f"tail value: thin NO ask {fmt_p(n_ask)} is "
                               f"{((MICRO - ema) - n_ask) / inst.tick:.0f} ticks below its recent "
                               f"mid {fmt_p(int(MICRO - ema))}", prob=1.0 - ema / MICRO)  # fmt: skip
        return None

    def exit_signal(
        self, ctx: StrategyContext, m: Market, held: Held, token_mid: int, now: float
    ) -> str | None:
        """Take the profit once the bid is back at the recent average."""
        ema = m.state.get("ema")
        if ema is None:
            return None
        target = ema if held.label == "YES" else MICRO - ema
        book = ctx.book(held.iid)
        bid = book.best_bid() if book is not None else None
        if bid is not None and bid >= target and bid > held.entry_price:
            return f"mispricing closed: {held.label} bid {fmt_p(bid)} >= recent mid {fmt_p(int(target))}"
        return None
