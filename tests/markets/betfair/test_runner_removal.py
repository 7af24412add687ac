"""A runner removed from an open Betfair market (a non-runner), from hand-built stream messages.

Betfair's rules (and flumine's simulation, ``SimulatedMiddleware._process_runner_removal``):
every bet on the removed runner is void, including bets of a position already closed (traded
out) before the removal; the odds of bets already matched on the other runners are reduced by
the removed runner's adjustment factor, ``odds * (1 - factor / 100)``; in a WIN market a factor
under 2.5 % reduces nothing. The definitions below carry ``adjustmentFactor`` on every runner,
as Betfair's ``marketDefinition.runners[]`` does.
"""

from __future__ import annotations

import json
from typing import Any

from services.clock import SimClock
from services.events import VOID_PAYOUT, RunnerRemoved
from services.execution.orders import Settlement, TimeInForce
from services.ladder import Quote
from services.markets.betfair.translate import BetfairTranslator
from services.money import MICRO
from services.node import Node, build_node
from services.persistence import NullSink
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from utils.config import parse_config

MARKET = "1.5"
R1, R2, R3 = f"{MARKET}:1", f"{MARKET}:2", f"{MARKET}:3"


def m(x: str) -> int:
    from decimal import Decimal

    return int(Decimal(x) * MICRO)


def definition(status: str, runners: list[tuple[int, str, float]]) -> dict[str, Any]:
    return {
        "bspMarket": False, "turnInPlayEnabled": True, "persistenceEnabled": True,
        "marketBaseRate": 5, "eventId": "31000001", "eventTypeId": "7", "numberOfWinners": 1,
        "bettingType": "ODDS", "marketType": "WIN", "marketTime": "2026-12-03T15:00:00.000Z",
        "bspReconciled": False, "complete": True, "inPlay": False, "crossMatching": True,
        "runnersVoidable": False, "numberOfActiveRunners": sum(s == "ACTIVE" for _, s, _ in runners),
        "betDelay": 0, "status": status, "regulators": ["MR_INT"], "countryCode": "GB",
        "discountAllowed": True, "timezone": "Europe/London", "version": 4_000_000_000 + len(runners),
        "runners": [
            {"status": st, "sortPriority": i, "id": sid, "adjustmentFactor": af}
            | ({"removalDate": "2026-12-03T14:50:00.000Z"} if st == "REMOVED" else {})
            for i, (sid, st, af) in enumerate(runners, 1)
        ],
    }  # fmt: skip


class Hand(Strategy):
    quotes = frozenset({Quote.ODDS})

    def on_start(self, ctx: StrategyContext) -> None:
        self.ctx = ctx


