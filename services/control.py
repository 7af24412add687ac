"""Control commands: rows in ``control_commands`` that the bot applies within one control tick.

The dashboard, ``python bot.py control ...`` and any API client write a row with
:func:`database.queries.submit_command`; this loop reads pending rows every
``control.poll_interval_s`` wall seconds (the database read runs in a thread, so the event loop
never blocks), applies each between two engine batches and acknowledges it with
:func:`database.queries.finish_command` (``applied`` or ``failed`` plus a result text).

=======================  ============================================================
command                  args (``args_json``)
=======================  ============================================================
kill_switch.activate     ``reason``, ``flatten`` (bool, default ``flatten_on_kill``)
kill_switch.deactivate   ``reason``, ``confirm: "CONFIRM"``, ``enable_all`` (bool)
strategy.pause           ``strategy``, ``reason``
strategy.resume          ``strategy``, ``reason``
strategy.enable          ``strategy``, ``reason``
strategy.disable         ``strategy``, ``reason``
strategies.pause_all     ``reason`` (every active strategy)
strategies.resume_all    ``reason`` (every paused strategy no OPEN breaker holds)
position.close           ``strategy``, ``instrument_id``, ``reason``
positions.flatten        ``reason``
breaker.reset            ``breaker``, ``strategy`` (per-strategy breakers), ``reason``
strategy.graduate        ``strategy``, ``reason``, ``confirm`` (live stages; docs/GRADUATION.md)
strategy.graduation_reject  ``strategy``, ``reason``
strategy.demote          ``strategy``, ``reason`` (back to paper)
allocation.approve       ``proposal_id``
allocation.reject        ``proposal_id``, ``reason``
=======================  ============================================================

The loop also writes ``bot_state["heartbeat"]`` (``wall_ts``, ``pid``) every
``control.heartbeat_interval_s`` so clients can tell whether the bot is running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from database import queries
from database.commands import COMMANDS
from database.control_inbox import command_key, take
from services.risk.actions import CommandError
from services.risk.safety import SafetyLayer

log = logging.getLogger("bot.control")

Handler = Callable[[dict[str, Any], dict[str, Any]], str]
DONE_TTL_S = 3600.0  # how long an applied command's identity is remembered, wall s

"""Every command name the bot applies."""


def _arg(args: dict[str, Any], key: str) -> str:
    v = args.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise CommandError(f"missing argument {key!r}")
    return str(v)


class ControlLoop:
    """Reads, applies and acknowledges control commands; writes the heartbeat.

    Parameters
    ----------
    safety : SafetyLayer
        Where commands are applied (its ``cfg.control`` gives the intervals, hot-reloaded).
    session_factory : sessionmaker[Session]
        For reading pending commands (short read-only sessions).
    write : Callable[[Callable[[Session], None]], None]
        Queues a write on the single database writer (``DbWriter.call``).
    wall : Callable[[], float]
        Wall clock (heartbeats, acknowledgement times and latency measurement).
    """

    def __init__(
        self,
        safety: SafetyLayer,
        session_factory: sessionmaker[Session],
        write: Callable[[Callable[[Session], None]], None],
        *,
        wall: Callable[[], float] = time.time,
        inbox: Path | None = None,
    ) -> None:
        self.safety = safety
        self.inbox = inbox
        # Commands applied from the inbox (or from their row), by identity -> (ok, result,
        # wall time), so the other copy is acknowledged, never applied twice.
        self._done: dict[str, tuple[bool, str, float]] = {}
        self.sessions = session_factory
        self.write = write
        self.wall = wall
        self.pid = os.getpid()
        self.applied = 0
        self._seen: set[int] = set()
        self._next_heartbeat = float("-inf")
        self._handlers: dict[str, Handler] = {
            "kill_switch.activate": self._activate,
            "kill_switch.deactivate": self._deactivate,
            "strategy.pause": lambda a, r: self._strategy("pause", a, r),
            "strategy.resume": lambda a, r: self._strategy("resume", a, r),
            "strategy.enable": lambda a, r: self._strategy("enable", a, r),
            "strategy.disable": lambda a, r: self._strategy("disable", a, r),
            "strategies.pause_all": lambda a, r: self._all("pause", a, r),
            "strategies.resume_all": lambda a, r: self._all("resume", a, r),
            "position.close": self._close,
            "positions.flatten": self._flatten,
            "breaker.reset": self._breaker_reset,
        }

    def register(self, name: str, handler: Handler) -> None:
        """Add the handler of a command another component applies (the lifecycle manager)."""
        if name in self._handlers:
            raise ValueError(f"control command {name!r} has a handler already")
        self._handlers[name] = handler

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        """Poll forever (cancel the task to stop)."""
        while True:
            try:
                await self.tick()
            except OperationalError as exc:  # busy/locked database: temporary, try again
                log.warning("Reading control commands failed; retrying: %s", exc)
            await asyncio.sleep(self.safety.cfg.control.poll_interval_s)

    async def tick(self) -> int:
        """Write a heartbeat if due, apply the inbox, then the pending rows; return how many."""
        self.heartbeat()
        n = self.apply_inbox()
        rows = await asyncio.to_thread(self.read_pending)
        return n + self.apply_rows(rows)

    def apply_pending_now(self) -> int:
        """Apply what is pending synchronously (at start, before the engine runs)."""
        self.heartbeat()
        n = self.apply_rows(self.read_pending())
        return n + self.apply_inbox()

    def apply_inbox(self) -> int:
        """Apply the commands dropped in the lock-free inbox (their rows are acknowledged when
        they arrive); return how many were applied."""
        n = 0
        for item in take(self.inbox):
            row = {
                "id": None,
                "command": item.get("command"),
                "args_json": json.dumps(item.get("args") or {}),
                "source": item.get("source"),
                "created_ts": float(item.get("created_ts") or self.wall()),
            }
            key = self._key(row)
            if key in self._done:
                continue  # its row came first and was applied
            ok, result = self.apply(row)
            self._done[key] = (ok, result, self.wall())
            n += 1
        self.applied += n
        if len(self._done) > 1000:
            cutoff = self.wall() - DONE_TTL_S
            self._done = {k: v for k, v in self._done.items() if v[2] >= cutoff}
        return n

    @staticmethod
    def _key(row: dict[str, Any]) -> str:
        return command_key(
            str(row.get("command")),
            row.get("args_json") or "{}",
            str(row.get("source") or "unknown"),
            float(row.get("created_ts") or 0.0),
        )

    def read_pending(self) -> list[dict[str, Any]]:
        """Return pending command rows (runs in a worker thread)."""
        with self.sessions() as s:
            return queries.pending_commands(s)

    def heartbeat(self) -> None:
        """Write ``bot_state["heartbeat"]`` when due."""
        wall = self.wall()
        if wall < self._next_heartbeat:
            return
        self._next_heartbeat = wall + self.safety.cfg.control.heartbeat_interval_s
        eng = self.safety.engine
        self.safety.sink.state(
            "heartbeat",
            {
                "wall_ts": wall,
                "pid": self.pid,
                "event_ts": eng.clock.now(),
                "trading_state": self.safety.kill.state.value,
            },
            eng.clock.now(),
        )

    def apply_rows(self, rows: list[dict[str, Any]]) -> int:
        """Apply each new row once and queue its acknowledgement."""
        pending = {int(r["id"]) for r in rows}
        self._seen &= pending  # acknowledged rows leave the pending list; forget them
        n = 0
        for row in rows:
            cid = int(row["id"])
            if cid in self._seen:
                continue
            self._seen.add(cid)
            key = self._key(row)
            done = self._done.get(key)
            if done is not None:  # applied from the inbox already: answer with that result
                self._finish(cid, done[0], done[1], done[2])
                continue
            ok, result = self.apply(row)
            self._done[key] = (ok, result, self.wall())
            self._finish(cid, ok, result)
            n += 1
        self.applied += n
        return n

    def apply(self, row: dict[str, Any]) -> tuple[bool, str]:
        """Apply one command row; return (ok, result text)."""
        name = str(row.get("command"))
        source = str(row.get("source") or "unknown")
        handler = self._handlers.get(name)
        if handler is None:
            return self._failed(
                row, f"unknown command {name!r}; commands are {', '.join(COMMANDS)}"
            )
        try:
            args = json.loads(row.get("args_json") or "{}")
            if not isinstance(args, dict):
                raise CommandError("args_json must be a JSON object")
            result = handler(args, row)
        except json.JSONDecodeError as exc:
            return self._failed(row, f"args_json is not valid JSON: {exc}")
        except ValueError as exc:  # CommandError, KillSwitchError: the user's request is refused
            return self._failed(row, str(exc))
        except Exception as exc:  # a bug must not kill the emergency channel: halt, keep polling
            log.exception("Control command %s #%s failed unexpectedly.", name, row.get("id"))
            self.safety.activate_kill_switch(
                f"internal error while applying {name}: {type(exc).__name__}", "control"
            )
            return self._failed(row, f"internal error: {type(exc).__name__}: {exc}")
        log.info("Control command #%s %s from %s applied: %s", row.get("id"), name, source, result)
        return True, result

    def _failed(self, row: dict[str, Any], message: str) -> tuple[bool, str]:
        eng = self.safety.engine
        text = f"command #{row.get('id')} {row.get('command')} from {row.get('source')} refused: {message}"
        log.warning("%s", text)
        self.safety.bus.event(
            eng.clock.now(),
            "control",
            text,
            severity="warning",
            data={"command_id": row.get("id"), "ok": False},
        )
        return False, message

    def _finish(self, cid: int, ok: bool, result: str, applied_ts: float | None = None) -> None:
        applied_ts = self.wall() if applied_ts is None else applied_ts
        self.write(
            lambda s: queries.finish_command(s, cid, ok=ok, result=result, applied_ts=applied_ts)
        )

    # ------------------------------------------------------------------ handlers
    @staticmethod
    def _source(row: dict[str, Any]) -> str:
        return str(row.get("source") or "unknown")

    def _activate(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        flatten = args.get("flatten")
        return self.safety.activate_kill_switch(
            str(args.get("reason") or f"requested by {self._source(row)}"),
            self._source(row),
            None if flatten is None else bool(flatten),
            created_wall=float(row["created_ts"]),
        )

    def _deactivate(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        return self.safety.deactivate_kill_switch(
            str(args.get("reason") or ""),
            args.get("confirm"),
            bool(args.get("enable_all")),
            self._source(row),
        )

    def _strategy(self, action: str, args: dict[str, Any], row: dict[str, Any]) -> str:
        return self.safety.set_strategy(
            action, _arg(args, "strategy"), str(args.get("reason") or ""), self._source(row)
        )

    def _all(self, action: str, args: dict[str, Any], row: dict[str, Any]) -> str:
        return self.safety.set_all_strategies(
            action, str(args.get("reason") or ""), self._source(row)
        )

    def _close(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        return self.safety.close_position(
            _arg(args, "strategy"),
            _arg(args, "instrument_id"),
            str(args.get("reason") or "close requested"),
            self._source(row),
        )

    def _flatten(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        return self.safety.flatten_all(
            str(args.get("reason") or "flatten requested"), self._source(row)
        )

    def _breaker_reset(self, args: dict[str, Any], row: dict[str, Any]) -> str:
        strategy = args.get("strategy")
        return self.safety.reset_breaker(
            _arg(args, "breaker"),
            None if not strategy else str(strategy),
            str(args.get("reason") or "reset requested"),
            self._source(row),
        )
