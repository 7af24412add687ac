"""A new SQLite database is created from the stored schema snapshot at head (issue 18, start-up):
the same schema as running every migration, and a stale snapshot is caught here."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

import database.schema_snapshot as snapshot
from database.engine import _sqlite_file_at_head, alembic_config, db_url_from_path, migrate

ROOT = Path(__file__).resolve().parents[2]


def test_the_stored_snapshot_is_at_the_migrations_head() -> None:
    """Fails when a migration is added without ``python -m database.schema_snapshot --write``."""
    snap = snapshot.load_snapshot()
    assert snap is not None, "database/head_schema.json is missing or unreadable"
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert snap["heads"] == sorted(heads), (
        "the schema snapshot is not at the migrations' head: run "
        "`python -m database.schema_snapshot --write`"
    )


def test_the_stored_snapshot_is_what_the_migrations_build() -> None:
    assert snapshot.load_snapshot() == snapshot.build_snapshot(), (
        "run `python -m database.schema_snapshot --write`"
    )


def _pragmas(path: Path) -> dict[str, Any]:
    con = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {"schema": snapshot.dump_schema(con)}
        out["version"] = con.execute("SELECT version_num FROM alembic_version").fetchall()
        out["journal"] = con.execute("PRAGMA journal_mode").fetchone()
        out["user_version"] = con.execute("PRAGMA user_version").fetchone()
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for t in tables:
            out[t] = {
                "columns": con.execute(f'PRAGMA table_xinfo("{t}")').fetchall(),
                "fks": con.execute(f'PRAGMA foreign_key_list("{t}")').fetchall(),
                # index_list's first field is a creation rank: left out (Alembic's table
                # rebuilds create a table's indexes in an order that follows the hash seed)
                "indexes": {
                    ix[1]: (ix[1:], con.execute(f'PRAGMA index_xinfo("{ix[1]}")').fetchall())
                    for ix in con.execute(f'PRAGMA index_list("{t}")').fetchall()
                },
                "rows": con.execute(f'SELECT count(*) FROM "{t}"').fetchone(),
            }
        return out
    finally:
        con.close()


def _reflected(path: Path) -> dict[str, Any]:
    eng = create_engine(db_url_from_path(path))
    try:
        ins = inspect(eng)
        out: dict[str, Any] = {}
        for t in sorted(ins.get_table_names()):
            out[t] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in ins.get_columns(t)
                ],
                "pk": ins.get_pk_constraint(t),
                "fks": ins.get_foreign_keys(t),
                "indexes": sorted(ins.get_indexes(t), key=lambda i: str(i["name"])),
                "unique": sorted(ins.get_unique_constraints(t), key=lambda i: str(i["name"])),
                "checks": sorted(ins.get_check_constraints(t), key=lambda i: str(i["name"])),
            }
        return out
    finally:
        eng.dispose()


def test_a_database_from_the_snapshot_has_exactly_the_migrated_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = tmp_path / "fast.db", tmp_path / "slow.db"
    used: list[Path] = []
    real = snapshot.create_sqlite_at_head

    def spy(path: Path, heads: set[str] | None) -> bool:
        done = real(path, heads)
        if done:
            used.append(path)
        return done

    monkeypatch.setattr(snapshot, "create_sqlite_at_head", spy)
    migrate(db_url_from_path(fast))
    migrate(db_url_from_path(slow), use_snapshot=False)
    assert used == [fast]  # the new file came from the snapshot, the other from Alembic
    a, b = _pragmas(fast), _pragmas(slow)
    assert a["schema"] and a == b
    assert _reflected(fast) == _reflected(slow)
    assert _sqlite_file_at_head(db_url_from_path(fast))
    assert not list(tmp_path.glob("*.new*"))  # the scratch file is gone
    # The next start finds it at head and leaves it alone; Alembic agrees it is at head.
    migrate(db_url_from_path(fast))
    assert _pragmas(fast) == b


def test_only_a_file_that_does_not_exist_is_created_from_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads = set(snapshot.load_snapshot()["heads"])  # type: ignore[index]
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert not snapshot.create_sqlite_at_head(empty, heads)  # an existing file: Alembic
    assert empty.read_bytes() == b""
    new = tmp_path / "new.db"
    assert not snapshot.create_sqlite_at_head(new, {"9999"})  # snapshot not at the heads
    assert not snapshot.create_sqlite_at_head(new, None)
    assert not new.exists()
    # A file that appears while the snapshot is built is not replaced.

    def raced(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(b"someone else's")
        raise FileExistsError(dst)

    monkeypatch.setattr(snapshot.os, "link", raced)
    assert not snapshot.create_sqlite_at_head(new, heads)
    assert new.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "new.db"]


def test_a_stale_snapshot_falls_back_to_the_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "stale.json"
    snap = snapshot.load_snapshot()
    assert snap is not None
    snap = dict(snap, heads=["0001"], statements=snap["statements"][:1])
    stale.write_text(__import__("json").dumps(snap))
    monkeypatch.setattr(snapshot, "SNAPSHOT_PATH", stale)
    monkeypatch.setattr(snapshot.load_snapshot, "__defaults__", (stale,))
    db = tmp_path / "bot.db"
    migrate(db_url_from_path(db))
    ref = tmp_path / "ref.db"
    migrate(db_url_from_path(ref), use_snapshot=False)
    assert _pragmas(db) == _pragmas(ref)


def test_a_new_database_is_created_without_importing_alembic(tmp_path: Path) -> None:
    url = db_url_from_path(tmp_path / "sub" / "bot.db")
    code = (
        "import sys; from database.engine import migrate, _sqlite_file_at_head; "
        f"migrate({url!r}); print('alembic' in sys.modules, _sqlite_file_at_head({url!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False True"
