"""The vocabulary of the ``control_commands`` table, shared by the bot and the dashboard.

The dashboard and ``bot.py control`` write rows with these command names; the bot's control loop
(``services/control.py``) applies them and writes the result back.
"""

from __future__ import annotations

COMMANDS: tuple[str, ...] = (
    "kill_switch.activate",
    "kill_switch.deactivate",
    "strategy.pause",
    "strategy.resume",
    "strategy.enable",
    "strategy.disable",
    "position.close",
    "positions.flatten",
    "breaker.reset",
)
"""Every command the bot applies."""

DASHBOARD_COMMANDS: tuple[str, ...] = tuple(c for c in COMMANDS if c != "breaker.reset")
"""Commands the dashboard sends (breakers are reset from the shell: ``bot.py control``)."""
