"""Live kill switch: time from the kill to every live order confirmed cancelled at the venue.

Runs the live client (official SDK, real HTTP) against the fake CLOB V2 venue on 127.0.0.1:
places N resting orders, then measures ``LivePolymarketClient.kill`` (one ``DELETE /cancel-all``
at EMERGENCY priority, answers applied) and checks that the venue holds no open order. The
target is 500 ms. The end-to-end test (tests/markets/test_live_e2e.py) prints the same figure
measured inside a running ``bot.py`` (SIGUSR1 -> ``live_kill`` event).

Usage: python benchmarks/bench_live_kill.py [--orders 10 50] [--trials 5]
Exit code 1 if any trial misses the target.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.execution.orders import OrderStatus  # noqa: E402
from services.money import MICRO  # noqa: E402
from tests.markets.test_live_client import best, make_rig  # noqa: E402

TARGET_MS = 500.0


async def trial(n: int) -> float:
    rig, close = await make_rig(max_order_usd=1000, max_market_exposure_usd=1e6)
    try:
        bid, _ = best(rig)
        orders = [rig.buy(bid - (k % 20) * rig.yes.tick, 5 * MICRO) for k in range(n)]
        await rig.until(lambda: all(o.status is OrderStatus.OPEN for o in orders), "acks", 60)
        t0 = time.perf_counter()
        cancelled = await rig.client.kill("benchmark")
        ms = (time.perf_counter() - t0) * 1000.0
        assert cancelled == n and rig.fake.open_orders_list() == [], cancelled
        return ms
    finally:
        await close()


async def main(counts: list[int], trials: int) -> int:
    worst = 0.0
    for n in counts:
        xs = [await trial(n) for _ in range(trials)]
        worst = max(worst, max(xs))
        print(
            f"{n:4d} live orders: cancel-all confirmed in median {statistics.median(xs):.1f} ms, "
            f"max {max(xs):.1f} ms over {trials} trials (target {TARGET_MS:.0f} ms)"
        )
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--trials", type=int, default=5)
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.orders, a.trials)))
