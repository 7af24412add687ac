"""Polymarket market data: discovery (Gamma), WebSocket books, translation, REST hygiene.

Build a :class:`PolymarketFeed` from a :class:`PolymarketConfig`; the feed exposes its
:class:`~services.monitors.data_validation.DataValidator` and pipeline statistics. Names are
imported lazily so that ``services.monitors.data_validation`` can import the config module
without importing the feed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DiscoveryConfig": "services.markets.polymarket.config",
    "PolymarketConfig": "services.markets.polymarket.config",
    "RateLimit": "services.markets.polymarket.config",
    "RateLimits": "services.markets.polymarket.config",
    "ValidationConfig": "services.markets.polymarket.config",
    "FeedError": "services.markets.polymarket.feed",
    "PolymarketFeed": "services.markets.polymarket.feed",
    "apply_to_books": "services.markets.polymarket.feed",
    "Translator": "services.markets.polymarket.translate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
