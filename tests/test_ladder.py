"""Price ladders (services/ladder.py): Betfair's odds ladder and the uniform tick grid."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.clock import SimClock
from services.events import BookSnapshot, MarketListed, TickSizeChange
from services.execution.orders import OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.intents import Intent
from services.ladder import BETFAIR_ODDS, LadderError, OddsLadder, Quote, UniformLadder
from services.money import MICRO, to_micro
from services.node import build_node
from services.persistence import NullSink
from services.strategies.base import Strategy, StrategyParams
from tests.conftest import make_instrument
from utils.config import parse_config

# Betfair's published increments (/work/shared/reference/betfair.md): (from, to, step).
BANDS = [
    ("1.01", "2", "0.01"),
    ("2", "3", "0.02"),
    ("3", "4", "0.05"),
    ("4", "6", "0.1"),
    ("6", "10", "0.2"),
    ("10", "20", "0.5"),
    ("20", "30", "1"),
    ("30", "50", "2"),
    ("50", "100", "5"),
    ("100", "1000", "10"),
]


def m(x: str) -> int:
    return to_micro(Decimal(x))


def test_betfair_ladder_matches_the_published_increments() -> None:
    expected = [m("1.01")]
    for lo, hi, step in BANDS:
        p = m(lo)
        while p < m(hi):
            p += m(step)
            expected.append(p)
    assert expected[-1] == m("1000")
    assert list(BETFAIR_ODDS.prices) == expected
    assert BETFAIR_ODDS.size == 350
    assert (BETFAIR_ODDS.min_price, BETFAIR_ODDS.max_price) == (m("1.01"), m("1000"))
    assert BETFAIR_ODDS.quote is Quote.ODDS
    for lo, hi, step in BANDS:
        # The step above every price inside a band (the band's upper bound excluded) is the band's.
        assert BETFAIR_ODDS.increment_at(m(hi) - m(step)) == m(step)
        assert BETFAIR_ODDS.increment_at(m(lo)) == m(step) or lo == "1.01"


@pytest.mark.parametrize(
    ("odds", "on"),
    [
        ("1.01", True),
        ("1.0", False),
        ("1.995", False),
        ("2.01", False),
        ("2.02", True),
        ("3.02", False),
        ("3.05", True),
        ("4.1", True),
        ("4.15", False),
        ("6.2", True),
        ("6.3", False),
        ("10.5", True),
        ("20.5", False),
        ("21", True),
        ("31", False),
        ("32", True),
        ("52", False),
        ("55", True),
        ("105", False),
        ("110", True),
        ("1000", True),
        ("1010", False),
    ],
)
def test_betfair_ladder_membership(odds: str, on: bool) -> None:
    assert BETFAIR_ODDS.contains(m(odds)) is on


def test_rounding_steps_and_distance_on_the_odds_ladder() -> None:
    lad = BETFAIR_ODDS
    assert lad.round_down(m("3.02")) == m("3") and lad.round_up(m("3.02")) == m("3.05")
    assert lad.round(m("3.02"), buy=True) == m("3")  # a lay rounds to lower odds
    assert lad.round(m("3.02"), buy=False) == m("3.05")  # a back rounds to higher odds
    assert lad.round_down(m("1")) == m("1.01") and lad.round_up(m("5000")) == m("1000")
    assert lad.next_up(m("1.99")) == m("2") and lad.next_up(m("2")) == m("2.02")
    assert lad.next_down(m("3.05")) == m("3") and lad.next_down(m("1.01")) is None
    assert lad.next_up(m("1000")) is None
    assert lad.ticks_between(m("1.01"), m("2")) == 99
    assert lad.ticks_between(m("2"), m("3")) == 50
    assert lad.ticks_between(m("3"), m("2")) == -50
    with pytest.raises(ValueError, match="not on the ladder"):
        lad.index(m("3.02"))


def test_a_ladder_with_a_ragged_band_is_refused() -> None:
    with pytest.raises(LadderError):
        OddsLadder(m("1.01"), ((m("2"), m("0.04")),))


ladder_index = st.integers(0, BETFAIR_ODDS.size - 1)
odds_micro = st.integers(BETFAIR_ODDS.min_price, BETFAIR_ODDS.max_price)


@given(ladder_index)
def test_odds_ladder_index_round_trip(i: int) -> None:
    p = BETFAIR_ODDS.price_at(i)
    assert BETFAIR_ODDS.contains(p)
    assert BETFAIR_ODDS.index(p) == i
    assert BETFAIR_ODDS.round_down(p) == p == BETFAIR_ODDS.round_up(p)


@given(odds_micro)
def test_odds_rounding_brackets_the_price(p: int) -> None:
    lo, hi = BETFAIR_ODDS.round_down(p), BETFAIR_ODDS.round_up(p)
    assert lo <= p <= hi
    assert BETFAIR_ODDS.contains(lo) and BETFAIR_ODDS.contains(hi)
    # Nothing on the ladder lies strictly between them.
    assert hi == lo or BETFAIR_ODDS.next_up(lo) == hi
    assert BETFAIR_ODDS.contains(p) == (lo == hi)


@given(odds_micro, odds_micro)
def test_odds_rounding_is_monotonic(a: int, b: int) -> None:
    a, b = min(a, b), max(a, b)
    assert BETFAIR_ODDS.round_down(a) <= BETFAIR_ODDS.round_down(b)
    assert BETFAIR_ODDS.round_up(a) <= BETFAIR_ODDS.round_up(b)


@given(ladder_index, ladder_index, ladder_index)
def test_ticks_between_is_additive_and_next_up_inverts_next_down(i: int, j: int, k: int) -> None:
    a, b, c = (BETFAIR_ODDS.price_at(x) for x in (i, j, k))
    lad = BETFAIR_ODDS
    assert lad.ticks_between(a, c) == lad.ticks_between(a, b) + lad.ticks_between(b, c)
    n = j - i
    moved = lad.next_up(a, n)
    assert moved == b
    if i < lad.size - 1:
        up = lad.next_up(a)
        assert up is not None and lad.next_down(up) == a and up > a


# ----------------------------------------------------------------- uniform grid
def _old_on_grid(tick: int, price: int) -> bool:
    return price % tick == 0 and tick <= price <= MICRO - tick


def _old_round(tick: int, price: int, side: Side) -> int:
    if side is Side.BUY:
        p = (price // tick) * tick
    else:
        p = -((-price) // tick) * tick
    return max(tick, min(MICRO - tick, p))


ticks = st.sampled_from([100, 1_000, 10_000, 50_000])


@given(ticks, st.integers(-MICRO, 2 * MICRO), st.sampled_from([Side.BUY, Side.SELL]))
def test_uniform_ladder_is_the_old_tick_grid_exactly(tick: int, price: int, side: Side) -> None:
    inst = make_instrument(tick=tick)
    assert inst.on_grid(price) is _old_on_grid(tick, price)
    assert inst.round_price(price, side) == _old_round(tick, price, side)


@given(ticks, st.integers(0, 10_000))
def test_uniform_ladder_index_round_trip(tick: int, raw: int) -> None:
    lad = UniformLadder(tick)
    i = raw % lad.size
    p = lad.price_at(i)
    assert lad.index(p) == i and lad.contains(p)
    assert lad.price_at(0) == tick and lad.price_at(lad.size - 1) == MICRO - tick


def test_tick_size_change_keeps_the_ladder_in_step() -> None:
    inst = make_instrument(tick=10_000)
    assert inst.ladder == UniformLadder(10_000)
    finer = replace(inst, tick=1_000)
    assert finer.ladder == UniformLadder(1_000)
    assert finer.on_grid(501_000) and not inst.on_grid(501_000)
    assert finer.market_price(Side.BUY) == MICRO - 1_000 and finer.market_price(Side.SELL) == 1_000


def test_an_odds_instrument_keeps_its_ladder_through_replace() -> None:
    inst = Instrument("r", "betfair", "1.1", "A", 10_000, MICRO, ladder=BETFAIR_ODDS)
    assert replace(inst, question="x").ladder is BETFAIR_ODDS
    assert inst.quote is Quote.ODDS


def test_the_engine_trades_on_the_new_grid_after_a_tick_size_change() -> None:
    cfg = parse_config({}, "test")
    node = build_node(
        cfg, [Strategy("s", StrategyParams())], NullSink(), clock=SimClock(1.0), safety=False
    )
    eng = node.engine
    inst = make_instrument(tick=10_000, min_size=MICRO)
    eng.process_batch([MarketListed(1.0, (inst,))])
    eng.process_batch([BookSnapshot(2.0, "Y1", ((400_000, 10 * MICRO),), ((600_000, 10 * MICRO),))])

    def bid(price: int) -> OrderStatus:
        o = eng.submit(Intent("s", "Y1", Side.BUY, 2 * MICRO, price, TimeInForce.GTC, False, ""))
        assert o is not None
        return o.status

    assert bid(505_000) is OrderStatus.REJECTED  # off the 0.01 grid
    eng.process_batch([TickSizeChange(3.0, "Y1", 1_000)])
    assert eng.instruments["Y1"].ladder == UniformLadder(1_000)
    assert bid(505_000) is OrderStatus.OPEN
    assert eng.instruments["Y1"].market_price(Side.BUY) == 999_000
