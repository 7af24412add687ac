"""Measure (the fifth round's prototype): would generating the simulator's events in a child
process pay off? Built in the sixth round as ``services/markets/sim/process.py::ChildSimFeed``
(``market_data.sim.process``); ``benchmarks/bench_bot.py`` measures ``bot.py`` with it against
``process: thread``. Kept to compare with the prototype's figures in ``docs/PERFORMANCE.md``.

``bot.py`` on the simulator generates the market's events on the engine's thread. This script
runs the node ``bot.py`` builds (safety layer, data gate, default field; no storage) on the
shipped config's simulator stream two ways, alternating for ``--rounds``:

- ``inline``: as ``bot.py`` does today, ``SimFeed.iter_batches()`` feeding ``process_batch``;
- ``child``: a forked child process generates the batches and sends them through a pipe in
  chunks of ``--chunk`` batches; a ``BookDelta`` travels as its ``(ts, instrument_id, changes)``
  tuple and is rebuilt in the parent, other events are pickled as they are. The parent only
  receives, rebuilds and processes.

It prints wall seconds, the parent's CPU seconds, the child's CPU seconds and their sum, and
checks both ways hand the engine equal batches (a digest of every batch).

Usage: python benchmarks/bench_sim_child.py [--seconds 900] [--rounds 2] [--chunk 32]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.clock import SimClock  # noqa: E402
from services.events import BookDelta  # noqa: E402
from services.markets.sim import SimFeed  # noqa: E402
from services.node import build_node  # noqa: E402
from services.persistence import NullSink  # noqa: E402
from services.strategies.loader import build_strategies  # noqa: E402
from utils.config import load_config  # noqa: E402


def _produce(conn: Any, config: str, seconds: float, seed: int, chunk: int) -> None:
    md = load_config(config).market_data
    feed = SimFeed(md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds)
    buf: list[list[Any]] = []
    for batch in feed.iter_batches():
        buf.append(
            [(e.ts, e.instrument_id, e.changes) if type(e) is BookDelta else e for e in batch]
        )
        if len(buf) >= chunk:
            conn.send_bytes(pickle.dumps(buf, protocol=5))
            buf = []
    if buf:
        conn.send_bytes(pickle.dumps(buf, protocol=5))
    t = os.times()
    conn.send_bytes(pickle.dumps(("done", t.user + t.system)))
    conn.close()


def run(mode: str, config: str, seconds: float, seed: int, chunk: int) -> dict[str, Any]:
    cfg = load_config(config)
    md = cfg.market_data
    strategies = build_strategies(cfg, config)
    node = build_node(cfg, strategies, NullSink(), clock=SimClock(md.start_ts), safety=True)
    node.engine.start()
    if node.safety is not None:
        node.safety.startup()
    h = hashlib.sha256()
    n = 0
    child_cpu = 0.0
    w0, c0 = time.perf_counter(), time.process_time()
    if mode == "inline":
        feed = SimFeed(md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds)
        for batch in feed.iter_batches():
            h.update(repr(batch).encode())
            n += len(batch)
            node.engine.process_batch(batch)
    else:
        recv, send = mp.get_context("fork").Pipe(duplex=False)
        proc = mp.get_context("fork").Process(
            target=_produce, args=(send, config, seconds, seed, chunk)
        )
        proc.start()
        send.close()
        while True:
            msg = pickle.loads(recv.recv_bytes())
            if isinstance(msg, tuple):
                child_cpu = msg[1]
                break
            for raw in msg:
                batch = [BookDelta(*e) if type(e) is tuple else e for e in raw]
                h.update(repr(batch).encode())
                n += len(batch)
                node.engine.process_batch(batch)
        proc.join()
    return {
        "wall": time.perf_counter() - w0,
        "cpu": time.process_time() - c0,
        "child": child_cpu,
        "events": n,
        "digest": h.hexdigest()[:16],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=900.0)
    ap.add_argument("--config", default=str(ROOT / "config.example.yaml"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=32, help="batches per message")
    args = ap.parse_args()
    for r in range(args.rounds):
        for mode in ("inline", "child"):
            res = run(mode, args.config, args.seconds, args.seed, args.chunk)
            print(
                f"round {r + 1} {mode:6}: {res['events']:,} events, wall {res['wall']:.2f} s, "
                f"parent CPU {res['cpu']:.2f} s, child CPU {res['child']:.2f} s, total "
                f"{res['cpu'] + res['child']:.2f} s, digest {res['digest']}"
            )


if __name__ == "__main__":
    main()
