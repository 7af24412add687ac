"""Engine throughput: book maintenance alone, and the whole engine with the strategies.

Prints events per second for the simulated feed with 50 markets (events are generated first, so
the simulator's own cost is reported separately), for the default field of strategies and for
every built-in at once, the time each strategy's hooks take per event, and peak RSS.

Usage: python benchmarks/bench_engine.py [--markets 50] [--seconds 1800] [--config config.example.yaml]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.clock import SimClock  # noqa: E402
from services.events import BookDelta, BookSnapshot  # noqa: E402
from services.markets.sim import SimConfig, SimFeed  # noqa: E402
from services.node import build_node  # noqa: E402
from services.orderbook import BookStore  # noqa: E402
from services.persistence import NullSink, Sink  # noqa: E402
from services.strategies.base import Strategy  # noqa: E402
from services.strategies.loader import BUILTINS, build_strategies  # noqa: E402
from utils.config import AppConfig, StrategyEntry, load_config  # noqa: E402


class TimedStrategy:
    """Wraps a strategy's hooks to accumulate the time spent in them."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, strategy: object) -> None:
        for hook in ("on_book", "on_trade", "on_fill", "on_timer"):
            fn = getattr(strategy, hook)
            name = strategy.name  # type: ignore[attr-defined]

            def timed(*a: object, _fn=fn, _name=name) -> None:
                t0 = time.perf_counter()
                try:
                    _fn(*a)
                finally:
                    self.spent[_name] = self.spent.get(_name, 0.0) + time.perf_counter() - t0
                    self.calls[_name] = self.calls.get(_name, 0) + 1

            setattr(strategy, hook, timed)


def all_builtins(cfg: AppConfig, config_file: str) -> list[Strategy]:
    """Return every configured strategy (enabled or not) plus each unnamed built-in class."""
    entries = [e.model_copy(update={"enabled": True}) for e in cfg.strategies]
    named = {e.class_ for e in entries}
    names = {e.name for e in entries}
    for cls_name in BUILTINS:
        if cls_name not in named:
            name = cls_name.lower()
            while name in names:
                name += "_"
            entries.append(StrategyEntry.model_validate({"name": name, "class": cls_name}))
    return build_strategies(cfg.model_copy(update={"strategies": entries}), config_file)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markets", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=1800.0, help="market time to simulate")
    ap.add_argument(
        "--config", default=str(Path(__file__).resolve().parent.parent / "config.example.yaml")
    )
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    cfg = load_config(args.config)
    sim_cfg = SimConfig(**{**cfg.market_data.sim.model_dump(), "markets": args.markets})
    t0 = time.perf_counter()
    feed = SimFeed(
        sim_cfg, seed=args.seed, start_ts=cfg.market_data.start_ts, duration_s=args.seconds
    )
    batches = list(feed.iter_batches())
    gen_s = time.perf_counter() - t0
    n_events = sum(len(b) for b in batches)
    print(
        f"simulator: {n_events:,} events for {args.markets} markets over {args.seconds:.0f} s "
        f"of market time, generated at {n_events / gen_s:,.0f} events/s"
    )

    # 1. Book maintenance alone (snapshots and deltas applied; other events counted).
    books = BookStore()
    t0 = time.perf_counter()
    for batch in batches:
        for ev in batch:
            if type(ev) is BookDelta:
                books.apply_delta(ev)
            elif type(ev) is BookSnapshot:
                books.apply_snapshot(ev)
    book_s = time.perf_counter() - t0
    print(f"book maintenance only: {n_events / book_s:,.0f} events/s")

    # 2. Whole engine, no storage: the default field (enabled strategies), then every built-in
    #    (every config entry enabled, plus any built-in class the config does not name). Each
    #    field runs twice: plain for the throughput, then with timed hooks for the per-strategy
    #    cost (the timing wrapper itself costs about 0.3 us per hook call).
    for label, build in (
        ("default field", lambda: build_strategies(cfg, args.config)),
        ("all built-ins", lambda: all_builtins(cfg, args.config)),
    ):
        strategies = build()
        engine = build_node(
            cfg, strategies, NullSink(), clock=SimClock(cfg.market_data.start_ts), safety=False
        ).engine
        engine.start()
        t0, c0 = time.perf_counter(), time.process_time()
        for batch in batches:
            engine.process_batch(batch)
        eng_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"whole engine, {label} ({len(strategies)} strategies), no storage: "
            f"{n_events / eng_s:,.0f} events/s ({n_events / cpu_s:,.0f} per CPU second; "
            f"{engine.fill_seq:,} fills, {engine.order_seq:,} orders)"
        )
        timer = TimedStrategy()
        strategies = build()
        for s in strategies:
            timer.wrap(s)
        engine = build_node(
            cfg, strategies, NullSink(), clock=SimClock(cfg.market_data.start_ts), safety=False
        ).engine
        engine.start()
        t0 = time.perf_counter()
        for batch in batches:
            engine.process_batch(batch)
        timed_s = time.perf_counter() - t0
        spent_all = sum(timer.spent.values())
        print(
            f"  per strategy (timed run: strategies {spent_all / n_events * 1e6:.2f} us of "
            f"{timed_s / n_events * 1e6:.2f} us per event):"
        )
        for name, spent in sorted(timer.spent.items(), key=lambda kv: -kv[1]):
            print(
                f"  {name:<22} {spent / n_events * 1e6:7.2f} us per event "
                f"({timer.calls[name]:,} hook calls, {spent / timed_s * 100:4.1f}% of engine time)"
            )

    # 2b. The default field on the node bot.py builds: the safety layer and the whole risk chain
    #     (every intent checked, breakers, health and exits on the clock), still no storage.
    strategies = build_strategies(cfg, args.config)
    node = build_node(cfg, strategies, NullSink(), clock=SimClock(cfg.market_data.start_ts))
    assert node.safety is not None
    node.engine.start()
    node.safety.startup()
    t0, c0 = time.perf_counter(), time.process_time()
    for batch in batches:
        node.engine.process_batch(batch)
    eng_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"whole engine with the safety layer, default field, no storage: "
        f"{n_events / eng_s:,.0f} events/s ({n_events / cpu_s:,.0f} per CPU second; "
        f"{node.engine.fill_seq:,} fills, {node.engine.order_seq:,} orders)"
    )

    # 3. Whole engine writing to a real SQLite file through the batched writer thread.
    from database.engine import make_engine, make_session_factory, migrate
    from database.writer import DbWriter

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        db = make_engine(url)
        writer = DbWriter(make_session_factory(db))
        writer.start()
        strategies = build_strategies(cfg, args.config)
        engine = build_node(
            cfg, strategies, Sink(writer), clock=SimClock(cfg.market_data.start_ts), safety=False
        ).engine
        engine.start()
        t0 = time.perf_counter()
        for batch in batches:
            engine.process_batch(batch)
        loop_s = time.perf_counter() - t0
        writer.flush(60)
        total_s = time.perf_counter() - t0
        writer.stop()
        db.dispose()
    print(
        f"whole engine with SQLite storage: {n_events / loop_s:,.0f} events/s in the loop, "
        f"{n_events / total_s:,.0f} events/s including the final flush"
    )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss_mb:,.0f} MB (includes the {n_events:,} pre-generated events)")


if __name__ == "__main__":
    main()
