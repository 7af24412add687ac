"""Bundles for the arbitrage strategies: the shared parameters, the bundle record, book helpers.

See :mod:`services.strategies.arbitrage` for how the strategies use them.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from services.instruments import Instrument, Side
from services.money import MICRO, floor_lot, notional
from services.strategies.base import StrategyContext, StrategyParams
from services.strategies.sizing import SizingParams, sizing_defaults
from services.strategies.universe import UniverseParams, all_markets


def _arb_sizing() -> SizingParams:
    return sizing_defaults(
        mode="fixed_notional",
        notional_usd=Decimal("1000"),
        max_shares=Decimal("500"),
        max_notional_usd=Decimal("1000"),
        max_cash_fraction=Decimal("0.25"),
    )


class ArbParams(StrategyParams):
    """Parameters shared by the bundle arbitrage strategies."""

    min_edge: Decimal = Field(
        Decimal("0.005"),
        ge=0,
        le=Decimal("0.5"),
        description="Profit per bundle required after fees, USDC per share (the margin)",
    )
    sizing: SizingParams = Field(
        default_factory=_arb_sizing,
        description="Bundle size (in kelly mode the edge is riskless: the caps decide)",
    )
    universe: UniverseParams = Field(
        default_factory=all_markets, description="Which markets/events to trade"
    )
    cooldown_s: float = Field(
        2.0, ge=0, le=3600, description="Wait after trading a bundle before trading it again, s"
    )
    sell_side: bool = Field(True, description="Sell held bundles when bids sum above 1 + margin")
    once_per_dislocation: bool = Field(
        True,
        description="Buy a mispriced bundle once, then wait until the asks sum back above "
        "1 - margin (paper fills do not deplete the displayed book, so re-buying a refreshed "
        "level would count liquidity that a live order already took)",
    )
    repair_min_edge: Decimal = Field(
        Decimal("0"),
        ge=Decimal("-0.2"),
        le=Decimal("0.5"),
        description="Complete a half-filled bundle only if it still pays this per share after "
        "fees (else sell the excess), USDC per share",
    )
    repair_slippage_ticks: int = Field(
        3, ge=0, le=100, description="Sell an excess leg at most this far below the best bid, ticks"
    )
    repair_attempts: int = Field(
        5, ge=1, le=100, description="Tries to rebalance a bundle before holding it to resolution"
    )
    repair_retry_s: float = Field(
        1.0, ge=0, le=3600, description="Wait between rebalancing tries, seconds"
    )
    max_leg_position_usd: Decimal | None = Field(
        Decimal("2000"),
        gt=0,
        le=Decimal("1e9"),
        description="Buy no more once a leg's position (at the ask) would exceed this, USD; keep "
        "it under risk.limits.max_position_usd so repeated bundles are not refused (null: no cap)",
    )


def leg_room(held: int, ask: int, cap_usd: Decimal | None) -> int | None:
    """Return how many more shares (micro, whole lots) of a leg fit under ``cap_usd`` at ``ask``
    when ``held`` shares are already held (None without a cap)."""
    if cap_usd is None:
        return None
    room = int(cap_usd * MICRO) - notional(held, ask)
    if room <= 0 or ask <= 0:
        return 0
    return floor_lot(room * MICRO // ask)


class Bundle:
    """One tradable bundle: its legs and a running sum of their best asks (fast path)."""

    __slots__ = ("key", "legs", "asks", "missing", "ask_sum", "max_raw", "cheap", "cool_until",
                 "dirty", "tries", "next_try", "armed", "held", "held_version",
                 "holding")  # fmt: skip

    def __init__(self, key: str, legs: list[Instrument], max_raw: int = MICRO) -> None:
        self.key = key
        self.legs = legs
        self.asks: list[int | None] = [None] * len(legs)
        self.missing = len(legs)
        self.ask_sum = 0
        # Asks summing above max_raw can never pay; ``cheap``: every leg has an ask and they sum
        # to at most max_raw (kept by set_ask, read on every book update of a leg).
        self.max_raw = max_raw
        self.cheap = self.missing == 0 and self.ask_sum <= max_raw
        self.cool_until = float("-inf")
        self.dirty = False  # legs may be unbalanced: reconcile when no order is working
        self.tries = 0
        self.next_try = float("-inf")
        self.armed = True  # False after buying a dislocation, until the asks sum recovers
        # The sets the legs' positions can sell (Portfolio.min_available_qty), valid while the
        # portfolio's version is held_version.
        self.held = 0
        self.held_version = -1
        self.holding = False  # complete sets are held (the strategy keeps it with its _holding)

    def set_ask(self, i: int, ask: int | None) -> None:
        old = self.asks[i]
        if old == ask:
            return
        if old is None:
            self.missing -= 1
        else:
            self.ask_sum -= old
        if ask is None:
            self.missing += 1
        else:
            self.ask_sum += ask
        self.asks[i] = ask
        self.cheap = self.missing == 0 and self.ask_sum <= self.max_raw


def sweep_asks(ctx: StrategyContext, leg: Instrument, qty: int) -> tuple[int, int] | None:
    """Return (worst price, total cost with fees) to buy ``qty`` from the asks left for us."""
    book = ctx.book(leg.instrument_id)
    if book is None:
        return None
    left, cost = qty, 0
    for price, _size in book.levels(Side.SELL):
        take = floor_lot(min(left, ctx.available(leg.instrument_id, Side.SELL, price)))
        if take <= 0:
            continue
        cost += notional(take, price) + leg.fees.taker_fee(take, price)
        left -= take
        if left <= 0:
            return price, cost
    return None


def fee_per_share(inst: Instrument, price: int) -> int:
    """Estimate the taker fee per share at ``price`` (micro; exact fees are computed per order)."""
    if not inst.fees.rate:
        return 0
    p = price / MICRO
    return int(float(inst.fees.rate) * (p * (1.0 - p)) ** inst.fees.exponent * MICRO) + 1
