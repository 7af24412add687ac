"""The batched single writer: round trips, ordering, errors, concurrency, crash recovery."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from database import queries
from database.engine import db_url_from_path, make_engine, make_session_factory
from database.models import TABLES, ControlCommandRow, OrderRow
from database.writer import DbWriter
from tests.database.conftest import sqlite_only
from tests.database.rows import fill_row, order_row, position_row, strategy_row

REPO_ROOT = Path(__file__).resolve().parents[2]


def _count(factory: sessionmaker[Session], table: str) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(TABLES[table])).scalar_one())


def _all(factory: sessionmaker[Session], table: str) -> list[dict[str, Any]]:
    t = TABLES[table]
    pk = list(t.primary_key.columns)
    with factory() as session:
        return [dict(r) for r in session.execute(select(t).order_by(*pk)).mappings()]


def test_round_trip_insert_upsert_delete(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    writer.upsert("strategies", strategy_row("mm"))
    writer.upsert("orders", order_row(1))
    writer.insert("fills", fill_row(1, 1))
    writer.insert("fills", fill_row(2, 1, size=2_000_000))
    writer.upsert("positions", position_row("mm", "tok-yes", 3_000_000))
    writer.upsert("positions", position_row("mm", "tok-no", 5_000_000))
    writer.delete("positions", {"strategy": "mm", "instrument_id": "tok-no"})
    assert writer.flush()

    fills = _all(session_factory, "fills")
    assert [(f["id"], f["order_id"], f["size"]) for f in fills] == [
        (1, 1, 1_000_000),
        (2, 1, 2_000_000),
    ]
    positions = _all(session_factory, "positions")
    assert [(p["instrument_id"], p["qty"]) for p in positions] == [("tok-yes", 3_000_000)]
    orders = _all(session_factory, "orders")
    assert orders[0]["post_only"] is False and orders[0]["price"] == 530_000
    strategies = _all(session_factory, "strategies")
    # Server defaults fill what the row did not name.
    assert (strategies[0]["stage"], strategies[0]["status"], strategies[0]["error_count"]) == (
        "paper",
        "active",
        0,
    )
    assert writer.stats.rows_written == 7
    assert writer.stats.dropped_rows == 0


def test_interleaved_orders_and_fills_respect_foreign_keys(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    # The engine's natural order: an order, its fills, an order update, the next order...
    writer.upsert("strategies", strategy_row("mm"))
    fill_id = 0
    for order_id in range(1, 51):
        writer.upsert("orders", order_row(order_id))
        for _ in range(3):
            fill_id += 1
            writer.insert("fills", fill_row(fill_id, order_id))
        writer.upsert("orders", order_row(order_id, filled=3_000_000, status="partially_filled"))
    assert writer.flush()
    assert writer.stats.dropped_rows == 0
    assert _count(session_factory, "orders") == 50
    assert _count(session_factory, "fills") == 150
    statuses = {o["status"] for o in _all(session_factory, "orders")}
    assert statuses == {"partially_filled"}
    assert writer.persisted_fill_id == 150


def test_fill_before_its_order_in_submission_still_lands(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    # Even submitted child-first, parents are written first within a batch.
    writer.insert("fills", fill_row(1, 7))
    writer.upsert("orders", order_row(7))
    writer.upsert("strategies", strategy_row("mm"))
    assert writer.flush()
    assert _count(session_factory, "fills") == 1


def test_update_changes_only_named_columns(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    writer.upsert("strategies", strategy_row("mm", status_reason=None))
    assert writer.flush()
    writer.update(
        "strategies",
        {
            "name": "mm",
            "status": "paused",
            "status_reason": "drawdown 12% > 10%",
            "updated_ts": 9.0,
        },
    )
    assert writer.flush()
    (row,) = _all(session_factory, "strategies")
    assert row["status"] == "paused"
    assert row["status_reason"] == "drawdown 12% > 10%"
    assert row["updated_ts"] == 9.0
    assert row["starting_capital"] == 1_000_000_000  # untouched by the partial update
    assert row["class_path"] == "services.strategies.mm.MarketMaker"


def test_partial_upsert_updates_existing_row(
    writer: DbWriter, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    # The engine's status change: a strategies row without class_path, kind, capital...
    writer.upsert("strategies", strategy_row("mm"))
    assert writer.flush()
    partial = {"name": "mm", "status": "disabled", "status_reason": "5 errors", "updated_ts": 7.0}
    writer.upsert("strategies", partial)
    with caplog.at_level(logging.WARNING, logger="database.batching"):
        writer.upsert("strategies", {**partial, "name": "ghost"})  # no such row
        assert writer.flush()
    (row,) = _all(session_factory, "strategies")
    assert (row["name"], row["status"], row["status_reason"], row["updated_ts"]) == (
        "mm",
        "disabled",
        "5 errors",
        7.0,
    )
    assert row["kind"] == "market_making"
    stats = writer.stats
    assert (stats.dropped_rows, stats.missed_updates) == (0, 1)
    assert any("found no existing row" in r.getMessage() for r in caplog.records)


def test_partial_upsert_after_full_upsert_in_one_batch(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    writer.upsert("strategies", strategy_row("mm"))
    writer.upsert("strategies", {"name": "mm", "status": "paused", "updated_ts": 3.0})
    assert writer.flush()
    (row,) = _all(session_factory, "strategies")
    assert (row["status"], row["updated_ts"], row["created_ts"]) == ("paused", 3.0, 1.0)
    assert writer.stats.missed_updates == 0


def test_upsert_replaces_an_existing_row(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    writer.upsert("strategies", strategy_row("mm"))
    writer.upsert("orders", order_row(1))
    assert writer.flush()
    writer.upsert("orders", order_row(1, filled=10_000_000, avg_price=529_000, status="filled"))
    writer.update("orders", {"id": 99, "status": "cancelled"})  # absent: no-op, no error
    assert writer.flush()
    assert writer.stats.missed_updates == 1
    (row,) = _all(session_factory, "orders")
    assert (row["filled"], row["avg_price"], row["status"]) == (10_000_000, 529_000, "filled")
    assert row["created_ts"] == 11.0


def test_repeated_upserts_in_one_batch_keep_the_last(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    for qty in range(1, 101):
        writer.upsert("market_tops", {"instrument_id": "tok", "mid": qty, "updated_ts": float(qty)})
        writer.upsert("market_tops", {"instrument_id": "other", "best_bid": qty, "updated_ts": 1.0})
    writer.upsert("market_tops", {"instrument_id": "tok", "best_ask": 77, "updated_ts": 200.0})
    assert writer.flush()
    rows = {r["instrument_id"]: r for r in _all(session_factory, "market_tops")}
    assert (rows["tok"]["mid"], rows["tok"]["best_ask"], rows["tok"]["updated_ts"]) == (
        100,
        77,
        200.0,
    )
    assert rows["other"]["best_bid"] == 100


def test_delete_then_reinsert_in_one_batch(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    key = {"strategy": "mm", "instrument_id": "tok"}
    writer.upsert("positions", position_row("mm", "tok", 1_000_000))
    writer.delete("positions", key)
    writer.upsert("positions", position_row("mm", "tok", 4_000_000))
    writer.upsert("positions", position_row("mm", "gone", 1_000_000))
    writer.delete("positions", {"strategy": "mm", "instrument_id": "gone"})
    assert writer.flush()
    rows = _all(session_factory, "positions")
    assert [(r["instrument_id"], r["qty"]) for r in rows] == [("tok", 4_000_000)]


def test_call_runs_in_order_with_queued_rows(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    seen: list[int] = []

    def count_fills(session: Session) -> None:
        seen.append(
            int(session.execute(select(func.count()).select_from(TABLES["fills"])).scalar_one())
        )

    def add_order_via_orm(session: Session) -> None:
        session.add(OrderRow(**order_row(2, status="open")))

    writer.upsert("strategies", strategy_row("mm"))
    writer.upsert("orders", order_row(1))
    writer.insert("fills", fill_row(1, 1))
    writer.call(count_fills)
    writer.call(add_order_via_orm)
    writer.insert("fills", fill_row(2, 2))  # needs the ORM-added order: flushed in between
    writer.call(count_fills)
    assert writer.flush()
    assert seen == [1, 2]
    assert _count(session_factory, "fills") == 2


def test_call_marks_a_control_command_applied(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        cid = queries.submit_command(
            session, "pause", {"strategy": "mm"}, source="dashboard", created_ts=1.0
        )
    writer.call(
        lambda s: queries.finish_command(s, cid, ok=True, result="paused mm", applied_ts=2.0)
    )
    assert writer.flush()
    with session_factory() as session:
        row = session.get(ControlCommandRow, cid)
        assert row is not None
        assert (row.status, row.result, row.applied_ts) == ("applied", "paused mm", 2.0)


def test_bad_row_is_isolated_counted_and_reported(
    session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[BaseException] = []
    w = DbWriter(session_factory, flush_interval_s=0.05, on_error=errors.append)
    w.start()
    try:
        w.upsert("strategies", strategy_row("mm"))
        w.upsert("orders", order_row(1))
        w.insert("fills", fill_row(1, 1))
        w.insert("fills", fill_row(2, 999))  # no such order: foreign key violation
        w.insert("fills", fill_row(3, 1))
        with caplog.at_level(logging.ERROR, logger="database.writer"):
            assert w.flush() is False
        assert [f["id"] for f in _all(session_factory, "fills")] == [1, 3]
        assert w.stats.dropped_rows == 1
        assert len(errors) == 1
        assert "foreign key" in str(errors[0]).lower()  # SQLite and PostgreSQL wording
        assert any("key={'id': 2}" in r.getMessage() for r in caplog.records)
        # The writer keeps running and the next flush is clean again.
        w.insert("fills", fill_row(4, 1))
        assert w.flush() is True
        assert w.persisted_fill_id == 4
    finally:
        w.stop()


def test_transient_error_is_retried(session_factory: sessionmaker[Session]) -> None:
    attempts: list[int] = []

    def flaky(session: Session) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("INSERT", {}, Exception("database is locked"))

    w = DbWriter(session_factory, flush_interval_s=0.05, retry_backoff_s=0.001, max_retries=3)
    w.start()
    try:
        w.upsert("strategies", strategy_row("mm"))
        w.call(flaky)
        assert w.flush() is True
        assert len(attempts) == 3
        assert (w.stats.retries, w.stats.errors, w.stats.dropped_rows) == (2, 2, 0)
        assert _count(session_factory, "strategies") == 1
    finally:
        w.stop()


def test_writer_waits_for_a_lock_held_by_another_writer(
    writer: DbWriter, engine: Any, session_factory: sessionmaker[Session]
) -> None:
    sqlite_only(engine.url)
    # The dashboard writes control commands: its short write lock must not lose our rows.
    conn = engine.raw_connection()
    try:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.execute(
            "INSERT INTO control_commands (created_ts, command, args_json, source, status) "
            "VALUES (1.0, 'kill_switch', '{}', 'dashboard', 'pending')"
        )
        writer.upsert("strategies", strategy_row("mm"))
        release = threading.Timer(0.3, conn.commit)
        release.start()
        assert writer.flush(timeout=10.0) is True
        release.join()
    finally:
        conn.close()
    assert writer.stats.dropped_rows == 0
    assert _count(session_factory, "strategies") == 1
    assert _count(session_factory, "control_commands") == 1


def test_batches_are_bounded_by_max_batch(session_factory: sessionmaker[Session]) -> None:
    w = DbWriter(session_factory, flush_interval_s=5.0, max_batch=10)
    for i in range(35):
        w.upsert("bot_state", {"key": f"k{i}", "value_json": str(i), "updated_ts": 1.0})
    w.start()  # everything is already queued: batches fill up without waiting
    try:
        assert w.flush(timeout=10.0) is True
        stats = w.stats
        assert stats.max_batch_size == 10
        assert stats.batches == 4
        assert stats.rows_written == 35
        assert _count(session_factory, "bot_state") == 35
    finally:
        w.stop()


def test_flush_interval_commits_without_flush(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    writer.upsert("bot_state", {"key": "heartbeat", "value_json": "1", "updated_ts": 1.0})
    done = threading.Event()
    for _ in range(200):  # up to 2 s; the writer's interval is 0.02 s
        if _count(session_factory, "bot_state") == 1:
            done.set()
            break
        done.wait(0.01)
    assert done.is_set()


def test_submission_is_validated(writer: DbWriter) -> None:
    with pytest.raises(ValueError, match="unknown table"):
        writer.insert("nope", {"a": 1})
    with pytest.raises(ValueError, match="unknown column"):
        writer.insert("fills", {"id": 1, "colour": "red"})
    with pytest.raises(ValueError, match="missing key"):
        writer.upsert("positions", {"strategy": "mm", "qty": 1})
    with pytest.raises(ValueError, match="sets no column"):
        writer.update("positions", {"strategy": "mm", "instrument_id": "t"})
    with pytest.raises(ValueError, match="exactly the key"):
        writer.delete("positions", {"strategy": "mm"})


def test_rows_are_copied_on_submission(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    row = {"key": "k", "value_json": "1", "updated_ts": 1.0}
    writer.upsert("bot_state", row)
    row["value_json"] = "2"  # the caller reuses its dict
    assert writer.flush()
    assert _all(session_factory, "bot_state")[0]["value_json"] == "1"


def test_stop_commits_queued_rows_and_rejects_later_ones(
    session_factory: sessionmaker[Session],
) -> None:
    w = DbWriter(session_factory, flush_interval_s=10.0)
    w.start()
    for i in range(100):
        w.upsert("bot_state", {"key": f"k{i}", "value_json": "0", "updated_ts": 1.0})
    w.stop()
    assert not w.is_alive
    assert _count(session_factory, "bot_state") == 100
    with pytest.raises(RuntimeError):
        w.insert("events", {"ts": 1.0, "kind": "x", "message": "late"})
    assert w.flush() is False


def test_persisted_fill_id_starts_from_the_database(
    writer: DbWriter, session_factory: sessionmaker[Session]
) -> None:
    writer.upsert("strategies", strategy_row("mm"))
    writer.upsert("orders", order_row(1))
    for fid in (5, 3, 9):
        writer.insert("fills", fill_row(fid, 1))
    assert writer.flush()
    assert writer.persisted_fill_id == 9
    second = DbWriter(session_factory)
    assert second.persisted_fill_id == 0
    second.start()
    try:
        assert second.persisted_fill_id == 9
    finally:
        second.stop()


def test_reader_reads_while_writer_writes(
    writer: DbWriter, session_factory: sessionmaker[Session], db_url: str
) -> None:
    # The dashboard's pattern: another engine, short read sessions, while batches commit (WAL).
    reader_engine = make_engine(db_url)
    reader = make_session_factory(reader_engine)
    counts: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read_loop() -> None:
        while not stop.is_set():
            try:
                with reader() as session:
                    counts.append(
                        int(session.execute(text("SELECT count(*) FROM fills")).scalar_one())
                    )
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                failures.append(exc)
                return

    def wait_for_reads(more: int) -> None:
        target = len(counts) + more
        waited = threading.Event()
        for _ in range(500):  # up to 5 s
            if len(counts) >= target or failures:
                return
            waited.wait(0.01)

    thread = threading.Thread(target=read_loop, name="test-reader")
    thread.start()
    try:
        writer.upsert("strategies", strategy_row("mm"))
        writer.upsert("orders", order_row(1))
        for fid in range(1, 3001):
            writer.insert("fills", fill_row(fid, 1))
            if fid % 500 == 0:
                assert writer.flush()
                wait_for_reads(2)  # make sure reads interleave with the batches
    finally:
        stop.set()
        thread.join(5.0)
        reader_engine.dispose()
    assert failures == []
    assert counts == sorted(counts)  # committed batches only ever add rows
    assert any(0 < c < 3000 for c in counts)  # reads happened while writing went on
    assert counts[-1] == 3000
    assert _count(session_factory, "fills") == 3000


def test_open_read_snapshot_does_not_block_the_writer(
    writer: DbWriter, session_factory: sessionmaker[Session], db_url: str
) -> None:
    sqlite_only(db_url)
    # WAL: a reader holding a read transaction neither blocks commits nor sees them mid-read.
    writer.upsert("bot_state", {"key": "a", "value_json": "1", "updated_ts": 1.0})
    assert writer.flush()
    reader_engine = make_engine(db_url)
    raw = reader_engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        cur.execute("SELECT count(*) FROM bot_state")
        assert cur.fetchone() == (1,)
        writer.upsert("bot_state", {"key": "b", "value_json": "2", "updated_ts": 1.0})
        assert writer.flush(timeout=3.0) is True  # would wait on the reader without WAL
        cur.execute("SELECT count(*) FROM bot_state")
        assert cur.fetchone() == (1,)  # still the snapshot
        raw.rollback()
        cur.execute("SELECT count(*) FROM bot_state")
        assert cur.fetchone() == (2,)
    finally:
        raw.close()
        reader_engine.dispose()
    assert writer.stats.dropped_rows == 0


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from database.engine import make_engine, make_session_factory
    from database.writer import DbWriter

    url, batches = sys.argv[1], int(sys.argv[2])
    w = DbWriter(make_session_factory(make_engine(url)), flush_interval_s=5.0)
    w.start()
    w.upsert("strategies", {"name": "mm", "class_path": "x", "kind": "market_making",
                            "starting_capital": 1, "created_ts": 0.0, "updated_ts": 0.0})
    fid = 0
    for b in range(batches):
        w.upsert("orders", {"id": b + 1, "strategy": "mm", "instrument_id": "t", "side": "BUY",
                            "order_type": "limit", "tif": "GTC", "post_only": False,
                            "price": 500000, "size": 1000000, "status": "open",
                            "created_ts": 1.0, "updated_ts": 1.0})
        for _ in range(100):
            fid += 1
            w.insert("fills", {"id": fid, "order_id": b + 1, "strategy": "mm",
                               "instrument_id": "t", "side": "BUY", "price": 500000,
                               "size": 10000, "fee": 0, "liquidity": "maker", "ts": float(fid)})
        assert w.flush(30.0)
    print(w.persisted_fill_id, flush=True)
    # Queue more that will never be committed, then die without stop() or cleanup.
    for k in range(1, 1001):
        w.insert("fills", {"id": fid + k, "order_id": 1, "strategy": "mm", "instrument_id": "t",
                           "side": "BUY", "price": 1, "size": 1, "fee": 0,
                           "liquidity": "taker", "ts": 0.0})
    os._exit(0)
    """
)


