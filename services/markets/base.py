"""Real-time pacing of event-time sources; ``Feed`` is re-exported from :mod:`services.feed`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator

from services.events import MarketEvent
from services.feed import Feed

__all__ = ["Feed", "Pacer", "paced"]


class Pacer:
    """Pace batches in event time against the wall clock, one at a time (``paced``'s rule, also
    for asynchronous sources such as the simulator's child process).

    Parameters
    ----------
    speed : float | None
        Market seconds per wall second; ``None`` means as fast as possible (still yields to the
        event loop every 64 batches so other tasks run).
    start_ts : float
        Event time that corresponds to the start of pacing.
    wall0 : float | None
        Monotonic wall time of ``start_ts``; None: the first call to ``wait``.
    """

    __slots__ = ("speed", "start_ts", "wall0", "n")

    def __init__(self, speed: float | None, start_ts: float, wall0: float | None = None) -> None:
        self.speed = speed
        self.start_ts = start_ts
        self.wall0 = wall0
        self.n = 0

    async def wait(self, batch: list[MarketEvent]) -> None:
        """Wait until ``batch`` (not empty) is due."""
        if self.wall0 is None:
            self.wall0 = time.monotonic()
        if self.speed is not None:
            due = self.wall0 + (batch[0].ts - self.start_ts) / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                return
        self.n += 1
        if self.n % 64 == 0:
            await asyncio.sleep(0)


async def paced(
    source: Iterable[list[MarketEvent]], speed: float | None, start_ts: float
) -> AsyncIterator[list[MarketEvent]]:
    """Turn a synchronous batch iterator in event time into an async one, paced by ``speed``.

    Parameters
    ----------
    source : Iterable[list[MarketEvent]]
        Batches in event time.
    speed : float | None
        Market seconds per wall second; ``None`` means as fast as possible (still yields to the
        event loop regularly so other tasks run).
    start_ts : float
        Event time that corresponds to the start of pacing.
    """
    pacer = Pacer(speed, start_ts, time.monotonic())
    it: Iterator[list[MarketEvent]] = iter(source)
    for batch in it:
        if not batch:
            continue
        await pacer.wait(batch)
        yield batch
