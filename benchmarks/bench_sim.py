"""CPU cost of the simulator's own event generation, in alternation with another checkout.

``bot.py`` on the simulator generates the market's events on the engine's thread, so their cost
is part of what a user's run pays (issue 18). This script generates the shipped config's
simulator stream (its markets, seed, ``--seconds`` of market time) in a fresh process per run,
once with this checkout and once with ``--base`` (another checkout, e.g. the code before a
change), alternating for ``--rounds``, and prints each run's CPU seconds (``time.process_time``
of the generation alone), events per CPU second, and the stream's digest: the two checkouts
must give the same digest (``tests/markets/sim_stream.py`` hashes batches and events the same
way), or the optimisation changed the market.

Usage: python benchmarks/bench_sim.py [--seconds 900] [--seed 7] [--rounds 3] [--base DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import hashlib, json, sys, time
sys.path.insert(0, ".")
from services.markets.sim import SimFeed
from utils.config import load_config
cfg = load_config(sys.argv[1])
md = cfg.market_data
seconds, seed = float(sys.argv[2]), int(sys.argv[3])
c0 = time.process_time()
feed = SimFeed(md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds)
batches = list(feed.iter_batches())
cpu = time.process_time() - c0
h = hashlib.sha256()
for batch in batches:
    h.update(b"B%d\n" % len(batch))
    h.update("\n".join(map(repr, batch)).encode())
print(json.dumps({"cpu": cpu, "events": sum(map(len, batches)), "batches": len(batches),
                  "digest": h.hexdigest()}))
"""


def run(checkout: Path, config: str, seconds: float, seed: int) -> dict[str, float | str]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, config, str(seconds), str(seed)],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=900.0, help="market time to simulate")
    ap.add_argument("--config", default=str(ROOT / "config.example.yaml"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--base", default=None, help="another checkout to alternate with")
    args = ap.parse_args()
    config = str(Path(args.config).resolve())
    sides = [("this", ROOT)] + ([("base", Path(args.base).resolve())] if args.base else [])
    digests: dict[str, set[str]] = {}
    for r in range(args.rounds):
        for name, checkout in sides:
            res = run(checkout, config, args.seconds, args.seed)
            digests.setdefault(name, set()).add(str(res["digest"]))
            cpu = float(res["cpu"])
            print(
                f"round {r + 1} {name}: {res['events']:,} events in {res['batches']:,} batches, "
                f"{cpu:.2f} CPU s = {float(res['events']) / cpu:,.0f} events per CPU s "
                f"({cpu / float(res['events']) * 1e6:.1f} us per event), digest "
                f"{str(res['digest'])[:16]}"
            )
    every = set().union(*digests.values())
    print("same stream on every run" if len(every) == 1 else f"STREAMS DIFFER: {digests}")


if __name__ == "__main__":
    main()
