"""Price ladders: the prices an instrument can trade at, in its own quoting units.

All prices are integers in micro-units (1e-6). Two shapes exist:

* :class:`UniformLadder` -- a uniform tick grid on ``[tick, 1 - tick]`` (Polymarket: prices are
  probabilities, a tick of 0.01 is ``10_000``). The tick can change while the market trades
  (``TickSizeChange``), which makes a new ladder.
* :class:`OddsLadder` -- a non-uniform ladder of decimal odds whose increment grows with the
  price (Betfair: 1.01 to 1000, 0.01 steps up to 2, 0.02 up to 3, ... 10 up to 1000). Odds of
  2.5 are ``2_500_000``.

Whether a price is a probability or decimal odds is the ladder's ``quote`` (see
``docs/ENGINE.md``, "Instruments and money"). A higher price is always "more expensive for the
BUY side" in the ladder's own units, so the book and the simulated exchange compare prices the
same way on both ladders.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from enum import StrEnum

from services.money import MICRO


class Quote(StrEnum):
    """What an instrument's price means."""

    PROBABILITY = "probability"  # price per share that pays 1 (Polymarket)
    ODDS = "odds"  # decimal odds; size is the backer's stake (Betfair)


class LadderError(ValueError):
    """A ladder definition is inconsistent (a bug in venue metadata, not a trading outcome)."""


class PriceLadder(ABC):
    """The set of valid prices of one instrument, with passive rounding and tick arithmetic."""

    kind: str
    quote: Quote

    @property
    @abstractmethod
    def name(self) -> str:
        """Return the name the ladder is stored under (``uniform``, ``betfair``)."""

    @property
    @abstractmethod
    def min_price(self) -> int:
        """Return the lowest valid price (micro)."""

    @property
    @abstractmethod
    def max_price(self) -> int:
        """Return the highest valid price (micro)."""

    @property
    @abstractmethod
    def min_increment(self) -> int:
        """Return the smallest step anywhere on the ladder (micro)."""

    @abstractmethod
    def contains(self, price: int) -> bool:
        """Return whether ``price`` is a valid price on the ladder."""

    @abstractmethod
    def round_down(self, price: int) -> int:
        """Return the highest ladder price ``<= price``, clamped into the ladder's range."""

    @abstractmethod
    def round_up(self, price: int) -> int:
        """Return the lowest ladder price ``>= price``, clamped into the ladder's range."""

    @abstractmethod
    def index(self, price: int) -> int:
        """Return the position of a ladder price (0 = ``min_price``). ``price`` must be on it."""

    @abstractmethod
    def price_at(self, index: int) -> int:
        """Return the ladder price at ``index``; raise IndexError outside the ladder."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Return the number of prices on the ladder."""

    def on_ladder(self, price: int) -> bool:
        """Return whether ``price`` is a valid price (alias of :meth:`contains`)."""
        return self.contains(price)

    def round(self, price: int, buy: bool) -> int:
        """Round ``price`` onto the ladder passively: down for the BUY side, up for SELL."""
        return self.round_down(price) if buy else self.round_up(price)

    def next_up(self, price: int, ticks: int = 1) -> int | None:
        """Return the price ``ticks`` steps above a ladder price, or None past the top."""
        i = self.index(price) + ticks
        return self.price_at(i) if 0 <= i < self.size else None

    def next_down(self, price: int, ticks: int = 1) -> int | None:
        """Return the price ``ticks`` steps below a ladder price, or None past the bottom."""
        return self.next_up(price, -ticks)

    def ticks_between(self, low: int, high: int) -> int:
        """Return how many steps separate two ladder prices (negative if ``high < low``)."""
        return self.index(high) - self.index(low)

    def increment_at(self, price: int) -> int:
        """Return the step from a ladder price to the next one up (the last step at the top)."""
        i = self.index(price)
        if i + 1 < self.size:
            return self.price_at(i + 1) - price
        return price - self.price_at(i - 1)


