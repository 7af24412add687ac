"""Mean reversion on crafted mid paths: z-score and RSI entries, reversion and hold exits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.instruments import Side
from services.strategies.mean_reversion import MeanReversion
from tests.strategies.directional_helpers import path, step
from tests.strategies.harness import Harness, binary, px, sh, with_params


def setup(**params: object) -> Harness:
    p = {"window_s": 60, "sample_interval_s": 1, **params}
    h = Harness(with_params(MeanReversion, **p))
    h.list(*binary())
    path(h, [50, 51] * 31)  # noisy but flat: mean 0.505, deviation floored at 2 ticks
    return h


def test_noise_inside_the_band_does_nothing() -> None:
    h = setup()
    path(h, [50, 51, 49, 52, 50, 51] * 5)
    assert h.orders() == []


def test_stretched_down_buys_yes_and_exits_when_it_reverts() -> None:
    h = setup()
    step(h, 44)  # z = (0.44 - 0.505) / 0.02 = -3.25
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.side, buy.price, buy.size) == (
        "Y1",
        Side.BUY,
        px(0.45),
        sh("111.11"),
    )
    assert "z=-3.2 below" in buy.reason
    step(h, 46)  # still stretched (z = -2.25): hold
    assert len(h.orders()) == 1
    step(h, 50)
    sell = h.orders()[1]
    assert sell.side is Side.SELL and "reverted" in sell.reason
    assert sell.avg_price == px(0.49)
    assert h.pnl() == sh("111.11") * 4 // 100  # bought at 0.45, sold at 0.49


def test_stretched_up_buys_no_and_exits_when_the_window_catches_up() -> None:
    h = setup(stop_loss_ticks=0)
    step(h, 57)
    buy = h.orders()[0]
    assert (buy.instrument_id, buy.side, buy.price) == ("N1", Side.BUY, px(0.44))
    assert "buy NO" in buy.reason
    path(h, [57] * 60)  # the price stays up: the window absorbs it and z falls back under 0.5
    sells = [o for o in h.orders() if o.side is Side.SELL]
    assert len(sells) == 1 and "reverted" in sells[0].reason
    assert h.pnl() < 0  # the move was information, not noise: fading it lost the spread


def test_hold_period_exit_when_nothing_reverts() -> None:
    h = setup(max_hold_s=10, exit_z=0.1, stop_loss_ticks=0, window_s=300)
    path(h, [50, 51] * 120)
    step(h, 44)
    assert len(h.orders()) == 1
    path(h, [44] * 9)
    assert len(h.orders()) == 1
    step(h, 44)
    assert "time stop" in h.orders()[1].reason


def test_stop_loss_exit() -> None:
    h = setup(stop_loss_ticks=3)
    step(h, 44)
    path(h, [42])  # YES mid 3 ticks below the 0.45 entry
    sell = h.orders()[1]
    assert "stop loss" in sell.reason


def test_rsi_method() -> None:
    h = Harness(with_params(MeanReversion, method="rsi", window_s=10, sample_interval_s=1))
    h.list(*binary())
    path(h, [50, 51] * 6)
    assert h.orders() == []
    path(h, [49, 48, 47, 46, 45, 44, 43, 42, 41, 40])  # only losses: RSI 0
    buy = h.orders()[0]
    assert buy.instrument_id == "Y1" and "RSI" in buy.reason and "oversold" in buy.reason
    path(h, [41, 42, 43, 44, 45, 46])  # gains catch up: RSI back over 50
    sell = h.orders()[1]
    assert sell.side is Side.SELL and "RSI" in sell.reason


def test_parameters_are_validated() -> None:
    with pytest.raises(ValidationError, match="exit_z must be smaller"):
        MeanReversion.Params.model_validate({"entry_z": 1.0, "exit_z": 1.5})
    with pytest.raises(ValidationError):
        MeanReversion.Params.model_validate({"method": "macd"})
