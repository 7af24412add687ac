"""The compact terminal leaderboard (rich)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich.table import Table

from services.competition import LeaderboardRow
from utils.redact import redact_url

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


_PERIOD_UNIT = {"hourly": "h", "daily": "d"}


def _fmt_sharpe(r: LeaderboardRow) -> str:
    if r.sharpe is None:
        # Not enough returns yet: say how many of the needed ones there are ("5/20h").
        n, need = r.metrics.get("n_returns"), r.metrics.get("min_returns")
        if n is None or need is None:
            return "-"
        return f"{n}/{need}{_PERIOD_UNIT.get(str(r.metrics.get('returns_period')), '')}"
    return f"{r.sharpe:.2f}" if r.sharpe_se is None else f"{r.sharpe:.2f}±{r.sharpe_se:.1f}"


class Progress:
    """Progress toward ``--duration`` (market time) with a wall-clock ETA."""

    def __init__(self, start_ts: float, duration_s: float | None, wall: Callable[[], float]):
        self.start_ts = start_ts
        self.duration_s = duration_s
        self.wall = wall
        self.wall0 = wall()

    def text(self, event_ts: float) -> str:
        """Return ``"37.5 % of 24 h, ETA 4 min 10 s"`` (empty without a duration)."""
        if not self.duration_s:
            return ""
        done = min(1.0, max(0.0, (event_ts - self.start_ts) / self.duration_s))
        out = f"{done * 100:.1f} % of {fmt_span(self.duration_s)}"
        spent = self.wall() - self.wall0
        if 0.0 < done < 1.0 and spent > 1.0:
            out += f", ETA {fmt_span(spent / done * (1.0 - done))}"
        return out


def fmt_span(seconds: float) -> str:
    """Format a duration: ``45 s``, ``4 min 10 s``, ``2 h 05 min``, ``3 d 04 h``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86_400} d {s % 86_400 // 3600:02d} h"


CURRENCY_SYMBOLS = {"USD": "$", "USDC": "$", "GBP": "£", "EUR": "€", "AUD": "A$", "CAD": "C$"}
"""Currency code -> the symbol the leaderboard's money columns show."""


def money_label(currencies: set[str]) -> str:
    """Return the money columns' unit: the symbol of the one currency, or ``mixed``."""
    if len(currencies) != 1:
        return "mixed" if currencies else "$"
    (code,) = currencies
    return CURRENCY_SYMBOLS.get(code, code)


def leaderboard_table(
    rows: list[LeaderboardRow],
    event_ts: float,
    events: int,
    title: str = "Leaderboard",
    progress: str = "",
    money: str = "$",
) -> Table:
    """Build a rich table of the leaderboard (``progress``: see :class:`Progress`; ``money``:
    the unit of the money columns, see :func:`money_label`)."""
    when = datetime.fromtimestamp(event_ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    head = f"{title} - market time {when} - {events:,} events"
    if progress:
        head += f" - {progress}"
    table = Table(title=head, title_justify="left")
    for col, justify in (
        ("#", "right"),
        ("Strategy", "left"),
        ("Score", "right"),
        (f"Equity {money}", "right"),
        ("Return %", "right"),
        ("Sharpe", "right"),
        ("Win %", "right"),
        ("Max DD %", "right"),
        ("Trades", "right"),
        (f"Fees {money}", "right"),
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
    pending = next((r for r in rows if r.sharpe is None and "min_returns" in r.metrics), None)
    if pending is not None:
        m = pending.metrics
        table.caption = (
            f"Sharpe n/{m['min_returns']}: shown once {m['min_returns']} "
            f"{m.get('returns_period') or ''} returns exist (n so far; docs/METRICS.md)"
        )
        table.caption_justify = "left"
    return table


def startup_lines(
    config_path: str,
    is_example: bool,
    db_url: str,
    dashboard: str | None,
    core_line: str | None = None,
) -> list[str]:
    """Return what the terminal shows at start: config file, database, dashboard URL and, when
    given, the compiled core's state (``Compiled core: on (...)`` / ``off (why)``)."""
    cfg = f"Config: {config_path}"
    if is_example:
        cfg += " (the bundled example; copy it to config.yaml to customise)"
    lines = [cfg, f"Database: {redact_url(db_url)}", f"Dashboard: {dashboard or 'off'}"]
    if core_line:
        lines.append(core_line)
    return lines
