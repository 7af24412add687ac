"""``bot.py db backup`` while the bot writes, ``db restore`` (refused while it runs), retention."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.models import ControlCommandRow, EventRow, FillRow, OrderRow, StrategyRow
from services.ops.retention import prune
from tests.conftest import ROOT, query, run_bot, wait_for
from utils.ops_config import RetentionConfig

DAY = 86_400.0


@pytest.mark.e2e
def test_backup_while_the_bot_writes_then_restore(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "--db", str(db), "--speed", "50",
         "--duration", "3600", "--seed", "3", "--quiet", "--no-dashboard"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT),
    )  # fmt: skip
    try:
        wait_for(lambda: query(db, "select count(*) from fills")[0][0] > 0, 90, "first fills")
        b1 = tmp_path / "backups" / "one.db"
        r = run_bot("db", "backup", str(b1), "--db", str(db), timeout=60)
        assert r.returncode == 0, r.stderr
        assert "integrity ok" in r.stdout
        r = run_bot("db", "restore", str(b1), "--db", str(db), timeout=60)
        assert r.returncode == 3 and "The bot is running" in r.stderr  # never under a live bot
        r = run_bot("db", "backup", str(b1), "--db", str(db), timeout=60)
        assert r.returncode == 2 and "--force" in r.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    con = sqlite3.connect(b1)
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    fills_in_backup = con.execute("select count(*) from fills").fetchone()[0]
    ledger = con.execute("select id, order_id, price, size, fee from fills order by id").fetchall()
    con.close()
    assert fills_in_backup > 0
    assert query(db, "select count(*) from fills")[0][0] >= fills_in_backup
    # Every fill in the backup is exactly the bot's (a consistent snapshot, not a torn copy).
    live = query(db, "select id, order_id, price, size, fee from fills order by id")
    assert live[: len(ledger)] == ledger
    r = run_bot("db", "restore", str(b1), "--db", str(db), timeout=60)
    assert r.returncode == 0, r.stderr
    assert query(db, "select count(*) from fills")[0][0] == fills_in_backup
    aside = list(tmp_path.glob("bot.db.before-restore-*"))
    assert len(aside) == 1 and sqlite3.connect(aside[0]).execute(
        "select count(*) from fills"
    ).fetchone()[0] == len(live)


def test_restore_refuses_a_damaged_backup_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    migrate(db_url_from_path(db))
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100 + b"garbage" * 500)
    before = db.read_bytes()
    r = run_bot("db", "restore", str(bad), "--db", str(db), timeout=60)
    assert r.returncode == 1 and "nothing was changed" in r.stderr
    assert db.read_bytes() == before


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "bot: {db_url: 'postgresql+psycopg://u:secret@127.0.0.1:1/x'}\n", encoding="utf-8"
    )
    r = run_bot("db", "backup", str(tmp_path / "b.db"), "--config", str(cfg), timeout=60)
    assert r.returncode == 2 and "pg_dump" in r.stderr and "secret" not in r.stderr


@pytest.fixture()
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = db_url_from_path(tmp_path / "r.db")
    migrate(url)
    return make_session_factory(make_engine(url))


def _seed(s: Session, now: float) -> None:
    s.add(
        StrategyRow(
            name="s", class_path="x.Y", kind="k", starting_capital=1, created_ts=0, updated_ts=0
        )
    )
    s.flush()
    for i, (status, filled, age_days) in enumerate(
        [("rejected", 0, 40), ("rejected", 0, 1), ("filled", 5, 40), ("rejected", 0, 40)]
    ):
        ts = now - age_days * DAY
        s.add(OrderRow(id=i + 1, strategy="s", instrument_id="Y", side="BUY", order_type="limit",
                       tif="GTC", price=1, size=5, filled=filled, status=status, created_ts=ts,
                       updated_ts=ts))  # fmt: skip
    s.flush()
    s.add(FillRow(id=1, order_id=3, strategy="s", instrument_id="Y", side="BUY", price=1, size=5,
                  fee=0, liquidity="maker", ts=now - 40 * DAY))  # fmt: skip
    for sev, age in [("info", 40), ("warning", 40), ("critical", 40), ("info", 1)]:
        s.add(EventRow(ts=now - age * DAY, kind="k", severity=sev, message="m"))
    for status, age in [("applied", 40), ("pending", 40), ("failed", 1)]:
        s.add(ControlCommandRow(created_ts=now - age * DAY, command="c", args_json="{}",
                                source="t", status=status))  # fmt: skip


def test_retention_deletes_old_audit_rows_and_never_the_ledger(
    sessions: sessionmaker[Session],
) -> None:
    now = 2_000_000_000.0
    with sessions.begin() as s:
        _seed(s, now)
    cfg = RetentionConfig(events_days=30, rejected_orders_days=30, commands_days=30)
    with sessions.begin() as s:
        out = prune(s, cfg, now)
    assert out == {"events": 2, "orders": 2, "control_commands": 1}
    with sessions() as s:
        assert sorted(s.scalars(select(OrderRow.id))) == [2, 3]  # recent reject, the filled order
        assert s.query(FillRow).count() == 1
        assert sorted(e.severity for e in s.query(EventRow)) == ["critical", "info"]
        assert sorted(c.status for c in s.query(ControlCommandRow)) == ["failed", "pending"]
    with sessions.begin() as s:
        assert prune(s, RetentionConfig(), now) == {}  # nothing configured: nothing deleted