def test_crash_keeps_every_committed_batch(db_path: Path) -> None:
    url = db_url_from_path(db_path)
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, url, "5"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == 500

    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        with factory() as session:
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            fills = queries.load_fills(session)
            committed_max = queries.max_ids(session)["fills"]
        assert [f["id"] for f in fills] == list(range(1, 501))
        assert _count(factory, "orders") == 5
        w = DbWriter(factory)
        w.start()
        try:
            assert committed_max == 500  # nothing after the last flush was committed
            assert w.persisted_fill_id == committed_max
        finally:
            w.stop()
    finally:
        engine.dispose()


def test_chunked_submissions_keep_their_order_across_batches(
    session_factory: sessionmaker[Session],
) -> None:
    """Submissions reach the thread in chunks; a chunk split by max_batch keeps the order."""
    w = DbWriter(session_factory, flush_interval_s=0.05, max_batch=300)
    w.start()
    try:
        for i in range(2_000):  # 7 chunks of 256 and a rest; batches of 300 split them
            w.upsert("bot_state", {"key": f"k{i % 7}", "value_json": str(i), "updated_ts": 1.0})
            w.insert("events", {"ts": float(i), "kind": "k", "severity": "info", "message": str(i)})
        assert w.backlog() > 0 or w.stats.rows_written > 0
        assert w.flush(timeout=20.0) is True
        stats = w.stats
        assert stats.max_batch_size <= 300
        assert stats.rows_written == 4_000
        values = {r["key"]: r["value_json"] for r in _all(session_factory, "bot_state")}
        assert values == {
            f"k{k}": str(max(i for i in range(2_000) if i % 7 == k)) for k in range(7)
        }
        with session_factory() as s:
            ids = [int(m) for (m,) in s.execute(text("SELECT message FROM events ORDER BY id"))]
        assert ids == list(range(2_000))
    finally:
        w.stop()


