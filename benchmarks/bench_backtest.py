"""Backtest and optimizer throughput (figures for the README; docs/BACKTESTING.md).

* L1 backtest: the shared L1 day (or ``--l1-hours`` of it) with the default field of
  strategies from ``config.example.yaml``: quotes per second and engine events per second.
* L2 backtest: a recording of ``--l2-minutes`` of the simulated market made by ``bot.py`` itself,
  replayed through ``bot.py backtest``'s runner with the default field: events per second.
* Optimizer: trials per minute of a TPE study on an L1 slice (``--slice-markets``), on 1 and 2 local
  worker processes and on a 2-worker Dask ``LocalCluster`` (workers warmed first).

Usage: python benchmarks/bench_backtest.py [--l1-hours 24] [--l2-minutes 10] [--trials 16]
       [--slice-markets 120] [--only l1|l2|optimizer]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.backtest.l1 import load_l1, parse_ts  # noqa: E402
from services.backtest.optimize import (  # noqa: E402
    DaskPool,
    InlinePool,
    ProcessPool,
    optimize,
    parse_param,
    walk_forward,
)
from services.backtest.run import parse_source, run_backtest, source_span  # noqa: E402
from services.strategies.loader import build_strategies  # noqa: E402
from utils.config import load_config, parse_config, read_yaml  # noqa: E402

L1 = ROOT.parent / "shared" / "data" / "polymarket_l1"
CONFIG = ROOT / "config.example.yaml"


def bench_l1(hours: float) -> None:
    data = read_yaml(CONFIG) or {}
    data["dashboard"] = {"enabled": False}
    cfg = parse_config(data, str(CONFIG))
    start = parse_ts("2026-07-10 20:25:00")
    end = start + hours * 3600
    load_l1(L1)  # parse once (cached), as the optimizer's workers do
    quotes = len(load_l1(L1, start, end).quotes)
    res = run_backtest(
        cfg, build_strategies(cfg, str(CONFIG)), parse_source(f"l1:{L1}"),
        start_ts=start, end_ts=end,
    )  # fmt: skip
    print(
        f"L1 backtest, default field ({len(res.strategies)} strategies), {quotes:,} quotes "
        f"({res.events:,} events): {res.wall_s:.1f} s, {quotes / res.wall_s:,.0f} quotes/s, "
        f"{res.events_per_s:,.0f} events/s, {len(res.fills):,} fills"
    )


def bench_l2(minutes: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "rec"
        cfg_file = Path(tmp) / "rec.yaml"
        data = read_yaml(CONFIG) or {}
        md = dict(data.get("market_data") or {})
        md.update({"source": "sim", "speed": "max", "duration_s": minutes * 60, "record": True,
                   "recorder": {"directory": str(rec)}})  # fmt: skip
        data["market_data"] = md
        data["dashboard"] = {"enabled": False}
        import yaml

        cfg_file.write_text(yaml.safe_dump(data), encoding="utf-8")
        subprocess.run(
            [sys.executable, str(ROOT / "bot.py"), "--config", str(cfg_file), "--db",
             str(Path(tmp) / "rec.db"), "--quiet"], check=True, capture_output=True,
        )  # fmt: skip
        cfg = load_config(CONFIG)
        res = run_backtest(cfg, build_strategies(cfg, str(CONFIG)), parse_source(f"l2:{rec}"))
        print(
            f"L2 backtest (recording of {minutes:g} simulated minutes), default field: "
            f"{res.events:,} events in {res.wall_s:.1f} s, {res.events_per_s:,.0f} events/s, "
            f"{len(res.fills):,} fills"
        )


def bench_optimizer(trials: int, markets: int) -> None:
    from tests.backtest.l1_slice import write_slice

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_slice(Path(tmp) / "slice", markets)
        source = f"l1:{folder}"
        first, last = source_span(parse_source(source), None, None)
        windows = walk_forward(first, last, 1, "none", 1.0)
        base = {
            "data": {
                "dashboard": {"enabled": False},
                "market_data": {"validation": {"min_depth_usd": 0}},
                "strategies": [{"name": "hold", "class": "examples/buy_and_hold.py:BuyYesAndHold"}],
            },
            "file": str(CONFIG),
            "strategy": "hold",
            "source": source,
            "objective": "pnl_usd",
        }
        space = [parse_param("max_price=0.1:0.9"), parse_param("shares=5:25:5")]

        def run(name: str, pool: object) -> None:
            # Warm the workers (imports, the L1 parse cache) so the figure is trials, not start-up.
            pool.run([{**base, "params": {"max_price": 0.5, "shares": 5}, "start": first,  # type: ignore[attr-defined]
                       "end": last}] * 2)  # fmt: skip
            t0 = time.perf_counter()
            doc = optimize(pool, base, space, windows, method="tpe", trials=trials, seed=1,
                           batch=4)  # type: ignore[arg-type]  # fmt: skip
            wall = time.perf_counter() - t0
            print(f"optimizer, {name}: {len(doc['trials'])} trials in {wall:.1f} s, "
                  f"{len(doc['trials']) / wall * 60:.1f} trials/min")  # fmt: skip

        run("1 worker (in process)", InlinePool())
        pool = ProcessPool(2)
        try:
            run("2 local processes", pool)
        finally:
            pool.close()
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
            dask = DaskPool(cluster.scheduler_address)
            try:
                run("2-worker Dask LocalCluster", dask)
            finally:
                dask.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--l1-hours", type=float, default=24.0)
    p.add_argument("--l2-minutes", type=float, default=10.0)
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--slice-markets", type=int, default=120)
    p.add_argument("--only", choices=["l1", "l2", "optimizer"])
    a = p.parse_args()
    if a.only in (None, "l1"):
        bench_l1(a.l1_hours)
    if a.only in (None, "l2"):
        bench_l2(a.l2_minutes)
    if a.only in (None, "optimizer"):
        bench_optimizer(a.trials, a.slice_markets)


if __name__ == "__main__":
    main()
