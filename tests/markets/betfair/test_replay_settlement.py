"""Replaying the shared recording through a node: traded volume and settlement are exact.

* Each runner's traded volume, summed from the ``TradePrint`` events the replay gives the engine
  (each is half the increase of the stream's cumulative ``trd``: Betfair counts both sides),
  doubled and added to what had traded before the recording began (the first image's ``trd``),
  is the runner's ``tv`` in the last message, to the penny.
* The market settles exactly as its CLOSED definition says (runner 37947503 WINNER, five
  LOSERs): a strategy that backs every runner 2 GBP at the first book holds ``stake * odds``
  payout units on each; the winner's pay 1 each, the losers' 0, and the commission is 5% of the
  net market winnings (the definition's ``marketBaseRate``), all worked out from the fills.
* A runner REMOVED from a market is void: its backs and lays are returned to the penny.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from services.clock import SimClock
from services.events import VOID_PAYOUT, MarketListed, MarketResolved, MarketStatus, TradePrint
from services.execution.orders import Fill, Settlement, TimeInForce
from services.instruments import Instrument
from services.ladder import Quote
from services.markets.betfair.files import iter_lines
from services.markets.betfair.replay import BetfairReplayFeed
from services.markets.betfair.translate import BetfairTranslator
from services.money import MICRO, notional
from services.node import build_node
from services.orderbook import OrderBook
from services.persistence import NullSink
from services.strategies.base import Strategy, StrategyContext, StrategyParams
from utils.config import parse_config

MARKET = "1.197931750"
WINNER = f"{MARKET}:37947503"
STAKE = 2 * MICRO


class Recorder(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.fills: list[Fill] = []
        self.settlements: list[Settlement] = []

    def fill(self, f: Fill) -> None:
        self.fills.append(f)

    def settlement(self, s: Settlement) -> None:
        self.settlements.append(s)


class BackEveryRunner(Strategy):
    """Back each runner once, 2 GBP at the best available to back, at its first two-sided book."""

    quotes = frozenset({Quote.ODDS})

    def __init__(self, name: str, params: StrategyParams) -> None:
        super().__init__(name, params)
        self.done: set[str] = set()
        self.resolutions: list[MarketResolved] = []

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        iid = book.instrument_id
        back = book.best_bid()
        if iid in self.done or back is None:
            return
        self.done.add(iid)
        ctx.back(iid, STAKE, back, tif=TimeInForce.FAK)

    def on_resolution(self, ctx: StrategyContext, event: MarketResolved) -> None:
        self.resolutions.append(event)


def _node(strategy: Strategy, sink: Recorder):  # type: ignore[no-untyped-def]
    cfg = parse_config(
        {
            "competition": {"starting_capital_usd": 1000},
            "strategies": [{"name": "s", "class": "MarketMaker", "currency": "GBP"}],
        },
        "test",
    )
    node = build_node(cfg, [strategy], sink, clock=SimClock(0.0), safety=False)
    node.engine.start()
    return node


def test_traded_volume_of_every_runner_adds_up_to_its_total_matched(recording: Path) -> None:
    prints: dict[str, int] = defaultdict(int)
    feed = BetfairReplayFeed(recording)
    for batch in feed.event_batches():
        for ev in batch:
            if isinstance(ev, TradePrint):
                assert ev.size > 0 and ev.aggressor is None
                prints[ev.instrument_id] += ev.size
    last_tv: dict[str, int] = {}
    before: dict[str, int] = {}  # traded before the recording began (in the first image)
    for line in iter_lines(recording):
        for mc in json.loads(line).get("mc", ()):
            for rc in mc.get("rc", ()):
                iid = f"{mc['id']}:{rc['id']}"
                if mc.get("img"):
                    before[iid] = sum(round(s * MICRO) for _, s in rc.get("trd", ()))
                if "tv" in rc:
                    last_tv[iid] = round(rc["tv"] * MICRO)
    assert len(last_tv) == 6 and all(before.values())
    assert {iid: before[iid] + 2 * v for iid, v in prints.items()} == last_tv
    assert feed.translator.markets[MARKET].total_matched == last_tv


def test_the_market_settles_as_its_closed_definition_says(recording: Path) -> None:
    sink = Recorder()
    strat = BackEveryRunner("s", StrategyParams())
    node = _node(strat, sink)
    engine = node.engine
    statuses: list[str] = []
    for batch in BetfairReplayFeed(recording).event_batches():
        statuses += [ev.status for ev in batch if isinstance(ev, MarketStatus)]
        engine.process_batch(batch)
    engine.finish()
    assert statuses == ["suspended", "closed"]
    (resolved,) = strat.resolutions
    assert dict(resolved.payouts) == {
        iid: (MICRO if iid == WINNER else 0) for iid in dict(resolved.payouts)
    }
    assert len(resolved.payouts) == 6

    # Every runner was backed up to 2 GBP (a FAK at the best back odds: what was displayed).
    units: dict[str, int] = defaultdict(int)
    for f in sink.fills:
        assert f.fee == 0  # Betfair charges nothing per bet
        units[f.instrument_id] += notional(f.size, f.price)
    assert set(units) == set(dict(resolved.payouts)) and len(sink.fills) >= 6
    staked = sum(f.size for f in sink.fills)
    assert 6 * MICRO < staked <= 6 * STAKE

    paid = {s.instrument_id: s.amount for s in sink.settlements if s.fee == 0}
    assert paid[WINNER] == units[WINNER]
    assert all(paid[iid] == 0 for iid in units if iid != WINNER)
    net = units[WINNER] - staked
    (commission,) = [s for s in sink.settlements if s.fee]
    expect = (Decimal(net) * Decimal("0.05") / 10_000).quantize(Decimal(1), ROUND_HALF_UP)
    assert net > 0 and commission.fee == int(expect) * 10_000
    pf = engine.runners["s"].portfolio
    assert pf.cash == 1000 * MICRO - staked + units[WINNER] - commission.fee
    assert pf.positions == {}
    pf.check_ledger()


def _msg(pt: int, mc: dict[str, object]) -> bytes:
    return json.dumps({"op": "mcm", "clk": "1", "pt": pt, "mc": [mc]}).encode()


def _definition(status: str, runners: list[tuple[int, str]]) -> dict[str, object]:
    return {
        "status": status,
        "inPlay": False,
        "betDelay": 0,
        "marketBaseRate": 5,
        "numberOfWinners": 1,
        "marketType": "WIN",
        "bettingType": "ODDS",
        "eventTypeId": "7",
        "version": 1,
        "runners": [
            {"id": sid, "status": st, "sortPriority": i, "adjustmentFactor": 33.3}
            for i, (sid, st) in enumerate(runners, 1)
        ],
    }


def test_a_removed_runner_is_void_and_its_bets_are_returned() -> None:
    """A three-runner WIN market; runner 3 is removed; the strategy backed 2 and laid 3."""
    tr = BetfairTranslator()
    active = [(1, "ACTIVE"), (2, "ACTIVE"), (3, "ACTIVE")]
    msgs = [
        _msg(
            1_000,
            {
                "id": "1.5",
                "img": True,
                "marketDefinition": _definition("OPEN", active),
                "rc": [
                    {"id": 1, "atb": [[2.0, 100]], "atl": [[2.02, 100]]},
                    {"id": 2, "atb": [[4.0, 100]], "atl": [[4.1, 100]]},
                    {"id": 3, "atb": [[6.0, 100]], "atl": [[6.2, 100]]},
                ],
            },
        ),
        _msg(2_000, {"id": "1.5", "rc": [{"id": 3, "atb": [[6.0, 99]]}]}),
        _msg(
            3_000,
            {
                "id": "1.5",
                "marketDefinition": _definition(
                    "CLOSED", [(1, "WINNER"), (2, "LOSER"), (3, "REMOVED")]
                ),
            },
        ),
    ]
    batches = [tr.translate(json.loads(m)) for m in msgs]
    listed = [ev for ev in batches[0] if isinstance(ev, MarketListed)]
    insts: list[Instrument] = list(listed[0].instruments)
    assert [i.category for i in insts] == ["horse racing"] * 3
    assert all(i.currency == "GBP" and i.allows_short for i in insts)
    (resolved,) = [ev for ev in batches[2] if isinstance(ev, MarketResolved)]
    assert dict(resolved.payouts) == {"1.5:1": MICRO, "1.5:2": 0, "1.5:3": VOID_PAYOUT}

    sink = Recorder()

    class Script(Strategy):
        quotes = frozenset({Quote.ODDS})

        def on_timer(self, ctx: StrategyContext) -> None:
            if ctx.now() >= 2.0 and not ctx.portfolio.positions:
                ctx.back("1.5:3", 10 * MICRO, 6 * MICRO, tif=TimeInForce.FAK)
                ctx.lay("1.5:3", 4 * MICRO, 6_200_000, tif=TimeInForce.FAK)
                ctx.back("1.5:2", 5 * MICRO, 4 * MICRO, tif=TimeInForce.FAK)

    node = _node(Script("s", StrategyParams()), sink)
    for batch in batches:
        node.engine.process_batch(batch)
    pf = node.engine.runners["s"].portfolio
    void = [s for s in sink.settlements if s.payout_per_share == VOID_PAYOUT]
    assert len(void) == 1 and void[0].instrument_id == "1.5:3"
    # Back 10 at 6.0 then lay 4 at 6.2: 60 - 24.8 = 35.2 units for 10 - 4 = 6 GBP net: void -> 6
    # back (the lay realized 4 - 10 * 24.8 / 60 = -0.133334 on the back; the void undoes it too).
    assert void[0].size == 35_200_000 and void[0].amount == 6 * MICRO
    # The back of 5 on the loser is lost; the void runner neither wins nor loses: no commission.
    assert pf.cash == 1000 * MICRO - 5 * MICRO
    assert pf.realized_pnl == -5 * MICRO and pf.commission == 0
    pf.check_ledger()
