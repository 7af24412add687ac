"""What ``bot.py``'s own process adds around the engine, cut without changing a decision (issue 18).

* The data gate's depth check is cached per book until the book, the instrument's tick or ladder,
  or the configured window changes: every cached answer equals a fresh scan on a simulator run of
  the default field.
* The lifecycle manager finds its capital gate in the risk chain by identity; the gate is in the
  chain exactly once whatever happens to the chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.instruments import Side
from services.ladder import UniformLadder
from services.monitors.data_validation import DataValidator
from services.orderbook import BookStore
from utils.polymarket_config import ValidationConfig


def _sim_run(min_depth_usd: float, seconds: int) -> tuple[Any, dict[str, int]]:
    """Run the example config's field on the simulator with the sim's data gate; every depth
    answer is checked against a fresh scan. Return the validator and the tallies."""
    from services.clock import SimClock
    from services.feeds import attach_data_gate
    from services.markets.sim import SimFeed
    from services.node import build_node
    from services.persistence import NullSink
    from services.strategies.loader import build_strategies
    from tests.conftest import ROOT
    from utils.config import load_config

    cfg = load_config(str(ROOT / "config.example.yaml"))
    node = build_node(
        cfg, build_strategies(cfg, "c.yaml"), NullSink(), clock=SimClock(cfg.market_data.start_ts)
    )
    eng = node.engine
    validation = cfg.market_data.validation.model_copy(update={"min_depth_usd": min_depth_usd})

    class _NoFeed:
        name = "none"

    _, val = attach_data_gate(_NoFeed(), validation, eng.books, instruments=eng.instruments)  # type: ignore[arg-type]
    node.data_guard.validator = val
    seen = {"asked": 0, "scanned": 0, "thin": 0, "deep": 0}
    cached = val._deep_enough
    scan = val._depth_scan

    def counting_scan(*a: Any) -> bool:
        seen["scanned"] += 1
        return scan(*a)

    def checked(book: Any, iid: str) -> bool:
        seen["asked"] += 1
        got = cached(book, iid)
        tick = val.ticks.get(iid, 10_000)
        fresh = scan(book, tick, val._ladder(iid), val.config.depth_ticks)
        assert got == fresh, (iid, book.updates)
        seen["deep" if got else "thin"] += 1
        return got

    val._deep_enough = checked  # type: ignore[method-assign]
    val._depth_scan = counting_scan  # type: ignore[method-assign]
    eng.start()
    feed = SimFeed(
        cfg.market_data.sim, seed=5, start_ts=cfg.market_data.start_ts, duration_s=seconds
    )
    for batch in feed.iter_batches():
        if batch:
            val.status.note(batch[-1].ts)
        for ev in batch:
            eng.handle(ev)
        eng.on_clock()
    eng.finish()
    assert eng.fill_seq > 0
    return val, seen


def test_cached_depth_answers_equal_a_fresh_scan_on_a_simulator_run() -> None:
    # A threshold that makes some books thin and others deep, so that both answers are cached.
    val, seen = _sim_run(min_depth_usd=400.0, seconds=240)
    assert seen["thin"] > 100 and seen["deep"] > 100
    # The cache is used (answers without a scan) and refreshed (books change under it).
    assert seen["scanned"] > 100 and seen["asked"] - seen["scanned"] > 100
    assert val.counters.get("blocked:thin_depth", 0) > 0


def _validator(**cfg: Any) -> tuple[DataValidator, BookStore, dict[str, int]]:
    books = BookStore()
    ticks: dict[str, int] = {"A": 10_000}
    v = DataValidator(ValidationConfig(**cfg), books, ticks=ticks)
    return v, books, ticks


def _book(books: BookStore, bid_size: int, ask_size: int) -> Any:
    book = books.get("A")
    book.apply_snapshot(((500_000, bid_size),), ((520_000, ask_size), (600_000, 10**9)), 1.0)
    return book


def test_depth_cache_follows_the_book_its_tick_and_its_replacement() -> None:
    v, books, ticks = _validator(min_depth_usd=10.0, depth_ticks=5)
    book = _book(books, 100 * 10**6, 100 * 10**6)  # 50 USD and 52 USD at the touch
    assert v._deep_enough(book, "A")
    # The book changes (a delta, counted in ``updates``): the answer follows.
    book.set_level(Side.BUY, 500_000, 10 * 10**6)
    book.updates += 1
    assert not v._deep_enough(book, "A")
    book.set_level(Side.BUY, 500_000, 100 * 10**6)
    book.updates += 1
    assert v._deep_enough(book, "A")
    # Only 52 USD at the touch on the ask side, 1,000s at 0.60: deep only with a wide window.
    book.set_level(Side.SELL, 520_000, 1 * 10**6)
    book.updates += 1
    assert not v._deep_enough(book, "A")
    ticks["A"] = 20_000  # a tick change widens the window to 0.10: the 0.60 level counts
    assert v._deep_enough(book, "A")
    ticks["A"] = 10_000
    assert not v._deep_enough(book, "A")
    v.config = v.config.model_copy(update={"depth_ticks": 10})  # a wider configured window
    assert v._deep_enough(book, "A")
    v.config = v.config.model_copy(update={"depth_ticks": 5})
    assert not v._deep_enough(book, "A")
    # A new book object for the instrument (a resubscription) with the same update count.
    other = BookStore().get("A")
    other.apply_snapshot(((500_000, 100 * 10**6),), ((520_000, 100 * 10**6),), 2.0)
    other.updates = book.updates
    assert v._deep_enough(other, "A")
    # Forgetting the instrument forgets its cached answer.
    v.forget("A")
    assert "A" not in v._depth


def test_depth_cache_follows_a_ladder_change() -> None:
    books = BookStore()
    ladders = {"A": UniformLadder(10_000)}
    v = DataValidator(
        ValidationConfig(min_depth_usd=10.0, depth_ticks=1),
        books,
        ticks={"A": 10_000},
        ladders=ladders,
    )
    book = books.get("A")
    book.apply_snapshot(((500_000, 100 * 10**6),), ((510_000, 1), (520_000, 100 * 10**6)), 1.0)
    assert v._deep_enough(book, "A")  # 0.52 is within one 0.01 tick of 0.51
    ladders["A"] = UniformLadder(5_000)
    # Same answer here (the window is counted in ``ticks``), but recomputed, not assumed.
    scans: list[int] = []
    real = v._depth_scan

    def count(*a: Any) -> bool:
        scans.append(1)
        return real(*a)

    v._depth_scan = count  # type: ignore[method-assign]
    assert v._deep_enough(book, "A")
    assert v._deep_enough(book, "A")
    assert scans == [1]
    # The tick alone changes (the ladder given apart, as the simulator and Betfair give it):
    # 0.0001 ticks make the one-tick window too narrow for the 0.52 level.
    ticks = v.ticks
    assert isinstance(ticks, dict)
    ticks["A"] = 100
    assert not v._deep_enough(book, "A")
    assert scans == [1, 1]


def test_the_capital_gate_is_in_the_risk_chain_exactly_once() -> None:
    from services.lifecycle.gate import CapitalGate
    from services.risk.controls import build_chain
    from tests.lifecycle.test_walk import Walk, config

    w = Walk(config())
    gate = w.mgr.gate

    def count() -> int:
        return sum(1 for c in w.engine.risk.controls if c is gate)

    assert count() == 1 and w.engine.risk.controls[-1] is gate
    w.step(n=5)
    assert count() == 1
    # A control appended after the gate: the gate is not added a second time.
    other = CapitalGate(lambda name: None, lambda name: None)
    w.engine.risk.controls.append(other)
    w.step(n=3)
    assert count() == 1
    # The chain rebuilt (as a config reload does): the gate goes into the new chain, once.
    s = w.safety
    w.engine.risk = build_chain(s.limits, s.kill, s.board, s.data_guard, s.store)
    assert count() == 0
    w.step()
    assert count() == 1
    w.step(n=3)
    assert count() == 1
    # Removed from the chain in place: it comes back.
    w.engine.risk.controls.remove(gate)
    w.step()
    assert count() == 1


@pytest.mark.parametrize("waiting", [False, True])
def test_a_waiting_route_change_is_still_applied_on_the_clock(waiting: bool) -> None:
    from tests.lifecycle.test_walk import Walk, config

    w = Walk(config())
    before = w.route
    if waiting:
        target = "live" if before != "live" else "paper"
        w.mgr.route_target["s1"] = target
        w.step()
        assert w.route == target and "s1" not in w.mgr.route_target
    else:
        w.step(n=3)
        assert w.route == before and not w.mgr.route_target


def test_frozen_start_frees_garbage_first_and_freezes_what_lives() -> None:
    import gc
    import weakref

    from services.perf.heap import frozen_start

    class Node:
        other: Any = None

    alive = Node()
    dead = Node()
    dead.other = Node()
    dead.other.other = dead  # a reference cycle: only the collector frees it
    gone = weakref.ref(dead)
    del dead
    try:
        before = gc.get_freeze_count()
        n = frozen_start()
        assert gone() is None  # collected, not kept for the life of the process
        assert n == gc.get_freeze_count() > before
        assert not any(o is alive for o in gc.get_objects())  # out of every generation
    finally:
        gc.unfreeze()
    assert any(o is alive for o in gc.get_objects())


def test_the_bot_freezes_its_start_once_after_everything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import sys

    import services.app as app
    from services.strategies.loader import build_strategies
    from tests.conftest import ROOT
    from utils.config import load_config

    calls: list[dict[str, Any]] = []

    def recording() -> int:
        seen = dict(sys._getframe(1).f_locals)
        seen["events_then"] = seen["engine"].events_processed
        calls.append(seen)
        return 0

    monkeypatch.setattr(app, "frozen_start", recording)
    cfg = load_config(str(ROOT / "config.example.yaml"))
    md = cfg.market_data
    cfg = cfg.model_copy(
        update={
            "bot": cfg.bot.model_copy(update={"db_path": str(tmp_path / "bot.db")}),
            "market_data": md.model_copy(
                update={
                    "duration_s": 30,
                    "speed": "max",
                    "sim": md.sim.model_copy(update={"process": "thread"}),
                }
            ),
        }
    )
    strategies = build_strategies(cfg, str(ROOT / "config.example.yaml"))
    code = asyncio.run(app.run_app(cfg, strategies, quiet=True, config_path="config.example.yaml"))
    assert code == 0
    assert len(calls) == 1
    seen = calls[0]
    # The node, the lifecycle manager and the control loop exist; no event has run yet.
    for name in ("engine", "safety", "lifecycle", "control", "watcher", "ops", "feed"):
        assert seen.get(name) is not None, name
    assert seen["events_then"] == 0
    assert seen["engine"].events_processed > 0  # by the end, the run did run
