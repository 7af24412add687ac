"""The embedded simulated venue: binary markets and neg-risk events traded by simulated agents.

``SimFeed`` implements the ``Feed`` interface (``services/markets/base.py``) and emits the same
normalized events a real venue does; ``SimConfig`` holds its settings. See ``docs/SIMULATOR.md``.
"""

from services.markets.sim.config import SimConfig
from services.markets.sim.feed import SimFeed

__all__ = ["SimConfig", "SimFeed"]
