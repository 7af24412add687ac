"""The feed interface every market-data source implements (kernel: venues implement it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
