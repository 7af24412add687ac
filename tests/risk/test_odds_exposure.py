"""Risk limits on an odds-ladder instrument: a back risks its stake, a lay its liability."""

from __future__ import annotations

from decimal import Decimal

from services.execution.orders import Fill, TimeInForce
from services.fees import NetWinningsCommission
from services.instruments import Instrument, Side
from services.ladder import BETFAIR_ODDS
from services.money import MICRO, to_micro
from services.portfolio import Portfolio
from services.risk.chain import RiskView
from services.risk.controls import (
    GlobalExposureControl,
    OrderSizeControl,
    PositionLimitControl,
    ZoneControl,
)
from services.risk.limits import LimitsBook, order_notional
from services.strategies.base import Intent
from tests.risk.conftest import T0, FakeEnv, make_config
from utils.safety_config import RiskConfig

RUNNER = Instrument(
    "1.9:1",
    "betfair",
    "1.9",
    "Alpha",
    BETFAIR_ODDS.min_increment,
    MICRO,
    fees=NetWinningsCommission(Decimal("0.05")),
    ladder=BETFAIR_ODDS,
    currency="GBP",
    allows_short=True,
)


def m(x: str) -> int:
    return to_micro(Decimal(x))


def lim(**kw: object) -> LimitsBook:
    off = {k: None for k in type(RiskConfig().limits).model_fields}
    return LimitsBook(make_config({"risk": {"limits": {**off, **kw}}}).risk)


def bet(side: Side, stake: str, odds: str) -> Intent:
    return Intent("s1", RUNNER.instrument_id, side, m(stake), m(odds), TimeInForce.GTC, False, "t")


def view(it: Intent, pf: Portfolio, env: FakeEnv | None = None) -> RiskView:
    assert it.price is not None
    return RiskView(T0, RUNNER, None, pf, "directional", "active", it.price, "s1", env)


def test_order_notional_is_the_cash_at_risk() -> None:
    pf = Portfolio("s1", m("1000"), currency="GBP")
    back = bet(Side.SELL, "10", "4")
    assert order_notional(back, view(back, pf)) == m("10")  # a back risks its stake
    lay = bet(Side.BUY, "10", "4")
    assert order_notional(lay, view(lay, pf)) == m("30")  # a lay risks 10 * (4 - 1)


def test_a_back_is_an_entry_for_the_size_limits() -> None:
    pf = Portfolio("s1", m("1000"), currency="GBP")
    it = bet(Side.SELL, "60", "2")
    rej = OrderSizeControl(lim(max_order_usd=50)).check(it, view(it, pf))
    assert rej is not None and rej.value == "60.00"
    rej = PositionLimitControl(lim(max_position_usd=50)).check(it, view(it, pf))
    assert rej is not None and rej.value == "60.00"
    small = bet(Side.SELL, "50", "2")
    assert PositionLimitControl(lim(max_position_usd=50)).check(small, view(small, pf)) is None


def test_a_short_position_counts_its_liability_at_the_mark() -> None:
    pf = Portfolio("s1", m("1000"), currency="GBP")
    pf.apply_fill(
        Fill(1, 1, "s1", RUNNER.instrument_id, Side.BUY, m("3"), m("10"), 0, "taker", T0), RUNNER
    )
    assert pf.qty(RUNNER.instrument_id) == -m("30")
    # Without a mark: owes 30 if it wins, received 10.
    assert pf.exposure_of(RUNNER.instrument_id, None) == m("20")
    # At odds 4 buying back 30 units costs 7.5: 30 - 7.5 at risk.
    assert pf.exposure_of(RUNNER.instrument_id, m("4")) == m("22.5")
    env = FakeEnv(marks={RUNNER.instrument_id: m("4")}, pfs=[pf])
    it = bet(Side.SELL, "5", "4")
    book = LimitsBook(make_config({"risk": {"global_max_exposure_usd": 25}}).risk)
    rej = GlobalExposureControl(book).check(it, view(it, pf, env))
    assert rej is not None and rej.value == "27.50"  # 22.5 held + the 5 stake
    it = bet(Side.SELL, "2.5", "4")
    assert GlobalExposureControl(book).check(it, view(it, pf, env)) is None


def test_price_zones_use_the_implied_probability_of_odds() -> None:
    zones = {
        "boundaries": [0.05, 0.2, 0.4, 0.6, 0.8, 0.98],
        "directional_blocked": ["Z1", "outside"],
    }
    book = LimitsBook(make_config({"risk": {"zones": zones}}).risk)
    pf = Portfolio("s1", m("1000"), currency="GBP")
    favourite = bet(Side.SELL, "5", "2")  # 1 / 2.0 = 0.50: Z3
    assert ZoneControl(book).check(favourite, view(favourite, pf)) is None
    outsider = bet(Side.SELL, "5", "10")  # 1 / 10 = 0.10: Z1
    rej = ZoneControl(book).check(outsider, view(outsider, pf))
    assert rej is not None and rej.value == "Z1"
