"""Real-time pacing of event-time sources; ``Feed`` is re-exported from :mod:`services.feed`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator

from services.events import MarketEvent
from services.feed import Feed

__all__ = ["Feed", "paced"]


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
    wall0 = time.monotonic()
    it: Iterator[list[MarketEvent]] = iter(source)
    n = 0
    for batch in it:
        if not batch:
            continue
        if speed is not None:
            due = wall0 + (batch[0].ts - start_ts) / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                n += 1
                if n % 64 == 0:
                    await asyncio.sleep(0)
        else:
            n += 1
            if n % 64 == 0:
                await asyncio.sleep(0)
        yield batch
