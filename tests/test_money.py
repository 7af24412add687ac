"""Tests for services/money.py: exact integer micro-unit arithmetic, checked against Decimal."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.money import (
    FEE_QUANTUM,
    LOT,
    MICRO,
    MoneyParseError,
    decimal_to_lot,
    floor_lot,
    fmt_usd,
    from_micro,
    notional,
    split_cost,
    taker_fee,
    to_float,
    to_micro,
)

FAST = settings(max_examples=100, deadline=None)

# Sizes on the 0.01-share lot grid (up to 10 million shares) and prices on the finest tick grid
# (0.0001) strictly inside (0, 1).
lot_sizes = st.integers(min_value=0, max_value=1_000_000_000).map(lambda n: n * LOT)
tick_prices = st.integers(min_value=1, max_value=9_999).map(lambda n: n * 100)
fee_rates = st.sampled_from(["0", "0.0001", "0.01", "0.02", "0.0625", "0.1", "0.25", "1"]).map(
    Decimal
)


def ref_fee(size: int, price: int, rate: Decimal, exponent: int = 1) -> int:
    """Reference Polymarket taker fee in micro-USDC, computed in Decimal from unit values."""
    shares = Decimal(size) / Decimal(MICRO)
    p = Decimal(price) / Decimal(MICRO)
    fee = (shares * rate * (p * (Decimal(1) - p)) ** exponent).quantize(
        Decimal("0.00001"), rounding=ROUND_HALF_UP
    )
    micro = fee * MICRO
    assert micro == micro.to_integral_value()
    return int(micro)


# ---------------------------------------------------------------------------- to_micro
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.53", 530_000),
        ("12.5", 12_500_000),
        ("10000", 10_000_000_000),
        ("0.1", 100_000),
        ("0.000001", 1),
        ("0.0000005", 1),  # half-up below the micro
        ("0.0000004999", 0),
        ("-1.25", -1_250_000),
        (0.1, 100_000),  # float through its shortest repr, not 0.1000000000000000055...
        (0.3, 300_000),
        (12.5, 12_500_000),
        (7, 7_000_000),
        (Decimal("0.123456"), 123_456),
        ("1e-3", 1_000),
    ],
)
def test_to_micro_exact(value: object, expected: int) -> None:
    assert to_micro(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "", "nan", "inf", "-Infinity", float("nan"), float("inf")])
def test_to_micro_rejects_non_finite_and_garbage(bad: object) -> None:
    with pytest.raises(MoneyParseError):
        to_micro(bad)  # type: ignore[arg-type]


@FAST
@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_to_micro_round_trips_every_micro_amount(micro: int) -> None:
    text = str(Decimal(micro) / MICRO)
    assert to_micro(text) == micro
    assert from_micro(micro) == Decimal(micro) / MICRO
    assert to_micro(from_micro(micro)) == micro


@FAST
@given(st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=9))
def test_to_micro_matches_decimal_half_up(d: Decimal) -> None:
    expected = int((d * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert to_micro(str(d)) == expected


@FAST
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999_999))
def test_to_micro_of_two_decimal_floats_is_exact(units: int, micros: int) -> None:
    # A float typed by a user ("0.53") must land on the exact micro, not one below.
    value = units + (micros // 10_000) / 100
    expected = units * MICRO + (micros // 10_000) * 10_000
    assert to_micro(value) == expected


def test_display_helpers() -> None:
    assert fmt_usd(1_234_565_000) == "1,234.57"
    assert fmt_usd(1_234_564_999) == "1,234.56"
    assert fmt_usd(0) == "0.00"
    assert to_float(530_000) == 0.53


# ---------------------------------------------------------------------------- lots
@FAST
@given(st.integers(min_value=0, max_value=10**15))
def test_floor_lot(size: int) -> None:
    f = floor_lot(size)
    assert f % LOT == 0
    assert 0 <= size - f < LOT


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.239", 1_230_000), ("0.009", 0), ("5", 5_000_000), ("0.0199999", 10_000)],
)
def test_decimal_to_lot_floors(value: str, expected: int) -> None:
    assert decimal_to_lot(Decimal(value)) == expected


# ---------------------------------------------------------------------------- notional
def test_notional_examples() -> None:
    assert notional(100 * MICRO, 500_000) == 50 * MICRO  # 100 shares at 0.50 = 50 USDC
    assert notional(12_340_000, 530_000) == 6_540_200  # 12.34 * 0.53 = 6.5402
    assert notional(LOT, 100) == 1  # 0.01 share at 0.0001 = 0.000001 USDC
    assert notional(0, 990_000) == 0


@FAST
@given(lot_sizes, tick_prices)
def test_notional_exact_on_lot_and_tick_grids(size: int, price: int) -> None:
    exact = Decimal(size) / MICRO * (Decimal(price) / MICRO)
    assert Decimal(notional(size, price)) / MICRO == exact
    assert (size * price) % MICRO == 0


@FAST
@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=MICRO))
def test_notional_off_grid_rounds_half_up(size: int, price: int) -> None:
    exact = Decimal(size) * Decimal(price) / MICRO
    assert notional(size, price) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@FAST
@given(lot_sizes, lot_sizes, tick_prices)
def test_notional_is_additive_on_grid(a: int, b: int, price: int) -> None:
    assert notional(a + b, price) == notional(a, price) + notional(b, price)


# ---------------------------------------------------------------------------- fees
@pytest.mark.parametrize(
    ("shares", "price", "rate", "expected_usdc"),
    [
        ("100", "0.50", "0.02", "0.5"),  # 100 * 0.02 * 0.25
        ("100", "0.90", "0.02", "0.18"),  # 100 * 0.02 * 0.09
        ("10", "0.53", "0.0625", "0.15569"),  # 0.155687.5 -> half-up
        ("1", "0.01", "0.02", "0.0002"),  # 0.000198 -> 0.00020
        ("0.01", "0.50", "0.02", "0.00005"),  # exactly 0.00005
        ("0.01", "0.01", "0.02", "0"),  # 0.00000198 -> 0.00000
        ("0.03", "0.50", "0.002", "0.00002"),  # 0.000015 -> half-up to 0.00002
        ("100", "0.50", "0", "0"),
    ],
)
def test_taker_fee_examples(shares: str, price: str, rate: str, expected_usdc: str) -> None:
    fee = taker_fee(to_micro(shares), to_micro(price), Decimal(rate))
    assert fee == to_micro(expected_usdc)


def test_taker_fee_exponent() -> None:
    # 100 * 0.1 * (0.25 ** 2) = 0.625
    assert taker_fee(100 * MICRO, 500_000, Decimal("0.1"), exponent=2) == 625_000
    assert taker_fee(100 * MICRO, 500_000, Decimal("0.1"), exponent=1) == 2_500_000


@FAST
@given(lot_sizes, tick_prices, fee_rates, st.sampled_from([1, 2]))
def test_taker_fee_matches_decimal_reference(
    size: int, price: int, rate: Decimal, exponent: int
) -> None:
    fee = taker_fee(size, price, rate, exponent)
    assert fee == ref_fee(size, price, rate, exponent)
    assert fee % FEE_QUANTUM == 0
    assert fee >= 0


@FAST
@given(lot_sizes, st.integers(min_value=1, max_value=4_999).map(lambda n: n * 100), fee_rates)
def test_taker_fee_symmetric_and_peaks_at_half(size: int, price: int, rate: Decimal) -> None:
    # p(1-p) is symmetric around 0.5 and maximal there, which is what the portfolio's worst-case
    # fee reservation relies on.
    assert taker_fee(size, price, rate) == taker_fee(size, MICRO - price, rate)
    assert taker_fee(size, price, rate) <= taker_fee(size, MICRO // 2, rate)


# ---------------------------------------------------------------------------- cost split
def test_split_cost_examples() -> None:
    assert split_cost(100, 1, 3) == 33
    assert split_cost(100, 3, 3) == 100
    assert split_cost(100, 5, 3) == 100  # closing more than held takes the whole basis
    assert split_cost(0, 1, 2) == 0


@FAST
@given(
    st.integers(min_value=0, max_value=10**13),
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=20),
)
def test_split_cost_parts_add_back_up(cost: int, chunks: list[int]) -> None:
    qty = sum(chunks)
    parts = []
    remaining_cost, remaining_qty = cost, qty
    for c in chunks:
        part = split_cost(remaining_cost, c, remaining_qty)
        assert 0 <= part <= remaining_cost
        parts.append(part)
        remaining_cost -= part
        remaining_qty -= c
    assert remaining_qty == 0
    assert remaining_cost == 0
    assert sum(parts) == cost


@FAST
@given(st.integers(min_value=0, max_value=10**13), st.integers(min_value=1, max_value=10**9))
def test_split_cost_is_proportional_rounded_down(cost: int, total: int) -> None:
    closed = total // 3
    part = split_cost(cost, closed, total)
    assert part == (Decimal(cost) * closed / total).to_integral_value(rounding="ROUND_FLOOR")
