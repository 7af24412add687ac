"""Each control of the risk chain on crafted portfolios, including the exact boundaries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.instruments import Side
from services.portfolio import Portfolio
from services.risk.breakers import BreakerBoard
from services.risk.chain import TradingStatusControl
from services.risk.controls import (
    DailyLossControl,
    DrawdownControl,
    ExposureControl,
    GlobalExposureControl,
    OpenPositionsControl,
    OrderSizeControl,
    PositionLimitControl,
    RateLimitControl,
    TradingStateControl,
    ZoneControl,
    build_chain,
    cap_kelly_fraction,
    kelly_rejection,
)
from services.risk.data_guard import DataGuard
from services.risk.kill_switch import KillSwitch
from services.risk.limits import LimitsBook, order_notional, zone_of
from services.risk.sanity import (
    FundsControl,
    PostOnlyControl,
    PriceControl,
    SelfCrossControl,
    SizeControl,
)
from services.strategies.base import StrategyParams
from services.strategies.sizing import SizingParams
from tests.conftest import make_instrument
from tests.risk.conftest import (
    CAPITAL,
    T0,
    FakeEnv,
    book,
    buy_fill,
    intent,
    make_config,
    px,
    resting,
    usd,
    view,
)
from utils.config import parse_config
from utils.errors import ConfigError
from utils.safety_config import BreakerConfig, RiskConfig


def limits(**kw: object) -> LimitsBook:
    return LimitsBook(make_config({"risk": kw}).risk)


def lim(**kw: object) -> LimitsBook:
    """Limits with only the given keys set (every other limit off)."""
    off = {k: None for k in type(RiskConfig().limits).model_fields}
    return LimitsBook(make_config({"risk": {"limits": {**off, **kw}}}).risk)


# ------------------------------------------------------------------------------ max_order_usd
def test_order_notional_exactly_at_the_limit_passes_one_cent_more_is_refused() -> None:
    c = OrderSizeControl(lim(max_order_usd=1000))
    pf = Portfolio("s1", CAPITAL)
    it = intent(size=2000, price=0.5)  # 1,000.00
    assert c.check(it, view(it, pf)) is None
    it = intent(size=2000.02, price=0.5)  # 1,000.01
    rej = c.check(it, view(it, pf))
    assert rej is not None
    assert rej.message == "order notional 1,000.01 exceeds max_order_usd 1,000.00"
    assert (rej.value, rej.limit, rej.control) == ("1,000.01", "1,000.00", "max_order")


def test_market_order_notional_walks_the_book() -> None:
    pf = Portfolio("s1", CAPITAL)
    bk = book(asks=((0.50, 10), (0.60, 10)))
    it = intent(size=25, price=None)
    # 10 @ 0.50 + 10 @ 0.60 + 5 @ worst price 0.99
    assert order_notional(it, view(it, pf, bk=bk)) == usd(5 + 6 + 4.95)


def test_reducing_orders_skip_size_limits() -> None:
    c = OrderSizeControl(lim(max_order_usd=1))
    pf = Portfolio("s1", CAPITAL)
    it = intent(side=Side.SELL, size=100, price=0.5)
    assert c.check(it, view(it, pf)) is None


def test_per_strategy_override_replaces_only_written_keys() -> None:
    cfg = parse_config(
        {
            "strategies": [
                {"name": "s1", "class": "MarketMaker"},
                {"name": "s2", "class": "MarketMaker"},
            ],
            "risk": {
                "limits": {"max_order_usd": 1000, "max_orders_per_s": 7},
                "per_strategy": {"s1": {"max_order_usd": 100}},
            },
        },
        "t.yaml",
    )
    book_ = LimitsBook(cfg.risk)
    assert book_.for_strategy("s1").max_order == usd(100)
    assert book_.for_strategy("s1").max_orders_per_s == 7  # inherited
    assert book_.for_strategy("s2").max_order == usd(1000)


def test_override_naming_an_unknown_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(
            {
                "strategies": [{"name": "s1", "class": "MarketMaker"}],
                "risk": {"per_strategy": {"typo": {"max_order_usd": 1}}},
            },
            "t.yaml",
        )
    assert ei.value.key == "risk"
    assert "names strategy 'typo'" in ei.value.message


# ------------------------------------------------------------------------------ position / exposure
def test_position_limit_counts_position_at_mark_resting_buys_and_the_order() -> None:
    inst = make_instrument("Y1")
    pf = Portfolio("s1", CAPITAL)
    buy_fill(pf, inst, 1000, 0.40)  # 1000 shares, marked at 0.50 -> 500.00
    env = FakeEnv(orders=[resting(1, Side.BUY, 0.45, 200)], marks={"Y1": px(0.5)})  # 90.00
    c = PositionLimitControl(lim(max_position_usd=1000))
    ok = intent(size=820, price=0.50)  # 410.00 -> total exactly 1,000.00
    assert c.check(ok, view(ok, pf, inst, env=env)) is None
    over = intent(size=820.02, price=0.50)  # 410.01
    rej = c.check(over, view(over, pf, inst, env=env))
    assert rej is not None and rej.value == "1,000.01" and rej.limit == "1,000.00"
    assert "max_position_usd 1,000.00" in rej.message


def test_exposure_limit_over_all_instruments() -> None:
    y, n = make_instrument("Y1"), make_instrument("N1", complement_id="Y1")
    pf = Portfolio("s1", CAPITAL)
    buy_fill(pf, y, 100, 0.5)
    buy_fill(pf, n, 100, 0.5)
    env = FakeEnv(marks={"Y1": px(0.6), "N1": px(0.4)})  # 60 + 40 = 100.00
    c = ExposureControl(lim(max_exposure_usd=150))
    ok = intent("Y2", size=100, price=0.5)  # 50.00 -> 150.00
    assert c.check(ok, view(ok, pf, env=env)) is None
    over = intent("Y2", size=100.02, price=0.5)
    rej = c.check(over, view(over, pf, env=env))
    assert rej is not None and rej.message == "exposure 150.01 would exceed max_exposure_usd 150.00"


def test_global_exposure_sums_every_strategy() -> None:
    inst = make_instrument("Y1")
    a, b = Portfolio("s1", CAPITAL), Portfolio("s2", CAPITAL)
    buy_fill(a, inst, 100, 0.5)
    buy_fill(b, inst, 100, 0.5)
    env = FakeEnv(marks={"Y1": px(0.5)}, pfs=[a, b])  # 100.00 across both
    c = GlobalExposureControl(limits(global_max_exposure_usd=110))
    ok = intent(size=20, price=0.5)
    assert c.check(ok, view(ok, a, env=env)) is None
    over = intent(size=20.02, price=0.5)
    rej = c.check(over, view(over, a, env=env))
    assert rej is not None and "global_max_exposure_usd 110.00" in rej.message


def test_open_positions_limit_counts_held_and_bid_instruments() -> None:
    pf = Portfolio("s1", CAPITAL)
    buy_fill(pf, make_instrument("A"), 10, 0.5)
    env = FakeEnv(orders=[resting(1, Side.BUY, 0.4, 10, iid="B")])
    c = OpenPositionsControl(lim(max_open_positions=2))
    again = intent("A", size=10)
    assert c.check(again, view(again, pf, env=env)) is None  # already counted
    new = intent("C", size=10)
    rej = c.check(new, view(new, pf, env=env))
    assert rej is not None and rej.message == "2 open positions reached max_open_positions 2"
    c3 = OpenPositionsControl(lim(max_open_positions=3))
    assert c3.check(new, view(new, pf, env=env)) is None


# ------------------------------------------------------------------------------ losses
def test_daily_loss_reached_exactly_stops_entries() -> None:
    pf = Portfolio("s1", CAPITAL)
    c = DailyLossControl(lim(max_daily_loss_usd=500))
    it = intent(size=10)
    env = FakeEnv(day_start={"s1": CAPITAL + usd(499.99)})  # lost 499.99
    assert c.check(it, view(it, pf, env=env)) is None
    env = FakeEnv(day_start={"s1": CAPITAL + usd(500)})  # lost exactly 500.00
    rej = c.check(it, view(it, pf, env=env))
    assert rej is not None and rej.message == "daily loss 500.00 reached max_daily_loss_usd 500.00"
    sell = intent(side=Side.SELL, size=10)
    assert c.check(sell, view(sell, pf, env=env)) is None


def test_daily_loss_counts_unrealized() -> None:
    inst = make_instrument("Y1")
    pf = Portfolio("s1", CAPITAL)
    buy_fill(pf, inst, 1000, 0.5)
    env = FakeEnv(day_start={"s1": CAPITAL}, marks={"Y1": px(0.3)})  # -200.00 unrealized
    c = DailyLossControl(lim(max_daily_loss_usd=200))
    it = intent(size=10)
    rej = c.check(it, view(it, pf, env=env))
    assert rej is not None and rej.value == "200.00"


def test_drawdown_reached_exactly_stops_entries() -> None:
    pf = Portfolio("s1", CAPITAL)  # equity 10,000
    c = DrawdownControl(lim(max_drawdown_pct=20))
    it = intent(size=10)
    env = FakeEnv(peak={"s1": usd(12_500)})  # (12500-10000)/12500 = 20.00 %
    rej = c.check(it, view(it, pf, env=env))
    assert rej is not None and rej.message == "drawdown 20.00% reached max_drawdown_pct 20.00%"
    env = FakeEnv(peak={"s1": usd(12_499.99)})
    assert c.check(it, view(it, pf, env=env)) is None


# ------------------------------------------------------------------------------ rate limit
def test_rate_limit_allows_n_per_second_and_exempts_market_exits() -> None:
    c = RateLimitControl(lim(max_orders_per_s=3))
    pf = Portfolio("s1", CAPITAL)
    it = intent(size=10)
    for k in range(3):
        assert c.check(it, view(it, pf, now=T0 + k * 0.1)) is None
    rej = c.check(it, view(it, pf, now=T0 + 0.5))
    assert (
        rej is not None and rej.message == "3 orders in the last second reached max_orders_per_s 3"
    )
    exit_ = intent(side=Side.SELL, size=10, price=None)
    assert c.check(exit_, view(exit_, pf, now=T0 + 0.5)) is None
    # The first order leaves the 1-second window exactly 1 s later.
    assert c.check(it, view(it, pf, now=T0 + 1.0)) is None
    other = intent(size=10, strategy="s2")
    assert c.check(other, view(other, Portfolio("s2", CAPITAL), now=T0 + 1.0)) is None


# ------------------------------------------------------------------------------ sanity
@pytest.mark.parametrize(
    ("price", "ok"),
    [(0.01, True), (0.99, True), (0.505, False), (0.0, False), (1.0, False), (0.5, True)],
)
def test_price_on_the_tick_grid_inside_tick_and_one_minus_tick(price: float, ok: bool) -> None:
    it = intent(size=10, price=price)
    rej = PriceControl().check(it, view(it, Portfolio("s1", CAPITAL)))
    assert (rej is None) is ok
    if not ok:
        assert rej is not None and "tick grid 0.01 inside [0.01, 0.99]" in rej.message


def test_size_minimum_and_lot_grid() -> None:
    pf = Portfolio("s1", CAPITAL)
    at_min = intent(size=5)
    assert SizeControl().check(at_min, view(at_min, pf)) is None
    below = intent(size=4.99)
    rej = SizeControl().check(below, view(below, pf))
    assert rej is not None and rej.message == "size 4.99 is below the market minimum 5.00"
    off_lot = intent(size=5.001)
    rej = SizeControl().check(off_lot, view(off_lot, pf))
    assert rej is not None and "0.01 share" in rej.message


def test_post_only_must_not_cross() -> None:
    pf = Portfolio("s1", CAPITAL)
    bk = book(bids=((0.49, 10),), asks=((0.51, 10),))
    ok = intent(size=10, price=0.50, post_only=True)
    assert PostOnlyControl().check(ok, view(ok, pf, bk=bk)) is None
    cross = intent(size=10, price=0.51, post_only=True)
    rej = PostOnlyControl().check(cross, view(cross, pf, bk=bk))
    assert rej is not None and rej.message == "post-only buy at 0.51 would cross the best ask 0.51"
    sell = intent(side=Side.SELL, size=10, price=0.49, post_only=True)
    assert PostOnlyControl().check(sell, view(sell, pf, bk=bk)) is not None
    market = intent(size=10, price=None, post_only=True)
    assert PostOnlyControl().check(market, view(market, pf, bk=bk)) is not None


def test_no_self_crossing_with_own_resting_orders() -> None:
    pf = Portfolio("s1", CAPITAL)
    env = FakeEnv(orders=[resting(7, Side.SELL, 0.55, 10)])
    cross = intent(size=10, price=0.55)
    rej = SelfCrossControl().check(cross, view(cross, pf, env=env))
    assert rej is not None and "own resting sell order 7 at 0.55" in rej.message
    below = intent(size=10, price=0.54)
    assert SelfCrossControl().check(below, view(below, pf, env=env)) is None
    other = intent(size=10, price=0.60, strategy="s2")
    assert SelfCrossControl().check(other, view(other, Portfolio("s2", CAPITAL), env=env)) is None


def test_funds_no_negative_cash_and_no_short_sales() -> None:
    inst = make_instrument("Y1", fee_rate="0")
    pf = Portfolio("s1", usd(100))
    exact = intent(size=200, price=0.5)  # needs exactly 100.00
    assert FundsControl().check(exact, view(exact, pf, inst)) is None
    more = intent(size=200.02, price=0.5)
    rej = FundsControl().check(more, view(more, pf, inst))
    assert rej is not None and rej.message == "order needs 100.01 cash, available 100.00"
    buy_fill(pf, inst, 10, 0.5)
    sell = intent(side=Side.SELL, size=10.01, price=0.5)
    rej = FundsControl().check(sell, view(sell, pf, inst))
    assert rej is not None and "no short sales" in rej.message


def test_funds_include_the_worst_taker_fee() -> None:
    inst = make_instrument("Y1", fee_rate="0.02")
    pf = Portfolio("s1", usd(100))
    it = intent(size=200, price=0.5)  # 100.00 + fee 200 * 0.02 * 0.25 = 1.00
    rej = FundsControl().check(it, view(it, pf, inst))
    assert rej is not None and rej.value == "101.00"


# ------------------------------------------------------------------------------ zones
@pytest.mark.parametrize(
    ("price", "zone"),
    [
        (0.04, "outside"),
        (0.05, "Z1"),
        (0.199, "Z1"),
        (0.20, "Z2"),
        (0.40, "Z3"),
        (0.60, "Z4"),
        (0.80, "Z5"),
        (0.98, "Z5"),
        (0.99, "outside"),
    ],
)
def test_zone_boundaries(price: float, zone: str) -> None:
    assert zone_of(px(price), RiskConfig().zones) == zone


def test_directional_strategies_barred_from_chosen_zones_others_allowed() -> None:
    c = ZoneControl(limits(zones={"directional_blocked": ["Z5", "outside"]}))
    pf = Portfolio("s1", CAPITAL)
    it = intent(size=10, price=0.85)
    rej = c.check(it, view(it, pf, kind="directional"))
    assert rej is not None and rej.value == "Z5" and "barred for directional" in rej.message
    assert c.check(it, view(it, pf, kind="market_making")) is None
    assert c.check(it, view(it, pf, kind="arbitrage")) is None
    ok = intent(size=10, price=0.79)
    assert c.check(ok, view(ok, pf, kind="directional")) is None
    sell = intent(side=Side.SELL, size=10, price=0.85)
    assert c.check(sell, view(sell, pf, kind="directional")) is None
    market = intent(size=10, price=None)  # judged at the best ask 0.99 -> outside
    rej = c.check(market, view(market, pf, kind="directional", bk=book(asks=((0.99, 10),))))
    assert rej is not None and rej.value == "outside"


def test_unknown_zone_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as ei:
        make_config({"risk": {"zones": {"directional_blocked": ["Z9"]}}})
    assert "unknown zone 'Z9'" in ei.value.message


# ------------------------------------------------------------------------------ states
def test_trading_state_active_reducing_halted() -> None:
    ks = KillSwitch()
    c = TradingStateControl(ks)
    pf = Portfolio("s1", CAPITAL)
    buy, sell = intent(size=10), intent(side=Side.SELL, size=10)
    assert c.check(buy, view(buy, pf)) is None
    ks.activate(T0, "test", "cli", flatten=True, timeout_s=60)
    assert ks.state.value == "REDUCING"
    rej = c.check(buy, view(buy, pf))
    assert rej is not None and rej.value == "REDUCING" and "only reducing orders" in rej.message
    assert c.check(sell, view(sell, pf)) is None
    ks.halt()
    rej = c.check(sell, view(sell, pf))
    assert rej is not None and rej.value == "HALTED" and "only cancels" in rej.message


@pytest.mark.parametrize("status", ["paused", "disabled"])
def test_paused_and_disabled_strategies_may_only_reduce(status: str) -> None:
    pf = Portfolio("s1", CAPITAL)
    buy, sell = intent(size=10), intent(side=Side.SELL, size=10)
    rej = TradingStatusControl().check(buy, view(buy, pf, status=status))
    assert rej is not None and rej.message == f"strategy is {status}"
    assert TradingStatusControl().check(sell, view(sell, pf, status=status)) is None


def test_chain_first_refusal_wins_and_risk_enabled_false_keeps_sanity() -> None:
    ks = KillSwitch()
    book_ = lim(max_order_usd=1)
    chain = build_chain(book_, ks, BreakerBoard(BreakerConfig()), DataGuard())
    pf = Portfolio("s1", CAPITAL)
    big = intent(size=100, price=0.5)
    rej = chain.check(big, view(big, pf, env=FakeEnv()))
    assert rej is not None and rej.control == "max_order"
    ks.activate(T0, "stop", "cli", flatten=False, timeout_s=60)
    rej = chain.check(big, view(big, pf, env=FakeEnv()))
    assert rej is not None and rej.control == "trading_state"
    ks.deactivate(T0, "ok", "CONFIRM")
    book_.update(make_config({"risk": {"enabled": False, "limits": {"max_order_usd": 1}}}).risk)
    assert chain.check(big, view(big, pf, env=FakeEnv())) is None
    off_grid = intent(size=100, price=0.505)
    rej = chain.check(off_grid, view(off_grid, pf, env=FakeEnv()))
    assert rej is not None and rej.control == "price"


# ------------------------------------------------------------------------------ Kelly
class KellyParams(StrategyParams):
    sizing: SizingParams = SizingParams(mode="kelly", kelly_fraction=Decimal("0.5"))


def test_kelly_half_is_the_default_cap_quarter_can_be_required() -> None:
    half = KellyParams()
    assert kelly_rejection("k", half, RiskConfig()) is None
    quarter = RiskConfig(max_kelly_fraction=Decimal("0.25"))
    rej = kelly_rejection("k", half, quarter)
    assert rej is not None
    assert rej.message == "k: sizing.kelly_fraction 0.5 exceeds risk.max_kelly_fraction 0.25"
    assert (
        kelly_rejection("k", KellyParams(sizing=SizingParams(mode="fixed_shares")), quarter) is None
    )
    assert cap_kelly_fraction(1.0, RiskConfig()) == 0.5
    assert cap_kelly_fraction(0.1, quarter) == 0.1


def test_full_kelly_is_refused_unless_explicitly_allowed() -> None:
    with pytest.raises(ConfigError) as ei:
        make_config({"risk": {"max_kelly_fraction": 1}})
    assert "allow_full_kelly" in ei.value.message
    cfg = make_config({"risk": {"max_kelly_fraction": 1, "allow_full_kelly": True}})
    assert cfg.risk.max_kelly_fraction == 1
