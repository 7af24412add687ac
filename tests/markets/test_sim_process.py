"""The simulator in a child process gives the engine the same stream as in its thread (issue 18).

``ChildSimFeed`` (``services/markets/sim/process.py``) runs ``SimFeed`` in a child process and
sends its batches through a pipe. Its stream must be the pinned one event for event, batch for
batch, for every workload of ``tests/markets/sim_stream.py`` (listings, resolutions and
relistings over time, every action kind, adopted carried-over markets), through the async
``batches()`` that ``bot.py`` consumes, forked or spawned, paced or not. A failure in the child
must reach the parent as an error, never as a hang.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from services.events import MarketEvent
from services.markets.sim import SimConfig, SimFeed
from services.markets.sim import process as sim_process
from services.markets.sim.process import (
    ChildSimFeed,
    SimProcessError,
    decode,
    encode,
    resolve_process,
)
from services.markets.sim.venue import SimVenue
from tests.markets.sim_stream import START, WORKLOADS, stream_digest
from tests.markets.test_sim_stream import EXPECTED


def _collect(feed: ChildSimFeed, on_first: Callable[[], None] | None = None) -> list[Any]:
    """Consume ``feed.batches()`` in an event loop, as the engine does."""

    async def run() -> list[Any]:
        out: list[list[MarketEvent]] = []
        async for batch in feed.batches():
            out.append(batch)
            if on_first is not None and len(out) == 1:
                on_first()
        return out

    return asyncio.run(run())


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` no longer exists (or is a zombie nobody waits for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_child_stream_is_the_pinned_stream(name: str) -> None:
    feed = WORKLOADS[name](ChildSimFeed)
    batches = _collect(feed)
    assert feed.child_cpu_s is not None and feed.child_cpu_s > 0
    assert stream_digest(feed, batches) == EXPECTED[name]


def test_spawned_child_gives_the_same_stream() -> None:
    # spawn rebuilds the feed from its settings (SimFeed itself cannot be pickled)
    feed = ChildSimFeed(SimConfig(), seed=11, start_ts=START, duration_s=120, start_method="spawn")
    assert stream_digest(feed, _collect(feed)) == EXPECTED["default-seed11-120s"]


def test_paced_child_stream_equals_the_in_thread_paced_stream() -> None:
    cfg = SimConfig(markets=3, neg_risk_events=1)

    async def thread() -> list[Any]:
        return [b async for b in SimFeed(cfg, 4, START, speed=200.0, duration_s=20).batches()]

    want = asyncio.run(thread())
    got = _collect(ChildSimFeed(cfg, 4, START, speed=200.0, duration_s=20))
    assert len(got) == len(want) > 10
    assert repr(got) == repr(want)


def test_encoding_keeps_types_and_values() -> None:
    batches = list(
        SimFeed(SimConfig(markets=2), seed=2, start_ts=START, duration_s=30).iter_batches()
    )
    back = decode(encode(batches))
    assert repr(back) == repr(batches)
    assert [[type(e) for e in b] for b in back] == [[type(e) for e in b] for b in batches]
    assert back == batches


def test_an_exception_in_the_child_is_raised_in_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    latent = SimVenue._latent

    def failing(self: SimVenue, ts: float, g: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 50:  # counted in the child (forked with this patch)
            raise ValueError("injected fault in the simulator")
        latent(self, ts, g)

    monkeypatch.setattr(SimVenue, "_latent", failing)
    feed = ChildSimFeed(SimConfig(), seed=7, start_ts=START, duration_s=600, start_method="fork")
    with pytest.raises(SimProcessError, match="ValueError: injected fault in the simulator"):
        _collect(feed)
    assert feed.pid is not None and _gone(feed.pid)


def test_a_child_killed_from_outside_is_an_error_not_a_hang() -> None:
    feed = ChildSimFeed(SimConfig(), seed=7, start_ts=START)  # endless
    with pytest.raises(SimProcessError, match="killed by SIGKILL"):
        _collect(feed, on_first=lambda: os.kill(feed.pid or 0, signal.SIGKILL))
    assert feed.pid is not None and _gone(feed.pid)


def test_close_ends_the_child() -> None:
    feed = ChildSimFeed(SimConfig(), seed=7, start_ts=START)  # endless

    async def run() -> int:
        n = 0
        async for _ in feed.batches():
            n += 1
            if n == 100:
                await feed.close()
        return n

    assert asyncio.run(run()) == 100  # no batch after close()
    assert feed.pid is not None and _gone(feed.pid)


def test_an_unclosed_child_is_killed_when_its_generator_is_dropped() -> None:
    feed = ChildSimFeed(SimConfig(), seed=7, start_ts=START)

    async def run() -> None:
        agen = feed.batches()
        await agen.__anext__()
        await agen.aclose()  # what the loop does to an abandoned generator

    asyncio.run(run())
    assert feed.pid is not None and _gone(feed.pid)
    assert not sim_process._LIVE


def test_instruments_and_adopt_follow_the_stream() -> None:
    feed = ChildSimFeed(SimConfig(markets=2), seed=1, start_ts=START, duration_s=5)
    with pytest.raises(RuntimeError, match="once the stream has ended"):
        feed.instruments()
    _collect(feed)
    assert feed.instruments() == SimFeed(SimConfig(markets=2), 1, START, duration_s=5).instruments()
    with pytest.raises(RuntimeError, match="before the feed starts"):
        feed.adopt([], {})


def test_auto_is_child_with_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert resolve_process("auto") == "child"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert resolve_process("auto") == "thread"
    assert resolve_process("child") == "child"
    assert resolve_process("thread") == "thread"


def test_the_child_ignores_the_stop_signals_of_its_process_group() -> None:
    # Ctrl-C in a terminal and a service manager's stop reach every process of the group; the
    # bot decides when to stop and ends the child itself. 240 s of events (about 2.2 MB) do not
    # fit in the pipe: a child that died of these signals would end the stream early.
    feed = WORKLOADS["default-seed7-240s"](ChildSimFeed)

    def signal_child() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
            os.kill(feed.pid or 0, sig)

    assert (
        stream_digest(feed, _collect(feed, on_first=signal_child)) == EXPECTED["default-seed7-240s"]
    )