class Recorder(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.settlements: list[Settlement] = []

    def settlement(self, s: Settlement) -> None:
        self.settlements.append(s)


class Session:
    def __init__(self, sink: Any = None) -> None:
        cfg = parse_config(
            {
                "execution": {"latency_ms": 0},
                "competition": {"starting_capital_usd": 1000},
                "strategies": [{"name": "s", "class": "MarketMaker", "currency": "GBP"}],
            },
            "test",
        )
        self.sink = Recorder()
        self.strat = Hand("s", StrategyParams())
        self.node: Node = build_node(
            cfg, [self.strat], sink or self.sink, clock=SimClock(0), safety=False
        )
        self.node.engine.start()
        self.tr = BetfairTranslator()
        self.events: list[Any] = []

    def msg(self, t: float, mc: dict[str, Any]) -> None:
        raw = json.dumps(
            {"op": "mcm", "clk": "AAA", "pt": int(t * 1000), "mc": [{"id": MARKET, **mc}]}
        )
        batch = self.tr.translate(json.loads(raw))
        self.events.extend(batch)
        self.node.engine.process_batch(batch)


ACTIVE = [(1, "ACTIVE", 50.0), (2, "ACTIVE", 30.0), (3, "ACTIVE", 20.0)]


def test_a_non_runner_voids_its_closed_position_and_reduces_the_others_odds() -> None:
    s = Session()
    s.msg(1, {"img": True, "marketDefinition": definition("OPEN", ACTIVE), "rc": [
        {"id": 1, "atb": [[2.0, 100]], "atl": [[2.02, 100]]},
        {"id": 2, "atb": [[4.0, 100]], "atl": [[4.1, 100]]},
        {"id": 3, "atb": [[6.0, 100]], "atl": [[6.2, 100]]},
    ]})  # fmt: skip
    ctx, pf = s.strat.ctx, s.node.engine.runners["s"].portfolio
    assert ctx.back(R1, 10 * MICRO, 2 * MICRO, tif=TimeInForce.FAK) is not None  # 20 units
    assert ctx.lay(R2, 5 * MICRO, m("4.1"), tif=TimeInForce.FAK) is not None  # -20.5 units
    assert ctx.back(R3, 10 * MICRO, 6 * MICRO, tif=TimeInForce.FAK) is not None  # 60 units
    s.msg(2, {"rc": [{"id": 3, "atb": [[6.0, 0], [4.9, 100]], "atl": [[6.2, 0], [5.0, 100]]}]})
    assert ctx.lay(R3, 12 * MICRO, 5 * MICRO, tif=TimeInForce.FAK) is not None  # traded out
    assert R3 not in pf.positions and pf.realized_pnl == 2 * MICRO  # 12 - 10 locked in
    assert (pf.qty(R1), pf.qty(R2), pf.short_liability) == (20 * MICRO, -m("20.5"), m("20.5"))

    # Runner 3 is withdrawn with adjustment factor 20 %: the market suspends meanwhile.
    removed = [(1, "ACTIVE", 62.5), (2, "ACTIVE", 37.5), (3, "REMOVED", 20.0)]
    s.msg(3, {"marketDefinition": definition("SUSPENDED", removed)})
    (ev,) = [e for e in s.events if isinstance(e, RunnerRemoved)]
    assert ev == RunnerRemoved(3.0, MARKET, R3, 20.0, 800_000, (R1, R2))
    # The closed position's bets are void: the 2 it locked in goes back.
    (void,) = [x for x in s.sink.settlements if x.instrument_id == R3]
    assert (void.size, void.payout_per_share, void.amount, void.void) == (
        0, VOID_PAYOUT, -2 * MICRO, True,
    )  # fmt: skip
    assert pf.realized_pnl == 0 and pf.cash == 1000 * MICRO - 10 * MICRO + 5 * MICRO
    # Bets matched before the removal: odds * 0.8 -> 2.0 becomes 1.6, 4.1 becomes 3.28.
    assert (pf.qty(R1), pf.qty(R2)) == (16 * MICRO, -m("16.4"))
    assert pf.short_liability == m("16.4")
    pf.check_ledger()

    s.msg(4, {"marketDefinition": definition("OPEN", removed)})
    s.msg(5, {"marketDefinition": definition(
        "CLOSED", [(1, "WINNER", 62.5), (2, "LOSER", 37.5), (3, "REMOVED", 20.0)])})  # fmt: skip
    # Won 10 * (1.6 - 1) = 6 on runner 1, kept the layer's 5 on runner 2: net 11, commission
    # 5 % = 0.55. Without the reduction and the void it would have been 10 + 5 + 2.
    assert pf.realized_pnl == 11 * MICRO and pf.commission == m("0.55")
    assert pf.cash == m("1010.45") and pf.positions == {}
    assert len([x for x in s.sink.settlements if x.instrument_id == R3]) == 1  # voided once
    pf.check_ledger()


def test_a_small_adjustment_factor_reduces_nothing_in_a_win_market_and_an_open_bet_is_void() -> (
    None
):
    s = Session()
    s.msg(1, {"img": True, "marketDefinition": definition("OPEN", ACTIVE), "rc": [
        {"id": 1, "atb": [[2.0, 100]], "atl": [[2.02, 100]]},
        {"id": 3, "atb": [[6.0, 100]], "atl": [[6.2, 100]]},
    ]})  # fmt: skip
    ctx, pf = s.strat.ctx, s.node.engine.runners["s"].portfolio
    ctx.back(R1, 10 * MICRO, 2 * MICRO, tif=TimeInForce.FAK)
    ctx.back(R3, 4 * MICRO, 6 * MICRO, tif=TimeInForce.FAK)
    rest = ctx.back(R3, 2 * MICRO, 8 * MICRO, post_only=True)  # resting on the non-runner
    assert rest is not None and rest.status.value == "open"
    removed = [(1, "ACTIVE", 98.0), (2, "ACTIVE", 0.0), (3, "REMOVED", 2.0)]
    s.msg(2, {"marketDefinition": definition("OPEN", removed)})
    (ev,) = [e for e in s.events if isinstance(e, RunnerRemoved)]
    assert ev.keep_ppm == MICRO  # 2 % < 2.5 %: no reduction
    assert pf.qty(R1) == 20 * MICRO
    assert rest.status.value == "cancelled"
    (void,) = [x for x in s.sink.settlements if x.instrument_id == R3]
    assert void.amount == 4 * MICRO and void.void  # the open back's stake is returned
    assert pf.cash == 990 * MICRO and pf.reserved_cash == 0
    pf.check_ledger()


def test_the_reduction_and_the_void_survive_a_restart(tmp_path: Any) -> None:
    """The reduction is a ledger row (``settlements.reduction_ppm``): the replay reproduces it."""
    from database.engine import make_engine, make_session_factory, migrate
    from database.writer import DbWriter
    from services.persistence import Sink
    from services.recovery import restore

    url = f"sqlite:///{tmp_path / 'bot.db'}"
    migrate(url)
    sessions = make_session_factory(make_engine(url))
    writer = DbWriter(sessions)
    writer.start()
    s = Session(Sink(writer))
    s.msg(1, {"img": True, "marketDefinition": definition("OPEN", ACTIVE), "rc": [
        {"id": 1, "atb": [[2.0, 100]], "atl": [[2.02, 100]]},
        {"id": 2, "atb": [[4.0, 100]], "atl": [[4.1, 100]]},
        {"id": 3, "atb": [[6.0, 100]], "atl": [[6.2, 100]]},
    ]})  # fmt: skip
    ctx, pf = s.strat.ctx, s.node.engine.runners["s"].portfolio
    ctx.back(R1, 10 * MICRO, 2 * MICRO, tif=TimeInForce.FAK)
    ctx.lay(R2, 5 * MICRO, m("4.1"), tif=TimeInForce.FAK)
    ctx.back(R3, 10 * MICRO, 6 * MICRO, tif=TimeInForce.FAK)
    removed = [(1, "ACTIVE", 62.5), (2, "ACTIVE", 37.5), (3, "REMOVED", 20.0)]
    s.msg(3, {"marketDefinition": definition("OPEN", removed)})
    assert writer.flush()
    writer.stop()
    fresh = Session()
    restore(fresh.node.engine, sessions)
    back = fresh.node.engine.runners["s"].portfolio
    assert (back.qty(R1), back.qty(R2)) == (pf.qty(R1), pf.qty(R2)) == (16 * MICRO, -m("16.4"))
    assert (back.cash, back.realized_pnl, back.short_liability) == (
        pf.cash, pf.realized_pnl, pf.short_liability,
    )  # fmt: skip
    back.check_ledger()
