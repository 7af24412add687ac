"""End to end: every leaderboard metric is the same after a clean restart of `python bot.py`, and
a restart after an unclean stop says so in the log and as an event."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_bot, wait_for
from tests.conftest import query as _q

pytestmark = pytest.mark.e2e

# Figures that legitimately move with the clock or with the first marks after the restart.
MOVING = {"drawdown_pct", "exposure_time_pct", "max_drawdown_pct", "score_components"}
BETS = {"closed_bets", "wins", "losses", "win_rate", "profit_factor", "expectancy_usd",
        "avg_win_usd", "avg_loss_usd", "largest_loss_usd", "evidence_pct"}  # fmt: skip


def _snapshots(db: Path, where: str) -> dict[str, tuple[float, float, dict]]:
    rows = _q(
        db,
        "select strategy, ts, max_drawdown_pct, metrics_json from performance_snapshots "
        f"where granularity='fine' and {where} order by ts, id",
    )
    out: dict[str, tuple[float, float, dict]] = {}
    for name, ts, mdd, raw in rows:
        out.setdefault(name, (ts, mdd, json.loads(raw)))
    return out


def test_metrics_are_identical_before_and_after_a_clean_restart(tmp_db: Path) -> None:
    # Defect: the max drawdown shrank after a clean restart (5.46 % before, 3.24 % after)
    # because the 1-second in-memory maximum was rebuilt from the 10-second rows.
    common = ["--speed", "max", "--seed", "7", "--db", str(tmp_db), "--quiet", "--no-dashboard"]
    first = run_bot("--duration", "600", *common)
    assert first.returncode == 0, first.stderr[-3000:]
    last_ts = _q(tmp_db, "select max(ts) from performance_snapshots")[0][0]
    before = {
        name: (mdd, json.loads(raw))
        for name, mdd, raw in _q(
            tmp_db,
            "select strategy, max_drawdown_pct, metrics_json from performance_snapshots p "
            "where granularity='fine' and id = (select max(id) from performance_snapshots q "
            "where q.strategy = p.strategy and q.granularity='fine')",
        )
    }
    assert any(m["closed_bets"] > 0 for _, m in before.values())
    assert any(mdd > 0 for mdd, _ in before.values())
    # The defect shows only when some 1-second maximum exceeds every stored sample's drawdown
    # (600 s with seed 7: complement_arb 3.40 % against 2.90 %); keep the run long enough.
    stored = _q(
        tmp_db,
        "select strategy, max(json_extract(metrics_json, '$.drawdown_pct')) "
        "from performance_snapshots group by strategy",
    )
    assert any(before[n][0] > s + 1e-6 for n, s in stored if n in before), stored
    second = run_bot("--duration", "1", *common)
    assert second.returncode == 0, second.stderr[-3000:]
    after = _snapshots(tmp_db, f"ts > {last_ts!r}")
    assert set(after) == set(before)
    for name, (mdd, m) in before.items():
        _, mdd2, m2 = after[name]
        # The all-time maximum is kept; only a deeper fall at the first new sample can raise it.
        assert mdd2 == pytest.approx(max(mdd, m2["drawdown_pct"]), abs=1e-6), name
        assert m2["max_drawdown_pct"] == pytest.approx(mdd2, abs=1e-6)
        new_bet = m2["closed_bets"] != m["closed_bets"]
        for key in m:
            if key in MOVING or (new_bet and key in BETS):
                continue
            if key == "fees_usd":
                continue  # a buy in the first second pays fees
            assert m2[key] == m[key], (name, key)
    assert "did not stop cleanly" not in second.stderr
    assert _q(tmp_db, "select count(*) from events where kind='unclean_restart'")[0][0] == 0


def test_a_restart_after_kill_9_is_reported_in_the_log_and_as_an_event(tmp_db: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "--speed", "max", "--seed", "5", "--db",
         str(tmp_db), "--quiet", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=str(ROOT),
    )  # fmt: skip
    try:
        wait_for(
            lambda: tmp_db.exists() and _q(tmp_db, "select count(*) from fills")[0][0] >= 20,
            timeout=120,
            what="20 fills",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    again = run_bot(
        "--duration", "5", "--speed", "max", "--seed", "5", "--db", str(tmp_db), "--quiet",
        "--no-dashboard",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "The previous run did not stop cleanly" in again.stderr
    ev = _q(tmp_db, "select severity, message from events where kind='unclean_restart'")
    assert len(ev) == 1 and ev[0][0] == "warning"
    assert "unclean stop" in ev[0][1]
