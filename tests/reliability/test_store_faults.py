"""Storage faults injected into a running bot: held lock, full disk, unwritable/corrupt files.

Each defect of issue 12 first: a lock held past the retry budget dropped rows while trading went
on, the run was recorded clean and the next start failed on a ledger error; a full disk lost
fills the same way; an unwritable database let the bot start and trade with every write failing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from database.engine import db_url_from_path, migrate
from tests.conftest import query as q
from tests.reliability.harness import (
    Bot,
    HeldLock,
    assert_nothing_lost,
    lift_file_size_limit,
    limit_file_size,
    restart_and_check,
    run_bot,
    without_root_file_override,
    write_config,
)

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]


def _run_record(db: Path) -> dict[str, object]:
    return json.loads(q(db, "select value_json from bot_state where key='run'")[0][0])


def test_lock_past_the_retries_holds_rows_stops_new_positions_and_recovers(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path, store_outage_max_s=60)
    bot = Bot(db, cfg)
    try:
        bot.wait_for_fills(20)
        lock = HeldLock(db, 30)
        try:
            bot.wait_for_log("no new positions until it is back", timeout=30)
            time.sleep(2.0)  # an outage of a few seconds, trading side running
        finally:
            lock.release()
        bot.wait_for_log("writable again", timeout=90)
        bot.wait_for_fills(q(db, "select count(*) from fills")[0][0] + 5)
        bot.signal(signal.SIGINT)
        assert bot.wait() == 0, bot.stderr[-3000:]
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
    assert "dropped" not in bot.stderr
    print("\nfault run:", bot.final_line())
    assert _run_record(db)["clean"] is True
    kinds = [k for (k,) in q(db, "select kind from events where kind like 'store_%' order by id")]
    assert kinds[:2] == ["store_degraded", "store_recovered"]
    assert q(db, "select value_json from bot_state where key='store_health'")
    blocked = q(
        db,
        "select count(*) from events where kind='risk_rejection' "
        "and message like '%database cannot be written%no new positions%'",
    )[0][0]
    assert blocked > 0  # the store gate refused entries during the outage
    assert_nothing_lost(db, bot.engine_fill_id())
    restart_and_check(db, cfg, bot.engine_fill_id())


def test_lock_past_the_outage_limit_exits_3_and_the_next_start_replays_the_spool(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path, store_outage_max_s=1.5)
    bot = Bot(db, cfg)
    lock: HeldLock | None = None
    try:
        bot.wait_for_fills(20)
        lock = HeldLock(db, 60)
        rc = bot.wait(60)  # the lock outlives the bot: the rows must go to the spool
    finally:
        if lock is not None:
            lock.release()
    assert rc == 3, bot.stderr[-3000:]
    assert "Database error: The database could not be written" in bot.stderr
    assert "start the bot again" in bot.stderr
    spool = Path(str(db) + ".spool")
    assert spool.exists() and spool.stat().st_size > 0
    engine_fill_id = bot.engine_fill_id()
    assert "dropped" not in bot.stderr
    print("\nfault run:", bot.final_line())
    assert _run_record(db).get("clean") is not True  # never recorded clean
    spooled_stop = [line for line in spool.read_text().splitlines() if '"key": "run"' in line]
    assert spooled_stop and '\\"clean\\": false' in spooled_stop[-1]
    restarted = restart_and_check(db, cfg, engine_fill_id)
    assert "was replayed" in restarted.stderr


def test_full_disk_keeps_every_fill_and_the_bot_waits_until_it_can_save_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    # The spool must fill before the bot stops (store_outage_max_s of wall time after the first
    # failed write): 3 s, not 1, so a loaded machine (or the simulator's child process waiting
    # for a core) still makes enough rows in it; with 1 s the database was sometimes writable
    # again (its WAL reset) before the spool was full.
    cfg = write_config(tmp_path, store_outage_max_s=3.0, writer_memory_rows=100)
    first = run_bot(db, cfg, "--duration", "15")
    assert first.proc.returncode == 0, first.stderr[-3000:]
    size = db.stat().st_size + 96 * 1024  # the database (or its WAL) fills up soon
    bot = Bot(db, cfg, preexec_fn=limit_file_size(size))
    try:
        bot.wait_for_log("The database cannot be written", timeout=60)
        bot.wait_for_log("could not be written for", timeout=60)  # past store_outage_max_s
        # The spool (same limit) fills too: the bot keeps the rows and says so instead of exiting.
        bot.wait_for_log("exist only in memory", timeout=120)  # a busy machine slows the bot
        assert bot.proc.poll() is None
        lift_file_size_limit(bot.proc.pid)  # the operator frees disk space
        rc = bot.wait(60)
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
    assert rc == 3, bot.stderr[-3000:]
    assert "could not be saved anywhere" not in bot.stderr
    print("\nfault run:", bot.final_line())
    assert "disk is full" in bot.stderr or "File too large" in bot.stderr
    restart_and_check(db, cfg, bot.engine_fill_id())


def test_start_on_a_read_only_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path)
    migrate(db_url_from_path(db))
    fills = q(db, "select count(*) from fills")[0][0]
    os.chmod(db, 0o444)
    try:
        bot = Bot(db, cfg, "--duration", "10", preexec_fn=without_root_file_override)
        rc = bot.wait(60)
    finally:
        os.chmod(db, 0o644)
    assert rc == 2, bot.stderr[-3000:]
    assert "cannot be written" in bot.stderr and "permissions" in bot.stderr
    assert "Traceback" not in bot.stderr
    assert q(db, "select count(*) from fills")[0][0] == fills
    restart_and_check(db, cfg, None)


def test_start_while_another_process_holds_the_lock_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path)
    migrate(db_url_from_path(db))
    lock = HeldLock(db, 60)
    try:
        bot = run_bot(db, cfg, "--duration", "5")
    finally:
        lock.release()
    assert bot.proc.returncode == 2, bot.stderr[-3000:]
    assert "locked by another process" in bot.stderr
    assert "Traceback" not in bot.stderr


@pytest.mark.parametrize("kind", ["directory", "not_a_database", "corrupt"])
def test_start_on_a_bad_database_file_exits_2_with_a_reason(tmp_path: Path, kind: str) -> None:
    cfg = write_config(tmp_path)
    db = tmp_path / "bot.db"
    if kind == "directory":
        db.mkdir()
        expect = "is a directory"
    elif kind == "not_a_database":
        db.write_text("strategies:\n  - name: x\n")
        expect = "not a SQLite database"
    else:
        migrate(db_url_from_path(db))
        con = sqlite3.connect(db)
        con.execute("create table filler (x blob)")  # pages to smash
        con.executemany("insert into filler values (?)", [(b"x" * 3000,) for _ in range(40)])
        con.commit()
        con.execute("pragma wal_checkpoint(TRUNCATE)")
        con.close()
        data = bytearray(db.read_bytes())
        page = 4096
        for i in range(page * 2, len(data), page):  # keep the header page, smash the others
            data[i : i + 64] = b"\xa5" * 64
        db.write_bytes(bytes(data))
        expect = "corrupt"
    for args in (["--duration", "5"], ["control", "status"]):
        bot = run_bot(db, cfg, *args) if args[0] != "control" else _control(db, *args[1:])
        rc, err = (bot.proc.returncode, bot.stderr) if isinstance(bot, Bot) else bot
        assert rc == 2, (args, err[-3000:])
        assert expect in err, (args, err[-2000:])
        assert "Traceback" not in err


def _control(db: Path, *args: str) -> tuple[int, str]:
    import subprocess
    import sys

    from tests.conftest import ROOT

    p = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "control", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )
    return p.returncode, p.stderr + p.stdout


def test_a_spool_left_by_kill_9_during_an_outage_is_replayed(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path, store_outage_max_s=60, writer_memory_rows=100)
    bot = Bot(db, cfg)
    lock: HeldLock | None = None
    try:
        bot.wait_for_fills(20)
        lock = HeldLock(db, 60)
        bot.wait_for_log("no new positions until it is back", timeout=30)
        spool = Path(str(db) + ".spool")
        from tests.conftest import wait_for

        wait_for(lambda: spool.exists() and spool.stat().st_size > 20_000, 30, "a spool")
        bot.signal(signal.SIGKILL)
        bot.wait(30)
    finally:
        if lock is not None:
            lock.release()
    kept = shutil.copyfile(spool, tmp_path / "spool.copy")
    assert Path(kept).stat().st_size > 0
    restarted = restart_and_check(db, cfg, None)
    assert "was replayed" in restarted.stderr
