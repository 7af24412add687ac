"""Paper matching on Betfair books, driven by stream messages in Betfair's own shapes.

* a back resting at odds joins the queue behind the size "available to lay" there, and traded
  volume at that price (the stream's cumulative ``trd``, halved: Betfair counts both sides)
  consumes the queue first;
* in play, the market's ``betDelay`` is added to the placement latency;
* a suspension lapses unmatched orders (persistence LAPSE) and keeps those placed with
  ``persist=True`` (PERSIST), which the CLOSED market then cancels.
"""

from __future__ import annotations

import json
from typing import Any

from services.clock import SimClock
from services.execution.orders import Order, OrderStatus, TimeInForce
from services.ladder import Quote
from services.markets.betfair.translate import BetfairTranslator
from services.money import MICRO
from services.node import Node, build_node
from services.persistence import NullSink
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from utils.config import parse_config

MARKET = "1.300"
R1 = f"{MARKET}:11"


class Hand(Strategy):
    quotes = frozenset({Quote.ODDS})

    def on_start(self, ctx: StrategyContext) -> None:
        self.ctx = ctx


def definition(status: str = "OPEN", in_play: bool = False, delay: int = 0) -> dict[str, Any]:
    return {
        "status": status,
        "inPlay": in_play,
        "betDelay": delay,
        "marketBaseRate": 5,
        "numberOfWinners": 1,
        "marketType": "WIN",
        "bettingType": "ODDS",
        "eventTypeId": "7",
        "runners": [
            {"id": 11, "status": "WINNER" if status == "CLOSED" else "ACTIVE"},
            {"id": 12, "status": "LOSER" if status == "CLOSED" else "ACTIVE"},
        ],
    }


class Session:
    def __init__(self, latency_ms: float = 0.0) -> None:
        cfg = parse_config(
            {
                "execution": {"latency_ms": latency_ms},
                "competition": {"starting_capital_usd": 1000},
                "strategies": [{"name": "s", "class": "MarketMaker", "currency": "GBP"}],
            },
            "test",
        )
        self.strat = Hand("s", StrategyParams())
        self.node: Node = build_node(cfg, [self.strat], NullSink(), clock=SimClock(0), safety=False)
        self.node.engine.start()
        self.tr = BetfairTranslator()

    def msg(self, t: float, mc: dict[str, Any]) -> None:
        raw = json.dumps({"op": "mcm", "pt": int(t * 1000), "mc": [{"id": MARKET, **mc}]})
        self.node.engine.process_batch(self.tr.translate(json.loads(raw)))

    def open_market(self) -> None:
        self.msg(
            1,
            {
                "img": True,
                "marketDefinition": definition(),
                "rc": [
                    {"id": 11, "atb": [[2.9, 50]], "atl": [[3.0, 10], [3.05, 20]]},
                    {"id": 12, "atb": [[1.5, 50]], "atl": [[1.52, 50]]},
                ],
            },
        )

    @property
    def ctx(self) -> StrategyContext:
        return self.strat.ctx


def test_a_resting_back_waits_behind_the_queue_and_traded_volume_consumes_it() -> None:
    s = Session()
    s.open_market()
    order = s.ctx.back(R1, 4 * MICRO, 3 * MICRO, post_only=True)
    assert order is not None and order.status is OrderStatus.OPEN
    assert order.queue_ahead == 10 * MICRO  # the 10 available to lay at 3.0 rest before it
    # 16 traded at 3.0 as Betfair reports it (both sides): 8 matched, all of it ahead of us.
    s.msg(2, {"rc": [{"id": 11, "trd": [[3.0, 16]], "atl": [[3.0, 2]], "tv": 16}]})
    assert order.filled == 0 and order.status is OrderStatus.OPEN
    # 8 more traded (cumulative 24): 4 matched; 2 finish the queue ahead, 2 are ours.
    s.msg(3, {"rc": [{"id": 11, "trd": [[3.0, 24]], "tv": 24}]})
    assert order.filled == 2 * MICRO and order.status is OrderStatus.PARTIALLY_FILLED
    # Another 10 (cumulative 34): 5 matched, our last 2 fill.
    s.msg(4, {"rc": [{"id": 11, "trd": [[3.0, 34]], "tv": 34}]})
    assert order.status is OrderStatus.FILLED and order.filled == 4 * MICRO
    pf = s.node.engine.runners["s"].portfolio
    assert pf.qty(R1) == 12 * MICRO  # 4 staked at 3.0: 12 payout units
    assert pf.cash == 996 * MICRO


