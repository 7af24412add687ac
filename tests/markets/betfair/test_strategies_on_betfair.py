"""Probability strategies on a Betfair replay: they see no odds instrument and place nothing.

``docs/BETFAIR.md`` ("Which strategies run on Betfair") says why the probability strategies do
not run on Betfair; this checks on the shared recording that they are kept off the odds
instruments (rather than trading on misread prices) while the Betfair strategies trade, and that
the document's table names every built-in strategy.
"""

from __future__ import annotations

from pathlib import Path

from services.clock import SimClock
from services.markets.betfair.replay import BetfairReplayFeed
from services.node import build_node
from services.persistence import NullSink
from services.strategies.loader import BUILTINS, build_strategies
from tests.markets.betfair.conftest import ROOT
from utils.config import parse_config

PROBABILITY = ["Momentum", "MeanReversion", "FavoriteLongshot", "TailValue", "MarketMaker",
               "ComplementArbitrage", "NegRiskArbitrage"]  # fmt: skip


def test_probability_strategies_get_no_betfair_instrument_and_place_nothing(
    recording: Path,
) -> None:
    feed = BetfairReplayFeed(recording)
    batches = list(feed.event_batches())
    first = batches[0][0].ts
    entries = [{"name": c.lower(), "class": c, "currency": "GBP"} for c in PROBABILITY]
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
