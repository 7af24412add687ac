"""Fee models, one per venue: what a fill costs and what a settled market charges.

* :class:`FeeSchedule` -- Polymarket: takers pay ``shares * rate * (p * (1 - p)) ** exponent``
  per fill, rounded half-up to 5 decimals; makers pay nothing; nothing at settlement.
* :class:`NetWinningsCommission` -- Betfair: fills are free; when a market settles, a strategy
  whose net result on that market is a win pays ``net_winnings * rate * (1 - discount)``, rounded
  half-up to the penny (0.01 of the currency). A net loss pays nothing.

Amounts are integer micro-units of the instrument's currency.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from services.money import FEE_QUANTUM, MICRO, taker_fee

PENNY = 10_000
"""0.01 of a currency unit in micro-units: the rounding quantum of Betfair's commission."""


class FeeModel(ABC):
    """How a venue charges: per fill, and per market at settlement."""

    kind: str

    @property
    @abstractmethod
    def rate(self) -> Decimal:
        """Return the headline rate (taker rate or commission rate), for display and storage."""

    @property
    def exponent(self) -> int:
        """Return the fee curve's exponent (1 where the model has none)."""
        return 1

    @property
    def enabled(self) -> bool:
        """Return whether this model ever charges anything."""
        return self.rate > 0

    @abstractmethod
    def fill_fee(self, size: int, price: int, maker: bool) -> int:
        """Return the fee in micro-units for one fill of ``size`` at ``price``."""

    def taker_fee(self, size: int, price: int) -> int:
        """Return the fee a taker pays for one fill."""
        return self.fill_fee(size, price, maker=False)

    def worst_fee(self, size: int, price: int, lot: int) -> int:
        """Return an upper bound of the taker fees an order of ``size`` at limit ``price`` can pay.

        The order may fill in several fills of at least one ``lot`` each, at any price up to its
        limit; the bound covers per-fill rounding.
        """
        return 0

    @property
    def charges_commission(self) -> bool:
        """Return whether a settled market charges commission on net winnings."""
        return False

    def commission(self, net_winnings: int) -> int:
        """Return what a settled market charges on a strategy's net result there (micro)."""
        return 0


@dataclass(frozen=True, slots=True)
class FeeSchedule(FeeModel):
    """Polymarket's taker fee: ``fee = shares * rate * (p * (1 - p)) ** exponent``.

    Makers pay nothing. ``rate == 0`` means the market is fee-free.
    """

    rate: Decimal = Decimal(0)
    exponent: int = 1
    kind = "polymarket_taker"

    def fill_fee(self, size: int, price: int, maker: bool) -> int:
        """Return the taker curve's fee (0 for makers), rounded to 5 decimals."""
        if maker:
            return 0
        return taker_fee(size, price, self.rate, self.exponent)

    def taker_fee(self, size: int, price: int) -> int:
        """Return the taker curve's fee, rounded half-up to 5 decimals."""
        return taker_fee(size, price, self.rate, self.exponent)

    def worst_fee(self, size: int, price: int, lot: int) -> int:
        """Return the fee at the worst price up to the limit plus half a quantum per lot."""
        worst_fee_price = min(price, MICRO // 2)  # p(1-p) peaks at 0.5
        fee = taker_fee(size, worst_fee_price, self.rate, self.exponent)
        if fee:
            # Fees are rounded per fill and every fill is at least one lot, so per-fill rounding
            # can add at most half a fee quantum per lot on top of the whole-order figure.
            fee += (FEE_QUANTUM // 2) * (size // lot)
        return fee


@dataclass(frozen=True, slots=True)
class NetWinningsCommission(FeeModel):
    """Betfair's commission on net market winnings.

    Parameters
    ----------
    base_rate : Decimal
        The market's base rate as a fraction (``marketBaseRate`` 5 -> ``Decimal("0.05")``).
    discount : Decimal
        The account's discount rate as a fraction (0 for none).
    """

    base_rate: Decimal = Decimal("0.05")
    discount: Decimal = Decimal(0)
    kind = "net_winnings_commission"

    def __post_init__(self) -> None:
        if not (0 <= self.base_rate < 1 and 0 <= self.discount <= 1):
            raise ValueError(
                f"commission rate {self.base_rate} and discount {self.discount} must be fractions"
            )

    @property
    def rate(self) -> Decimal:
        """Return the effective rate, ``base_rate * (1 - discount)``."""
        return self.base_rate * (1 - self.discount)

    @property
    def charges_commission(self) -> bool:
        """Return True: the market charges commission when it settles."""
        return True

    def fill_fee(self, size: int, price: int, maker: bool) -> int:
        """Return 0: matched bets pay nothing until the market settles."""
        return 0

    def commission(self, net_winnings: int) -> int:
        """Return ``net_winnings * rate`` rounded half-up to the penny, 0 on a net loss."""
        if net_winnings <= 0:
            return 0
        c = (Decimal(net_winnings) * self.rate / PENNY).quantize(Decimal(1), ROUND_HALF_UP)
        return int(c) * PENNY


def fee_model(kind: str, rate: Decimal, exponent: int = 1) -> FeeModel:
    """Rebuild a fee model from its stored ``kind``, rate and exponent.

    Raises
    ------
    ValueError
        If ``kind`` is not a known model.
    """
    if kind == FeeSchedule.kind:
        return FeeSchedule(rate, exponent)
    if kind == NetWinningsCommission.kind:
        return NetWinningsCommission(rate)
    raise ValueError(f"unknown fee model {kind!r}")
