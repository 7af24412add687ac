"""Favorite–longshot / endgame: buy the near-certain outcome shortly before resolution.

Prediction markets tend to underprice favorites and overprice longshots (bettors overpay for
lottery tickets), and the bias is strongest close to resolution. In the last ``window_s``
seconds before a market ends (but not within ``no_entry_before_end_s``), the strategy buys the token
whose mid is at least ``min_prob`` if its ask is at most ``max_price``. On a long-only venue
buying the favorite *is* selling the longshot: buying NO at 0.95 is selling YES at 0.05.

It holds to resolution unless the favorite collapses: the stop sells when the token's bid falls
below ``stop_loss_price``. For kelly sizing the win probability is the ask plus
``edge_estimate`` (the assumed bias).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from services.instruments import Instrument
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


def _kelly_sizing() -> SizingParams:
    return sizing_defaults(
        mode="kelly", kelly_fraction=Decimal("0.25"), max_notional_usd=Decimal("200")
    )


class FavoriteLongshotParams(DirectionalParams):
    """Parameters of :class:`FavoriteLongshot`."""

    sizing: SizingParams = Field(
        default_factory=_kelly_sizing,
        description="Position size (quarter Kelly on the assumed edge by default)",
    )

    window_s: float = Field(
        900.0, gt=0, le=30 * 86400, description="Trade only this close to the market's end, s"
    )
    min_prob: Decimal = Field(
        Decimal("0.80"), gt=Decimal("0.5"), lt=1, description="Favorite: mid at least this, prob."
    )
    max_price: Decimal = Field(
        Decimal("0.97"), gt=Decimal("0.5"), lt=1, description="Pay at most this per share"
    )
    stop_loss_price: Decimal = Field(
        Decimal("0.55"), ge=0, lt=1,
        description="Sell if the held token's bid falls below this (0 = hold to resolution)",
    )  # fmt: skip
    sample_interval_s: float = Field(5.0, gt=0, le=3600, description="Decide every this many s")
    max_positions: int = Field(10, ge=1, le=1000, description="Markets held at the same time")
    max_hold_s: float = Field(0.0, ge=0, description="Time stop, seconds (0 = hold to the end)")
    exit_before_end_s: float = Field(
        0.0, ge=0, description="Close positions this close to the end, s (0 = hold)"
    )
    no_entry_before_end_s: float = Field(
        20.0, ge=0, description="...but open no position this close to the end, seconds"
    )

    @model_validator(mode="after")
    def _ordered(self) -> FavoriteLongshotParams:
        if self.min_prob > self.max_price:
            raise ValueError("min_prob must be <= max_price")
        if self.no_entry_before_end_s >= self.window_s:
            raise ValueError("no_entry_before_end_s must be smaller than window_s")
        return self


class FavoriteLongshot(DirectionalStrategy):
    """Buys favorites (sells longshots) in the last minutes before resolution; holds to the end."""

    Params = FavoriteLongshotParams
    description = "Endgame: buys the favorite (>= min_prob) shortly before resolution, holds."
    params: FavoriteLongshotParams

    def __init__(self, name: str, params: FavoriteLongshotParams) -> None:  # type: ignore[override]
        super().__init__(name, params)
        self._min_prob = to_micro(params.min_prob)
        self._max_price = to_micro(params.max_price)
        self._stop = to_micro(params.stop_loss_price)

    def can_enter(self, inst: Instrument, now: float) -> bool:
        """Only inside the end-game window."""
        if inst.end_ts is None:
            return False
        left = inst.end_ts - now
        return self.params.no_entry_before_end_s <= left <= self.params.window_s

    def signal(self, ctx: StrategyContext, m: Market, mid: int, now: float) -> Entry | None:
        """Pick the favorite token when the market is inside the window."""
        inst = ctx.instrument(m.yes)
        if inst is None or not self.can_enter(inst, now):
            return None
        left = inst.end_ts - now  # type: ignore[operator]
        for iid, label, other in ((m.yes, "YES", "NO"), (m.no, "NO", "YES")):
            book = ctx.book(iid)
            if book is None:
                continue
            # OrderBook.best_bid/best_ask, inlined (issue 18)
            bid_px, ask_px = book._bid_px, book._ask_px
            bid = bid_px[-1] if bid_px else None
            ask = ask_px[0] if ask_px else None
            if bid is None or ask is None:
                continue
            tok_mid = (bid + ask) // 2
            if tok_mid >= self._min_prob and ask <= self._max_price:
                prob = min(0.999, ask / MICRO + float(self.params.edge_estimate))
                return Entry(label, f"endgame: favorite {label} mid {fmt_p(tok_mid)} ask "
                                    f"{fmt_p(ask)} with {left:.0f}s to end (longshot {other} at "
                                    f"{fmt_p(MICRO - tok_mid)} judged overpriced)", prob=prob)  # fmt: skip
        return None

    def exit_signal(
        self, ctx: StrategyContext, m: Market, held: Held, token_mid: int, now: float
    ) -> str | None:
        """Stop out when the favorite collapses."""
        if not self._stop:
            return None
        book = ctx.book(held.iid)
        bid_px = book._bid_px if book is not None else None  # OrderBook.best_bid, inlined
        bid = bid_px[-1] if bid_px else None
        if bid is not None and bid < self._stop:
            return f"favorite collapsed: {held.label} bid {fmt_p(bid)} < stop {fmt_p(self._stop)}"
        return None
