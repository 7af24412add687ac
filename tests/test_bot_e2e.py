"""End to end: `python bot.py` on the simulator, its database, clean stops, restarts, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.money import notional
from tests.conftest import ROOT, run_bot, wait_for
from tests.conftest import query as _q

pytestmark = pytest.mark.e2e


def replay_ledger(db: Path) -> dict[str, dict]:
    """Independently rebuild every strategy's cash and positions from the stored fills."""
    start = dict(_q(db, "select name, starting_capital from strategies"))
    out = {
        name: {"cash": cap, "positions": {}, "buys": 0, "sells": 0, "fees": 0, "payouts": 0}
        for name, cap in start.items()
    }
    rows = [
        (ts, 0, i, s, iid, side, p, q, fee)
        for i, s, iid, side, p, q, fee, ts in _q(
            db, "select id, strategy, instrument_id, side, price, size, fee, ts from fills"
        )
    ]
    rows += [
        (ts, 1, i, s, iid, None, pps, q, 0)
        for i, s, iid, q, pps, ts in _q(
            db, "select id, strategy, instrument_id, size, payout_per_share, ts from settlements"
        )
    ]
    for _ts, kind, _i, s, iid, side, price, qty, fee in sorted(rows):
        st = out[s]
        pos = st["positions"]
        if kind == 0:
            value = notional(qty, price)
            st["fees"] += fee
            if side == "BUY":
                st["cash"] -= value + fee
                st["buys"] += value
                pos[iid] = pos.get(iid, 0) + qty
            else:
                st["cash"] += value - fee
                st["sells"] += value
                pos[iid] -= qty
        else:
            amount = notional(qty, price)
            st["cash"] += amount
            st["payouts"] += amount
            pos[iid] -= qty
        if pos.get(iid) == 0:
            del pos[iid]
    return out


def final_cash(db: Path) -> dict[str, int]:
    rows = _q(
        db,
        "select strategy, cash from performance_snapshots where granularity='fine' "
        "and id in (select max(id) from performance_snapshots where granularity='fine' "
        "group by strategy)",
    )
    return dict(rows)


def test_done_means_run_reconciles_to_the_micro(tmp_db: Path) -> None:
    proc = run_bot(
        "--duration",
        "120",
        "--speed",
        "max",
        "--seed",
        "7",
        "--db",
        str(tmp_db),
        "--quiet",
        "--no-dashboard",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Final leaderboard" in proc.stdout
    fills = dict(
        ((s, liq), n)
        for s, liq, n in _q(tmp_db, "select strategy, liquidity, count(*) from fills group by 1, 2")
    )
    assert fills.get(("mm_tight", "maker"), 0) > 0
    assert fills.get(("complement_arb", "taker"), 0) > 0
    settled = dict(_q(tmp_db, "select strategy, count(*) from settlements group by 1"))
    assert settled.get("complement_arb", 0) > 0
    assert settled.get("mm_tight", 0) + settled.get("mm_wide", 0) > 0
    snaps = dict(_q(tmp_db, "select strategy, count(*) from performance_snapshots group by 1"))
    for name in ("mm_tight", "mm_wide", "complement_arb"):
        assert snaps.get(name, 0) >= 10
        assert _q(tmp_db, "select count(*) from orders where strategy=?", name)[0][0] > 0
    ledger = replay_ledger(tmp_db)
    cash = final_cash(tmp_db)
    for name, st in ledger.items():
        start = _q(tmp_db, "select starting_capital from strategies where name=?", name)[0][0]
        assert (
            cash[name]
            == st["cash"]
            == start - st["buys"] + st["sells"] - st["fees"] + st["payouts"]
        )
    # Positions table equals the replay.
    for name, st in ledger.items():
        stored = dict(_q(tmp_db, "select instrument_id, qty from positions where strategy=?", name))
        assert stored == st["positions"]
    # The risk page's figures are those of the end of the run (written at shutdown, not only by
    # the once-a-wall-second side task): wins and losses are the stored closed bets.
    risk = json.loads(
        _q(tmp_db, "select value_json from bot_state where key='strategy_risk'")[0][0]
    )
    bets = _q(tmp_db, "select strategy, sum(pnl > 0), sum(pnl <= 0) from closed_bets group by 1")
    assert bets and sum(w + lo for _, w, lo in bets) > 0
    for name, wins, losses in bets:
        assert (risk[name]["wins"], risk[name]["losses"]) == (wins, losses), name


def test_sigint_stops_cleanly_and_restart_resumes_exactly(tmp_db: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bot.py"),
            "--speed",
            "60",
            "--seed",
            "3",
            "--db",
            str(tmp_db),
            "--quiet",
            "--no-dashboard",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )
    try:
        _wait_for_fills(tmp_db, 5, timeout=90)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    clean = json.loads(_q(tmp_db, "select value_json from bot_state where key='run'")[0][0])
    assert clean["clean"] is True
    expected = replay_ledger(tmp_db)
    open_before = {
        name: sorted(
            i
            for (i,) in _q(
                tmp_db,
                "select id from orders where strategy=? and status in ('open','partially_filled','pending')",
                name,
            )
        )
        for name in expected
    }
    proc2 = run_bot(
        "--duration",
        "5",
        "--speed",
        "max",
        "--seed",
        "3",
        "--db",
        str(tmp_db),
        "--quiet",
        "--no-dashboard",
    )
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    restored = json.loads(_q(tmp_db, "select value_json from bot_state where key='restored'")[0][0])
    for name, st in expected.items():
        assert restored[name]["cash"] == st["cash"]
        assert restored[name]["positions"] == st["positions"]
        assert restored[name]["open_orders"] == open_before[name]
    ledger = replay_ledger(tmp_db)
    cash = final_cash(tmp_db)
    assert {n: s["cash"] for n, s in ledger.items()} == cash


def test_kill_9_loses_no_persisted_fill(tmp_db: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bot.py"),
            "--speed",
            "max",
            "--seed",
            "11",
            "--db",
            str(tmp_db),
            "--quiet",
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=str(ROOT),
    )
    try:
        _wait_for_fills(tmp_db, 200, timeout=120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before_ids = {i for (i,) in _q(tmp_db, "select id from fills")}
    expected = replay_ledger(tmp_db)
    proc2 = run_bot(
        "--duration",
        "30",
        "--speed",
        "max",
        "--seed",
        "11",
        "--db",
        str(tmp_db),
        "--quiet",
        "--no-dashboard",
    )
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    after_ids = {i for (i,) in _q(tmp_db, "select id from fills")}
    assert before_ids <= after_ids  # nothing committed was lost or rewritten
    restored = json.loads(_q(tmp_db, "select value_json from bot_state where key='restored'")[0][0])
    for name, st in expected.items():
        assert restored[name]["cash"] == st["cash"]
        assert restored[name]["positions"] == st["positions"]
    ledger = replay_ledger(tmp_db)
    assert {n: s["cash"] for n, s in ledger.items()} == final_cash(tmp_db)
    # No order is filled beyond its size, even across the crash.
    over = _q(
        tmp_db,
        "select o.id from orders o join (select order_id, sum(size) f from fills "
        "group by order_id) x on x.order_id = o.id where x.f > o.size",
    )
    assert over == []


def _wait_for_fills(db: Path, n: int, timeout: float) -> None:
    wait_for(
        lambda: db.exists() and _q(db, "select count(*) from fills")[0][0] >= n,
        timeout,
        f"{n} fills",
        poll_s=0.2,
    )
