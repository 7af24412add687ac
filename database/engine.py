"""Engine and session setup, schema migration, and dialect-aware upserts.

SQLite connections get WAL journaling (readers never block the writer), a busy timeout (a second
writer, e.g. the dashboard inserting a control command, waits instead of failing), foreign keys
and ``synchronous=NORMAL`` (fast commits; a committed batch survives a crash of the process, only
an OS crash or power cut can lose the last commits). Any other URL (for example PostgreSQL) is
passed to SQLAlchemy unchanged.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.dml import Insert

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite connection waits for a lock held by another connection, milliseconds."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Alembic script location (independent of the current working directory)."""


def db_url_from_path(path: str | os.PathLike[str]) -> str:
    """Return the SQLAlchemy URL of a SQLite database file.

    Parameters
    ----------
    path : str or os.PathLike
        Path of the database file, relative to the current directory or absolute; ``~`` expands.

    Returns
    -------
    str
        ``"sqlite:///"`` followed by the absolute path.
    """
    return "sqlite:///" + os.path.abspath(os.path.expanduser(os.fspath(path)))


def _pragma_hook(busy_timeout_ms: int) -> Any:
    def hook(dbapi_connection: Any, _record: Any) -> None:
        _set_sqlite_pragmas(dbapi_connection, _record, busy_timeout_ms)

    return hook


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str, *, echo: bool = False, busy_timeout_ms: int | None = None) -> Engine:
    """Create an engine for ``url``, configured for the bot's access pattern.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL: ``sqlite:///path.db`` (see :func:`db_url_from_path`),
        ``sqlite://`` for a private in-memory database (tests), or e.g.
        ``postgresql+psycopg://user:pass@host/db``.
    echo : bool, default False
        Log every SQL statement (debugging).
    busy_timeout_ms : int, optional
        How long a SQLite connection waits for another process's lock, milliseconds
        (default :data:`SQLITE_BUSY_TIMEOUT_MS`).

    Returns
    -------
    Engine
        For SQLite, every new connection runs ``PRAGMA journal_mode=WAL``,
        ``busy_timeout=5000`` (ms), ``foreign_keys=ON`` and ``synchronous=NORMAL``. An in-memory
        database uses one shared connection (``StaticPool``), so all sessions, including the
        writer thread's, see the same data; it is meant for tests and must not be used by two
        threads at the same moment. A file database's parent directory is created if missing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if in_memory:
        engine = create_engine(
            url,
            echo=echo,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
    timeout = SQLITE_BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
    event.listen(engine, "connect", _pragma_hook(timeout))
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine``.

    Sessions keep loaded attributes after commit (``expire_on_commit=False``), so objects read in
    a short ``with factory.begin():`` block stay usable after it ends.

    Parameters
    ----------
    engine : Engine
        The engine from :func:`make_engine`.

    Returns
    -------
    sessionmaker[Session]
        Use as ``with factory.begin() as session: ...`` (the caller owns the transaction).
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Return an Alembic config for ``url`` that finds the migrations from any directory.

    Parameters
    ----------
    url : str
        Database URL.

    Returns
    -------
    alembic.config.Config
        For ``alembic.command`` functions (``upgrade``, ``downgrade``, ``current``...).
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates "%": escape it (URL-encoded passwords contain it).
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(
    url: str, *, engine: Engine | None = None, revision: str = "head", use_snapshot: bool = True
) -> None:
    """Bring the database schema up to date (Alembic ``upgrade head``), from any directory.

    A new database file gets the whole schema; an older one is upgraded; an up-to-date one is
    left untouched, so the bot calls this at every start. A SQLite file that does not exist yet
    is created from the stored snapshot of the schema at head (``database/schema_snapshot.py``)
    when that snapshot is current, instead of running every migration.

    Parameters
    ----------
    url : str
        Database URL.
    engine : Engine, optional
        Run on this engine's connection instead of opening a new engine. Needed for
        ``sqlite://`` (in-memory), whose data lives only in that engine's connection.
    revision : str, default "head"
        Target revision.
    use_snapshot : bool, default True
        False: a new SQLite file goes through every migration too (building the snapshot).
    """
    if engine is None and revision == "head" and use_snapshot and _new_sqlite_from_snapshot(url):
        logger.info(
            "Database created at revision head from the schema snapshot.",
            extra={"db_url": _safe(url)},
        )
        return
    if engine is None and revision == "head" and _sqlite_file_at_head(url):
        # Nothing to do, and Alembic (with Mako and Pygments, about 0.2 s of imports) is not
        # needed to find that out (issue 18: the bot migrates at every start).
        logger.info("Database schema is at revision head.", extra={"db_url": _safe(url)})
        return
    from alembic import command

    cfg = alembic_config(url)
    target = engine if engine is not None else make_engine(url)
    try:
        with target.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        if engine is None:
            target.dispose()
    logger.info("Database schema is at revision %s.", revision, extra={"db_url": _safe(url)})


_REVISION = re.compile(r"^revision\b[^=\n]*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=\n]*=(.*)$", re.M)


def script_heads() -> set[str] | None:
    """Return the head revisions of the migration scripts, read from their source text, or None
    if a script does not declare ``revision`` / ``down_revision`` in the usual one-line form."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        downs.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - downs
    return heads or None


