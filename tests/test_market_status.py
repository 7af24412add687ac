"""Market status: a closed, suspended or not-accepting market takes no new orders, and the
orders resting on it are cancelled as the venue would; an open status lets trading resume."""

from __future__ import annotations

import pytest

from services.events import MarketStatus
from services.execution.orders import OrderStatus, TimeInForce
from services.instruments import Side
from services.intents import Intent
from services.strategies.base import Strategy, StrategyParams
from tests.strategies.harness import Harness, binary, px, sh


class Idle(Strategy):
    """Never trades on its own; the tests send intents for it."""


def _buy(h: Harness, price: float) -> object:
    return h.engine.submit(
        Intent("s", "Y1", Side.BUY, sh(10), px(price), TimeInForce.GTC, False, "test")
    )


@pytest.mark.parametrize("status", ["closed", "suspended", "not_accepting"])
def test_a_market_that_is_not_open_refuses_orders_and_cancels_resting_ones(status: str) -> None:
    h = Harness(Idle("s", StrategyParams()))
    yes, no = binary()
    h.list(yes, no)
    h.book("Y1", [(0.49, 100)], [(0.51, 100)])
    resting = _buy(h, 0.45)
    assert resting is not None and resting.status is OrderStatus.OPEN  # type: ignore[attr-defined]
    h.send(MarketStatus(h.at(1), "M1", status))
    assert resting.status is OrderStatus.CANCELLED  # type: ignore[attr-defined]
    words = status.replace("_", " ")
    assert resting.reject_reason == f"market {words}"  # type: ignore[attr-defined]
    assert h.pf().reserved_cash == 0
    assert _buy(h, 0.45) is None
    assert ("risk_rejection", f"market M1 is {words}: no orders") in h.sink.events
    # Another market is not affected.
    assert h.engine.market_state == {"M1": status}
    if status != "closed":
        h.send(MarketStatus(h.at(1), "M1", "open"))
        again = _buy(h, 0.45)
        assert again is not None and again.status is OrderStatus.OPEN  # type: ignore[attr-defined]


def test_an_unknown_status_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(Idle("s", StrategyParams()))
    yes, no = binary()
    h.list(yes, no)
    h.book("Y1", [(0.49, 100)], [(0.51, 100)])
    h.send(MarketStatus(h.at(1), "M1", "halted-ish"))
    assert "unknown status 'halted-ish'" in caplog.text
    assert _buy(h, 0.45) is not None