def test_submissions_below_a_chunk_are_counted_and_committed(
    session_factory: sessionmaker[Session],
) -> None:
    w = DbWriter(session_factory, flush_interval_s=0.02)
    for i in range(5):  # below a chunk, thread not started: waiting in the submitter's list
        w.upsert("bot_state", {"key": f"k{i}", "value_json": "1", "updated_ts": 1.0})
    assert w.backlog() == 5
    assert w.stats.queue_depth == 5
    w.start()
    try:
        done = threading.Event()
        for _ in range(300):  # no flush: the idle thread takes them within its interval
            if _count(session_factory, "bot_state") == 5:
                done.set()
                break
            done.wait(0.01)
        assert done.is_set()
        assert w.backlog() == 0
    finally:
        w.stop()


def test_validation_is_not_skipped_by_an_earlier_valid_row(writer: DbWriter) -> None:
    writer.upsert("bot_state", {"key": "a", "value_json": "1", "updated_ts": 1.0})
    with pytest.raises(ValueError, match="unknown column"):
        writer.upsert("bot_state", {"key": "a", "value_json": "1", "colour": 1.0})
    for _ in range(2):  # a refused column set is refused every time
        with pytest.raises(ValueError, match="missing key"):
            writer.upsert("bot_state", {"value_json": "1", "updated_ts": 1.0})
    # The same columns valid for an insert (no key needed) are still checked for an upsert.
    event = {"ts": 1.0, "kind": "k", "severity": "info", "message": "m"}
    writer.insert("events", event)
    with pytest.raises(ValueError, match="missing key"):
        writer.upsert("events", event)
    assert writer.flush() is True
