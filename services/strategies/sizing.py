"""The shared sizing helper: fixed size, fixed notional, or fractional Kelly from an edge estimate.

Every built-in strategy sizes its orders here, so the same parameter block (``sizing:`` in the
config) means the same thing everywhere:

* ``fixed_shares``: always ``shares`` shares;
* ``fixed_notional``: as many shares as ``notional_usd`` buys at the order price;
* ``kelly``: a fraction (at most one half) of the Kelly stake for a share that costs ``c`` (price
  plus taker fee) and pays 1 with the strategy's estimated probability ``q``: the full Kelly
  fraction of the bankroll is ``(q - c) / (1 - c)``; no edge, no order.

The result is then capped by ``max_shares``, ``max_notional_usd``, ``max_cash_fraction`` of the
strategy's available cash and whatever limit the caller passes (book depth, inventory room),
floored to the 0.01-share lot, and dropped to 0 if it is below the market's minimum order size.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from services.instruments import Instrument
from services.money import LOT, MICRO, floor_lot, to_micro
from services.strategies.base import StrategyParams
from utils.safety_config import MAX_KELLY_FRACTION


class SizingParams(StrategyParams):
    """How a strategy turns a trade idea into an order size (see the module docstring)."""

    mode: Literal["fixed_shares", "fixed_notional", "kelly"] = Field(
        "fixed_notional",
        description="fixed_shares, fixed_notional or kelly (fractional Kelly from the edge)",
    )
    shares: Decimal = Field(
        Decimal("10"), gt=0, le=1_000_000, description="Order size in mode fixed_shares, shares"
    )
    notional_usd: Decimal = Field(
        Decimal("50"), gt=0, le=10_000_000, description="Order cost in mode fixed_notional, USD"
    )
    kelly_fraction: Decimal = Field(
        Decimal("0.25"),
        gt=0,
        description="Share of the full Kelly stake in mode kelly: 0.5 half, 0.25 quarter (max 0.5)",
    )
    max_shares: Decimal = Field(
        Decimal("1000"), gt=0, le=10_000_000, description="Cap on any one order, shares"
    )
    max_notional_usd: Decimal = Field(
        Decimal("500"), gt=0, le=10_000_000, description="Cap on any one order's cost, USD"
    )
    max_cash_fraction: Decimal = Field(
        Decimal("0.2"),
        gt=0,
        le=1,
        description="Cap on any one order as a fraction of the strategy's available cash, 0-1",
    )

    @field_validator("kelly_fraction")
    @classmethod
    def _never_full_kelly(cls, v: Decimal) -> Decimal:
        if v > MAX_KELLY_FRACTION:
            raise ValueError(
                f"kelly_fraction {v} is refused: use at most {MAX_KELLY_FRACTION} (half Kelly); "
                "full Kelly on an estimated edge is too aggressive"
            )
        return v


def sizing_defaults(**values: object) -> SizingParams:
    """Return a validated :class:`SizingParams` (use it as a class's default sizing block)."""
    return SizingParams.model_validate(values)


def kelly_fraction(prob: float, cost: float) -> float:
    """Return the full-Kelly fraction of the bankroll for a share costing ``cost`` paying 1.

    Parameters
    ----------
    prob : float
        Estimated probability that the share pays 1, 0-1.
    cost : float
        All-in cost per share (price plus taker fee), 0-1.

    Returns
    -------
    float
        ``(prob - cost) / (1 - cost)``, or 0.0 when there is no edge or the cost is not in (0, 1).
    """
    if not 0.0 < cost < 1.0 or prob <= cost:
        return 0.0
    return min(1.0, (prob - cost) / (1.0 - cost))


class Sizer:
    """Applies :class:`SizingParams` (integer micro-units, precomputed once per strategy)."""

    __slots__ = (
        "mode",
        "_shares",
        "_notional",
        "_kelly",
        "_max_shares",
        "_max_notional",
        "_cash_frac",
    )

    def __init__(self, params: SizingParams) -> None:
        self.mode = params.mode
        self._shares = floor_lot(to_micro(params.shares))
        self._notional = to_micro(params.notional_usd)
        self._kelly = float(params.kelly_fraction)
        self._max_shares = floor_lot(to_micro(params.max_shares))
        self._max_notional = to_micro(params.max_notional_usd)
        self._cash_frac = float(params.max_cash_fraction)

    def size(
        self,
        price: int,
        cash: int,
        min_size: int,
        *,
        prob: float | None = None,
        cost_per_share: int | None = None,
        limit: int | None = None,
    ) -> int:
        """Return an order size in micro-shares (lot grid), or 0 if no valid order results.

        Parameters
        ----------
        price : int
            Price paid per share, micro-USDC (for a bundle: the sum of the legs' prices).
        cash : int
            The strategy's available cash, micro-USDC (the Kelly bankroll and a cap).
        min_size : int
            The market's minimum order size, micro-shares.
        prob : float | None
            Estimated probability of a payout of 1 per share (mode ``kelly``; None = no edge).
        cost_per_share : int | None
            All-in cost per share including fees, micro (default ``price``); Kelly uses it.
        limit : int | None
            Extra cap from the caller, micro-shares (depth left in the book, inventory room).
        """
        if price <= 0 or cash <= 0:
            return 0
        if self.mode == "fixed_shares":
            q = self._shares
        elif self.mode == "fixed_notional":
            q = self._notional * MICRO // price
        else:
            if prob is None:
                return 0
            cost = (cost_per_share if cost_per_share is not None else price) / MICRO
            f = self._kelly * kelly_fraction(prob, cost)
            if f <= 0.0:
                return 0
            q = round(f * cash) * MICRO // price  # round: float noise must not drop a lot
        cap = min(self._max_shares, self._max_notional * MICRO // price)
        cap = min(cap, int(self._cash_frac * cash) * MICRO // price)
        if limit is not None:
            cap = min(cap, limit)
        q = floor_lot(min(q, cap))
        if q < LOT or q < min_size:
            return 0
        return q

    def sell_size(self, price: int, held: int, min_size: int) -> int:
        """Return how much of ``held`` micro-shares to offer in one order at ``price``.

        The same chunk a buy would be (``shares`` or ``notional_usd`` worth; the caps in mode
        kelly), capped by ``max_shares``/``max_notional_usd`` and by what is held; not limited by
        cash. 0 if below ``min_size``.
        """
        if price <= 0 or held <= 0:
            return 0
        cap = min(self._max_shares, self._max_notional * MICRO // price)
        if self.mode == "fixed_shares":
            q = self._shares
        elif self.mode == "fixed_notional":
            q = self._notional * MICRO // price
        else:
            q = cap
        q = floor_lot(min(q, cap, held))
        return q if q >= min_size and q >= LOT else 0

    def size_for(
        self,
        inst: Instrument,
        price: int,
        cash: int,
        *,
        prob: float | None = None,
        taker: bool = True,
        limit: int | None = None,
    ) -> int:
        """Size one order on ``inst`` at ``price``, counting its taker fee in the Kelly cost."""
        cost = price
        if taker and inst.fees.rate:
            p = price / MICRO
            cost += int(float(inst.fees.rate) * (p * (1.0 - p)) ** inst.fees.exponent * MICRO)
        return self.size(price, cash, inst.min_size, prob=prob, cost_per_share=cost, limit=limit)
