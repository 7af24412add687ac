"""Instruments: one tradable outcome token, with its market's trading rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from services.money import MICRO


class Side(StrEnum):
    """Order or book side. BUY = bid side, SELL = ask side."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        """Return the other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """A market's taker fee schedule: ``fee = shares * rate * (p * (1 - p)) ** exponent``.

    Makers pay nothing. ``rate == 0`` means the market is fee-free.
    """

    rate: Decimal = Decimal(0)
    exponent: int = 1

    @property
    def enabled(self) -> bool:
        """Return whether takers pay a fee on this market."""
        return self.rate > 0


@dataclass(frozen=True, slots=True)
class Instrument:
    """One outcome token of a market.

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
        Price tick in micro-USDC (10_000 = 0.01; 1_000 = 0.001).
    min_size : int
        Minimum order size in micro-shares.
    fees : FeeSchedule
        Taker fee schedule.
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
    """

    instrument_id: str
    venue: str
    market_id: str
    outcome: str
    tick: int
    min_size: int
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    end_ts: float | None = None
    complement_id: str | None = None
    event_id: str | None = None
    question: str = ""
    category: str = ""

    @property
    def group_id(self) -> str:
        """Return the id that groups positions into one bet (the neg-risk event or the market)."""
        return self.event_id or self.market_id

    def on_grid(self, price: int) -> bool:
        """Return whether ``price`` lies on the tick grid inside ``[tick, 1 - tick]``."""
        return price % self.tick == 0 and self.tick <= price <= MICRO - self.tick

    def round_price(self, price: int, side: Side) -> int:
        """Round a price to the grid, passively (bids down, asks up), and clamp into range."""
        if side is Side.BUY:
            p = (price // self.tick) * self.tick
        else:
            p = -((-price) // self.tick) * self.tick
        return max(self.tick, min(MICRO - self.tick, p))
