"""Named states of a strategy in the competition (kernel: imports nothing of the project).

They are ``StrEnum`` values, so they compare equal to, and are stored as, their plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class StrategyStatus(StrEnum):
    """Whether a strategy trades: active, paused (reducing only) or disabled (no hooks run)."""

    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class StrategyKind(StrEnum):
    """What a strategy does, so that rules can mean something for each kind."""

    DIRECTIONAL = "directional"
    ARBITRAGE = "arbitrage"
    MARKET_MAKING = "market_making"


class Stage(StrEnum):
    """Where a strategy is on the way to real money (docs/ARCHITECTURE.md, graduation)."""

    BACKTEST = "backtest"
    PAPER = "paper"
    MICRO = "micro"
    MINI = "mini"
    FULL = "full"

    @property
    def live(self) -> bool:
        """Return whether this stage trades real money."""
        return self in (Stage.MICRO, Stage.MINI, Stage.FULL)


class MarketState(StrEnum):
    """A market's trading status as the venue reports it (``MarketStatus`` events)."""

    OPEN = "open"
    SUSPENDED = "suspended"  # trading halted for now (e.g. Betfair between events)
    NOT_ACCEPTING = "not_accepting"  # the venue refuses orders (Polymarket acceptingOrders=false)
    CLOSED = "closed"  # trading ended; resolution follows
