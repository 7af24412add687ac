"""Fuzz the data gate with mutated Polymarket frames and count off-grid books it let trade.

Mutated real-shaped market-channel frames (see ``tests/monitors/grid_fuzz.py``: off-grid prices,
tick changes between 0.001, 0.01 and 0.1, unparseable values, missing keys, truncated frames...)
go through the production translator, a book and the live feed's validator. After every frame
``can_trade`` must say no while any level of the book is off the instrument's current grid, and
nothing may raise.

Run: ``python benchmarks/fuzz_off_grid.py [--frames 100000] [--seed 0]``. Prints, for the
permissive gate (only the data checks can block) and the shipped defaults: frames, sessions,
tradable checks, off-grid books refused, off-grid books found tradable, crashes. Exit 1 if an
off-grid book was tradable or anything crashed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.monitors.grid_fuzz import PERMISSIVE, run  # noqa: E402
from utils.polymarket_config import ValidationConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000, help="frames per configuration")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    failed = False
    for name, config in (("permissive", PERMISSIVE), ("defaults", ValidationConfig())):
        t0 = time.perf_counter()
        res = run(args.frames, seed=args.seed, config=config)
        dt = time.perf_counter() - t0
        print(
            f"{name:>10}: {res.frames:,} frames in {res.sessions:,} sessions ({dt:.1f} s); "
            f"tradable after {res.tradable_checks:,} frames; off-grid book refused after "
            f"{res.off_grid_blocked:,}; off-grid book TRADABLE after {res.off_grid_tradable:,} "
            f"frames ({res.off_grid_books:,} books); crashes {res.crashes:,}"
        )
        for ex in res.examples:
            print("    e.g.", ex.replace("\n", "\n    "))
        failed |= bool(res.off_grid_tradable or res.crashes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
