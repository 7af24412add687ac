"""Arbitrage against the simulator with planted mispricings: captured, and profitable after fees.

The simulator injects dislocations (one token's makers quote off fair so YES ask + NO ask < 1,
or a neg-risk event's YES asks sum below 1) at ``mispricing_rate_per_hour``. Each strategy runs
alone on a small universe whose markets all resolve within the run, so every bundle it bought is
settled and its profit is realised.
"""

from __future__ import annotations

from collections import defaultdict

from services.clock import SimClock
from services.engine import Engine
from services.markets.sim import SimConfig, SimFeed
from services.money import notional
from services.node import build_node
from services.strategies.base import Strategy
from services.strategies.complement_arb import ComplementArbitrage
from services.strategies.neg_risk_arb import NegRiskArbitrage
from tests.strategies.harness import RecordingSink, with_params
from utils.config import parse_config

START = 1_767_225_600.0


def run(
    strategy: Strategy, seconds: float, seed: int, **sim: object
) -> tuple[Engine, RecordingSink]:
    cfg = parse_config({}, "test")
    sim_cfg = SimConfig(
        **{"fee_enabled_share": 0.3, "lifetime_min_s": 700.0, "lifetime_max_s": 700.0, **sim}
    )  # type: ignore[arg-type]
    sink = RecordingSink()
    engine = build_node(cfg, [strategy], sink, clock=SimClock(START), safety=False).engine
    engine.start()
    for batch in SimFeed(sim_cfg, seed=seed, start_ts=START, duration_s=seconds).iter_batches():
        engine.process_batch(batch)
    engine.finish()
    return engine, sink


def settled_pnl_by_group(engine: Engine, sink: RecordingSink) -> dict[str, int]:
    """Cash result (after fees) of each market/event whose positions were all settled."""
    cash: dict[str, int] = defaultdict(int)
    settled: set[str] = set()
    for f in sink.fills:
        g = engine.instruments[f.instrument_id].group_id
        value = notional(f.size, f.price)
        cash[g] += (-value if f.side.value == "BUY" else value) - f.fee
    for s in sink.settlements:
        g = engine.instruments[s.instrument_id].group_id
        cash[g] += s.amount
        settled.add(g)
    open_groups = {engine.instruments[i].group_id for i in engine.runners["s"].portfolio.positions}
    return {g: v for g, v in cash.items() if g in settled and g not in open_groups}


def test_complement_arbitrage_captures_planted_mispricings_at_a_profit() -> None:
    strat = with_params(ComplementArbitrage)
    engine, sink = run(
        strat, 800, seed=21, markets=4, neg_risk_events=0, mispricing_rate_per_hour=40.0
    )
    buys = [f for f in sink.fills if f.side.value == "BUY"]
    assert len(buys) >= 4
    results = settled_pnl_by_group(engine, sink)
    assert len(results) >= 2
    assert all(v > 0 for v in results.values()), results  # each captured pair paid, after fees
    assert engine.runners["s"].errors == 0
    # Control: without planted dislocations only the makers' own disagreements are left.
    _quiet, quiet_sink = run(
        with_params(ComplementArbitrage),
        800,
        seed=21,
        markets=4,
        neg_risk_events=0,
        mispricing_rate_per_hour=0.0,
    )
    assert len(quiet_sink.fills) < len(sink.fills)


def test_neg_risk_arbitrage_captures_planted_mispricings_at_a_profit() -> None:
    strat = with_params(NegRiskArbitrage)
    engine, sink = run(
        strat,
        800,
        seed=4,
        markets=1,
        neg_risk_events=3,
        outcomes_per_event=3,
        mispricing_rate_per_hour=40.0,
    )
    legs_by_ts: dict[float, set[str]] = defaultdict(set)
    for f in sink.fills:
        if f.side.value == "BUY":
            legs_by_ts[f.ts].add(f.instrument_id)
    assert any(len(legs) == 3 for legs in legs_by_ts.values())  # whole sets, bought at once
    results = settled_pnl_by_group(engine, sink)
    assert results and all(v > 0 for v in results.values()), results
    assert engine.runners["s"].errors == 0
