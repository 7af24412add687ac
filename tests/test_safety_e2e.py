"""End to end: the kill switch and the hot config reload on a real `python bot.py` process running
the simulator at full speed, checked from its database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from database import queries
from database.engine import db_url_from_path, make_engine, make_session_factory
from tests.conftest import ROOT, run_bot, wait_for
from tests.conftest import query as q

pytestmark = pytest.mark.e2e

STRATEGIES = [
    {"name": "mm_a", "class": "MarketMaker"},
    {"name": "mm_b", "class": "MarketMaker"},
    {"name": "arb", "class": "ComplementArbitrage"},
]


def config_text(tmp: Path, **sections: Any) -> str:
    doc: dict[str, Any] = {
        "bot": {"log_file": str(tmp / "bot.log")},
        "control": {
            "poll_interval_s": 0.1,
            "heartbeat_interval_s": 0.5,
            "config_poll_interval_s": 0.2,
        },
        "strategies": STRATEGIES,
    }
    doc.update(sections)
    return yaml.safe_dump(doc, sort_keys=False)


def write_atomic(p: Path, text: str) -> None:
    tmp = p.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)


def start_bot(cfg: Path, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bot.py"),
            "--config",
            str(cfg),
            "--db",
            str(db),
            "--speed",
            "max",
            "--duration",
            "10000000",
            "--quiet",
            "--no-dashboard",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )


def stop_bot(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def trading(db: Path) -> bool:
    if not db.exists():
        return False
    hb = q(db, "select count(*) from bot_state where key='heartbeat'")[0][0]
    resting = q(db, "select count(*) from orders where status='open'")[0][0]
    return hb > 0 and resting >= 3


def submit(db: Path, command: str, args: dict[str, Any]) -> int:
    eng = make_engine(db_url_from_path(db))
    try:
        with make_session_factory(eng).begin() as s:
            return queries.submit_command(s, command, args, source="test", created_ts=time.time())
    finally:
        eng.dispose()


def test_kill_switch_command_halts_a_busy_bot_and_survives_a_restart(tmp_path: Path) -> None:
    cfg, db = tmp_path / "config.yaml", tmp_path / "bot.db"
    cfg.write_text(config_text(tmp_path), encoding="utf-8")
    proc = start_bot(cfg, db)
    try:
        wait_for(lambda: trading(db), 60, "resting orders")
        cid = submit(db, "kill_switch.activate", {"reason": "e2e emergency", "flatten": False})
        status = wait_for(
            lambda: [
                r
                for r in q(db, "select status, result from control_commands where id=?", cid)
                if r[0] != "pending"
            ],
            15,
            "the command's acknowledgement",
        )
        time.sleep(1.0)  # the engine keeps running; nothing may trade any more
    finally:
        out, err = stop_bot(proc)
    assert proc.returncode == 0, err[-3000:]
    assert status[0][0] == "applied" and "Kill switch activated by test" in status[0][1]
    ((ev_ts, ev_data),) = q(db, "select ts, data_json from events where kind='kill_switch'")
    data = json.loads(ev_data)
    assert data["state"] == "HALTED" and data["source"] == "test"
    assert isinstance(data["latency_ms"], float) and 0 < data["latency_ms"] < 60_000
    last_id = data["last_order_id"]
    assert last_id > 0 and data["cancelled"] >= 3
    # No order was placed after the activation...
    assert q(db, "select count(*) from orders where id > ?", last_id)[0][0] == 0
    assert q(db, "select count(*) from orders where created_ts > ?", ev_ts)[0][0] == 0
    # ...every resting order was cancelled by it, and every strategy is disabled.
    assert (
        q(db, "select count(*) from orders where status in ('open','pending','partially_filled')")[
            0
        ][0]
        == 0
    )
    killed = q(
        db,
        "select count(*) from orders where status='cancelled' and updated_ts=? and "
        "reject_reason like '%kill switch: e2e emergency%'",
        ev_ts,
    )[0][0]
    assert killed == data["cancelled"]
    assert {s for (s,) in q(db, "select status from strategies")} == {"disabled"}
    state = json.loads(q(db, "select value_json from bot_state where key='kill_switch'")[0][0])
    assert state["state"] == "HALTED" and state["latency_ms"] == data["latency_ms"]

    # A restarted bot stays halted and says so.
    proc2 = run_bot(
        "--config",
        str(cfg),
        "--db",
        str(db),
        "--speed",
        "max",
        "--duration",
        "120",
        "--quiet",
        "--no-dashboard",
        timeout=120,
    )
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    assert "Kill switch is active (HALTED" in proc2.stderr
    assert q(db, "select max(id) from orders")[0][0] == last_id
    assert {s for (s,) in q(db, "select status from strategies")} == {"disabled"}
    assert (
        q(
            db,
            "select count(*) from events where kind='kill_switch' and message like "
            "'Bot started with the kill switch active%'",
        )[0][0]
        == 1
    )


def test_config_edit_applies_a_new_limit_and_a_broken_edit_keeps_it(tmp_path: Path) -> None:
    cfg, db = tmp_path / "config.yaml", tmp_path / "bot.db"
    cfg.write_text(
        config_text(tmp_path, risk={"limits": {"max_order_usd": 1000}}), encoding="utf-8"
    )
    proc = start_bot(cfg, db)
    try:
        wait_for(lambda: trading(db), 60, "resting orders")
        write_atomic(cfg, config_text(tmp_path, risk={"limits": {"max_order_usd": 1}}))
        ok_id = wait_for(
            lambda: q(
                db, "select id, message from events where kind='config_reload' and severity='info'"
            ),
            20,
            "the reload event",
        )[0][0]
        rej = wait_for(
            lambda: q(
                db,
                "select id, message, limit_value from events where "
                "kind='risk_rejection' and id > ? and message like "
                "'%max_order_usd 1.00%'",
                ok_id,
            ),
            20,
            "a rejection",
        )
        assert rej[0][2] == "1.00"
        write_atomic(cfg, config_text(tmp_path, risk={"limits": {"max_order_usd": -5}}))
        bad = wait_for(
            lambda: q(
                db,
                "select id, message from events where kind='config_reload' and severity='warning'",
            ),
            20,
            "the refused reload",
        )
        bad_id, bad_msg = bad[0]
        wait_for(
            lambda: q(
                db,
                "select id from events where kind='risk_rejection' and id > ? "
                "and limit_value='1.00'",
                bad_id,
            ),
            20,
            "a rejection after it",
        )
        # SIGUSR1 activates the kill switch too.
        proc.send_signal(signal.SIGUSR1)
        sig = wait_for(
            lambda: q(db, "select data_json from events where kind='kill_switch'"),
            20,
            "the SIGUSR1 kill switch",
        )
    finally:
        out, err = stop_bot(proc)
    assert proc.returncode == 0, err[-3000:]
    assert (
        "risk.limits.max_order_usd: 1000 -> 1"
        in q(db, "select message from events where id=?", ok_id)[0][0]
    )
    assert "keeping the previous values" in bad_msg
    assert "risk.limits.max_order_usd: Input should be greater than 0" in bad_msg
    assert str(cfg) in bad_msg
    # The refused edit changed nothing: every later size rejection still names the 1.00 limit.
    later = q(
        db,
        "select distinct limit_value from events where kind='risk_rejection' and id > ?"
        " and message like '%max_order_usd%'",
        bad_id,
    )
    assert later == [("1.00",)]
    assert json.loads(sig[0][0])["source"] == "signal"