def _plain_sqlite_file(url: str) -> Path | None:
    """Return the path of a plain SQLite file URL (no URI options, not in memory), else None."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or parsed.query:
        return None
    return Path(database).expanduser()


def _new_sqlite_from_snapshot(url: str) -> bool:
    """Create a SQLite file that does not exist yet from the schema snapshot at head; return
    whether it did (False: Alembic decides, as before)."""
    try:
        path = _plain_sqlite_file(url)
        if path is None or path.exists():
            return False
        from database.schema_snapshot import create_sqlite_at_head

        return create_sqlite_at_head(path, script_heads())
    except (OSError, ValueError):
        return False


def _sqlite_file_at_head(url: str) -> bool:
    """Return True only if ``url`` is an existing SQLite file whose ``alembic_version`` holds
    exactly the scripts' heads; any doubt (other backends, no file, no table, an error) is
    False, and Alembic decides as before."""
    try:
        path = _plain_sqlite_file(url)
        if path is None or not path.is_file():
            return False
        heads = script_heads()
        if heads is None:
            return False
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            con.close()
    except (sqlite3.Error, OSError, ValueError):
        return False
    return {r[0] for r in rows} == heads


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def upsert_statement(dialect: Dialect, table: Table, columns: Iterable[str]) -> Insert:
    """Build ``INSERT ... ON CONFLICT (primary key) DO UPDATE`` for SQLite or PostgreSQL.

    Parameters
    ----------
    dialect : Dialect
        The connection's dialect (``connection.dialect``).
    table : Table
        Target table; the conflict target is its primary key.
    columns : Iterable[str]
        The columns the rows provide; the non-key ones are updated on conflict.

    Returns
    -------
    Insert
        A statement to execute with one row or a list of rows (executemany).

    Raises
    ------
    NotImplementedError
        For a dialect without ``ON CONFLICT`` (callers fall back to update-then-insert).
    """
    pk = [c.name for c in table.primary_key.columns]
    if dialect.name == "sqlite":
        stmt: Any = sqlite.insert(table)
    elif dialect.name == "postgresql":
        # imported here: a SQLite run does not load the PostgreSQL dialect (issue 18, start-up)
        from sqlalchemy.dialects import postgresql

        stmt = postgresql.insert(table)
    else:
        raise NotImplementedError(f"no native upsert for dialect {dialect.name!r}")
    updates = {c: stmt.excluded[c] for c in columns if c not in pk}
    result: Insert
    if not updates:
        result = stmt.on_conflict_do_nothing(index_elements=pk)
    else:
        result = stmt.on_conflict_do_update(index_elements=pk, set_=updates)
    return result
