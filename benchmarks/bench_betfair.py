"""Betfair replay throughput, end to end, side by side with flumine on the same files.

Builds a workload of N copies of the shared recording (``../shared/data/betfair/1.197931750``),
each with its own market id (``1.<9000000000 + i>``), event id and times shifted so the copies
follow each other (``--mode sequential``) or overlap (``--mode interleaved``); or reads such a
directory (``--data DIR``, e.g. made by ``../shared/bench/betfair/gen_data.py``). Then it runs the
bot's node on them: the Betfair replay feed (read, JSON parse, translate) into the engine (books,
the paper client, the whole safety layer) with one strategy watching every book (``noop``) or
backing once per runner before the off (``order``). It prints price-level updates per second
(``atb`` + ``atl`` + ``trd`` entries, the figure flumine's baseline reports) and peak RSS.

With ``--flumine-python PATH`` (a virtual environment with ``flumine`` and
``betfairlightweight[speed]``; not a dependency of the project) it also runs
``../shared/bench/betfair/bench_flumine.py`` on the same files in a child process, one after the
other in the same run, and prints both.

Run: ``python benchmarks/bench_betfair.py --n 300 [--mode sequential] [--strategy noop]
[--flumine-python /tmp/flumine-venv/bin/python]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.clock import SimClock  # noqa: E402
from services.execution.orders import TimeInForce  # noqa: E402
from services.ladder import Quote  # noqa: E402
from services.markets.betfair.replay import BetfairReplayFeed  # noqa: E402
from services.orderbook import OrderBook  # noqa: E402
from services.persistence import NullSink  # noqa: E402
from services.strategies.base import Strategy, StrategyContext, StrategyParams  # noqa: E402
from utils.config import AppConfig, parse_config  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "betfair" / "1.197931750"
FLUMINE_BENCH = ROOT.parent / "shared" / "bench" / "betfair" / "bench_flumine.py"
GAP_MS = {"sequential": 600_000, "interleaved": 1_000}
DATES = ("marketTime", "suspendTime", "openDate", "settledTime")


def _shift(text: str, ms: int) -> str:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00")) + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def build_workload(n: int, mode: str, out: Path) -> dict[str, int]:
    """Write ``n`` shifted copies of the recording into ``out``; return message/update counts."""
    lines = [json.loads(x) for x in SOURCE.read_text().splitlines() if x.strip()]
    out.mkdir(parents=True, exist_ok=True)
    messages = updates = 0
    for i in range(1, n + 1):
        market = f"1.{9_000_000_000 + i}"
        delta = i * GAP_MS[mode]
        rows = []
        for msg in lines:
            m = json.loads(json.dumps(msg))
            m["pt"] += delta
            for mc in m["mc"]:
                mc["id"] = market
                md = mc.get("marketDefinition")
                if md is not None:
                    md["eventId"] = str(80_000_000 + i)
                    for k in DATES:
                        if k in md:
                            md[k] = _shift(md[k], delta)
                for rc in mc.get("rc", ()):
                    updates += sum(len(rc.get(k, ())) for k in ("atb", "atl", "trd"))
            rows.append(json.dumps(m, separators=(",", ":")))
            messages += 1
        (out / market).write_text("\n".join(rows) + "\n")
    stats = {"messages": messages, "price_level_updates_atb_atl_trd": updates, "files": n}
    (out / "stats.json").write_text(json.dumps(stats))
    return stats


class WatchEveryBook(Strategy):
    """Sees every book (``on_book``); in ``order`` mode backs each runner once before the off."""

    quotes = frozenset({Quote.ODDS})

    def __init__(self, name: str, params: StrategyParams, order: bool) -> None:
        super().__init__(name, params)
        self.books = 0
        self.order = order
        self.placed: set[str] = set()

    def on_book(self, ctx: StrategyContext, book: OrderBook) -> None:
        self.books += 1
        if not self.order or book.instrument_id in self.placed:
            return
        back = book.best_bid()
        if back is not None:
            self.placed.add(book.instrument_id)
            ctx.back(book.instrument_id, 2_000_000, back, tif=TimeInForce.GTC)


def replay_config(data: Path, clock_interval_s: float | None = None) -> AppConfig:
    """The config of the Betfair replay of ``data`` with one GBP strategy (also used by
    ``row_hash.py``)."""
    doc: dict[str, object] = {
        "market_data": {
            "source": "betfair_replay",
            "speed": "max",
            "betfair": {"replay_paths": [str(data)]},
        },
        "execution": {"latency_ms": 120},
        "competition": {"starting_capital_usd": 100_000},
        "strategies": [{"name": "watch", "class": "MarketMaker", "currency": "GBP"}],
    }
    if clock_interval_s is not None:
        doc["competition"] = {
            "starting_capital_usd": 100_000,
            "memory_snapshot_interval_s": clock_interval_s,
        }
        doc["breakers"] = {"check_interval_s": clock_interval_s}
        doc["exits"] = {"check_interval_s": clock_interval_s}
    return parse_config(doc, "bench")


def run_ours(data: Path, strategy_mode: str, clock_interval_s: float | None) -> dict[str, object]:
    """Replay ``data`` through a full node, as ``bot.py`` assembles it; return the figures.

    ``clock_interval_s`` sets the event-time period of the engine's clock work (equity
    snapshots, breaker and exit checks; all 1 s by default) for the "replay profile" figure.
    """
    from services.feeds import make_feed
    from services.node import build_node

    cfg = replay_config(data, clock_interval_s)
    strat = WatchEveryBook("watch", StrategyParams(), order=strategy_mode == "order")
    t0 = time.perf_counter()
    node = build_node(cfg, [strat], NullSink(), clock=SimClock(0.0))
    bundle = make_feed(cfg, 0.0, node.engine.books, node.clock, node.engine.instruments)
    node.data_guard.validator = bundle.validator
    node.engine.feed = bundle.feed
    feed = bundle.feed.inner  # type: ignore[attr-defined]
    assert isinstance(feed, BetfairReplayFeed)
    t1 = time.perf_counter()
    asyncio.run(node.engine.run())
    t2 = time.perf_counter()
    node.engine.finish()
    run_s = t2 - t1
    updates = feed.translator.level_updates
    pf = node.engine.runners["watch"].portfolio
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = ru.ru_utime + ru.ru_stime  # the whole process, imports included (as time -v counts)
    return {
        "framework": "msb",
        "mode": strategy_mode,
        "clock_interval_s": clock_interval_s or 1.0,
        "files": len(feed.files),
        "messages": feed.translator.messages,
        "price_level_updates": updates,
        "books_to_strategy": strat.books,
        "orders": len(strat.placed),
        "settled_markets": sum(1 for m in feed.translator.markets.values() if m.settled),
        "cash_after": pf.cash / 1e6,
        "setup_s": round(t1 - t0, 3),
        "run_s": round(run_s, 3),
        "msgs_per_s": round(feed.translator.messages / run_s),
        "updates_per_s": round(updates / run_s),
        "process_cpu_s": round(cpu_s, 2),
        "updates_per_cpu_s": round(updates / cpu_s),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def run_flumine(python: str, data: Path, strategy_mode: str) -> dict[str, object]:
    """Run the shared flumine baseline on ``data`` in a child process; return its figures."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", python, str(FLUMINE_BENCH), "--data", str(data), "--mode",
         strategy_mode],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out: dict[str, object] = json.loads(line[len("RESULT ") :])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if rss:
        out["peak_rss_mb"] = round(int(rss.group(1)) / 1024, 1)
    user = re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr)
    if user and system:
        cpu_s = float(user.group(1)) + float(system.group(1))
        out["process_cpu_s"] = round(cpu_s, 2)
        out["updates_per_cpu_s"] = round(int(str(out["price_level_updates"])) / cpu_s)
    return out


