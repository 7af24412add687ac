"""Emergency and strategy controls: each action writes one control command row.

The bot's control loop applies the command and writes the result back (``status``,
``result``, ``applied_ts``); the page shows that acknowledgement. If the bot is not running,
the command waits in the table and applies when it starts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify

from dashboard import validation as v
from dashboard.blueprints.util import body, query, require_strategy, respond
from dashboard.context import ctx
from dashboard.data import commands
from dashboard.data.common import bot_status, load_state
from dashboard.data.trading import instrument_exists
from dashboard.validation import ApiError

bp = Blueprint("controls", __name__)

STRATEGY_ACTIONS = ("pause", "resume", "enable", "disable")
BREAKERS = (
    "consecutive_losses",
    "daily_loss",
    "strategy_drawdown",
    "portfolio_drawdown",
    "system_failures",
)
PER_STRATEGY_BREAKERS = ("consecutive_losses", "strategy_drawdown")
CONFIRM_WORD = "CONFIRM"


def _submit(command: str, args: dict[str, Any]) -> Any:
    d = ctx()
    now = d.now()
    source = "api" if getattr(g, "auth", None) == "token" else "dashboard"
    # Retried while a bot running flat out holds SQLite's write lock: a stop must not fail.
    cid = commands.submit_retrying(d.sessions, command, args, d.now, source, asked_ts=now)
    with d.read() as s:
        row = commands.get(s, cid)
        status = bot_status(load_state(s), now, d.cfg.dashboard.bot_stale_s)
    running = bool(status["running"])
    if running:
        message = f"Command #{cid} ({command}) sent; waiting for the bot to apply it."
    else:
        message = (
            f"The bot is not running: command #{cid} ({command}) is queued and will "
            "apply when it starts."
        )
    return respond(
        {"command": row, "bot_running": running, "message": message}, 202, message=message
    )


@bp.post("/api/kill-switch/activate")
def kill_switch_activate() -> Any:
    """EMERGENCY STOP: halt trading (``reason`` required; ``flatten`` closes positions too)."""
    data = body()
    return _submit(
        "kill_switch.activate", {"reason": v.reason(data), "flatten": v.boolean(data, "flatten")}
    )


@bp.post("/api/kill-switch/deactivate")
def kill_switch_deactivate() -> Any:
    """Resume trading after a stop (``reason``, ``confirm`` = ``CONFIRM``, ``enable_all``)."""
    data = body()
    reason = v.reason(data)
    if data.get("confirm") != CONFIRM_WORD:
        raise v.bad("confirm", f"type {CONFIRM_WORD} to resume trading")
    return _submit(
        "kill_switch.deactivate",
        {"reason": reason, "confirm": CONFIRM_WORD, "enable_all": v.boolean(data, "enable_all")},
    )


@bp.post("/api/positions/flatten")
def positions_flatten() -> Any:
    """Close every open position of every strategy (``reason`` required)."""
    return _submit("positions.flatten", {"reason": v.reason(body())})


@bp.post("/api/positions/close")
def position_close() -> Any:
    """Close one strategy's position in one instrument."""
    data = body()
    name = v.name(data, "strategy")
    iid = v.ident(data, "instrument_id")
    reason = v.reason(data)
    assert name is not None and iid is not None
    with ctx().read() as s:
        require_strategy(s, name)
        if not instrument_exists(s, iid):
            raise ApiError(404, f"unknown instrument {iid!r}", "instrument_id")
    return _submit("position.close", {"strategy": name, "instrument_id": iid, "reason": reason})


@bp.post("/api/strategies/pause-all")
def strategies_pause_all() -> Any:
    """PAUSE ALL: stop new entries of every active strategy (``reason`` required)."""
    return _submit("strategies.pause_all", {"reason": v.reason(body())})


@bp.post("/api/strategies/resume-all")
def strategies_resume_all() -> Any:
    """RESUME ALL: resume every paused strategy that no OPEN breaker holds (``reason``)."""
    return _submit("strategies.resume_all", {"reason": v.reason(body())})


@bp.post("/api/strategies/<name>/<action>")
def strategy_action(name: str, action: str) -> Any:
    """Pause, resume, enable or disable a strategy (``reason`` required)."""
    if action not in STRATEGY_ACTIONS:
        raise ApiError(404, f"unknown action {action!r} (one of {', '.join(STRATEGY_ACTIONS)})")
    data = body()
    with ctx().read() as s:
        require_strategy(s, name)
    return _submit(f"strategy.{action}", {"strategy": name, "reason": v.reason(data)})


@bp.post("/api/breakers/reset")
def breaker_reset() -> Any:
    """Close a circuit breaker by hand and resume what it paused (``breaker``, ``strategy`` for
    the per-strategy breakers, ``reason``, ``confirm`` = ``CONFIRM``), like
    ``python bot.py control breaker-reset``."""
    data = body()
    breaker = v.choice(data, "breaker", BREAKERS)
    strategy = v.name(data, "strategy", required=breaker in PER_STRATEGY_BREAKERS)
    reason = v.reason(data)
    if data.get("confirm") != CONFIRM_WORD:
        raise v.bad("confirm", f"type {CONFIRM_WORD} to reset the breaker")
    args: dict[str, Any] = {"breaker": breaker, "reason": reason}
    if strategy and breaker in PER_STRATEGY_BREAKERS:
        with ctx().read() as s:
            require_strategy(s, strategy)
        args["strategy"] = strategy
    return _submit("breaker.reset", args)


@bp.get("/api/kill-switch")
def kill_switch_status() -> Any:
    """Trading state, the kill-switch record and the latest kill-switch commands."""
    d = ctx()
    with d.read() as s:
        status = bot_status(load_state(s), d.now(), d.cfg.dashboard.bot_stale_s)
        recent = [c for c in commands.recent(s, 100) if c["command"].startswith("kill_switch.")]
    return jsonify(
        {
            "state": status["trading_state"],
            "kill_switch": status["kill_switch"],
            "bot_running": status["running"],
            "commands": recent[:10],
        }
    )


@bp.get("/api/commands")
def api_commands() -> Any:
    """Latest control commands with their status and the bot's result."""
    lim = v.limit(query(), default=20, hi=500)
    with ctx().read() as s:
        return jsonify({"commands": commands.recent(s, lim)})


@bp.get("/api/commands/<dbid:command_id>")
def api_command(command_id: int) -> Any:
    """One control command (poll it until ``status`` is ``applied`` or ``failed``)."""
    with ctx().read() as s:
        row = commands.get(s, command_id)
    if row is None:
        raise ApiError(404, f"unknown command {command_id}")
    return jsonify({"command": row})
