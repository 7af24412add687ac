"""What the breakers and the health monitor measure per strategy, and exact percentage tests
(shared by services.risk and services.monitors, so neither imports the other for them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StrategyMeasure:
    """What the breakers and the health monitor look at for one strategy (micro-USDC)."""

    name: str
    status: str
    equity: int
    peak: int
    day_start: int
    wins: int = 0
    losses: int = 0
    consecutive_losses: int = 0
    kind: str = "directional"
    stage: str = "paper"
    starting: int = 0  # starting capital

    @property
    def total_loss(self) -> int:
        """Return the loss since the start (negative when up)."""
        return self.starting - self.equity

    @property
    def day_loss(self) -> int:
        """Return the loss since the day's start (negative when up)."""
        return self.day_start - self.equity

    @property
    def drawdown(self) -> int:
        """Return the drop from the peak (0 at a new high)."""
        return max(0, self.peak - self.equity)


def pct(part: int, whole: int) -> float:
    """Return ``part / whole`` in percent (0 when ``whole`` <= 0)."""
    return part / whole * 100.0 if whole > 0 else 0.0


def at_least_pct(part: int, whole: int, limit_pct: float) -> bool:
    """Return whether ``part / whole * 100 >= limit_pct``, exactly (no float rounding at the edge)."""
    if whole <= 0:
        return False
    return part * 100 * 1_000_000 >= round(limit_pct * 1_000_000) * whole


def more_than_pct(part: int, whole: int, limit_pct: float) -> bool:
    """Return whether ``part / whole * 100 > limit_pct``, exactly."""
    if whole <= 0:
        return False
    return part * 100 * 1_000_000 > round(limit_pct * 1_000_000) * whole