def main() -> None:
    """Build (or read) the workload, run ours, then flumine if asked, and print both."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="copies of the recording")
    ap.add_argument("--mode", choices=sorted(GAP_MS), default="sequential")
    ap.add_argument("--data", type=Path, help="use this workload directory instead")
    ap.add_argument("--strategy", choices=["noop", "order"], default="noop")
    ap.add_argument("--flumine-python", help="python of a venv with flumine installed")
    ap.add_argument(
        "--clock-interval",
        type=float,
        help="event seconds between equity snapshots, breaker and exit checks (default 1)",
    )
    ap.add_argument("--ours-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    tmp = None
    data = a.data
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_betfair_")
        data = Path(tmp.name)
        build_workload(a.n, a.mode, data)
    if a.ours_only:
        result = run_ours(data, a.strategy, a.clock_interval)
        print("RESULT " + json.dumps(result), flush=True)
        return
    # Ours in a child process too, so that each peak RSS is its own.
    proc = subprocess.run(
        [sys.executable, __file__, "--data", str(data), "--strategy", a.strategy, "--ours-only"]
        + (["--clock-interval", str(a.clock_interval)] if a.clock_interval else []),
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    ours = json.loads(line[len("RESULT ") :])
    print(json.dumps(ours))
    if a.flumine_python:
        theirs = run_flumine(a.flumine_python, data, a.strategy)
        print(json.dumps(theirs))
        ratio = ours["updates_per_s"] / theirs["updates_per_s"]
        cpu_ratio = ours["updates_per_cpu_s"] / theirs.get("updates_per_cpu_s", float("nan"))
        print(
            f"price-level updates/s: ours {ours['updates_per_s']:,} ({ours['peak_rss_mb']} MB), "
            f"flumine {theirs['updates_per_s']:,.0f} ({theirs.get('peak_rss_mb')} MB): "
            f"{ratio:.2f}x wall; per CPU second ours {ours['updates_per_cpu_s']:,}, flumine "
            f"{theirs.get('updates_per_cpu_s', 0):,}: {cpu_ratio:.2f}x"
        )
    else:
        print(
            f"price-level updates/s: ours {ours['updates_per_s']:,} "
            f"({ours['peak_rss_mb']} MB peak RSS)"
        )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