@dataclass(frozen=True, slots=True)
class UniformLadder(PriceLadder):
    """Probabilities on a uniform tick grid inside ``[tick, 1 - tick]`` (Polymarket)."""

    tick: int
    kind = "uniform"
    quote = Quote.PROBABILITY

    @property
    def name(self) -> str:
        """Return ``uniform`` (the tick is stored with the instrument)."""
        return "uniform"

    @property
    def min_price(self) -> int:
        """Return ``tick``."""
        return self.tick

    @property
    def max_price(self) -> int:
        """Return ``1 - tick``."""
        return MICRO - self.tick

    @property
    def min_increment(self) -> int:
        """Return the tick."""
        return self.tick

    @property
    def size(self) -> int:
        """Return the number of grid prices."""
        return (MICRO - self.tick) // self.tick

    def contains(self, price: int) -> bool:
        """Return whether ``price`` lies on the tick grid inside ``[tick, 1 - tick]``."""
        return price % self.tick == 0 and self.tick <= price <= MICRO - self.tick

    def round_down(self, price: int) -> int:
        """Round down to the grid and clamp into ``[tick, 1 - tick]``."""
        p = (price // self.tick) * self.tick
        return max(self.tick, min(MICRO - self.tick, p))

    def round_up(self, price: int) -> int:
        """Round up to the grid and clamp into ``[tick, 1 - tick]``."""
        p = -((-price) // self.tick) * self.tick
        return max(self.tick, min(MICRO - self.tick, p))

    def index(self, price: int) -> int:
        """Return ``price / tick - 1``."""
        if not self.contains(price):
            raise ValueError(f"price {price} is not on the {self.tick}-micro grid")
        return price // self.tick - 1

    def price_at(self, index: int) -> int:
        """Return ``(index + 1) * tick``."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        return (index + 1) * self.tick


def _build(start: int, bands: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    prices = [start]
    for upper, step in bands:
        if (upper - prices[-1]) % step:
            raise LadderError(f"band to {upper} is not a whole number of {step} steps")
        prices.extend(range(prices[-1] + step, upper + 1, step))
    return tuple(prices)


@dataclass(frozen=True, slots=True)
class OddsLadder(PriceLadder):
    """Decimal odds on a ladder whose step grows with the price (Betfair's 1.01-1000).

    Parameters
    ----------
    start : int
        The lowest odds (micro), e.g. ``1_010_000``.
    bands : tuple[tuple[int, int], ...]
        ``(upper, step)`` pairs in micro: from the previous upper bound (or ``start``) up to and
        including ``upper``, prices move by ``step``.
    """

    start: int
    bands: tuple[tuple[int, int], ...]
    label: str = "odds"
    prices: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _index: dict[int, int] = field(init=False, repr=False, compare=False)
    kind = "odds"
    quote = Quote.ODDS

    @property
    def name(self) -> str:
        """Return the ladder's label."""
        return self.label

    def __post_init__(self) -> None:
        prices = _build(self.start, self.bands)
        if prices[0] <= MICRO:
            raise LadderError("decimal odds must be above 1.0")
        object.__setattr__(self, "prices", prices)
        object.__setattr__(self, "_index", {p: i for i, p in enumerate(prices)})

    @property
    def min_price(self) -> int:
        """Return the lowest odds."""
        return self.prices[0]

    @property
    def max_price(self) -> int:
        """Return the highest odds."""
        return self.prices[-1]

    @property
    def min_increment(self) -> int:
        """Return the first band's step."""
        return self.prices[1] - self.prices[0]

    @property
    def size(self) -> int:
        """Return the number of ladder prices."""
        return len(self.prices)

    def contains(self, price: int) -> bool:
        """Return whether ``price`` is one of the ladder's odds."""
        return price in self._index

    def round_down(self, price: int) -> int:
        """Return the highest ladder odds ``<= price`` (the lowest odds below the ladder)."""
        i = bisect_right(self.prices, price) - 1
        return self.prices[max(0, i)]

    def round_up(self, price: int) -> int:
        """Return the lowest ladder odds ``>= price`` (the highest odds above the ladder)."""
        i = bisect_left(self.prices, price)
        return self.prices[min(len(self.prices) - 1, i)]

    def index(self, price: int) -> int:
        """Return the position of ladder odds."""
        try:
            return self._index[price]
        except KeyError:
            raise ValueError(f"odds {price / MICRO} are not on the ladder") from None

    def price_at(self, index: int) -> int:
        """Return the odds at ``index``."""
        if not 0 <= index < len(self.prices):
            raise IndexError(index)
        return self.prices[index]


def _m(x: str) -> int:
    whole, _, frac = x.partition(".")
    return int(whole) * MICRO + int((frac + "000000")[:6])


BETFAIR_ODDS = OddsLadder(
    start=_m("1.01"),
    bands=(
        (_m("2"), _m("0.01")),
        (_m("3"), _m("0.02")),
        (_m("4"), _m("0.05")),
        (_m("6"), _m("0.1")),
        (_m("10"), _m("0.2")),
        (_m("20"), _m("0.5")),
        (_m("30"), _m("1")),
        (_m("50"), _m("2")),
        (_m("100"), _m("5")),
        (_m("1000"), _m("10")),
    ),
    label="betfair",
)
"""Betfair's standard odds ladder, 1.01 to 1000 (350 prices)."""

NAMED_LADDERS: dict[str, PriceLadder] = {BETFAIR_ODDS.name: BETFAIR_ODDS}
"""Non-uniform ladders by stored name (a uniform ladder is rebuilt from the tick)."""
