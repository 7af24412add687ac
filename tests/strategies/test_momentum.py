"""Momentum on crafted mid paths: breakouts, confirmation, reversal and time exits, filters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.execution.orders import TimeInForce
from services.instruments import Side
from services.strategies.momentum import Momentum
from tests.strategies.directional_helpers import path, step
from tests.strategies.harness import START, Harness, binary, px, sh, with_params


def setup(**params: object) -> Harness:
    h = Harness(with_params(Momentum, **params))
    h.list(*binary())
    path(h, [50] * 61)  # a flat minute fills the 60-sample window
    return h


def test_flat_or_range_bound_mids_do_nothing() -> None:
    h = setup()
    path(h, [51, 49, 52, 48, 50] * 10)
    assert h.orders() == []


def test_up_breakout_buys_yes_then_exits_on_reversal() -> None:
    h = setup()
    step(h, 54)  # 4 ticks above the 0.50 high: a breakout of more than 3 ticks
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.side, buy.price, buy.tif) == (
        "Y1",
        Side.BUY,
        px(0.55),
        TimeInForce.FAK,
    )
    assert buy.size == sh("90.9")  # 50 USD at 0.55, floored to the lot
    assert "momentum" in buy.reason and "broke above" in buy.reason
    path(h, [56, 58, 60, 59, 57])  # peak 0.60, still within 6 ticks
    assert len(h.orders()) == 1
    step(h, 54)  # 6 ticks off the peak: reversal
    sell = h.orders()[1]
    assert (sell.instrument_id, sell.side, sell.size) == ("Y1", Side.SELL, sh("90.9"))
    assert "reversal" in sell.reason
    assert h.qty("Y1") == 0 and h.pnl() == sh("90.9") * 53 // 100 - sh("90.9") * 55 // 100


def test_confirmation_requires_consecutive_samples() -> None:
    h = setup(confirm_samples=3)
    path(h, [54, 54, 50])  # two samples above, then back: not confirmed
    assert h.orders() == []
    path(h, [58, 58])  # the old range now tops at 0.54: two confirming samples so far
    assert h.orders() == []
    step(h, 58)
    assert len(h.orders()) == 1


def test_down_breakout_buys_no_and_time_stop_exits() -> None:
    h = setup(max_hold_s=30)
    step(h, 45)
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.side, buy.price) == ("N1", Side.BUY, px(0.56))
    assert "buy NO" in buy.reason
    path(h, [45] * 29)
    assert len(h.orders()) == 1
    step(h, 45)
    sell = h.orders()[1]
    assert sell.instrument_id == "N1" and sell.side is Side.SELL and "time stop" in sell.reason


def test_filters_fees_end_of_market_and_position_limit() -> None:
    h = Harness(with_params(Momentum))
    h.list(*binary(fee_rate="0.05"))
    path(h, [50] * 61 + [56])
    assert h.orders() == []  # fee market: the default max_fee_rate 0 skips it
    h2 = Harness(with_params(Momentum))
    h2.list(*binary(end_ts=START + 400))
    path(h2, [50] * 61 + [56])
    assert h2.orders() == []  # within no_entry_before_end_s of the end
    h3 = Harness(with_params(Momentum, max_positions=1))
    h3.list(*binary(1), *binary(2))
    for _ in range(61):
        step(h3, 50, n=1, dt=0.5)
        step(h3, 50, n=2, dt=0.5)
    step(h3, 56, n=1, dt=0.5)
    step(h3, 56, n=2, dt=0.5)
    assert {o.instrument_id for o in h3.orders()} == {"Y1"}


def test_parameters_are_validated() -> None:
    with pytest.raises(ValidationError):
        Momentum.Params.model_validate({"breakout_ticks": 0})
    with pytest.raises(ValidationError, match="kelly_fraction"):
        Momentum.Params.model_validate({"sizing": {"mode": "kelly", "kelly_fraction": 1.0}})
