"""The live Betfair client through betfairlightweight against a fake Betfair Betting API.

The real ``betfairlightweight.APIClient`` sends JSON-RPC over HTTP to ``tests/markets/betfair/
fake_betfair.py`` on 127.0.0.1; the client sits behind the engine's execution-client boundary
(``build_node(extra_clients=..., routes=...)``) and every outcome reaches the engine as events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.clock import SimClock
from services.execution.orders import OrderStatus, TimeInForce
from services.instruments import Instrument
from services.ladder import Quote
from services.markets.betfair.execution import BetfairExecutionClient, place_instruction
from services.markets.betfair.translate import BetfairTranslator
from services.money import MICRO
from services.node import Node, build_node
from services.orderbook import BookStore
from services.persistence import NullSink
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from tests.markets.betfair.fake_betfair import FakeBetfair, serve
from utils.config import AppConfig, parse_config

betfairlightweight = pytest.importorskip("betfairlightweight")

MARKET = "1.400"
R1 = f"{MARKET}:21"


class Hand(Strategy):
    quotes = frozenset({Quote.ODDS})

    def on_start(self, ctx: StrategyContext) -> None:
        self.ctx = ctx


@pytest.fixture
def fake() -> Iterator[tuple[FakeBetfair, str]]:
    venue = FakeBetfair()
    server, url = serve(venue)
    yield venue, url
    server.shutdown()


class Live:
    def __init__(self, venue: FakeBetfair, url: str) -> None:
        trading = betfairlightweight.APIClient("user", "pass", app_key="key", certs="/nonexistent")
        trading.api_uri = url  # the fake instead of https://api.betfair.com/exchange/
        trading.set_session_token(venue.session_token)
        self.trading = trading
        self.clients: list[BetfairExecutionClient] = []

        def make(books: BookStore, insts: dict[str, Instrument], cfg: AppConfig):  # type: ignore[no-untyped-def]
            c = BetfairExecutionClient(insts, trading.betting, poll_interval_s=0.5)
            self.clients.append(c)
            return c

        cfg = parse_config(
            {
                "competition": {"starting_capital_usd": 1000},
                "strategies": [{"name": "s", "class": "MarketMaker", "currency": "GBP"}],
            },
            "test",
        )
        self.strat = Hand("s", StrategyParams())
        self.node: Node = build_node(
            cfg, [self.strat], NullSink(), clock=SimClock(0), extra_clients={"betfair": make},
            routes={"s": "betfair"}, safety=False,
        )  # fmt: skip
        self.node.engine.start()
        self.t = 1.0
        tr = BetfairTranslator()
        msg: dict[str, Any] = {
            "op": "mcm",
            "pt": 1000,
            "mc": [
                {
                    "id": MARKET,
                    "img": True,
                    "marketDefinition": {
                        "status": "OPEN",
                        "inPlay": False,
                        "betDelay": 0,
                        "marketBaseRate": 5,
                        "numberOfWinners": 1,
                        "marketType": "WIN",
                        "bettingType": "ODDS",
                        "runners": [{"id": 21, "status": "ACTIVE"}, {"id": 22, "status": "ACTIVE"}],
                    },  # fmt: skip
                    "rc": [{"id": 21, "atb": [[2.5, 100]], "atl": [[2.52, 100]]}],
                }
            ],
        }
        self.node.engine.process_batch(tr.translate(json.loads(json.dumps(msg))))

    @property
    def ctx(self) -> StrategyContext:
        return self.strat.ctx

    def until(self, cond: Callable[[], bool], what: str) -> None:
        """Advance event time in small steps until ``cond`` holds (the worker answers)."""
        for _ in range(400):
            self.t += 0.25
            self.node.clock.advance(self.t)  # type: ignore[attr-defined]
            self.node.engine.process_batch([])
            if cond():
                return
            time.sleep(0.005)
        raise AssertionError(f"timed out waiting for {what}")


def test_place_match_later_and_cancel_through_betfairlightweight(
    fake: tuple[FakeBetfair, str],
) -> None:
    venue, url = fake
    live = Live(venue, url)
    o = live.ctx.back(R1, 10 * MICRO, int(2.6 * MICRO), persist=True)
    assert o is not None and o.route == "betfair" and o.status is OrderStatus.PENDING
    live.until(lambda: o.status is OrderStatus.OPEN, "the acceptance")
    (bet,) = venue.bets.values()
    assert (bet.side, bet.price, bet.size, bet.persistence) == ("BACK", 2.6, 10.0, "PERSIST")
    assert bet.ref == o.client_order_id and o.venue_order_id == bet.bet_id
    venue.match(bet.bet_id, 4.0)
    live.until(lambda: o.filled == 4 * MICRO, "the first fill (polled)")
    assert o.status is OrderStatus.PARTIALLY_FILLED
    pf = live.node.engine.runners["s"].portfolio
    assert pf.qty(R1) == int(10.4 * MICRO)  # 4 at 2.6
    assert live.ctx.cancel(o.order_id, "test") is True
    live.until(lambda: o.status is OrderStatus.CANCELLED, "the cancel")
    assert bet.cancelled == 6.0 and pf.reserved_cash == 0
    assert live.node.engine.reconcile() == []
    pf.check_ledger()


def test_refusals_become_rejections_with_betfairs_error_code(
    fake: tuple[FakeBetfair, str],
) -> None:
    venue, url = fake
    live = Live(venue, url)
    venue.refuse.append("INSUFFICIENT_FUNDS")
    o = live.ctx.lay(R1, 5 * MICRO, int(2.4 * MICRO))
    assert o is not None
    live.until(lambda: o.status is OrderStatus.REJECTED, "the rejection")
    assert o.reject_reason == "Betfair refused the bet: INSUFFICIENT_FUNDS"
    assert live.node.engine.runners["s"].portfolio.reserved_cash == 0


def test_a_lost_answer_is_found_by_customer_ref_and_a_failed_call_is_rejected(
    fake: tuple[FakeBetfair, str],
) -> None:
    venue, url = fake
    live = Live(venue, url)
    venue.match_at_once = 1.0
    venue.lose_answers = 1  # the bet is placed and matched, but the HTTP answer is a 503
    o = live.ctx.back(R1, 3 * MICRO, int(2.5 * MICRO), tif=TimeInForce.FAK)
    assert o is not None
    live.until(lambda: o.status is OrderStatus.FILLED, "the fill found by customerOrderRef")
    assert o.filled == 3 * MICRO and live.clients[0].errors == 1
    assert "SportsAPING/v1.0/listCurrentOrders" in venue.calls
    # The exchange never saw this one (HTTP 500 before anything happened): rejected, not lost.
    venue.http_errors = 1
    o2 = live.ctx.back(R1, 3 * MICRO, int(2.5 * MICRO), tif=TimeInForce.FAK)
    assert o2 is not None
    live.until(lambda: o2.status is OrderStatus.REJECTED, "the rejection after lookup")
    assert "Betfair has no such bet" in (o2.reject_reason or "")
    live.node.engine.runners["s"].portfolio.check_ledger()


def test_place_instruction_shapes() -> None:
    from services.execution.orders import Order
    from services.instruments import Side

    inst = Instrument(
        "1.5:7:-1.5", "betfair", "1.5", "x", 10_000, MICRO, lot=10_000, currency="GBP"
    )
    o = Order(1, "s", inst.instrument_id, Side.BUY, 3_050_000, 2_500_000, tif=TimeInForce.FAK)
    o.client_order_id = "msb-1"
    assert place_instruction(o, inst) == {
        "orderType": "LIMIT",
        "selectionId": 7,
        "handicap": -1.5,
        "side": "LAY",
        "limitOrder": {
            "size": 2.5,
            "price": 3.05,
            "persistenceType": "LAPSE",
            "timeInForce": "FILL_OR_KILL",
            "minFillSize": 0.01,
        },
        "customerOrderRef": "msb-1",
    }
