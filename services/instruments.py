"""Instruments: one tradable outcome token, with its market's trading rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.fees import FeeModel, FeeSchedule, NetWinningsCommission, fee_model
from services.ladder import NAMED_LADDERS, PriceLadder, Quote, UniformLadder
from services.money import LOT, MICRO, notional

__all__ = [
    "FeeModel",
    "FeeSchedule",
    "Instrument",
    "NetWinningsCommission",
    "Side",
    "TICK_GRID",
    "rules_from_dict",
    "rules_to_dict",
]

TICK_GRID = UniformLadder(0)
"""Placeholder ladder: "a uniform grid of the instrument's ``tick``" (the default)."""


class Side(StrEnum):
    """Order or book side. BUY = bid side, SELL = ask side."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        """Return the other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable outcome of a market (a Polymarket token, a Betfair runner).

    Prices are in the instrument's quoting units (``ladder.quote``): probabilities on Polymarket,
    decimal odds on Betfair. Sizes are micro-shares on Polymarket and micro-units of stake (the
    backer's stake) on Betfair. Positions are kept in *payout units* (see :meth:`position_delta`):
    one unit pays 1 of ``currency`` if the outcome wins, 0 otherwise.

    Attributes
    ----------
    instrument_id : str
        The venue's token id (unique across markets).
    venue : str
        ``"sim"``, ``"polymarket"``, ``"betfair"``.
    market_id : str
        The market (condition) id shared by the YES and NO tokens.
    outcome : str
        Outcome label, e.g. ``"Yes"``.
    tick : int
        Price tick in micro (10_000 = 0.01; 1_000 = 0.001) of a uniform ladder; on a
        non-uniform ladder, its smallest step.
    min_size : int
        Minimum order size in micro-units of size.
    fees : FeeModel
        The venue's fee model (Polymarket's taker curve, Betfair's commission).
    end_ts : float | None
        Scheduled end (resolution) time, epoch seconds in event time.
    complement_id : str | None
        The other token of a binary market.
    event_id : str | None
        The neg-risk event grouping mutually exclusive markets, if any.
    question : str
        Human-readable market question.
    category : str
        Category/tag used by strategy filters.
    ladder : PriceLadder
        The valid prices. The default, ``TICK_GRID``, means a uniform grid of ``tick`` (and
        follows ``tick`` through ``dataclasses.replace``, so a tick-size change keeps working).
    lot : int
        Size increment in micro-units (0.01 share or 0.01 of the stake currency).
    currency : str
        Currency of cash amounts (``"USDC"``, ``"GBP"``, ...).
    allows_short : bool
        Whether the venue lets a strategy sell what it does not hold (a Betfair lay).
    """

    instrument_id: str
    venue: str
    market_id: str
    outcome: str
    tick: int
    min_size: int
    fees: FeeModel = field(default_factory=FeeSchedule)
    end_ts: float | None = None
    complement_id: str | None = None
    event_id: str | None = None
    question: str = ""
    category: str = ""
    ladder: PriceLadder = TICK_GRID
    lot: int = LOT
    currency: str = "USDC"
    allows_short: bool = False

    def __post_init__(self) -> None:
        lad = self.ladder
        if isinstance(lad, UniformLadder) and lad.tick != self.tick:
            object.__setattr__(self, "ladder", UniformLadder(self.tick))
        if self.lot <= 0 or self.min_size < 0:
            raise ValueError(f"instrument {self.instrument_id}: lot and min_size must be positive")

    @property
    def group_id(self) -> str:
        """Return the id that groups positions into one bet (the neg-risk event or the market)."""
        return self.event_id or self.market_id

    @property
    def quote(self) -> Quote:
        """Return what the price means (probability or decimal odds)."""
        return self.ladder.quote

    def on_grid(self, price: int) -> bool:
        """Return whether ``price`` is on the ladder (for a uniform one: ``[tick, 1 - tick]``)."""
        return self.ladder.contains(price)

    def round_price(self, price: int, side: Side) -> int:
        """Round a price onto the ladder, passively (bids down, asks up), and clamp into range."""
        if side is Side.BUY:
            return self.ladder.round_down(price)
        return self.ladder.round_up(price)

    def floor_lot(self, size: int) -> int:
        """Round a size down to this instrument's lot."""
        return (size // self.lot) * self.lot

    def market_price(self, side: Side) -> int:
        """Return the limit a market order uses: the top of the ladder to BUY, the bottom to SELL."""
        return self.ladder.max_price if side is Side.BUY else self.ladder.min_price

    def position_delta(self, side: Side, size: int, price: int) -> tuple[int, int]:
        """Return ``(units, cash)`` of a fill: payout units gained (negative: given) and the cash.

        On a probability ladder a BUY of ``size`` shares at ``p`` gains ``size`` units for
        ``size * p`` cash, a SELL gives them up for the same. On an odds ladder a SELL is a
        *back* (prices are odds: a backer wants them high, so the back side is the sell side):
        a back of stake ``S`` at odds ``O`` gains ``S * O`` units for ``S`` cash; a BUY is a
        *lay*: it gives ``S * O`` units (a short) and receives ``S``. ``cash`` is always
        positive; it is paid when units are gained and received when they are given.
        """
        if self.ladder.quote is Quote.PROBABILITY:
            value = notional(size, price)
            return (size, value) if side is Side.BUY else (-size, value)
        units = notional(size, price)
        return (units, size) if side is Side.SELL else (-units, size)

    def unit_value(self, units: int, price: int) -> int:
        """Return what ``units`` payout units are worth at a book price (marking; rounded)."""
        if self.ladder.quote is Quote.PROBABILITY:
            return notional(units, price)
        q, r = divmod(units * MICRO, price)
        return q + 1 if r * 2 >= price else q


def rules_to_dict(inst: Instrument) -> dict[str, Any]:
    """Return the trading rules beyond tick and minimum size, as storable plain values."""
    return {
        "fee_model": inst.fees.kind,
        "fee_rate": str(inst.fees.rate),
        "fee_exponent": inst.fees.exponent,
        "ladder": inst.ladder.name,
        "lot": inst.lot,
        "currency": inst.currency,
        "allows_short": inst.allows_short,
    }


def rules_from_dict(d: dict[str, Any]) -> dict[str, Any]:
    """Return ``Instrument`` keyword arguments from :func:`rules_to_dict` output.

    Missing keys (rows and recordings from before venue-neutral instruments) mean Polymarket's
    rules: the taker-fee curve, a uniform tick grid, a 0.01-share lot, USDC, long only.

    Raises
    ------
    ValueError
        If the ladder or fee model name is unknown.
    """
    ladder_name = d.get("ladder") or "uniform"
    if ladder_name == "uniform":
        ladder: PriceLadder = TICK_GRID
    elif ladder_name in NAMED_LADDERS:
        ladder = NAMED_LADDERS[ladder_name]
    else:
        raise ValueError(f"unknown price ladder {ladder_name!r}")
    return {
        "fees": fee_model(
            d.get("fee_model") or FeeSchedule.kind,
            Decimal(d.get("fee_rate") or "0"),
            int(d.get("fee_exponent") or 1),
        ),
        "ladder": ladder,
        "lot": int(d.get("lot") or LOT),
        "currency": d.get("currency") or "USDC",
        "allows_short": bool(d.get("allows_short") or False),
    }
