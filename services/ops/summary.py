"""The daily summary notification: per strategy P&L, trades, drawdown and status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.competition import LeaderboardRow
from services.ops.notify import Notification


def summary_notification(rows: Sequence[LeaderboardRow], wall: float, prefix: str) -> Notification:
    """Return the daily summary of the leaderboard ``rows`` at wall time ``wall`` (epoch s)."""
    day = datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d")
    lines = [f"{len(rows)} strategies, {day} (UTC)."]
    for r in sorted(rows, key=lambda r: r.rank):
        pnl = r.realized_pnl + r.unrealized_pnl
        lines.append(
            f"#{r.rank} {r.strategy}: P&L {pnl:+,.2f} ({r.return_pct:+.2f}%), "
            f"{r.trades} trades, drawdown {r.drawdown_pct:.2f}% (max {r.max_drawdown_pct:.2f}%), "
            f"{r.strategy_status}"
        )
    if not rows:
        lines.append("No strategy has a snapshot yet.")
    return Notification(
        f"{prefix} daily summary {day}".strip(), "\n".join(lines), "info", "summary"
    )


class DailySchedule:
    """Fire once per UTC day at or after ``HH:MM`` (not on the day the bot starts after it)."""

    def __init__(self, hhmm: str, start_wall: float) -> None:
        h, m = hhmm.split(":")
        self.minute = int(h) * 60 + int(m)
        start = datetime.fromtimestamp(start_wall, UTC)
        past = start.hour * 60 + start.minute >= self.minute
        self.last_day = start.date() if past else None

    def due(self, wall: float) -> bool:
        """Return True once per day when ``wall`` has reached the time."""
        t = datetime.fromtimestamp(wall, UTC)
        if t.hour * 60 + t.minute < self.minute or self.last_day == t.date():
            return False
        self.last_day = t.date()
        return True
