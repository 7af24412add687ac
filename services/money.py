"""Exact money and quantity arithmetic in integer micro-units.

All balances, prices and share quantities inside the engine are plain ``int`` values in
micro-units (1e-6), the precision of USDC and of outcome tokens:

* a price of 0.53 is ``530_000`` micro-USDC per share;
* 12.5 shares are ``12_500_000`` micro-shares;
* a cash amount of 10,000 USDC is ``10_000_000_000`` micro-USDC.

Order and fill quantities are kept on a lot grid of 0.01 share (``LOT = 10_000`` micro-shares) and
prices on a tick grid of at least 0.0001 (100 micro), so ``notional(size, price)`` is always an
exact integer. Floats are only produced for display and metrics.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from utils.errors import BotError

MICRO = 1_000_000
"""Micro-units per unit (1 USDC, 1 share, or a probability of 1.0)."""

LOT = 10_000
"""Smallest tradable share quantity in micro-shares (0.01 share)."""

FEE_QUANTUM = 10
"""Fees are rounded to 5 decimals of USDC, i.e. multiples of 10 micro-USDC."""


class MoneyParseError(BotError, ValueError):
    """A decimal string from a venue or a config could not be turned into micro-units."""


def to_micro(value: str | int | float | Decimal) -> int:
    """Convert a decimal amount (``"0.53"``, ``12.5``) to integer micro-units, exactly.

    Parameters
    ----------
    value : str | int | float | Decimal
        The amount in units (USDC, shares or probability). Strings are parsed as decimals, so
        ``"0.1"`` is exact; floats are converted through their shortest repr.

    Returns
    -------
    int
        The amount in micro-units, rounded half-up below the micro.

    Raises
    ------
    MoneyParseError
        If ``value`` is not a finite number.
    """
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise MoneyParseError(f"not a decimal number: {value!r}") from exc
    if not d.is_finite():
        raise MoneyParseError(f"not a finite number: {value!r}")
    return int((d * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_micro(value: int) -> Decimal:
    """Return micro-units as an exact ``Decimal`` in units."""
    return Decimal(value) / MICRO


def to_float(value: int) -> float:
    """Return micro-units as a float in units (display and metrics only)."""
    return value / MICRO


def fmt_usd(value: int) -> str:
    """Format micro-USDC as ``"1,234.56"`` (two decimals, rounded half-up)."""
    d = from_micro(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{d:,}"


def fmt_money(value: int, currency: str = "USDC") -> str:
    """Format micro-units of ``currency`` as ``"1,234.56 GBP"`` (two decimals, half-up)."""
    return f"{fmt_usd(value)} {currency}"


def floor_lot(size: int) -> int:
    """Round a micro-share quantity down to Polymarket's lot grid (0.01 share).

    Where an instrument is at hand, use ``Instrument.floor_lot`` (its own lot) instead.
    """
    return (size // LOT) * LOT


def notional(size: int, price: int) -> int:
    """Return the exact micro-USDC value of ``size`` micro-shares at ``price`` micro per share.

    The result is exact when ``size`` is on the lot grid and ``price`` on a tick grid of 0.0001
    or coarser; otherwise it is rounded half-up to the micro.
    """
    q, r = divmod(size * price, MICRO)
    if r * 2 >= MICRO:
        q += 1
    return q


def taker_fee(size: int, price: int, rate: Decimal, exponent: int = 1) -> int:
    """Return the Polymarket taker fee in micro-USDC for one fill.

    ``fee = shares * rate * (p * (1 - p)) ** exponent``, rounded half-up to 5 decimals of USDC.

    Parameters
    ----------
    size : int
        Filled quantity in micro-shares.
    price : int
        Fill price in micro-USDC per share.
    rate : Decimal
        The market's fee rate (e.g. ``Decimal("0.05")``); zero means fee-free.
    exponent : int
        The fee schedule's exponent (1 on Polymarket in 2026).
    """
    if rate == 0 or size == 0:
        return 0
    shares = Decimal(size) / MICRO
    p = Decimal(price) / MICRO
    fee = shares * rate * (p * (1 - p)) ** exponent
    fee = fee.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)
    return int(fee * MICRO)


def split_cost(cost: int, qty_closed: int, qty_total: int) -> int:
    """Return the part of an integer cost basis that belongs to ``qty_closed`` of ``qty_total``.

    Rounded down, so the remaining basis (``cost - part``) absorbs the remainder and the ledger
    stays exact: the parts always add back up to ``cost``.
    """
    if qty_closed >= qty_total:
        return cost
    return (cost * qty_closed) // qty_total


def decimal_to_lot(value: Decimal) -> int:
    """Convert a share quantity in units to micro-shares floored to the lot grid."""
    return floor_lot(int((value * MICRO).to_integral_value(rounding=ROUND_DOWN)))
