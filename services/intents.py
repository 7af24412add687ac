"""Intents: what a strategy (or the safety layer) asks for, before risk checks (kernel)."""

from __future__ import annotations

from dataclasses import dataclass

from services.execution.orders import TimeInForce
from services.instruments import Side


@dataclass(frozen=True, slots=True)
class Intent:
    """What a strategy asks for, before risk checks. ``price=None`` means a market order."""

    strategy: str
    instrument_id: str
    side: Side
    size: int
    price: int | None
    tif: TimeInForce
    post_only: bool
    reason: str
    reduce_only: bool = False
    persist: bool = False
    """Keep the order resting through a market suspension (Betfair persistence PERSIST)."""
    expire_ts: float | None = None
    """GTD only: when the order expires, engine-clock seconds (``ctx.now()`` plus a lifetime)."""
