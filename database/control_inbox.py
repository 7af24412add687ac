"""A lock-free lane for control commands next to a SQLite database (the emergency stop's fast path).

A bot at ``--speed max`` commits batch after batch, and SQLite's write lock is not fair: the
dashboard's insert of an EMERGENCY STOP row could wait about 2 s for it. So
:func:`database.commands.submit_retrying` first drops the command as a small JSON file in
``<database file>.control/`` (an atomic rename: no lock), then writes the row as before. The
bot's control loop reads this folder every tick, applies what it finds at once, and when the row
arrives later acknowledges it with the result it already has (never applying twice: a command is
identified by command, arguments, source and ``created_ts``). The row stays the record and the
answer the dashboard waits for; a row whose file was lost is applied from the row, as before.

PostgreSQL needs no such lane (an insert never waits for another transaction's inserts).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from database.preflight import sqlite_path

log = logging.getLogger(__name__)

SUFFIX = ".control"


def inbox_for(url: str) -> Path | None:
    """Return the inbox folder of the SQLite database at ``url`` (None for other backends)."""
    db = sqlite_path(url)
    return None if db is None else db.with_name(db.name + SUFFIX)


def command_key(command: str, args: Any, source: str, created_ts: float) -> str:
    """Return the identity of one command (the same for its file and its row)."""
    if isinstance(args, str):
        with contextlib.suppress(json.JSONDecodeError):
            args = json.loads(args or "{}")
    body = json.dumps(args, sort_keys=True, default=str)
    return f"{command}|{source}|{float(created_ts)!r}|{body}"


def drop(folder: Path, command: str, args: dict[str, Any], source: str, created_ts: float) -> Path:
    """Write one command file atomically; return its path."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{created_ts:.6f}-{uuid.uuid4().hex}"
    tmp = folder / f".{name}.tmp"
    data = {"command": command, "args": args, "source": source, "created_ts": created_ts}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    final = folder / f"{name}.json"
    os.replace(tmp, final)
    return final


def take(folder: Path | None) -> list[dict[str, Any]]:
    """Read and remove every command file, oldest first; a malformed file is set aside."""
    if folder is None:
        return []
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        path = folder / n
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "command" not in data:
                raise ValueError("not a command object")
            out.append(data)
            path.unlink()
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            log.warning("Control inbox file %s is unreadable (%s); set aside.", path, exc)
            path.replace(path.with_suffix(".bad"))
    return out
