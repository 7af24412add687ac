"""Check a database before the bot (or the control CLI) uses it; refuse with a clear error.

A directory, a file that is not SQLite, a corrupt file, a read-only file or one whose lock another
process keeps are all refused before anything runs (:class:`utils.errors.StoreError`, exit 2),
instead of a traceback or a bot that trades while every write fails.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import make_url

from utils.errors import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"

LOCK_WAIT_S = 15.0
"""How long a start waits for another process's write lock before refusing, seconds."""


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite URL (None for in-memory databases and other backends)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser()


def check_file(path: Path) -> None:
    """Refuse a path that is a directory or a file that is not a SQLite database.

    Raises
    ------
    StoreError
        With the path and what to do.
    """
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file. Pass a file path to --db.")
    if not path.exists():
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise StoreError(f"{parent} is not a directory, so {path} cannot be created.")
        return
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read the database {path}: {exc.strerror or exc}.") from exc
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"{path} is not a SQLite database (wrong file header). Point --db (bot.db_path) at "
            "the bot's database, or at a new file name to start a fresh one."
        )


def check_sqlite(path: Path, *, lock_wait_s: float = LOCK_WAIT_S, write: bool = True) -> None:
    """Refuse a SQLite file that is corrupt, read-only, or locked by another process.

    Parameters
    ----------
    path : Path
        The database file (a missing file passes: it will be created).
    lock_wait_s : float
        Longest wait for another process's write lock, seconds.
    write : bool
        Also check that a write transaction can start (the bot needs it; read-only tools not).

    Raises
    ------
    StoreError
        With the path, what is wrong and what to do.
    """
    check_file(path)
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        con = sqlite3.connect(str(path), timeout=lock_wait_s, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}.") from exc
    try:
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_corrupt(path, str(exc))) from exc
        if [r[0] for r in rows] != ["ok"]:
            raise StoreError(_corrupt(path, "; ".join(str(r[0]) for r in rows[:3])))
        if not write:
            return
        started = time.monotonic()
        try:
            con.execute("BEGIN IMMEDIATE")
            # A write statement: a file SQLite could only open read-only refuses it here.
            con.execute("CREATE TABLE _bot_write_probe (x INTEGER)")
            con.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise StoreError(
                    f"the database {path} is locked by another process (waited "
                    f"{time.monotonic() - started:.0f} s). Stop the other process using it (a "
                    "second bot, a database browser) and start again."
                ) from exc
            if "readonly" in text.replace(" ", "").replace("-", ""):
                raise StoreError(
                    f"the database {path} cannot be written ({text}). Fix the file's and its "
                    "folder's permissions (the bot needs to write the file and create "
                    f"{path.name}-wal next to it), or use another --db."
                ) from exc
            raise StoreError(f"the database {path} cannot be written: {text}.") from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(_corrupt(path, str(exc))) from exc
    finally:
        con.close()


def _corrupt(path: Path, detail: str) -> str:
    return (
        f"the database {path} is corrupt ({detail}). Restore it from a backup, or recover what "
        f"is readable with `sqlite3 {path} .recover | sqlite3 recovered.db`, or start on a new "
        "file with --db."
    )


def check_url(url: str, *, write: bool = True, lock_wait_s: float = LOCK_WAIT_S) -> None:
    """Run the checks that apply to ``url`` (SQLite files only; other backends pass)."""
    path = sqlite_path(url)
    if path is not None:
        check_sqlite(path, write=write, lock_wait_s=lock_wait_s)
