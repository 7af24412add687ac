"""Betfair has no good-til-date bets: the live Betfair client refuses a GTD order at once."""

from __future__ import annotations

from services.execution.orders import OrderStatus, TimeInForce
from services.money import MICRO
from tests.markets.betfair.fake_betfair import FakeBetfair
from tests.markets.betfair.test_live_client import R1, Live, fake  # noqa: F401 - the fixture


def test_gtd_is_refused_by_the_live_betfair_client(
    fake: tuple[FakeBetfair, str],  # noqa: F811 - the imported fixture
) -> None:
    venue, url = fake
    live = Live(venue, url)
    now = live.node.clock.now()
    o = live.ctx.back(R1, 10 * MICRO, int(2.6 * MICRO), tif=TimeInForce.GTD, expire_ts=now + 60)
    assert o is not None and o.status is OrderStatus.REJECTED
    assert "no good-til-date" in (o.reject_reason or "")
    assert not venue.bets
    assert live.node.engine.runners["s"].portfolio.reserved_cash == 0
