"""The backtest stage judged on the backtester's stored results: `bot.py backtest` stores a real
run (the L1 slice, buy-and-hold), then `bot.py` starts with its strategies in the backtest stage.

* ``hold`` (backtested with the parameters it runs) moves to paper on the engine clock, judged
  on the run's figures (recorded with the transition, run id included);
* ``fresh`` was never backtested: it stays, with the blocker telling the user what to run;
* ``resized`` was backtested with other parameters than it runs: stale, it stays;
* the Graduation page shows the blockers and the run each strategy is judged on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dashboard.app import create_app
from database.engine import make_engine
from tests.backtest.l1_slice import write_slice
from tests.conftest import ROOT, run_bot, wait_for
from tests.conftest import query as q
from tests.test_safety_e2e import config_text, start_bot, stop_bot
from utils.config import parse_config

pytestmark = pytest.mark.e2e

HOLD = str(ROOT / "examples/buy_and_hold.py") + ":BuyYesAndHold"
# The run (12 markets, 3.6 hours) closes 5 bets, 2 won: loose criteria it passes.
LOOSE = {"min_return_pct": -1, "min_sharpe": None, "min_win_rate_pct": 30,
         "max_drawdown_pct": 5, "min_closed_bets": 5}  # fmt: skip


def test_backtest_stage_reads_the_stored_backtest_runs(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    bt_cfg = tmp_path / "backtest.yaml"
    bt_cfg.write_text(
        yaml.safe_dump(
            {
                "strategies": [
                    {"name": "hold", "class": HOLD},
                    {"name": "resized", "class": HOLD},
                ],
                "competition": {"win_rate_min_bets": 2},
                "dashboard": {"enabled": False},
            }
        )
    )
    data = write_slice(tmp_path / "l1", markets=12)
    p = run_bot(
        "backtest", "--config", str(bt_cfg), "--data", f"l1:{data}", "--db", str(db),
        "--report-dir", str(tmp_path / "reports"), "--quiet",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    ((run_id, closed),) = q(
        db,
        "select run_id, json_extract(metrics_json, '$.closed_bets') from backtest_results "
        "where strategy='hold'",
    )
    assert closed == 5

    cfg = tmp_path / "config.yaml"
    graduation = {
        "initial_stage": "backtest",
        "check_interval_s": 60,
        "stages": {"backtest": {"min_days": 0.1, "auto_promote": True, "promote_if": LOOSE}},
    }
    strategies = [
        {"name": "hold", "class": HOLD},
        {"name": "fresh", "class": HOLD},
        {"name": "resized", "class": HOLD, "params": {"shares": 20}},
    ]
    cfg.write_text(
        config_text(
            tmp_path,
            graduation=graduation,
            strategies=strategies,
            competition={"win_rate_min_bets": 2},
        ),
        encoding="utf-8",
    )
    proc = start_bot(cfg, db)
    try:
        wait_for(
            lambda: q(db, "select stage from strategies where name='hold'") == [("paper",)],
            90,
            "hold promoted on its backtest",
        )
        wait_for(
            lambda: bool(q(db, "select 1 from bot_state where key='graduation_view'")),
            30,
            "the graduation view",
        )
    finally:
        out, err = stop_bot(proc)
    assert proc.returncode == 0, err[-3000:]
    ((actor, figs),) = q(
        db,
        "select actor, figures_json from stage_transitions where strategy='hold' "
        "and kind='promotion'",
    )
    assert actor == "auto"
    f = json.loads(figs)["figures"]
    assert f["backtest"]["run_id"] == run_id and f["closed_bets"] == 5
    assert f["win_rate"] == pytest.approx(0.4)
    assert q(db, "select stage from strategies where name in ('fresh', 'resized')") == [
        ("backtest",),
        ("backtest",),
    ]
    view = json.loads(q(db, "select value_json from bot_state where key='graduation_view'")[0][0])
    fresh = view["strategies"]["fresh"]["eligibility"]["blockers"]
    assert fresh == [
        "no backtest run for fresh: run `python bot.py backtest --config CONFIG --data SOURCE "
        "--strategies fresh` (same database)"
    ]
    resized = view["strategies"]["resized"]
    assert resized["eligibility"]["blockers"][0].startswith(
        f"backtest run #{run_id} of resized used other parameters than the running ones"
    )
    assert resized["backtest"]["run_id"] == run_id

    # the Graduation page shows them
    app = create_app(
        parse_config(
            {"bot": {"db_path": str(db)}, "dashboard": {"token_file": str(tmp_path / "tok")}},
            "t.yaml",
        ),
        token="t" * 24,
        db_engine=make_engine(f"sqlite:///{db}"),
        async_mode="threading",
    )
    html = app.test_client().get("/graduation").get_data(as_text=True)
    assert "no backtest run for fresh: run `python bot.py backtest" in html
    assert f"judged on backtest run #{run_id}" in html
