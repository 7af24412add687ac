"""Normalized market events: the only shapes the engine sees, whatever the venue.

Venue formats (Polymarket JSON, Betfair stream, the simulator) are translated into these at the
edge. The four events of the hot path (books, trades, ticks) are plain classes with ``__slots__``
rather than frozen dataclasses: a frozen dataclass sets each field through
``object.__setattr__``, which made building a ``BookDelta`` cost about three times a plain
class's (issue 18). They compare, hash and print as the dataclasses did; their fields are
``Final`` (mypy refuses an assignment) and no code changes an event after building it. Prices and sizes are micro-units in the instrument's own terms (``Instrument.ladder``):
probability per share and shares on Polymarket, decimal odds and stake on an odds ladder
(Betfair: "available to back" are the bids). Timestamps are epoch seconds (event time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from services.instruments import Instrument, Side

Level = tuple[int, int]
"""A price level: (price micro, size micro-shares)."""


class _Value:
    """Equality, hashing and repr of an event from its ``_key()`` and ``__slots__``, as a frozen
    dataclass defines them (equal when the class and every field are equal)."""

    __slots__ = ()

    def _key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined, no-any-return]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        slots: tuple[str, ...] = self.__slots__  # type: ignore[assignment]
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in slots)
        return f"{type(self).__name__}({fields})"


class BookSnapshot(_Value):
    """Full L2 book for one instrument; replaces whatever was known before."""

    __slots__ = ("ts", "instrument_id", "bids", "asks")

    def __init__(
        self, ts: float, instrument_id: str, bids: tuple[Level, ...], asks: tuple[Level, ...]
    ) -> None:
        self.ts: Final = ts
        self.instrument_id: Final = instrument_id
        self.bids: Final = bids
        self.asks: Final = asks

    def _key(self) -> tuple[Any, ...]:
        return (self.ts, self.instrument_id, self.bids, self.asks)


class BookDelta(_Value):
    """New absolute sizes for one or more levels of one instrument (size 0 removes a level).

    ``changes`` holds ``(side, price, new size)`` triples; BUY = bid level, SELL = ask level.
    """

    __slots__ = ("ts", "instrument_id", "changes")

    def __init__(
        self, ts: float, instrument_id: str, changes: tuple[tuple[Side, int, int], ...]
    ) -> None:
        self.ts: Final = ts
        self.instrument_id: Final = instrument_id
        self.changes: Final = changes

    def _key(self) -> tuple[Any, ...]:
        return (self.ts, self.instrument_id, self.changes)


class TradePrint(_Value):
    """A trade on the venue. ``aggressor`` is the taker's side, if the venue says it."""

    __slots__ = ("ts", "instrument_id", "price", "size", "aggressor")

    def __init__(
        self, ts: float, instrument_id: str, price: int, size: int, aggressor: Side | None
    ) -> None:
        self.ts: Final = ts
        self.instrument_id: Final = instrument_id
        self.price: Final = price
        self.size: Final = size
        self.aggressor: Final = aggressor

    def _key(self) -> tuple[Any, ...]:
        return (self.ts, self.instrument_id, self.price, self.size, self.aggressor)


class TickSizeChange(_Value):
    """The instrument's price tick changed (micro-USDC)."""

    __slots__ = ("ts", "instrument_id", "tick")

    def __init__(self, ts: float, instrument_id: str, tick: int) -> None:
        self.ts: Final = ts
        self.instrument_id: Final = instrument_id
        self.tick: Final = tick

    def _key(self) -> tuple[Any, ...]:
        return (self.ts, self.instrument_id, self.tick)


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
