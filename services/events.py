"""Normalized market events: the only shapes the engine sees, whatever the venue.

Venue formats (Polymarket JSON, Betfair stream, the simulator) are translated into these at the
edge. Prices and sizes are micro-units in the instrument's own terms (``Instrument.ladder``):
probability per share and shares on Polymarket, decimal odds and stake on an odds ladder
(Betfair: "available to back" are the bids). Timestamps are epoch seconds (event time).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.instruments import Instrument, Side

Level = tuple[int, int]
"""A price level: (price micro, size micro-shares)."""


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Full L2 book for one instrument; replaces whatever was known before."""

    ts: float
    instrument_id: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class BookDelta:
    """New absolute sizes for one or more levels of one instrument (size 0 removes a level)."""

    ts: float
    instrument_id: str
    changes: tuple[tuple[Side, int, int], ...]
    """(side, price, new size) triples; BUY = bid level, SELL = ask level."""


@dataclass(frozen=True, slots=True)
class TradePrint:
    """A trade on the venue. ``aggressor`` is the taker's side, if the venue says it."""

    ts: float
    instrument_id: str
    price: int
    size: int
    aggressor: Side | None


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    """The instrument's price tick changed (micro-USDC)."""

    ts: float
    instrument_id: str
    tick: int


@dataclass(frozen=True, slots=True)
class MarketListed:
    """New instruments are tradable (a new market or a neg-risk event's outcomes)."""

    ts: float
    instruments: tuple[Instrument, ...]


@dataclass(frozen=True, slots=True)
class MarketStatus:
    """A market changed trading status.

    ``"open"``; ``"not_accepting"`` (the venue refuses new orders, e.g. Polymarket
    ``acceptingOrders: false``; resting orders may remain); ``"suspended"``; ``"closed"``.
    New orders go only to markets whose last status is ``"open"``.
    """

    ts: float
    market_id: str
    status: str
    bet_delay_s: float = 0.0
    """Delay the venue adds to every order placed while this status holds (Betfair in play)."""


VOID_PAYOUT = -1
"""A ``MarketResolved`` payout meaning "void": every matched bet on the instrument is returned
(its cost basis), nothing is won or lost (a Betfair runner REMOVED from the market)."""


@dataclass(frozen=True, slots=True)
class MarketResolved:
    """A market settled. ``payouts`` maps each instrument id to what one payout unit (a share;
    ``stake * odds`` of a back) pays, in micro-units of the currency (0 or ``1_000_000``), or
    :data:`VOID_PAYOUT` when the bets on it are void."""

    ts: float
    market_id: str
    payouts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class RunnerRemoved:
    """A runner was withdrawn before its market settled (a Betfair non-runner, ``REMOVED`` in
    an open market's definition). Every bet on it is void at once; the odds of the bets
    already matched on the market's other runners (``reduced``) are multiplied by
    ``keep_ppm`` / 1e6 (1 - the removed runner's adjustment factor; 1e6 when none applies)."""

    ts: float
    market_id: str
    instrument_id: str
    adjustment_factor: float
    keep_ppm: int
    reduced: tuple[str, ...]


MarketEvent = (
    BookSnapshot
    | BookDelta
    | TradePrint
    | TickSizeChange
    | MarketListed
    | MarketStatus
    | MarketResolved
    | RunnerRemoved
)
