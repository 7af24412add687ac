"""Exactness check for performance work: hash every row the engine hands to storage.

An optimisation must not change what a user gets: the same orders, fills, settlements,
positions, snapshots, market tops and price points, in the same order. This script runs the
node ``bot.py`` builds (safety layer and data gate included) with a sink whose writer hashes
every ``insert`` / ``upsert`` / ``delete`` / ``update`` in order, and prints the row count per
table and one SHA-256 over all of them (``market_tops``, whose upserts per instrument are
coalesced by wall time, counts as the table it leaves). Run it before and after a change (same arguments,
``PYTHONHASHSEED=0``): the hashes must be equal.

Workloads:
- ``sim``: the simulator with a config (default ``config.example.yaml``) for ``--seconds`` of
  market time.
- ``betfair``: the Betfair replay of ``--n`` copies of the shared recording with a strategy that
  backs every runner once (``benchmarks/bench_betfair.py``'s workload and strategy).

Usage: PYTHONHASHSEED=0 python benchmarks/row_hash.py [sim|betfair] [--seconds 1200] [--n 60]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.clock import SimClock  # noqa: E402
from services.node import build_node  # noqa: E402
from services.persistence import OpWriter, Sink  # noqa: E402


class HashWriter(OpWriter):
    """A ``Writer`` that hashes each operation, in order, instead of storing it."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.counts: Counter[str] = Counter()
        # market_tops rows are upserts per instrument handed over at most every half wall
        # second (Engine._write_tops): what must not change is the table they leave.
        self.tops: dict[str, dict[str, Any]] = {}

    def op(self, kind: str, table: str, row: dict[str, Any]) -> None:
        if table == "market_tops" and kind == "u":
            self.tops[row["instrument_id"]] = dict(row)
            return
        self.counts[table] += 1
        self.h.update(f"{kind}|{table}|{sorted(row.items())!r}\n".encode())

    def digest(self) -> str:
        """The hash of every operation in order, then of the market_tops table as left."""
        h = self.h.copy()
        for iid in sorted(self.tops):
            h.update(f"top|{sorted(self.tops[iid].items())!r}\n".encode())
        return h.hexdigest()


def run_sim(config: str, seconds: float, seed: int, w: HashWriter) -> int:
    from services.markets.sim import SimFeed
    from services.markets.sim.process import ChildSimFeed, resolve_process
    from services.strategies.loader import build_strategies
    from utils.config import load_config

    cfg = load_config(config)
    md = cfg.market_data
    node = build_node(cfg, build_strategies(cfg, config), Sink(w), clock=SimClock(md.start_ts))
    node.engine.start()
    if node.safety is not None:
        node.safety.startup()
    n = 0
    # The path bot.py takes (market_data.sim.process): a child process's batches through the
    # async batches() it consumes, or the in-thread feed.
    if resolve_process(md.sim.process) == "child":
        feed = ChildSimFeed(md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds)

        async def consume() -> int:
            k = 0
            async for batch in feed.batches():
                node.engine.process_batch(batch)
                k += len(batch)
            return k

        n = asyncio.run(consume())
        print(f"simulator in a child process ({feed.child_cpu_s:.1f} CPU s there)", file=sys.stderr)
    else:
        for batch in SimFeed(
            md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds
        ).iter_batches():
            node.engine.process_batch(batch)
            n += len(batch)
    node.engine.finish()
    return n


def run_betfair(copies: int, w: HashWriter) -> int:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_betfair import WatchEveryBook, build_workload, replay_config

    from services.feeds import make_feed
    from services.strategies.base import StrategyParams

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        build_workload(copies, "sequential", data)
        cfg = replay_config(data)
        strat = WatchEveryBook("watch", StrategyParams(), order=True)
        node = build_node(cfg, [strat], Sink(w), clock=SimClock(0.0))
        bundle = make_feed(cfg, 0.0, node.engine.books, node.clock, node.engine.instruments)
        node.data_guard.validator = bundle.validator
        node.engine.feed = bundle.feed
        asyncio.run(node.engine.run())
        node.engine.finish()
        return int(bundle.feed.inner.translator.messages)  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", nargs="?", choices=["sim", "betfair"], default="sim")
    ap.add_argument("--config", default=str(ROOT / "config.example.yaml"))
    ap.add_argument("--seconds", type=float, default=1200.0, help="sim: market seconds")
    ap.add_argument("--seed", type=int, default=7, help="sim: simulator seed")
    ap.add_argument("--n", type=int, default=60, help="betfair: copies of the recording")
    args = ap.parse_args()
    if os.environ.get("PYTHONHASHSEED") != "0":
        print(
            "warning: set PYTHONHASHSEED=0, or rows of different instruments within one clock "
            "tick may come in a different order",
            file=sys.stderr,
        )
    w = HashWriter()
    if args.workload == "sim":
        n = run_sim(args.config, args.seconds, args.seed, w)
        print(f"sim: {n:,} events, {args.seconds:.0f} s of market time")
    else:
        n = run_betfair(args.n, w)
        print(f"betfair: {n:,} stream messages, {args.n} copies")
    for table, count in sorted(w.counts.items()):
        print(f"  {table}: {count:,}")
    print(f"  market_tops (rows left): {len(w.tops):,}")
    print(f"rows: {sum(w.counts.values()) + len(w.tops):,}  sha256: {w.digest()}")


if __name__ == "__main__":
    main()
