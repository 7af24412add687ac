"""Batch planning (pure) and a property test of the writer against a dictionary model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from database.batching import CALL, DELETE, INSERT, UPDATE, UPSERT, Op, max_fill_id, plan
from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.models import TABLES
from database.writer import DbWriter
from tests.database.rows import fill_row, order_row, position_row, strategy_row


def _op(kind: int, table: str, payload: Any, seq: int = 0) -> Op:
    return (kind, table, payload, seq, 0.0)


def _noop(session: Session) -> None:
    return None


def test_plan_puts_parents_first_and_groups_rows() -> None:
    ops = [
        _op(INSERT, "fills", fill_row(1, 1)),
        _op(UPSERT, "orders", order_row(1)),
        _op(INSERT, "fills", fill_row(2, 1)),
        _op(UPSERT, "orders", order_row(2)),
        _op(UPSERT, "strategies", strategy_row("mm")),
        _op(INSERT, "fills", fill_row(3, 2)),
    ]
    groups = plan(ops)
    assert [(g.kind, g.table, len(g.rows)) for g in groups] == [
        (UPSERT, "strategies", 1),
        (UPSERT, "orders", 2),
        (INSERT, "fills", 3),
    ]
    assert [r["id"] for r in groups[2].rows] == [1, 2, 3]  # order kept within a table


def test_plan_folds_upserts_per_key() -> None:
    ops = [
        _op(UPSERT, "market_tops", {"instrument_id": "a", "mid": 1, "updated_ts": 1.0}),
        _op(UPSERT, "market_tops", {"instrument_id": "b", "mid": 5, "updated_ts": 1.0}),
        _op(UPSERT, "market_tops", {"instrument_id": "a", "best_bid": 2, "updated_ts": 2.0}),
    ]
    groups = plan(ops)
    rows = {r["instrument_id"]: r for g in groups for r in g.rows}
    assert rows["a"] == {"instrument_id": "a", "mid": 1, "best_bid": 2, "updated_ts": 2.0}
    assert rows["b"] == {"instrument_id": "b", "mid": 5, "updated_ts": 1.0}
    assert ops[0][2] == {"instrument_id": "a", "mid": 1, "updated_ts": 1.0}  # not mutated


def test_plan_keeps_kind_order_within_a_table() -> None:
    key = {"strategy": "s", "instrument_id": "t"}
    ops = [
        _op(UPSERT, "positions", position_row("s", "t", 1)),
        _op(DELETE, "positions", key),
        _op(UPSERT, "positions", position_row("s", "t", 2)),
        _op(UPDATE, "positions", {**key, "qty": 3}),
    ]
    assert [g.kind for g in plan(ops)] == [UPSERT, DELETE, UPSERT, UPDATE]


def test_plan_treats_calls_as_barriers() -> None:
    ops = [
        _op(INSERT, "fills", fill_row(1, 1)),
        _op(CALL, "", _noop),
        _op(UPSERT, "orders", order_row(1)),
    ]
    assert [(g.kind, g.table) for g in plan(ops)] == [
        (INSERT, "fills"),
        (CALL, ""),
        (UPSERT, "orders"),
    ]


def test_plan_does_not_reorder_around_parent_deletes() -> None:
    ops = [
        _op(DELETE, "fills", {"id": 1}),
        _op(DELETE, "orders", {"id": 1}),
        _op(UPSERT, "orders", order_row(2)),
    ]
    assert [(g.kind, g.table) for g in plan(ops)] == [
        (DELETE, "fills"),
        (DELETE, "orders"),
        (UPSERT, "orders"),
    ]


def test_max_fill_id_ignores_other_tables_and_deletes() -> None:
    ops = [
        _op(INSERT, "fills", fill_row(4, 1)),
        _op(UPSERT, "orders", order_row(99)),
        _op(DELETE, "fills", {"id": 50}),
        _op(UPSERT, "fills", fill_row(7, 1)),
    ]
    assert max_fill_id(ops) == 7
    assert max_fill_id([]) == 0


# ---------------------------------------------------------------------- property tests


@pytest.fixture(scope="module")
def prop_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DbWriter, Any]]:
    path: Path = tmp_path_factory.mktemp("propdb") / "prop.db"
    url = db_url_from_path(path)
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    # Tiny batches so that sequences straddle batch boundaries.
    writer = DbWriter(factory, flush_interval_s=0.005, max_batch=3)
    writer.start()
    yield writer, factory
    writer.stop()
    engine.dispose()


def _clear(table: str) -> Any:
    def run(session: Session) -> None:
        session.execute(delete(TABLES[table]))

    return run


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(st.integers(min_value=-(2**62), max_value=2**62), min_size=1, max_size=12))
def test_last_upsert_wins(
    prop_db: tuple[DbWriter, sessionmaker[Session]], values: list[int]
) -> None:
    writer, factory = prop_db
    writer.call(_clear("bot_state"))
    for i, v in enumerate(values):
        writer.upsert("bot_state", {"key": "k", "value_json": str(v), "updated_ts": float(i)})
    assert writer.flush()
    with factory() as session:
        rows = session.execute(select(TABLES["bot_state"])).mappings().all()
    assert [(r["key"], r["value_json"], r["updated_ts"]) for r in rows] == [
        ("k", str(values[-1]), float(len(values) - 1))
    ]


KEYS = ["a", "b", "c"]
position_ops = st.lists(
    st.tuples(
        st.sampled_from(["full", "partial", "tiny", "update", "delete"]),
        st.sampled_from(KEYS),
        st.integers(min_value=0, max_value=10**12),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=position_ops)
def test_writer_matches_sequential_model(
    prop_db: tuple[DbWriter, sessionmaker[Session]], ops: list[tuple[str, str, int]]
) -> None:
    writer, factory = prop_db
    writer.call(_clear("positions"))
    model: dict[str, dict[str, Any]] = {}
    for step, (kind, inst, value) in enumerate(ops):
        key = {"strategy": "s", "instrument_id": inst}
        if kind == "full":
            row = position_row("s", inst, value, realized_pnl=step, fees=value % 7)
            writer.upsert("positions", row)
            model[inst] = {**model.get(inst, {}), **row}
        elif kind == "partial":
            # Every NOT NULL column without a default, but not realized_pnl / fees.
            row = {**key, "qty": value, "cost_basis": step, "opened_ts": 1.0, "updated_ts": 2.0}
            writer.upsert("positions", row)
            model[inst] = {"realized_pnl": 0, "fees": 0, **model.get(inst, {}), **row}
        elif kind == "tiny":
            # Too few columns to insert: updates an existing row, else does nothing.
            writer.upsert("positions", {**key, "qty": value})
            if inst in model:
                model[inst]["qty"] = value
        elif kind == "update":
            writer.update("positions", {**key, "qty": value, "updated_ts": float(step)})
            if inst in model:
                model[inst].update(qty=value, updated_ts=float(step))
        else:
            writer.delete("positions", key)
            model.pop(inst, None)
    assert writer.flush()
    with factory() as session:
        rows = session.execute(select(TABLES["positions"])).mappings().all()
    got = {r["instrument_id"]: dict(r) for r in rows}
    assert got == model


def test_sqlite_upserts_on_the_driver_store_what_the_textual_statement_stores(
    tmp_path: Path,
) -> None:
    """Issue 18: SQLite upserts skip SQLAlchemy's parameter dictionaries (bind processors kept:
    ``Boolean``, ``Float``); the stored rows equal those of the general textual statement."""
    from database.batching import BatchExecutor, Group, _compile_upsert

    batches = [
        [strategy_row("mm"), strategy_row("arb")],
        [order_row(1), order_row(2, post_only=True)],
        [order_row(3, expire_ts=None, avg_price=None), order_row(4, expire_ts=5.5, avg_price=7)],
        [order_row(1, status="filled", filled=10_000_000, updated_ts=99.5)],  # overwrite
        [order_row(2, post_only=True, price=1, fees=7)],
    ]
    stored = []
    for driver in (True, False):
        url = db_url_from_path(tmp_path / f"{driver}.db")
        migrate(url)
        engine = make_engine(url)
        ex = BatchExecutor()
        with make_session_factory(engine).begin() as session:
            conn = session.connection()
            for rows in batches:
                table = "strategies" if "class_path" in rows[0] else "orders"
                group = Group(UPSERT, table, frozenset(rows[0]), list(rows))
                if driver:
                    ex.execute(session, [_op(UPSERT, table, r) for r in rows])
                else:
                    stmt = _compile_upsert(conn, TABLES[table], group.columns)
                    assert stmt is not None
                    conn.execute(stmt, group.rows)
        if driver:
            assert ex._driver_upserts and all(ex._driver_upserts.values())
        with engine.connect() as conn:
            stored.append(
                {
                    t: sorted(map(tuple, conn.execute(select(TABLES[t])).all()))
                    for t in ("strategies", "orders")
                }
            )
        engine.dispose()
    assert stored[0] == stored[1]
    assert any(
        row[TABLES["orders"].c.keys().index("post_only")] == 1 for row in stored[0]["orders"]
    )
