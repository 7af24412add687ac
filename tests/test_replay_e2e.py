"""Record a simulated session with `market_data.record: true`, then replay it with `source: replay`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_bot

pytestmark = pytest.mark.e2e


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_record_sim_then_replay_gives_the_same_markets(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    strategies = """
strategies:
  - {name: mm, class: MarketMaker}
  - {name: arb, class: ComplementArbitrage}
dashboard: {enabled: false}
"""
    live_cfg = _write(
        tmp_path / "live.yaml",
        f"""
market_data:
  source: sim
  seed: 5
  speed: max
  duration_s: 60
  record: true
  recorder: {{directory: "{rec}"}}
{strategies}""",
    )
    db1 = tmp_path / "live.db"
    p1 = run_bot("--config", str(live_cfg), "--db", str(db1), "--quiet")
    assert p1.returncode == 0, p1.stderr[-2000:]
    files = sorted(rec.rglob("*.jsonl.*"))
    assert files
    replay_cfg = _write(
        tmp_path / "replay.yaml",
        f"""
market_data:
  source: replay
  speed: max
  replay_paths: ["{rec}"]
{strategies}""",
    )
    db2 = tmp_path / "replay.db"
    p2 = run_bot("--config", str(replay_cfg), "--db", str(db2), "--quiet")
    assert p2.returncode == 0, p2.stderr[-2000:]
    q = "select instrument_id, status from instruments order by instrument_id"
    live = sqlite3.connect(db1).execute(q).fetchall()
    replay = sqlite3.connect(db2).execute(q).fetchall()
    assert live == replay
    # Same books seen -> same final top of book for every instrument.
    q2 = "select instrument_id, best_bid, best_ask, bid_size, ask_size from market_tops order by 1"
    assert (
        sqlite3.connect(db1).execute(q2).fetchall() == sqlite3.connect(db2).execute(q2).fetchall()
    )
    # Same market, same deterministic strategies -> same fills.
    q3 = "select strategy, instrument_id, side, price, size, fee from fills order by id"
    assert (
        sqlite3.connect(db1).execute(q3).fetchall() == sqlite3.connect(db2).execute(q3).fetchall()
    )


def test_a_replay_runs_on_the_recordings_own_clock(tmp_path: Path) -> None:
    """A recording older than the configured start_ts used to replay with a clock stuck at the
    start (issue 18): every fill and snapshot carried the wrong time."""
    rec = tmp_path / "rec"
    t0 = 1_735_689_600  # 2025-01-01 UTC, before the default start_ts (2026-01-01)
    live_cfg = _write(
        tmp_path / "live.yaml",
        f"""
market_data:
  source: sim
  seed: 5
  speed: max
  duration_s: 120
  start_ts: {t0}
  record: true
  recorder: {{directory: "{rec}"}}
strategies:
  - {{name: arb, class: ComplementArbitrage}}
dashboard: {{enabled: false}}
""",
    )
    p1 = run_bot("--config", str(live_cfg), "--db", str(tmp_path / "live.db"), "--quiet")
    assert p1.returncode == 0, p1.stderr[-2000:]
    replay_cfg = _write(
        tmp_path / "replay.yaml",
        f"""
market_data:
  source: replay
  speed: max
  replay_paths: ["{rec}"]
strategies:
  - {{name: arb, class: ComplementArbitrage}}
dashboard: {{enabled: false}}
""",
    )
    db = tmp_path / "replay.db"
    p2 = run_bot("--config", str(replay_cfg), "--db", str(db), "--quiet")
    assert p2.returncode == 0, p2.stderr[-2000:]
    con = sqlite3.connect(db)
    lo, hi = con.execute("select min(ts), max(ts) from fills").fetchone()
    assert lo is not None and t0 <= lo <= hi <= t0 + 121
    lo, hi = con.execute("select min(ts), max(ts) from performance_snapshots").fetchone()
    assert t0 <= lo <= hi <= t0 + 121


def test_replay_without_paths_is_a_config_error(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path / "c.yaml",
        "market_data: {source: replay}\nstrategies: [{name: a, class: MarketMaker}]\n",
    )
    p = run_bot("--config", str(cfg), "--db", str(tmp_path / "x.db"), "--no-dashboard")
    assert p.returncode == 2
    assert "replay_paths is empty" in p.stderr


BETFAIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "betfair" / "1.197931750"


@pytest.mark.skipif(not BETFAIR.is_file(), reason="shared real data not present")
def test_a_betfair_stream_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """A file the replay cannot read stops the bot before it starts (exit 2), naming the file."""
    cfg = _write(
        tmp_path / "c.yaml",
        f"market_data: {{source: replay, replay_paths: ['{BETFAIR}']}}\n"
        "strategies: [{name: a, class: MarketMaker}]\n",
    )
    p = run_bot("--config", str(cfg), "--db", str(tmp_path / "x.db"), "--no-dashboard")
    assert p.returncode == 2, p.stderr[-2000:]
    assert "market_data.replay_paths[0]" in p.stderr
    assert "Betfair Exchange stream file" in p.stderr and str(BETFAIR) in p.stderr
