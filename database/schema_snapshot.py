"""A new SQLite database from a stored snapshot of the schema at head (issue 18, start-up).

Alembic builds a new database by running every migration in turn (sixteen of them, several of
them "move and copy" table rebuilds on SQLite), after importing Alembic, Mako and the scripts.
The result is always the same schema, so it is stored once: ``database/head_schema.json`` holds
the statements of a database migrated to head (``sqlite_master``'s DDL) and
the head revision(s). :func:`create_sqlite_at_head` runs them on a new file and stamps the
Alembic version, which gives exactly the schema the migrations give (the test suite compares
the two: tables, columns, types, indexes, constraints).

Only a SQLite file that does not exist yet is created this way, and only when the snapshot's
head is the migration scripts' head; an existing file (at any revision), an in-memory database
and PostgreSQL go through Alembic as before.

**After adding a migration, regenerate the snapshot**::

    python -m database.schema_snapshot --write

(``--check`` says whether the stored snapshot is current; the test suite fails until it is.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

SNAPSHOT_PATH = Path(__file__).resolve().parent / "head_schema.json"
"""Where the snapshot of the schema at head is stored."""

FORMAT = 1


def dump_schema(con: sqlite3.Connection) -> list[list[str]]:
    """Return ``[type, name, table, sql]`` of every schema object SQLite does not make itself:
    tables, then indexes, views and triggers, each by name. (Not creation order: Alembic's
    table rebuilds create a table's indexes in an order that follows the hash seed.)"""
    rows = con.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 "
        "ELSE 3 END, name"
    ).fetchall()
    return [[str(c) for c in r] for r in rows]


def build_snapshot() -> dict[str, Any]:
    """Migrate a scratch SQLite file to head with Alembic and return its snapshot.

    Raises
    ------
    RuntimeError
        If a migration leaves rows in a table besides ``alembic_version`` (a snapshot holds
        DDL only, so such a schema cannot be stored this way).
    """
    from database.engine import db_url_from_path, migrate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "head.db"
        migrate(db_url_from_path(path), use_snapshot=False)
        con = sqlite3.connect(path)
        try:
            statements = dump_schema(con)
            heads = sorted(r[0] for r in con.execute("SELECT version_num FROM alembic_version"))
            for kind, name, _table, _sql in statements:
                if kind != "table" or name == "alembic_version":
                    continue
                (n,) = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                if n:
                    raise RuntimeError(
                        f"the migrations leave {n} row(s) in {name}: a schema snapshot cannot "
                        "hold data; extend database/schema_snapshot.py first"
                    )
        finally:
            con.close()
    return {"format": FORMAT, "heads": heads, "statements": statements}


def load_snapshot(path: Path = SNAPSHOT_PATH) -> dict[str, Any] | None:
    """Return the stored snapshot, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def write_snapshot(path: Path = SNAPSHOT_PATH) -> dict[str, Any]:
    """Build the snapshot from the migrations and store it at ``path``."""
    snap = build_snapshot()
    path.write_text(json.dumps(snap, indent=1) + "\n", encoding="utf-8")
    return snap


def create_sqlite_at_head(path: Path, heads: set[str] | None) -> bool:
    """Create the SQLite file ``path`` at head from the stored snapshot; return whether it did.

    False (nothing done, Alembic decides) when the file exists, when the snapshot is missing or
    is not at ``heads`` (the migration scripts' heads; None: unknown), or when anything fails.
    The database is built in a scratch file next to ``path`` and linked into place only if no
    file has appeared there meanwhile, so a concurrent start never sees half a schema.
    """
    if heads is None or path.exists():
        return False
    snap = load_snapshot()
    if snap is None or set(snap.get("heads", ())) != heads:
        return False
    # A fresh name SQLite creates itself (the file mode follows the umask, as Alembic's does).
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.new")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("BEGIN")
            for _kind, _name, _table, sql in snap["statements"]:
                con.execute(sql)
            con.executemany(
                "INSERT INTO alembic_version (version_num) VALUES (?)",
                [(h,) for h in sorted(heads)],
            )
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode=WAL")  # as the bot's engine leaves a new file
        finally:
            con.close()
        os.link(tmp, path)  # fails if the file appeared meanwhile: then Alembic decides
    except (OSError, sqlite3.Error, KeyError, ValueError, TypeError):
        return False
    finally:
        for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            with contextlib.suppress(OSError):
                p.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m database.schema_snapshot --write | --check``."""
    ap = argparse.ArgumentParser(
        prog="python -m database.schema_snapshot",
        description="Store (--write) or check (--check) the snapshot of the SQLite schema at "
        "head that new databases are created from.",
    )
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="rebuild database/head_schema.json")
    g.add_argument("--check", action="store_true", help="exit 1 if the stored one is stale")
    args = ap.parse_args(argv)
    if args.write:
        snap = write_snapshot()
        print(f"Wrote {SNAPSHOT_PATH} at {', '.join(snap['heads'])}.")
        return 0
    if load_snapshot() != build_snapshot():
        print(
            f"{SNAPSHOT_PATH} is stale: run python -m database.schema_snapshot --write",
            file=sys.stderr,
        )
        return 1
    print(f"{SNAPSHOT_PATH} is current.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
