"""The lifecycle in the real bot process: automatic backtest -> paper promotion on the engine
clock, the Graduation state in the database, and `bot.py control graduate` refused with the reason
(no live client is configured in the bot yet)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for
from tests.conftest import query as q
from tests.test_safety_e2e import config_text, start_bot, stop_bot

pytestmark = pytest.mark.e2e

OPEN = {"min_return_pct": None, "min_sharpe": None, "min_win_rate_pct": None,
        "max_drawdown_pct": None, "min_closed_bets": 0}  # fmt: skip


def test_bot_promotes_on_its_clock_and_refuses_an_ineligible_approval(tmp_path: Path) -> None:
    cfg, db = tmp_path / "config.yaml", tmp_path / "bot.db"
    graduation = {
        "initial_stage": "backtest",
        "backtest_evidence": "stage",  # judged on the bot's own run (test_backtest_stage.py:
        "check_interval_s": 60,  # the backtester's stored runs)
        "stages": {
            "backtest": {"capital_usd": 10000, "min_days": 0.001, "route": "paper",
                         "auto_promote": True, "promote_if": OPEN},
            "paper": {"capital_usd": 10000, "min_days": 0, "route": "paper", "promote_if": OPEN},
        },
    }  # fmt: skip
    cfg.write_text(config_text(tmp_path, graduation=graduation), encoding="utf-8")
    proc = start_bot(cfg, db)
    try:
        promoted = wait_for(
            lambda: (
                db.exists()
                and q(db, "select count(*) from stage_transitions where to_stage='paper'")[0][0]
                >= 3
            ),
            90,
            "automatic promotions to paper",
        )
        assert promoted
        wait_for(
            lambda: q(db, "select count(*) from bot_state where key='graduation_view'")[0][0],
            30,
            "the graduation view",
        )
        # paper -> micro is eligible by the criteria, but micro routes to polymarket_live,
        # which this bot does not have: the approval is refused with that reason.
        cli = subprocess.run(
            [sys.executable, str(ROOT / "bot.py"), "control", "--db", str(db), "--wait", "20",
             "graduate", "mm_a", "--confirm", "GRADUATE"],
            capture_output=True, text=True, timeout=60, cwd=str(ROOT),
        )  # fmt: skip
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert "polymarket_live" in cli.stdout and "not an execution client" in cli.stdout
    finally:
        out, err = stop_bot(proc)
    assert proc.returncode == 0, err[-3000:]
    rows = q(db, "select strategy, from_stage, to_stage, kind, actor from stage_transitions")
    assert ("mm_a", "backtest", "paper", "promotion", "auto") in rows
    assert q(db, "select stage from strategies where name='mm_a'") == [("paper",)]
