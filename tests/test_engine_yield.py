"""``Engine.run`` hands the event loop to other tasks on a wall-time budget, not after every
batch (issue 18), and a stop asked for by another task still ends the run promptly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import services.engine as engine_module
from services.clock import SimClock
from services.events import MarketEvent
from services.node import build_node
from services.persistence import NullSink
from services.strategies.base import Strategy, StrategyParams
from utils.config import parse_config

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC


class Idle(Strategy):
    """Never trades."""


class _Feed:
    """``n`` empty batches, one market second apart (process_batch still runs the clock work)."""

    name = "fake"

    def __init__(self, n: int, clock: SimClock) -> None:
        self.n = n
        self.clock = clock
        self.sent = 0

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        for _ in range(self.n):
            self.clock.advance(self.clock.now() + 1.0)
            self.sent += 1
            yield []

    async def close(self) -> None:
        return None


class _FakeTime:
    """A wall clock that moves ``step_s`` at every reading (deterministic yields)."""

    def __init__(self, step_s: float) -> None:
        self.t = 0.0
        self.step_s = step_s

    def monotonic(self) -> float:
        self.t += self.step_s
        return self.t


def _node(**bot: Any) -> Any:
    cfg = parse_config(
        {"strategies": [{"name": "a", "class": "MarketMaker"}], "bot": bot}, "c.yaml"
    )
    clock = SimClock(START)
    node = build_node(cfg, [Idle("a", StrategyParams())], NullSink(), clock=clock)
    return node, clock


async def _run_with_watcher(eng: Any, feed: _Feed, stop_after_turns: int | None) -> list[int]:
    """Run the engine; a second task records how many batches were sent at each of its turns."""
    turns: list[int] = []
    done = False

    async def watcher() -> None:
        while not done:
            turns.append(feed.sent)
            if stop_after_turns is not None and len(turns) >= stop_after_turns:
                eng.request_stop()
            await asyncio.sleep(0)

    task = asyncio.create_task(watcher())
    await eng.run()
    done = True
    await task
    return turns


def test_other_tasks_run_between_batches_on_a_wall_time_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each wall reading moves 1 ms: with the default 5 ms budget the engine yields every few
    # batches.
    monkeypatch.setattr(engine_module, "time", _FakeTime(0.001))
    node, clock = _node()
    eng = node.engine
    feed = _Feed(400, clock)
    eng.feed = feed
    turns = asyncio.run(_run_with_watcher(eng, feed, None))
    assert feed.sent == 400 and eng.stop_requested is False
    during = [t for t in turns if t < 400]
    # The watcher kept running during the run (never more than a handful of batches apart) ...
    assert len(during) >= 400 // 10
    assert all(b - a <= 10 for a, b in zip(during, during[1:], strict=False))
    # ... but not after every batch, as before this change.
    assert len(during) < 400 // 2


def test_a_zero_budget_yields_after_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # bot.loop_yield_interval_wall_s: 0, with the same wall clock as the budget test above.
    monkeypatch.setattr(engine_module, "time", _FakeTime(0.001))
    node, clock = _node(loop_yield_interval_wall_s=0.0)
    eng = node.engine
    feed = _Feed(100, clock)
    eng.feed = feed
    turns = asyncio.run(_run_with_watcher(eng, feed, None))
    assert sorted(set(t for t in turns if t < 100)) == list(range(1, 100))


def test_a_stop_from_another_task_ends_the_run_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "time", _FakeTime(0.001))
    node, clock = _node()
    eng = node.engine
    feed = _Feed(10_000, clock)
    eng.feed = feed
    turns = asyncio.run(_run_with_watcher(eng, feed, 3))
    assert eng.stop_requested
    # Stopped a few batches after the watcher's third turn, far from the feed's end.
    assert turns[2] <= feed.sent <= turns[2] + 10
    assert feed.sent < 100
