"""Engine setup and migrations."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.dialects.postgresql.base import PGDialect

from database import queries
from database.engine import (
    alembic_config,
    db_url_from_path,
    make_engine,
    make_session_factory,
    migrate,
    upsert_statement,
)
from database.models import TABLES, Base
from tests.database.conftest import sqlite_only

EXPECTED_TABLES = {
    "strategies",
    "instruments",
    "orders",
    "fills",
    "settlements",
    "positions",
    "performance_snapshots",
    "events",
    "control_commands",
    "market_tops",
    "bot_state",
    "stage_transitions",
    "alerts",
    "closed_bets",
    "alert_triggers",
    "journal_entries",
    "price_history",
    "backtest_runs",
    "backtest_results",
    "history_markets",
}
HEAD_REVISION = "0016"


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_db_url_from_path_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert db_url_from_path("data/bot.db") == "sqlite:///" + str(tmp_path / "data" / "bot.db")
    assert db_url_from_path("/x/y.db") == "sqlite:////x/y.db"


def test_file_engine_sets_pragmas(engine: Engine) -> None:
    sqlite_only(engine.url)
    assert _pragma(engine, "journal_mode") == "wal"
    assert _pragma(engine, "busy_timeout") == 5000
    assert _pragma(engine, "foreign_keys") == 1
    assert _pragma(engine, "synchronous") == 1  # NORMAL


def test_make_engine_creates_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bot.db"
    engine = make_engine(db_url_from_path(path))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
    assert path.exists()


def test_memory_engine_is_shared_and_migratable() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate("sqlite://", engine=engine)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            queries.set_state(session, "kill_switch", {"active": True}, ts=5.0)
        # A second session (another pooled "connection") sees the same in-memory data.
        with factory() as session:
            assert queries.get_state(session, "kill_switch") == {"active": True}
        assert _pragma(engine, "foreign_keys") == 1
    finally:
        engine.dispose()


def test_migrate_creates_all_tables_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = db_url_from_path(path)
    migrate(url)
    engine = make_engine(url)
    try:
        names = set(inspect(engine).get_table_names())
        assert names == EXPECTED_TABLES | {"alembic_version"}
        assert set(TABLES) == EXPECTED_TABLES
        assert _pragma(engine, "journal_mode") == "wal"
        with engine.connect() as conn:
            assert (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                == HEAD_REVISION
            )
    finally:
        engine.dispose()


def test_migrate_is_idempotent_and_keeps_data(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine).begin() as session:
            queries.set_state(session, "heartbeat", 42, ts=1.0)
        migrate(db_url)
        migrate(db_url)
        with make_session_factory(engine)() as session:
            assert queries.get_state(session, "heartbeat") == 42
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v[0] for v in versions] == [HEAD_REVISION]
    finally:
        engine.dispose()


def test_migrate_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    migrate(db_url_from_path("bot.db"))
    assert (elsewhere / "bot.db").exists()


def test_migration_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == []


def test_downgrade_to_base_drops_everything(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), "base")
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    migrate(db_url)  # and back up again
    engine = make_engine(db_url)
    try:
        assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    finally:
        engine.dispose()


def test_migration_renders_portable_postgresql_sql() -> None:
    cfg = alembic_config("postgresql://bot@localhost/bot")
    buffer = io.StringIO()
    cfg.output_buffer = buffer
    command.upgrade(cfg, "head", sql=True)
    sql = buffer.getvalue()
    for table in EXPECTED_TABLES:
        assert f"CREATE TABLE {table} (" in sql
    assert "PRAGMA" not in sql.upper()
    assert "AUTOINCREMENT" not in sql.upper()
    assert "id BIGSERIAL NOT NULL" in sql  # events, snapshots, control commands
    assert "post_only BOOLEAN DEFAULT false NOT NULL" in sql


def test_upsert_statement_renders_on_conflict_for_postgresql() -> None:
    table = TABLES["positions"]
    dialect = PGDialect()  # type: ignore[no-untyped-call]
    stmt = upsert_statement(dialect, table, ["strategy", "instrument_id", "qty"])
    sql = str(stmt.compile(dialect=dialect))
    assert "ON CONFLICT (strategy, instrument_id) DO UPDATE SET qty = excluded.qty" in sql


def test_upsert_statement_rejects_unknown_dialect() -> None:
    class FakeDialect:
        name = "oracle"

    with pytest.raises(NotImplementedError):
        upsert_statement(FakeDialect(), TABLES["bot_state"], ["key"])  # type: ignore[arg-type]


def test_session_factory_keeps_objects_usable_after_commit(engine: Engine) -> None:
    from database.models import BotStateRow

    factory = make_session_factory(engine)
    with factory.begin() as session:
        session.add(BotStateRow(key="k", value_json="1", updated_ts=3.0))
    with factory.begin() as session:
        row = session.execute(select(BotStateRow)).scalar_one()
    assert (row.key, row.value_json, row.updated_ts) == ("k", "1", 3.0)
