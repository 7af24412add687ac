"""Cost growth: events per CPU second as markets and strategies grow, and memory over a long run.

1. A table of the whole engine with the safety layer (the node ``bot.py`` builds, no storage) on
   the simulator at 10, 50, 200 and 500 markets and 1, 6 and 12 strategies. The events of each
   market count are generated first (the simulator's own cost is not counted) over enough market
   time for about ``--events`` events; each cell runs in its own child process and reports CPU
   seconds of the engine loop only (``time.process_time``), so the figures hold on a shared
   machine. Cost per event should stay flat as markets grow.
2. Peak RSS of one run of ``--rss-markets`` markets (about 2 instruments each, plus neg-risk
   outcomes) x ``--rss-strategies`` strategies streamed over ``--rss-seconds`` of market time,
   with RSS printed at every tenth of the span, so growth (or its absence) is visible.

Strategies are the example config's field in order (MarketMaker, ComplementArbitrage,
NegRiskArbitrage, Momentum, MeanReversion, FavoriteLongshot), repeated under new names for more.

Usage: python benchmarks/bench_scaling.py [--markets 10,50,200,500] [--strategies 1,6,12]
[--events 150000] [--rss-markets 250] [--rss-strategies 10] [--rss-seconds 3600]
[--rss-activity 1.0] [--skip-rss]

The memory run prints an RSS line on stderr at every tenth of its span as it goes, so a long run
stopped early still says how far memory grew. ``--rss-activity`` scales the simulator's action
rates (0.1: fewer events per market second; the per-second clock work is unchanged), which is
how seven hours of market time were run on the shared machine (``docs/PERFORMANCE.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "config.example.yaml"
EVENTS_PER_MARKET_S = 9.5  # the default simulator's rate (about), measured; sizes each span


def _strategies(n: int) -> list[object]:
    from services.strategies.loader import build_strategies
    from utils.config import StrategyEntry, load_config

    cfg = load_config(str(CONFIG))
    field = [e for e in cfg.strategies if e.enabled]
    entries = []
    for i in range(n):
        e = field[i % len(field)]
        name = e.name if i < len(field) else f"{e.name}_{i // len(field)}"
        entries.append(StrategyEntry.model_validate({**e.model_dump(by_alias=True), "name": name}))
    return list(build_strategies(cfg.model_copy(update={"strategies": entries}), str(CONFIG)))


def _node(markets: int, n_strategies: int, activity: float = 1.0):  # type: ignore[no-untyped-def]
    from services.clock import SimClock
    from services.markets.sim import SimConfig
    from services.node import build_node
    from services.persistence import NullSink
    from utils.config import load_config

    cfg = load_config(str(CONFIG))
    sim_cfg = SimConfig(
        **{**cfg.market_data.sim.model_dump(), "markets": markets, "activity": activity}
    )
    strategies = _strategies(n_strategies)
    node = build_node(cfg, strategies, NullSink(), clock=SimClock(cfg.market_data.start_ts))  # type: ignore[arg-type]
    node.engine.start()
    if node.safety is not None:
        node.safety.startup()
    return cfg, sim_cfg, node


def cell(markets: int, n_strategies: int, events: int, seed: int) -> dict[str, object]:
    """One table cell: generate the events, then run them through a fresh node."""
    from services.markets.sim import SimFeed

    cfg, sim_cfg, node = _node(markets, n_strategies)
    seconds = max(60.0, events / (EVENTS_PER_MARKET_S * markets))
    feed = SimFeed(sim_cfg, seed=seed, start_ts=cfg.market_data.start_ts, duration_s=seconds)
    batches = list(feed.iter_batches())
    n_events = sum(len(b) for b in batches)
    engine = node.engine
    c0 = time.process_time()
    for batch in batches:
        engine.process_batch(batch)
    cpu_s = time.process_time() - c0
    return {
        "markets": markets,
        "instruments": len(engine.instruments),
        "strategies": n_strategies,
        "market_s": round(seconds),
        "events": n_events,
        "cpu_s": round(cpu_s, 2),
        "events_per_cpu_s": round(n_events / cpu_s),
        "us_per_event": round(cpu_s / n_events * 1e6, 2),
        "orders": engine.order_seq,
        "fills": engine.fill_seq,
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_run(
    markets: int, n_strategies: int, seconds: float, seed: int, activity: float = 1.0
) -> dict[str, object]:
    """Stream ``seconds`` of market time (events are not kept) and sample RSS along the way."""
    from services.markets.sim import SimFeed

    cfg, sim_cfg, node = _node(markets, n_strategies, activity)
    feed = SimFeed(sim_cfg, seed=seed, start_ts=cfg.market_data.start_ts, duration_s=seconds)
    engine = node.engine
    start = cfg.market_data.start_ts
    step = seconds / 10
    next_mark = start + step
    marks: list[tuple[int, float, int]] = []
    n_events = 0
    c0 = time.process_time()
    for batch in feed.iter_batches():
        engine.process_batch(batch)
        n_events += len(batch)
        if engine.now() >= next_mark:
            marks.append((round(engine.now() - start), round(_rss_mb(), 1), n_events))
            print(
                f"  market s {marks[-1][0]:,}: RSS {marks[-1][1]} MB, {n_events:,} events, "
                f"{len(engine.instruments):,} instruments listed, "
                f"{time.process_time() - c0:.0f} CPU s",
                file=sys.stderr,
                flush=True,
            )
            next_mark += step
    cpu_s = time.process_time() - c0
    engine.finish()
    return {
        "markets": markets,
        "instruments": len(engine.instruments),
        "live_instruments": len(engine.live),
        "strategies": n_strategies,
        "market_s": seconds,
        "events": n_events,
        "cpu_s": round(cpu_s, 1),
        "rss_marks": marks,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _child(args: list[str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,  # stderr passes through: the memory run's progress lines
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out: dict[str, object] = json.loads(line[len("RESULT ") :])
    return out


def main() -> None:
    """Print the table, then the memory run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markets", default="10,50,200,500")
    ap.add_argument("--strategies", default="1,6,12")
    ap.add_argument("--events", type=int, default=150_000, help="events per cell (about)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rss-markets", type=int, default=220)
    ap.add_argument("--rss-strategies", type=int, default=10)
    ap.add_argument("--rss-seconds", type=float, default=3600.0)
    ap.add_argument("--rss-activity", type=float, default=1.0, help="simulator activity")
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--cell", help=argparse.SUPPRESS)
    ap.add_argument("--rss", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.cell:
        m, n = (int(x) for x in a.cell.split(","))
        print("RESULT " + json.dumps(cell(m, n, a.events, a.seed)), flush=True)
        return
    if a.rss:
        r = rss_run(a.rss_markets, a.rss_strategies, a.rss_seconds, a.seed, a.rss_activity)
        print("RESULT " + json.dumps(r), flush=True)
        return
    markets = [int(x) for x in a.markets.split(",")]
    strategies = [int(x) for x in a.strategies.split(",")]
    print(
        "Whole engine with the safety layer, no storage; events per CPU second of the engine "
        "loop (us per event)"
    )
    header = f"{'markets':>8} {'instr.':>7} " + "".join(f"{f'{n} strat.':>22}" for n in strategies)
    print(header)
    rows = []
    for m in markets:
        cells = [
            _child(["--cell", f"{m},{n}", "--events", str(a.events), "--seed", str(a.seed)])
            for n in strategies
        ]
        rows.append(cells)
        line = f"{m:>8} {cells[0]['instruments']:>7} " + "".join(
            f"{c['events_per_cpu_s']:>12,} ({c['us_per_event']:>5} us)" for c in cells
        )
        print(line, flush=True)
    print("cells: " + json.dumps([c for r in rows for c in r]))
    if a.skip_rss:
        return
    r = _child(
        [
            "--rss",
            "--rss-markets",
            str(a.rss_markets),
            "--rss-strategies",
            str(a.rss_strategies),
            "--rss-seconds",
            str(a.rss_seconds),
            "--rss-activity",
            str(a.rss_activity),
            "--seed",
            str(a.seed),
        ]
    )
    print(
        f"memory: {r['instruments']} instruments listed ({r['live_instruments']} live at the "
        f"end) x {r['strategies']} strategies over {r['market_s']:.0f} s of market time, "
        f"{r['events']:,} events in {r['cpu_s']} CPU s: peak RSS {r['peak_rss_mb']} MB"
    )
    print("  RSS along the run (market s, MB, events): " + json.dumps(r["rss_marks"]))


if __name__ == "__main__":
    main()
