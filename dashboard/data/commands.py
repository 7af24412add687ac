"""Control commands written by the dashboard and the bot's acknowledgements."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dashboard.data.common import Row, t
from database.commands import DASHBOARD_COMMANDS
from database.commands import submit_retrying as _submit_retrying
from database.queries import recent_commands, submit_command

SOURCE = "dashboard"

COMMANDS = DASHBOARD_COMMANDS
"""Command names the dashboard may send (the bot's control loop applies them)."""


def public(r: Row) -> Row:
    """Return a command row with decoded ``args`` and the bot's ``ack_latency_s``."""
    try:
        args: Any = json.loads(r["args_json"] or "{}")
    except ValueError:
        args = {}
    applied = r["applied_ts"]
    return {
        "id": r["id"],
        "command": r["command"],
        "args": args,
        "source": r["source"],
        "status": r["status"],
        "result": r["result"],
        "created_wall": r["created_ts"],
        "applied_wall": applied,
        "ack_latency_s": None if applied is None else max(0.0, applied - r["created_ts"]),
    }


def submit(
    session: Session,
    command: str,
    args: dict[str, Any],
    now_wall: float,
    source: str = SOURCE,
) -> int:
    """Queue ``command`` for the bot; return the new command id.

    ``source`` is ``"dashboard"`` for a browser session, ``"api"`` for a token-header client.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    return submit_command(session, command, args, source=source, created_ts=now_wall)


def submit_retrying(
    sessions: sessionmaker[Session],
    command: str,
    args: dict[str, Any],
    wall: Callable[[], float],
    source: str = SOURCE,
    asked_ts: float | None = None,
) -> int:
    """Like :func:`submit` in its own transaction, retried while the database is locked.

    ``asked_ts`` (when the request arrived) is the command's created time, so the recorded
    kill-switch latency includes any wait for the database lock.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    return _submit_retrying(sessions, command, args, source=source, wall=wall, asked_ts=asked_ts)


def get(session: Session, command_id: int) -> Row | None:
    """Return one command (see :func:`public`), or None."""
    tb = t("control_commands")
    m = session.execute(select(tb).where(tb.c.id == command_id)).mappings().first()
    return public(dict(m)) if m is not None else None


def recent(session: Session, limit: int = 20) -> list[Row]:
    """Return the latest commands, newest first (see :func:`public`)."""
    return [public(r) for r in recent_commands(session, limit)]
