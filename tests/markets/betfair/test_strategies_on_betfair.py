"""Strategies on a Betfair replay of the shared recording.

Momentum and MeanReversion run on Betfair runners through the probability view
(``services/strategies/odds_directional.py``): they back and lay on the odds ladder, and every
position settles with the ledger intact. The other probability strategies are kept off the odds
instruments (rather than trading on misread prices); ``docs/BETFAIR.md`` ("Which strategies run
on Betfair") says why, and its table names every built-in strategy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.clock import SimClock
from services.markets.betfair.replay import BetfairReplayFeed
from services.money import MICRO
from services.node import build_node
from services.persistence import NullSink
from services.strategies.loader import BUILTINS, build_strategies
from tests.markets.betfair.conftest import ROOT
from utils.config import parse_config

PROBABILITY = ["FavoriteLongshot", "TailValue", "MarketMaker", "ComplementArbitrage",
               "NegRiskArbitrage"]  # fmt: skip
# The recording is the last 80 s before the off (its marketTime) and the results: entries are
# allowed up to the off, on a short window, 5 GBP a bet.
NEAR_OFF: dict[str, Any] = {"sample_interval_s": 1, "no_entry_before_end_s": 0, "exit_before_end_s": 0,
            "sizing": {"notional_usd": 5}}  # fmt: skip


def test_momentum_and_mean_reversion_back_and_lay_on_betfair(recording: Path) -> None:
    from services.execution.orders import Fill
    from services.ladder import BETFAIR_ODDS

    feed = BetfairReplayFeed(recording)
    batches = list(feed.event_batches())
    entries = [
        {"name": "mom", "class": "Momentum", "currency": "GBP",
         "params": {**NEAR_OFF, "lookback_s": 20, "breakout_ticks": 1, "reversal_ticks": 2}},
        {"name": "mr", "class": "MeanReversion", "currency": "GBP",
         "params": {**NEAR_OFF, "window_s": 30, "entry_z": 1.5}},
    ]  # fmt: skip
    cfg = parse_config(
        {"execution": {"latency_ms": 0}, "competition": {"starting_capital_usd": 1000},
         "strategies": entries}, "test",
    )  # fmt: skip
    fills: list[Fill] = []

    class Sink(NullSink):
        def fill(self, f: Fill) -> None:
            fills.append(f)

    node = build_node(cfg, build_strategies(cfg, ""), Sink(), clock=SimClock(batches[0][0].ts))
    node.engine.start()
    for batch in batches:
        node.engine.process_batch(batch)
    for name in ("mom", "mr"):
        pf = node.engine.runners[name].portfolio
        mine = [f for f in fills if f.strategy == name]
        assert mine, f"{name} placed no bet"
        assert {f.side.value for f in mine} == {"BUY", "SELL"}, name  # lays and backs
        assert all(BETFAIR_ODDS.contains(f.price) for f in mine)
        assert pf.positions == {} and pf.cash != 1000 * MICRO  # all settled by the result
        pf.check_ledger()


def test_probability_strategies_get_no_betfair_instrument_and_place_nothing(
    recording: Path,
) -> None:
    feed = BetfairReplayFeed(recording)
    batches = list(feed.event_batches())
    first = batches[0][0].ts
    entries: list[dict[str, Any]] = [
        {"name": c.lower(), "class": c, "currency": "GBP"} for c in PROBABILITY
    ]
    entries.append(
        {"name": "value", "class": "BetfairValueBacker", "currency": "GBP",
         "params": {"min_edge": 0.002}}
    )  # fmt: skip
    cfg = parse_config(
        {"competition": {"starting_capital_usd": 1000}, "strategies": entries}, "test"
    )
    node = build_node(cfg, build_strategies(cfg, ""), NullSink(), clock=SimClock(first))
    node.engine.start()
    for batch in batches:
        node.engine.process_batch(batch)
    runners = node.engine.runners
    for c in PROBABILITY:
        r = runners[c.lower()]
        assert r.subscribed == {} and r.portfolio.fill_count == 0, c
    assert runners["value"].portfolio.fill_count > 0  # the Betfair strategy did trade


def test_the_betfair_doc_says_for_every_builtin_strategy_whether_it_runs() -> None:
    text = (ROOT / "docs" / "BETFAIR.md").read_text()
    section = text.split("### Which strategies run on Betfair", 1)[1].split("\n## ", 1)[0]
    for name in BUILTINS:
        assert f"`{name}`" in section, name
