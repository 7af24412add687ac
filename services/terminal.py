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


def fmt_signed(v: float, digits: int = 2) -> str:
    """Format with a sign, never ``-0.00`` (a value that rounds to zero prints ``0.00``)."""
    r = round(v, digits) + 0.0
    return f"{0:.{digits}f}" if r == 0 else f"{r:+.{digits}f}"


def _fmt_sharpe(r: LeaderboardRow) -> str:
    if r.sharpe is None:
        return "-"
    return f"{r.sharpe:.2f}" if r.sharpe_se is None else f"{r.sharpe:.2f}±{r.sharpe_se:.1f}"


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
            fmt_signed(r.return_pct),
            _fmt_sharpe(r),
            _fmt_opt(None if r.win_rate is None else r.win_rate * 100, ".0f"),
            f"{r.max_drawdown_pct:.2f}",
            str(r.trades),
            f"{r.fees:,.2f}",
            f"[{_STATUS_STYLE.get(r.status, '')}]{r.status}[/]",
        )
    return table
