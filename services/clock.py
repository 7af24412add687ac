"""Clocks. Decision code gets time only from an injected clock, never from ``time.time()``."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What every component may ask of time."""

    def now(self) -> float:
        """Return the current time, epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class LiveClock:
    """Wall-clock time for live and paper sessions on a real venue."""

    def now(self) -> float:
        """Return wall time, epoch seconds."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))


class SimClock:
    """Event time: set by the engine from each event, so runs are deterministic.

    ``sleep`` is a no-op on simulated time (the feed decides the pace); time never goes back.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        """Return the current event time."""
        return self._now

    def advance(self, ts: float) -> None:
        """Move time forward to ``ts`` (ignored if ``ts`` is in the past)."""
        if ts > self._now:
            self._now = ts

    async def sleep(self, seconds: float) -> None:
        """Advance simulated time by ``seconds`` and yield to the loop once."""
        self.advance(self._now + seconds)
        await asyncio.sleep(0)
