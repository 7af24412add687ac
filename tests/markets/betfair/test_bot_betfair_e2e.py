"""The documented one command: `python bot.py --config examples/betfair_replay.yaml`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_bot

pytestmark = pytest.mark.e2e


def test_the_example_replays_the_shared_recording_onto_the_leaderboard(
    recording: Path, tmp_path: Path
) -> None:
    db = tmp_path / "betfair.db"
    p = run_bot("--config", str(ROOT / "examples" / "betfair_replay.yaml"), "--db", str(db))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Final leaderboard" in p.stdout
    assert "back_lay_trader" in p.stdout and "value_backer" in p.stdout
    assert "Equity £" in p.stdout and "Equity $" not in p.stdout  # GBP, not dollars
    con = sqlite3.connect(db)
    instruments = con.execute(
        "select instrument_id, venue, ladder, currency, status, payout from instruments"
    ).fetchall()
    assert len(instruments) == 6
    assert {(v, lad, cur, st) for _, v, lad, cur, st, _ in instruments} == {
        ("betfair", "betfair", "GBP", "resolved")
    }
    assert {iid for iid, *_, pay in instruments if pay == 1_000_000} == {"1.197931750:37947503"}
    strategies = {r[0] for r in con.execute("select name from strategies")}
    assert strategies == {"back_lay_trader", "value_backer", "momentum", "mean_reversion"}
    traded = {r[0] for r in con.execute("select distinct strategy from fills")}
    assert traded == strategies  # the venue-neutral directional ones bet too (backs and lays)


def test_a_file_that_is_not_a_betfair_stream_stops_the_bot_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt.gz"
    bad.write_text("hello\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"""
market_data:
  source: betfair_replay
  betfair: {{replay_paths: ["{bad}"]}}
strategies:
  - {{name: v, class: BetfairValueBacker, currency: GBP}}
dashboard: {{enabled: false}}
"""
    )
    p = run_bot("--config", str(cfg), "--db", str(tmp_path / "x.db"))
    assert p.returncode == 2
    assert "market_data.betfair.replay_paths[0]" in p.stderr and "not JSON" in p.stderr
