"""The terminal: what it prints at start, the progress toward --duration, no "-0.00"."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.competition import LeaderboardRow
from services.terminal import Progress, fmt_signed, fmt_span, leaderboard_table
from tests.conftest import run_bot


def test_no_negative_zero_and_signed_values() -> None:
    # Defect: a return of -0.001 % printed as "-0.00".
    assert fmt_signed(-0.001) == "0.00"
    assert fmt_signed(-0.0) == "0.00"
    assert fmt_signed(0.004) == "0.00"
    assert fmt_signed(0.005001) == "+0.01"
    assert fmt_signed(-1.234) == "-1.23"


def test_progress_toward_the_duration_with_an_eta() -> None:
    wall = iter([100.0, 110.0, 130.0])
    p = Progress(1_000.0, 3_600.0, lambda: next(wall))
    assert p.text(1_900.0) == "25.0 % of 1 h 00 min, ETA 30 s"  # 10 s for 25 %
    assert p.text(4_600.0) == "100.0 % of 1 h 00 min"
    assert Progress(0.0, None, lambda: 0.0).text(50.0) == ""
    assert fmt_span(86_400 * 2 + 3_600) == "2 d 01 h" and fmt_span(59) == "59 s"


def test_the_table_title_carries_the_progress_and_sharpe_its_error() -> None:
    row = LeaderboardRow(
        1, "mm", 55.0, 10_000.0, 10_000.0, -0.0001, 0.0, 0.0, 0.0, 0.0, 1.5, None, 0.0, 0.0,
        0, 0, "MARGINAL", "active", sharpe_se=0.75,
    )  # fmt: skip
    t = leaderboard_table([row], 0.0, 10, progress="50.0 % of 1 h 00 min")
    assert str(t.title).endswith("- 50.0 % of 1 h 00 min")
    cells = [c._cells[0] for c in t.columns]  # noqa: SLF001
    assert "0.00" in cells and "-0.00" not in cells and "1.50±0.8" in cells


def test_a_sharpe_not_shown_yet_says_how_many_returns_it_has_and_needs() -> None:
    # A bare "-" in the Sharpe column for the first 20 market hours read as a broken metric.
    row = LeaderboardRow(
        1, "mm", 55.0, 10_000.0, 10_000.0, 0.5, 0.0, 0.0, 0.0, 0.0, None, None, 0.0, 0.0,
        0, 0, "MARGINAL", "active",
        metrics={"n_returns": 5, "min_returns": 20, "returns_period": "hourly"},
    )  # fmt: skip
    t = leaderboard_table([row], 0.0, 10)
    cells = [c._cells[0] for c in t.columns]  # noqa: SLF001
    assert "5/20h" in cells
    assert "shown once 20 hourly returns exist" in str(t.caption)


def test_money_columns_show_the_strategies_currency_symbol() -> None:
    from services.terminal import money_label

    assert money_label({"GBP"}) == "£" and money_label({"USDC"}) == "$"
    assert money_label({"EUR"}) == "€" and money_label({"GBP", "USDC"}) == "mixed"
    t = leaderboard_table([], 0.0, 0, money=money_label({"GBP"}))
    headers = [str(c.header) for c in t.columns]
    assert "Equity £" in headers and "Fees £" in headers and "Equity $" not in headers


@pytest.mark.e2e
def test_the_terminal_says_which_config_database_and_dashboard(tmp_path: Path) -> None:
    # Defect: only the log file said which config was loaded and where the dashboard was.
    db = tmp_path / "bot.db"
    proc = run_bot(
        "--duration", "2", "--speed", "max", "--db", str(db), "--quiet", "--no-dashboard"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert any(line.startswith("Config: ") and "config" in line for line in lines)
    assert f"Database: sqlite:///{db.resolve()}" in lines
    assert "Dashboard: off" in lines
    # The compiled core's state is on the terminal too, not only in the log file.
    core = [line for line in lines if line.startswith("Compiled core: ")]
    assert len(core) == 1 and core[0].split()[2] in ("on", "off"), lines


def test_the_dashboard_never_shows_negative_zero() -> None:
    from dashboard.formatting import fmt_num, fmt_pct, fmt_usd

    assert fmt_pct(-0.001, 2, True) == "0.00%" and fmt_pct(-0.001) == "0.00%"
    assert fmt_usd(-0.001, True) == "$0.00" and fmt_num(-0.0001) == "0.00"
    assert fmt_pct(-1.5, 2, True) == "-1.50%" and fmt_pct(2.0, 1, True) == "+2.0%"


def test_strategy_parameters_read_as_rows_not_python_dicts() -> None:
    from dashboard.formatting import flatten

    rows = flatten({"sizing": {"mode": "fixed_shares", "shares": 25}, "universe": {"ids": []},
                    "half_spread_ticks": 1, "sell_side": True, "cap": None})  # fmt: skip
    assert rows == [
        ("cap", "-"),
        ("half_spread_ticks", "1"),
        ("sell_side", "yes"),
        ("sizing.mode", "fixed_shares"),
        ("sizing.shares", "25"),
        ("universe.ids", "(none)"),
    ]


def test_logs_rotate(tmp_path: Path) -> None:
    # Defect: logs never rotated.
    import logging

    from utils.logging_setup import rotate_if_large, setup_logging

    log = tmp_path / "bot.log"
    setup_logging("INFO", str(log), console=False, max_mb=0.001, backups=2)
    for i in range(200):
        logging.getLogger("t").info("line %d %s", i, "x" * 40)
    for h in logging.getLogger().handlers:
        h.close()
    logging.getLogger().handlers.clear()
    assert (tmp_path / "bot.log.1").exists() and (tmp_path / "bot.log.2").exists()
    assert not (tmp_path / "bot.log.3").exists() and log.stat().st_size <= 1100
    dash = tmp_path / "dashboard.log"
    dash.write_text("y" * 2000)
    rotate_if_large(dash, 0.001, 2)
    assert not dash.exists() and (tmp_path / "dashboard.log.1").read_text() == "y" * 2000
    dash.write_text("small")
    rotate_if_large(dash, 0.001, 2)
    assert dash.read_text() == "small"


def test_log_lines_go_through_the_live_views_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    # Defect: stale leaderboard header fragments piled up at --speed max and on Ctrl-C: log
    # lines were written to the original stderr, around rich's Live display, not through it.
    import io
    import logging

    from utils.logging_setup import setup_logging

    setup_logging("INFO", None, console=True, console_level="WARNING")
    proxy = io.StringIO()
    monkeypatch.setattr("sys.stderr", proxy)  # what rich's Live does while it runs
    logging.getLogger("bot").warning("Received SIGINT: stopping cleanly.")
    assert "Received SIGINT: stopping cleanly." in proxy.getvalue()
    logging.getLogger().handlers.clear()
