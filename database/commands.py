"""The vocabulary of the ``control_commands`` table, shared by the bot and the dashboard.

The dashboard and ``bot.py control`` write rows with these command names; the bot's control loop
(``services/control.py``) applies them and writes the result back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from database import queries
from database.control_inbox import drop, inbox_for

logger = logging.getLogger(__name__)

COMMANDS: tuple[str, ...] = (
    "kill_switch.activate",
    "kill_switch.deactivate",
    "strategy.pause",
    "strategy.resume",
    "strategy.enable",
    "strategy.disable",
    "strategies.pause_all",
    "strategies.resume_all",
    "position.close",
    "positions.flatten",
    "breaker.reset",
    "strategy.graduate",
    "strategy.graduation_reject",
    "strategy.demote",
    "allocation.approve",
    "allocation.reject",
)
"""Every command the bot applies."""

DASHBOARD_COMMANDS: tuple[str, ...] = COMMANDS
"""Commands the dashboard sends (all of them: breakers are reset from the Risk page too)."""


def submit_retrying(
    sessions: sessionmaker[Session],
    name: str,
    args: dict[str, Any],
    *,
    source: str,
    timeout_s: float = 30.0,
    wall: Callable[[], float] = time.time,
    asked_ts: float | None = None,
) -> int:
    """Insert a command row, retrying while the busy bot holds SQLite's write lock.

    A bot at full speed commits back to back, and SQLite's lock is not fair: a single attempt
    can time out (``database is locked``). An emergency stop must not fail for that, so the
    insert is retried until ``timeout_s``. ``created_ts`` is when the operator asked
    (``asked_ts``, else the first attempt), not when the row was finally written: the latency
    the bot records for a kill switch includes the time the command waited for the lock.
    """
    created = wall() if asked_ts is None else asked_ts
    # SQLite: the bot applies the command from the lock-free inbox within one control tick,
    # whatever the wait for the write lock below (database/control_inbox.py).
    bind = sessions.kw.get("bind")
    folder = inbox_for(str(bind.url.render_as_string(hide_password=False))) if bind else None
    if folder is not None:
        try:
            drop(folder, name, args, source, created)
        except OSError as exc:  # the row below still carries the command
            logger.warning(
                "Control inbox %s not writable (%s); the command goes by row.", folder, exc
            )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with sessions.begin() as s:
                return queries.submit_command(s, name, args, source=source, created_ts=created)
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
