"""The shared sizing helper: modes, Kelly math, caps, lot grid, minimum size, validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.money import LOT, MICRO
from services.strategies.bundles import ArbParams
from services.strategies.sizing import Sizer, SizingParams, kelly_fraction
from tests.conftest import make_instrument
from tests.strategies.harness import px, sh

CASH = 10_000 * MICRO
MIN = sh(5)


def sizer(**kw: object) -> Sizer:
    return Sizer(SizingParams.model_validate(kw))


def test_fixed_shares_and_fixed_notional() -> None:
    assert sizer(mode="fixed_shares", shares="12.345").size(px(0.4), CASH, MIN) == sh("12.34")
    assert sizer(mode="fixed_notional", notional_usd=50).size(px(0.4), CASH, MIN) == sh(125)
    assert sizer(mode="fixed_notional", notional_usd=50).size(px(0.3), CASH, MIN) == sh("166.66")


def test_kelly_fraction_math() -> None:
    assert kelly_fraction(0.6, 0.5) == pytest.approx(0.2)
    assert kelly_fraction(0.5, 0.5) == 0.0  # no edge
    assert kelly_fraction(0.4, 0.5) == 0.0  # negative edge
    assert kelly_fraction(0.9, 1.0) == 0.0  # invalid cost
    # quarter Kelly of 0.2 = 5 % of 10,000 USD = 500 USD at 0.50 = 1,000 shares
    s = sizer(
        mode="kelly",
        kelly_fraction="0.25",
        max_shares=1e6,
        max_notional_usd=1e6,
        max_cash_fraction=1,
    )
    assert s.size(px(0.5), CASH, MIN, prob=0.6) == sh(1000)
    assert s.size(px(0.5), CASH, MIN, prob=0.5) == 0
    assert s.size(px(0.5), CASH, MIN, prob=None) == 0  # kelly needs an edge estimate
    # The fee counts in the cost: at 0.50 with a 0.10 all-in cost the edge is gone.
    assert s.size(px(0.5), CASH, MIN, prob=0.6, cost_per_share=px(0.6)) == 0
    half = sizer(
        mode="kelly",
        kelly_fraction="0.5",
        max_shares=1e6,
        max_notional_usd=1e6,
        max_cash_fraction=1,
    )
    assert half.size(px(0.5), CASH, MIN, prob=0.6) == sh(2000)


def test_size_for_counts_the_taker_fee() -> None:
    s = sizer(
        mode="kelly",
        kelly_fraction="0.5",
        max_notional_usd=1e6,
        max_shares=1e6,
        max_cash_fraction=1,
    )
    free = make_instrument(fee_rate="0")
    fee = make_instrument(fee_rate="0.07")  # 0.0175 per share at 0.50
    assert s.size_for(free, px(0.5), CASH, prob=0.51) > 0
    assert s.size_for(fee, px(0.5), CASH, prob=0.51) == 0
    assert s.size_for(fee, px(0.5), CASH, prob=0.51, taker=False) > 0  # makers pay no fee


def test_caps_and_minimum_size() -> None:
    s = sizer(mode="fixed_notional", notional_usd=1000, max_notional_usd=200, max_shares=300)
    assert s.size(px(0.5), CASH, MIN) == sh(300)
    assert s.size(px(0.8), CASH, MIN) == sh(250)  # 200 USD at 0.80
    assert s.size(px(0.5), CASH, MIN, limit=sh("77.777")) == sh("77.77")
    assert s.size(px(0.5), 100 * MICRO, MIN) == sh(40)  # 20 % of 100 USD of cash
    assert s.size(px(0.5), CASH, MIN, limit=sh(4)) == 0  # below the 5-share minimum
    assert s.size(px(0.5), 0, MIN) == 0
    assert sizer(mode="fixed_shares", shares=3).size(px(0.5), CASH, MIN) == 0


def test_sell_size() -> None:
    s = sizer(mode="fixed_shares", shares=25)
    assert s.sell_size(px(0.5), sh(100), MIN) == sh(25)
    assert s.sell_size(px(0.5), sh(10), MIN) == sh(10)
    assert s.sell_size(px(0.5), sh(3), MIN) == 0


@given(
    mode=st.sampled_from(["fixed_shares", "fixed_notional", "kelly"]),
    price=st.integers(1_000, 999_000),
    cash=st.integers(0, 10**12),
    prob=st.floats(0, 1),
    limit=st.one_of(st.none(), st.integers(0, 10**10)),
    min_size=st.integers(0, 10**8),
)
def test_any_size_is_on_the_lot_grid_within_caps_or_zero(
    mode: str, price: int, cash: int, prob: float, limit: int | None, min_size: int
) -> None:
    s = sizer(mode=mode, shares=33, notional_usd=70, max_shares=500, max_notional_usd=120)
    q = s.size(price, cash, min_size, prob=prob, limit=limit)
    if q:
        assert q % LOT == 0 and q >= min_size
        assert q <= sh(500) and q * price <= 120 * MICRO * MICRO
        assert q * price <= 0.2 * cash * MICRO + price
        assert limit is None or q <= limit


def test_full_kelly_is_refused_and_partial_blocks_merge_with_the_class_default() -> None:
    with pytest.raises(ValidationError, match="full Kelly"):
        SizingParams(kelly_fraction=Decimal("0.6"))
    assert SizingParams(kelly_fraction=Decimal("0.5")).kelly_fraction == Decimal("0.5")
    p = ArbParams.model_validate({"sizing": {"mode": "kelly"}})
    assert p.sizing.mode == "kelly"
    assert p.sizing.notional_usd == Decimal("1000")  # the arbitrage default, not the generic 50
    with pytest.raises(ValidationError) as ei:
        ArbParams.model_validate({"sizing": {"modes": "kelly"}})
    assert ei.value.errors()[0]["loc"] == ("sizing", "modes")
