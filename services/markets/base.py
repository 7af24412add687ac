"""The feed interface every market-data source implements, and real-time pacing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Protocol

from services.events import MarketEvent
from services.instruments import Instrument


class Feed(Protocol):
    """A source of normalized market events in time order.

    ``batches()`` yields lists of events; every event in a batch has a timestamp >= those of the
    previous batch. Instruments are announced with ``MarketListed`` events before any book event
    for them (the first batch normally lists the initial universe).
    """

    name: str

    def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield event batches until the source ends (or forever for live sources)."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Keep trading instruments carried over from a previous run (restart).

        Live venues ignore this (they know their markets); the simulator re-lists them and
        continues their price paths from ``mids`` (micro) so open positions can settle.
        """
        ...


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
