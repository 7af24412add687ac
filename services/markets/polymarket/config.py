"""Re-export of the Polymarket configuration, which lives in :mod:`utils.polymarket_config`
(config must not import venue packages)."""

from utils.polymarket_config import (
    DiscoveryConfig,
    PolymarketConfig,
    RateLimit,
    RateLimits,
    ValidationConfig,
)

__all__ = ["DiscoveryConfig", "PolymarketConfig", "RateLimit", "RateLimits", "ValidationConfig"]