def test_in_play_the_bet_delay_is_added_to_the_placement_latency() -> None:
    s = Session(latency_ms=120)
    s.open_market()
    s.msg(2, {"marketDefinition": definition(in_play=True, delay=5)})
    order: Order | None = s.ctx.back(R1, 2 * MICRO, int(2.9 * MICRO), tif=TimeInForce.FAK)
    assert order is not None and order.status is OrderStatus.PENDING
    s.msg(5, {"rc": [{"id": 11, "atb": [[2.9, 49]]}]})  # 3 s later: still in the bet delay
    assert order.status is OrderStatus.PENDING and order.filled == 0
    s.msg(8, {"rc": [{"id": 11, "atb": [[2.9, 48]]}]})  # past 5.12 s: arrived and matched
    assert order.status is OrderStatus.FILLED and order.updated_ts >= 2 + 5.12
    # Out of play again: no delay, only the latency.
    s.msg(9, {"marketDefinition": definition(in_play=False, delay=0)})
    o2 = s.ctx.back(R1, 2 * MICRO, int(2.9 * MICRO), tif=TimeInForce.FAK)
    assert o2 is not None and o2.status is OrderStatus.PENDING
    s.msg(9.5, {"rc": [{"id": 11, "atb": [[2.9, 47]]}]})
    assert o2.status is OrderStatus.FILLED


def test_a_suspension_lapses_orders_unless_they_persist_and_closing_cancels_all() -> None:
    s = Session()
    s.open_market()
    lapse = s.ctx.back(R1, 2 * MICRO, int(3.5 * MICRO), post_only=True)
    keep = s.ctx.back(R1, 2 * MICRO, int(3.6 * MICRO), post_only=True, persist=True)
    assert lapse is not None and keep is not None
    assert lapse.status is keep.status is OrderStatus.OPEN
    s.msg(2, {"marketDefinition": definition("SUSPENDED")})
    assert lapse.status is OrderStatus.CANCELLED and lapse.reject_reason == "market suspended"
    assert keep.status is OrderStatus.OPEN
    assert s.ctx.back(R1, 2 * MICRO, int(3.5 * MICRO)) is None  # no new orders while suspended
    s.msg(3, {"marketDefinition": definition("OPEN", in_play=True, delay=1)})
    assert keep.status is OrderStatus.OPEN and [o.order_id for o in s.ctx.open_orders()] == [
        keep.order_id
    ]
    s.msg(4, {"marketDefinition": definition("CLOSED")})
    assert keep.status is OrderStatus.CANCELLED
    assert s.node.engine.runners["s"].portfolio.reserved_cash == 0


def test_a_persist_order_matches_nothing_while_suspended_and_resumes_when_open() -> None:
    s = Session()
    s.open_market()
    keep = s.ctx.back(R1, 2 * MICRO, int(3.6 * MICRO), post_only=True, persist=True)
    assert keep is not None and keep.queue_ahead == 0
    s.msg(2, {"marketDefinition": definition("SUSPENDED")})
    # Volume traded at our price while suspended (a late print): nothing matches.
    s.msg(3, {"rc": [{"id": 11, "trd": [[3.6, 10]], "tv": 10}]})
    assert keep.filled == 0 and keep.status is OrderStatus.OPEN
    s.msg(4, {"marketDefinition": definition("OPEN")})
    assert keep.filled == 0
    s.msg(6, {"rc": [{"id": 11, "trd": [[3.6, 14]], "tv": 14}]})  # 4 more traded: 2 matched
    assert keep.status is OrderStatus.FILLED and keep.filled == 2 * MICRO
    s.node.engine.runners["s"].portfolio.check_ledger()
