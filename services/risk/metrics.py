"""Risk measures shared by the limits, the breakers and the health monitor.

* The **risk day** starts at midnight of ``risk.day_reset_timezone``; each strategy's equity (and
  the portfolio's total) at that moment is the base of every daily-loss rule.
* The **peak equity** of each strategy (and of the total) since the bot first saw it, or since a
  person last resumed/enabled it, is the base of every drawdown rule.

A person's resume/enable *rebases* the strategy (day start and peak become its current equity),
so a strategy that was stopped for a loss does not trip again on the same loss the moment it is
re-enabled. All amounts are micro-USDC; the state round-trips through ``bot_state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.measures import StrategyMeasure, at_least_pct, more_than_pct, pct

__all__ = ["RiskMetrics", "StrategyMeasure", "at_least_pct", "more_than_pct", "pct"]


_DAY_BUCKET_S = 900.0


@dataclass
class RiskMetrics:
    """Day-start and peak equities per strategy and for the whole portfolio."""

    timezone: str = "UTC"
    day: str | None = None
    day_start: dict[str, int] = field(default_factory=dict)
    day_start_total: int | None = None
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int | None = None
    _day_bucket: tuple[float, str, str] = field(
        default=(float("nan"), "", ""), repr=False, compare=False
    )

    def day_of(self, ts: float) -> str:
        """Return the ISO date of event time ``ts`` in the configured time zone.

        Asked every clock second: the answer is cached per quarter hour of UTC time, within
        which no local date can change (every UTC offset and every transition of the tz
        database since 1970 falls on a multiple of 15 minutes).
        """
        bucket = ts // _DAY_BUCKET_S
        cached = self._day_bucket
        if bucket == cached[0] and self.timezone == cached[1]:
            return cached[2]
        day = datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(self.timezone)).date().isoformat()
        self._day_bucket = (bucket, self.timezone, day)
        return day

    def update(self, now: float, equities: dict[str, int]) -> bool:
        """Roll the day at local midnight and raise peaks; return True when a new day started."""
        today = self.day_of(now)
        new_day = today != self.day
        total = sum(equities.values())
        if new_day:
            self.day = today
            self.day_start = dict(equities)
            self.day_start_total = total
        for name, eq in equities.items():
            self.day_start.setdefault(name, eq)
            if eq > self.peak.get(name, eq - 1):
                self.peak[name] = eq
        if self.day_start_total is None:
            self.day_start_total = total
        if self.peak_total is None or total > self.peak_total:
            self.peak_total = total
        return new_day

    def rebase_strategy(self, name: str, equity: int) -> None:
        """Start a strategy's day-loss and drawdown measures again from ``equity``."""
        old_day = self.day_start.get(name)
        self.day_start[name] = equity
        self.peak[name] = equity
        if self.day_start_total is not None and old_day is not None:
            self.day_start_total += equity - old_day

    def rebase_day_total(self, total: int) -> None:
        """Start the portfolio's day loss again from ``total``."""
        self.day_start_total = total

    def rebase_peak_total(self, total: int) -> None:
        """Start the portfolio's drawdown again from ``total``."""
        self.peak_total = total

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy."""
        return {
            "timezone": self.timezone,
            "day": self.day,
            "day_start": dict(self.day_start),
            "day_start_total": self.day_start_total,
            "peak": dict(self.peak),
            "peak_total": self.peak_total,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], timezone: str) -> RiskMetrics:
        """Rebuild from :meth:`to_dict` output (a different time zone restarts the day)."""
        m = cls(timezone=timezone)
        m.peak = {str(k): int(v) for k, v in (d.get("peak") or {}).items()}
        m.peak_total = d.get("peak_total")
        if d.get("timezone", timezone) == timezone:
            m.day = d.get("day")
            m.day_start = {str(k): int(v) for k, v in (d.get("day_start") or {}).items()}
            m.day_start_total = d.get("day_start_total")
        return m
