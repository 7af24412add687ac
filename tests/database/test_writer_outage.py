"""The writer under storage faults: nothing is dropped; rows are held, spooled and replayed.

Issue 12: a write failure longer than the retry budget used to drop whole batches (fills lost,
trading on, the next start refusing on a ledger error). These tests fail on that behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from database.engine import make_session_factory
from database.models import TABLES
from database.spool import SPOOL_STATE_KEY, Spool, encode_op
from database.writer import DbWriter, StoreUnavailableError
from tests.database.rows import fill_row, order_row, strategy_row


class FaultySessions:
    """A session factory that refuses every transaction while ``failing`` is set (a held lock,
    a full disk: the store answers ``OperationalError``)."""

    def __init__(self, engine: Engine) -> None:
        self.real = make_session_factory(engine)
        self.failing = False
        self.attempts = 0

    def __call__(self) -> Session:
        if self.failing:
            self.attempts += 1
            raise OperationalError("BEGIN", {}, Exception("database is locked"))
        return self.real()


def _ids(factory: sessionmaker[Session], table: str) -> list[int]:
    t = TABLES[table]
    with factory() as session:
        return [int(i) for i in session.execute(select(t.c.id).order_by(t.c.id)).scalars()]


def _count(factory: sessionmaker[Session], table: str) -> int:
    with factory() as session:
        return int(session.execute(select(func.count()).select_from(TABLES[table])).scalar_one())


def _writer(sessions: Any, tmp_path: Path, **kw: Any) -> DbWriter:
    args: dict[str, Any] = {
        "flush_interval_s": 0.02,
        "retry_backoff_s": 0.001,
        "max_retries": 1,
        "retry_interval_s": 0.02,
        "spool_path": tmp_path / "bot.db.spool",
        "rejected_path": tmp_path / "bot.db.rejected",
    }
    args.update(kw)
    return DbWriter(sessions, **args)


def _submit_orders_and_fills(w: DbWriter, first: int, n: int) -> None:
    for i in range(first, first + n):
        w.upsert("orders", order_row(i))
        w.insert("fills", fill_row(i, i))


def test_outage_longer_than_the_retries_keeps_every_row(engine: Engine, tmp_path: Path) -> None:
    sessions = FaultySessions(engine)
    w = _writer(sessions, tmp_path)
    w.start()
    try:
        w.upsert("strategies", strategy_row("mm"))
        assert w.flush(5) is True
        assert w.healthy
        sessions.failing = True
        _submit_orders_and_fills(w, 1, 20)
        assert w.flush(0.5) is False  # cannot commit now...
        assert not w.healthy and w.degraded_for_s > 0
        assert w.stats.degraded and w.stats.outages == 1
        assert w.stats.dropped_rows == 0
        _submit_orders_and_fills(w, 21, 20)  # trading side keeps submitting exits etc.
        sessions.failing = False
        assert w.flush(10) is True  # ...but nothing was dropped
        assert w.healthy and w.degraded_for_s == 0.0
        assert _ids(sessions.real, "fills") == list(range(1, 41))
        assert w.persisted_fill_id == 40
        st = w.stats
        assert (st.dropped_rows, st.unsaved_rows, st.committed_fills) == (0, 0, 40)
        assert st.replayed_rows >= 40
    finally:
        w.stop()


def test_rows_beyond_the_memory_bound_go_to_the_spool_and_come_back_in_order(
    engine: Engine, tmp_path: Path
) -> None:
    sessions = FaultySessions(engine)
    w = _writer(sessions, tmp_path, memory_rows=10, max_batch=7)
    w.start()
    try:
        w.upsert("strategies", strategy_row("mm"))
        assert w.flush(5)
        sessions.failing = True
        calls: list[int] = []
        _submit_orders_and_fills(w, 1, 30)
        w.call(lambda session: calls.append(1))  # a call is never spooled, yet runs in order
        _submit_orders_and_fills(w, 31, 30)
        assert w.flush(0.5) is False
        spool = tmp_path / "bot.db.spool"
        assert spool.exists()
        assert w.stats.spooled_rows > 0 and w.stats.held_rows <= 10
        assert w.backlog() <= 10  # spooled rows do not count against the engine's backpressure
        sessions.failing = False
        assert w.flush(10) is True
        assert _ids(sessions.real, "fills") == list(range(1, 61))
        assert calls == [1]
        assert not spool.exists()  # replayed and removed
    finally:
        w.stop()


def test_stop_during_an_outage_spools_and_the_next_start_replays(
    engine: Engine, tmp_path: Path
) -> None:
    sessions = FaultySessions(engine)
    w = _writer(sessions, tmp_path)
    w.start()
    w.upsert("strategies", strategy_row("mm"))
    assert w.flush(5)
    sessions.failing = True
    _submit_orders_and_fills(w, 1, 25)
    assert w.flush(0.3) is False
    w.stop(10)
    assert w.stats.unsaved_rows == 0
    spool = tmp_path / "bot.db.spool"
    assert spool.exists()
    assert _count(sessions.real, "fills") == 0

    # Still failing at the next start: refuse, keep the spool.
    w2 = _writer(sessions, tmp_path)
    with pytest.raises(StoreUnavailableError, match="database"):
        w2.start()
    assert spool.exists()

    sessions.failing = False
    w3 = _writer(sessions, tmp_path)
    w3.start()
    try:
        assert _ids(sessions.real, "fills") == list(range(1, 26))
        assert w3.persisted_fill_id == 25
        assert not spool.exists()
    finally:
        w3.stop()


def test_a_replay_cut_by_a_crash_resumes_exactly_once(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    spool_path = tmp_path / "bot.db.spool"
    spool = Spool(spool_path)
    ops = [(0, "strategies", strategy_row("mm"), 1, 0.0)]
    for i in range(1, 11):
        ops.append((1, "orders", order_row(i), 2 * i, 0.0))
        ops.append((0, "fills", fill_row(i, i), 2 * i + 1, 0.0))
    lines = [encode_op(op) for op in ops]
    spool.append([line for line in lines if line is not None])
    # An earlier replay committed up to seq 11 (fill 5) and then the process died.
    w0 = DbWriter(session_factory)
    w0.start()
    for op in ops[:11]:
        kind, table, row = op[0], op[1], op[2]
        (w0.insert if kind == 0 else w0.upsert)(table, row)
    w0.upsert(
        "bot_state",
        {
            "key": SPOOL_STATE_KEY,
            "value_json": json.dumps({"file": spool.file_id, "seq": 11}),
            "updated_ts": 0.0,
        },
    )
    assert w0.flush(5)
    w0.stop()
    w = DbWriter(session_factory, spool_path=spool_path)
    w.start()
    try:
        assert _ids(session_factory, "fills") == list(range(1, 11))
        assert w.stats.dropped_rows == 0  # no duplicate was even attempted
        assert not spool_path.exists()
    finally:
        w.stop()


def test_a_spool_cut_mid_line_by_kill_9_replays_its_whole_lines(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    spool_path = tmp_path / "bot.db.spool"
    spool = Spool(spool_path)
    ops = [(0, "strategies", strategy_row("mm"), 1, 0.0), (1, "orders", order_row(1), 2, 0.0)]
    spool.append([line for line in map(encode_op, ops) if line is not None])
    with spool_path.open("a") as f:
        f.write('{"s": 3, "k": 0, "t": "fills", "p": {"id": 1')  # no newline: cut by a crash
    w = DbWriter(session_factory, spool_path=spool_path)
    w.start()
    try:
        assert _ids(session_factory, "orders") == [1]
        assert not spool_path.exists()
    finally:
        w.stop()


def test_unwritable_spool_keeps_rows_in_memory_and_the_engine_feels_backpressure(
    engine: Engine, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    sessions = FaultySessions(engine)
    w = _writer(sessions, tmp_path, memory_rows=5, spool_path=blocker / "bot.db.spool")
    w.start()
    try:
        w.upsert("strategies", strategy_row("mm"))
        assert w.flush(5)
        sessions.failing = True
        _submit_orders_and_fills(w, 1, 20)
        assert w.flush(0.3) is False
        assert w.backlog() == 40  # still in memory: the engine's backpressure sees them
        sessions.failing = False
        assert w.flush(10) is True
        assert _ids(sessions.real, "fills") == list(range(1, 21))
    finally:
        w.stop()


def test_bad_row_is_rejected_into_the_dead_letter_file(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    w = _writer(session_factory, tmp_path)
    w.start()
    try:
        w.upsert("strategies", strategy_row("mm"))
        w.upsert("orders", order_row(1))
        w.insert("fills", fill_row(1, 1))
        w.insert("fills", fill_row(1, 1))  # duplicate primary key: bad data
        w.insert("fills", fill_row(2, 1))
        assert w.flush(5) is False
        assert _ids(session_factory, "fills") == [1, 2]
        rejected = [json.loads(x) for x in (tmp_path / "bot.db.rejected").read_text().splitlines()]
        assert [(r["t"], r["p"]["id"]) for r in rejected] == [("fills", 1)]
        assert "unique" in rejected[0]["error"].lower()  # SQLite and PostgreSQL wording
    finally:
        w.stop()


def test_a_long_outage_is_reported_while_it_lasts(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator reading the log sees the outage is still on, why, and what is held."""
    sessions = FaultySessions(engine)
    w = _writer(sessions, tmp_path)
    w.start()
    try:
        w.upsert("strategies", strategy_row("mm"))
        assert w.flush(5) is True
        sessions.failing = True
        _submit_orders_and_fills(w, 1, 5)
        assert w.flush(1.0) is False
        still = [r.getMessage() for r in caplog.records if "still not writable" in r.getMessage()]
        assert still and "database is locked" in still[0] and "row(s) held" in still[0]
        sessions.failing = False
        assert w.flush(10) is True
        assert _ids(sessions.real, "fills") == list(range(1, 6))
    finally:
        w.stop()
