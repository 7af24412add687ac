"""The compact terminal leaderboard (rich)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table

from services.competition import LeaderboardRow

_STATUS_STYLE = {
    "WINNING": "bold green",
    "MARGINAL": "yellow",
    "LOSING": "red",
    "PAUSED": "magenta",
    "DISABLED": "dim",
}


def _fmt_opt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def leaderboard_table(
    rows: list[LeaderboardRow], event_ts: float, events: int, title: str = "Leaderboard"
) -> Table:
    """Build a rich table of the leaderboard."""
    when = datetime.fromtimestamp(event_ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    table = Table(title=f"{title} - market time {when} - {events:,} events", title_justify="left")
    for col, justify in (
        ("#", "right"),
        ("Strategy", "left"),
        ("Score", "right"),
        ("Equity $", "right"),
        ("Return %", "right"),
        ("Sharpe", "right"),
        ("Win %", "right"),
        ("Max DD %", "right"),
        ("Trades", "right"),
        ("Fees $", "right"),
        ("Status", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            str(r.rank),
            r.strategy,
            f"{r.score:.1f}",
            f"{r.equity:,.2f}",
            f"{r.return_pct:+.2f}",
            _fmt_opt(r.sharpe, ".2f"),
            _fmt_opt(None if r.win_rate is None else r.win_rate * 100, ".0f"),
            f"{r.max_drawdown_pct:.2f}",
            str(r.trades),
            f"{r.fees:,.2f}",
            f"[{_STATUS_STYLE.get(r.status, '')}]{r.status}[/]",
        )
    return table
