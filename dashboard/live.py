"""Live updates: ONE background task polls the database and pushes changes over Socket.IO.

Each poll reads a cheap "version" per topic (highest ids, ``bot_state`` timestamps: indexed
lookups only, so a busy database costs the same as an empty one) and compares it with the last
poll. For every changed topic the browser gets an ``update`` event; it then re-fetches the page
fragments that show that topic (server-rendered, so escaping stays in one place). The leaderboard
rows, the bot status, new alert triggers and changed commands travel in the event itself.

Topics: ``leaderboard``, ``trading`` (orders, fills, positions, prices), ``events``,
``commands``, ``risk`` (kill switch, breakers, data health, per-strategy risk), ``alerts``,
``journal``.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from flask import Flask, request, session
from flask_socketio import SocketIO
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dashboard.data import alerts as alerts_data
from dashboard.data import commands as commands_data
from dashboard.data.common import bot_status, load_state, max_id, t
from dashboard.data.leaderboard import leaderboard, summary
from dashboard.security import host_allowed

if TYPE_CHECKING:
    from dashboard.context import Dashboard

log = logging.getLogger(__name__)

RISK_KEYS = ("kill_switch", "breakers", "data_health", "strategy_risk", "risk_limits")
EVENT = "update"


def topic_versions(session: Session, state: dict[str, tuple[Any, float]]) -> dict[str, Any]:
    """Return one comparable version value per topic (see the module docstring)."""
    st = t("strategies")
    strategies = session.execute(select(func.count(), func.max(st.c.updated_ts))).one()
    cc = t("control_commands")
    pending = session.execute(
        select(func.count()).select_from(cc).where(cc.c.status == "pending")
    ).scalar()
    al = t("alerts")
    alerts = session.execute(select(func.count(), func.max(al.c.updated_ts))).one()
    jt = t("journal_entries")
    journal = session.execute(select(func.count(), func.max(jt.c.updated_ts))).one()
    engine_ts = state.get("engine", (None, 0.0))[1]
    return {
        "leaderboard": (max_id(session, "performance_snapshots"), tuple(strategies)),
        "trading": (
            max_id(session, "orders"),
            max_id(session, "fills"),
            max_id(session, "settlements"),
            engine_ts,
        ),
        "events": max_id(session, "events"),
        "commands": (max_id(session, "control_commands"), pending),
        "risk": tuple(state.get(k, (None, 0.0))[1] for k in RISK_KEYS),
        "alerts": (tuple(alerts), max_id(session, "alert_triggers")),
        "journal": tuple(journal),
    }


class LiveUpdates:
    """The polling task and its Socket.IO handlers.

    Parameters
    ----------
    app : Flask
        The app (for an app context inside the task).
    socketio : SocketIO
        The bound Socket.IO server.
    dash : Dashboard
        The app's context (sessions, config, clock).
    """

    def __init__(self, app: Flask, socketio: SocketIO, dash: Dashboard) -> None:
        self.app = app
        self.socketio = socketio
        self.dash = dash
        self._last: dict[str, Any] | None = None
        self._last_trigger_id: int | None = None
        self._last_commands: dict[int, str] = {}
        self._stop = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        self.polls = 0
        self.errors = 0
        socketio.on_event("connect", self._on_connect)

    # ------------------------------------------------------------------ socket handlers
    def _on_connect(self, auth: Any = None) -> bool:
        d = self.dash
        if not host_allowed(request.host, d.cfg.dashboard.host_names()):
            return False  # DNS rebinding: the live feed answers only to this dashboard's names
        if d.read_login_required:
            until = session.get("auth_until")
            if not (isinstance(until, int | float) and until > d.now()):
                return False
        self.ensure_started()
        return True

    # ------------------------------------------------------------------ task
    def ensure_started(self) -> None:
        """Start the polling task once (on the first client connection)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self.socketio.start_background_task(self.run)

    def stop(self) -> None:
        """Ask the polling task to stop after its current poll."""
        self._stop.set()

    def run(self) -> None:
        """Poll and emit until :meth:`stop`; a failing poll is logged and retried."""
        interval = self.dash.cfg.dashboard.poll_interval_s
        while not self._stop.is_set():
            try:
                payload = self.poll_once()
            except SQLAlchemyError as exc:
                # The bot may hold a write lock past the busy timeout, or the file may be
                # replaced: keep serving and try again next tick.
                self.errors += 1
                log.warning("Live-update poll failed (%s); retrying.", type(exc).__name__)
                payload = None
            if payload is not None:
                self.socketio.emit(EVENT, payload)
            self.socketio.sleep(interval)

    def poll_once(self) -> dict[str, Any]:
        """Poll the database once and return the ``update`` payload.

        The payload (sent every poll: the status doubles as a liveness signal) has ``topics`` (changed topic names), ``status`` (bot status, always),
        ``server_wall``, and when relevant ``leaderboard`` (``rows`` and ``summary``),
        ``triggers`` (new alert triggers, oldest first) and ``commands`` (commands whose status
        changed or that are new).
        """
        d = self.dash
        now = d.now()
        with self.app.app_context(), d.read() as s:
            state = load_state(s)
            versions = topic_versions(s, state)
            changed = [k for k, v in versions.items() if self._last is None or self._last[k] != v]
            status = bot_status(state, now, d.cfg.dashboard.bot_stale_s)
            payload: dict[str, Any] = {"topics": changed, "status": status, "server_wall": now}
            if "leaderboard" in changed:
                rows = leaderboard(s, d.cfg.competition)
                payload["leaderboard"] = {"rows": rows, "summary": summary(rows)}
            if "alerts" in changed:
                top = max_id(s, "alert_triggers")
                if self._last_trigger_id is not None and top > self._last_trigger_id:
                    new = alerts_data.triggers(s, limit=50, after_id=self._last_trigger_id)
                    payload["triggers"] = list(reversed(new))
                self._last_trigger_id = top
            if "commands" in changed:
                recent = commands_data.recent(s, 20)
                fresh = [c for c in recent if self._last_commands.get(c["id"]) != c["status"]]
                if self._last is not None and fresh:
                    payload["commands"] = fresh
                self._last_commands = {c["id"]: c["status"] for c in recent}
        self._last = versions
        self.polls += 1
        return payload
