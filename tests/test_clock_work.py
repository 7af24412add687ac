"""The clock work's shortcuts give what the full computation gives (issue 18).

The clock work values every portfolio every second (performance samples, the safety layer's
measures, the risk chain's equity); :meth:`Engine.market_value` recomputes only positions whose
book, quantity, cost or instrument changed. Here it is checked against
``Portfolio.market_value(engine.mark)`` at every clock tick and after every event of a default
simulated run in which the strategies hold many positions, and across a resolution. The
leaderboard, built with each row's rank at once, equals :func:`rank_rows` of the same rows, and
the cached closed-bet statistics equal :func:`bet_stats` of the bets.
"""

from __future__ import annotations

from dataclasses import replace

from services.clock import SimClock
from services.competition import rank_rows
from services.markets.sim import SimFeed
from services.metrics import bet_stats
from services.node import build_node
from services.persistence import NullSink
from services.strategies.loader import build_strategies
from tests.conftest import ROOT
from utils.config import load_config


def test_clock_work_shortcuts_equal_the_full_computation() -> None:
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
    checks = {"n": 0, "held": 0, "rows": 0, "bets": 0}

    def compare(_now: float) -> None:
        for r in eng.runners.values():
            pf = r.portfolio
            assert eng.market_value(pf) == pf.market_value(eng.mark), r.name
            checks["n"] += 1
            checks["held"] += len(pf.positions)
        rows = eng.tracker.latest
        if rows and checks["n"] % 97 == 0:
            assert rows == rank_rows([replace(r, rank=0) for r in rows])
            checks["rows"] += 1
            for name, st in eng.tracker.stats.items():
                pnls = [b.pnl / 1e6 for b in eng.runners[name].portfolio.closed_bets]
                assert st.bets.stats() == bet_stats(pnls[: st.bets_seen])
                checks["bets"] += st.bets.n

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
    assert checks["rows"] > 10 and checks["bets"] > 0
    assert checks["held"] > 200  # positions were held and valued many times
    assert eng.fill_seq > 20 and eng.settlement_seq > 0  # fills, and a market resolved
