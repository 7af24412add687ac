"""The engine's cached portfolio valuation equals the full recomputation (issue 18).

The clock work values every portfolio every second (performance samples, the safety layer's
measures, the risk chain's equity); :meth:`Engine.market_value` recomputes only positions whose
book, quantity, cost or instrument changed. Here it is checked against
``Portfolio.market_value(engine.mark)`` at every clock tick and after every event of a default
simulated run in which the strategies hold many positions, and across a resolution.
"""

from __future__ import annotations

from services.clock import SimClock
from services.markets.sim import SimFeed
from services.node import build_node
from services.persistence import NullSink
from services.strategies.loader import build_strategies
from tests.conftest import ROOT
from utils.config import load_config


def test_cached_valuation_equals_the_full_one_at_every_tick_and_event() -> None:
    cfg = load_config(str(ROOT / "config.example.yaml"))
    cfg = cfg.model_copy(
        update={
            "market_data": cfg.market_data.model_copy(
                update={
                    "sim": cfg.market_data.sim.model_copy(
                        # Short-lived markets: some resolve within the run.
                        update={"markets": 12, "lifetime_min_s": 120.0, "lifetime_max_s": 400.0}
                    )
                }
            )
        }
    )
    node = build_node(
        cfg, build_strategies(cfg, "c.yaml"), NullSink(), clock=SimClock(cfg.market_data.start_ts)
    )
    eng = node.engine
    checks = {"n": 0, "held": 0}

    def compare(_now: float) -> None:
        for r in eng.runners.values():
            pf = r.portfolio
            assert eng.market_value(pf) == pf.market_value(eng.mark), r.name
            checks["n"] += 1
            checks["held"] += len(pf.positions)

    eng.clock_listeners.append(compare)
    eng.start()
    feed = SimFeed(cfg.market_data.sim, seed=5, start_ts=cfg.market_data.start_ts, duration_s=400)
    for k, batch in enumerate(feed.iter_batches()):
        for ev in batch:
            eng.handle(ev)
            if k % 20 == 0:
                compare(0.0)
        eng.on_clock()
    eng.finish()
    assert checks["held"] > 200  # positions were held and valued many times
    assert eng.fill_seq > 20 and eng.settlement_seq > 0  # fills, and a market resolved
