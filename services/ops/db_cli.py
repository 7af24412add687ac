"""``python bot.py db backup|restore|prune``: keep the database safe while the bot runs.

``backup PATH`` makes a consistent copy of the SQLite database with SQLite's online backup API
(https://www.sqlite.org/backup.html, Python's ``sqlite3.Connection.backup``) while the bot keeps
writing (WAL: the copy is a snapshot, the bot is not blocked), then checks the copy's integrity.
``restore BACKUP`` refuses while the bot runs, checks the backup, keeps the current file aside as
``<db>.before-restore-<UTC time>`` and upgrades the restored schema. ``prune`` applies the
``retention`` section once. On PostgreSQL use ``pg_dump`` / ``pg_restore`` (docs/DEPLOY.md).

Exit codes: 0 done, 1 failed (integrity check, copy error), 2 usage or config error, 3 refused
because the bot is running.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_RUNNING = 0, 1, 2, 3
PAGES_PER_STEP = 1024  # copy in steps so a busy writer gets the lock between them


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot.py db", description="Database upkeep.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: config.yaml, else the example)")
    common.add_argument("--db", help="SQLite database file (overrides the config)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    b = sub.add_parser("backup", parents=[common], help="consistent online copy to PATH")
    b.add_argument("path")
    b.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    r = sub.add_parser("restore", parents=[common], help="replace the database with BACKUP")
    r.add_argument("backup")
    sub.add_parser("prune", parents=[common], help="apply the retention section now")
    return p


def _url(args: argparse.Namespace) -> tuple[str, object]:
    from bot import find_config
    from utils.config import load_config

    path, _example = find_config(args.config)
    cfg = load_config(path)
    if args.db:
        return "sqlite:///" + str(Path(args.db).expanduser().resolve()), cfg
    return cfg.db_url(), cfg


def integrity(path: Path) -> str:
    """Return SQLite's ``PRAGMA integrity_check`` answer for ``path`` ("ok" when sound)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def backup(src: Path, dst: Path) -> dict[str, int]:
    """Copy ``src`` to ``dst`` online (the source may be written meanwhile); return row counts."""
    tmp = dst.with_name(dst.name + ".partial")
    tmp.unlink(missing_ok=True)
    source = sqlite3.connect(src, timeout=30)  # reads only; WAL: the bot keeps writing
    target = sqlite3.connect(tmp)
    try:
        source.backup(target, pages=PAGES_PER_STEP)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        target.close()
        source.close()
    check = integrity(tmp)
    if check != "ok":
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"the copy failed its integrity check: {check}")
    tmp.replace(dst)
    con = sqlite3.connect(f"file:{dst}?mode=ro", uri=True)
    try:
        return {
            t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])  # noqa: S608
            for t in ("strategies", "orders", "fills", "settlements", "events")
        }
    finally:
        con.close()


def _bot_running(url: str) -> float | None:
    """Return the age of the running bot's heartbeat, seconds (None if it is not running)."""
    from database import queries
    from database.engine import make_engine, make_session_factory
    from services.control_cli import STALE_HEARTBEAT_S

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            hb = queries.get_state(s, "heartbeat")
            run = queries.get_state(s, "run")
    except Exception:  # noqa: BLE001 - an unreadable database has no running bot to protect
        return None
    finally:
        eng.dispose()
    if not isinstance(hb, dict) or "wall_ts" not in hb:
        return None
    if isinstance(run, dict) and float(run.get("stopped_wall") or 0) >= float(hb["wall_ts"]):
        return None  # the last run recorded its stop after its last heartbeat
    age = time.time() - float(hb["wall_ts"])
    return age if age <= STALE_HEARTBEAT_S else None


def main(argv: list[str]) -> int:
    """Entry point of ``bot.py db``; return the exit code."""
    args = _parser().parse_args(argv)
    from database.preflight import sqlite_path
    from utils.errors import ConfigError
    from utils.redact import redact_url

    try:
        url, cfg = _url(args)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    db = sqlite_path(url)
    if args.cmd == "prune":
        return _prune(url, cfg)
    if db is None:
        print(
            f"{redact_url(url)} is not a SQLite file: back up PostgreSQL with pg_dump and restore "
            "with pg_restore (docs/DEPLOY.md, 'Backups').",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args.cmd == "backup":
        dst = Path(args.path).expanduser().resolve()
        if not db.is_file():
            print(f"Database error: {db} does not exist.", file=sys.stderr)
            return EXIT_ERROR
        if dst.exists() and not args.force:
            print(f"{dst} exists; pass --force to overwrite it.", file=sys.stderr)
            return EXIT_ERROR
        if dst == db.resolve():
            print("The backup must not be the database itself.", file=sys.stderr)
            return EXIT_ERROR
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            counts = backup(db, dst)
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            print(f"Backup failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        rows = ", ".join(f"{n} {t}" for t, n in counts.items())
        print(f"Backed up {db} to {dst} ({dst.stat().st_size:,} bytes; integrity ok; {rows}).")
        return EXIT_OK
    return _restore(url, db, Path(args.backup).expanduser().resolve())


def _restore(url: str, db: Path, src: Path) -> int:
    from database.engine import migrate

    if not src.is_file():
        print(f"{src} does not exist.", file=sys.stderr)
        return EXIT_ERROR
    age = _bot_running(url) if db.exists() else None
    if age is not None:
        print(
            f"The bot is running (heartbeat {age:.1f} s ago): stop it first "
            "(systemctl stop trading-bot, or Ctrl-C), then restore.",
            file=sys.stderr,
        )
        return EXIT_RUNNING
    try:
        check = integrity(src)
    except sqlite3.Error as exc:
        check = str(exc)
    if check != "ok":
        print(
            f"{src} is not a sound SQLite database ({check}); nothing was changed.", file=sys.stderr
        )
        return EXIT_FAILED
    aside = None
    if db.exists():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = db.with_name(f"{db.name}.before-restore-{stamp}")
        shutil.copy2(db, aside)
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(db)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    migrate(url)  # an older backup is brought to the current schema
    kept = f"; the previous database is kept as {aside}" if aside else ""
    print(f"Restored {db} from {src}{kept}. Start the bot to resume from it.")
    return EXIT_OK


def _prune(url: str, cfg: object) -> int:
    from sqlalchemy import func, select

    from database.engine import make_engine, make_session_factory
    from database.models import EventRow
    from services.ops.retention import prune

    r = cfg.retention  # type: ignore[attr-defined]
    eng = make_engine(url)
    try:
        with make_session_factory(eng).begin() as s:
            # Rows carry event time: "now" is the latest event's time (a simulated run's clock
            # is not the wall clock), else the wall clock.
            now = s.execute(select(func.max(EventRow.ts))).scalar() or time.time()
            out = prune(s, r, float(now))
    finally:
        eng.dispose()
    print(
        "Retention: "
        + (", ".join(f"{n} {t} deleted" for t, n in out.items()) or "nothing configured")
        + "."
    )
    return EXIT_OK
