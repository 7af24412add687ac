"""Shared helpers of the dashboard's query layer: unit conversion, bot state, bot liveness.

Every query helper in :mod:`dashboard.data` takes an open ``Session`` (the caller owns the
transaction) and returns plain ``dict`` / ``list`` values that pages, the JSON API and socket
events share. Money comes out in USD (``*_usd`` floats), prices as probabilities (0..1 floats),
sizes in shares; times stay epoch seconds (``*_ts``; event time unless the name says ``wall``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from database.models import TABLES
from services.money import MICRO

log = logging.getLogger(__name__)

Row = dict[str, Any]

TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")
"""Kill-switch states written by the bot under ``bot_state["kill_switch"]``."""


def t(name: str) -> Table:
    """Return the ``Table`` called ``name``."""
    return TABLES[name]


def usd(micro: int | None) -> float | None:
    """Convert micro-USDC to USD (None stays None)."""
    return None if micro is None else micro / MICRO


def prob(micro: int | None) -> float | None:
    """Convert a micro-USDC-per-share price to a probability (None stays None)."""
    return None if micro is None else micro / MICRO


def shares(micro: int | None) -> float | None:
    """Convert micro-shares to shares (None stays None)."""
    return None if micro is None else micro / MICRO


def load_state(session: Session) -> dict[str, tuple[Any, float]]:
    """Return every ``bot_state`` key as ``{key: (decoded value, updated_ts)}``.

    A value that is not valid JSON is returned as its raw text (and logged), so one bad key
    cannot break a page.
    """
    tb = t("bot_state")
    out: dict[str, tuple[Any, float]] = {}
    for key, raw, ts in session.execute(select(tb.c.key, tb.c.value_json, tb.c.updated_ts)):
        try:
            value: Any = json.loads(raw)
        except ValueError:
            log.warning("bot_state key %s does not hold valid JSON; shown as text.", key)
            value = raw
        out[key] = (value, float(ts))
    return out


def state_value(state: dict[str, tuple[Any, float]], key: str) -> Any:
    """Return the decoded value of ``key`` from :func:`load_state`'s result, or None."""
    entry = state.get(key)
    return None if entry is None else entry[0]


def as_dict(value: Any) -> dict[str, Any]:
    """Return ``value`` if it is a dict, else an empty dict (for loosely shaped state)."""
    return value if isinstance(value, dict) else {}


def bot_status(state: dict[str, tuple[Any, float]], now_wall: float, stale_s: float) -> Row:
    """Summarise whether the bot runs and what it last reported.

    Parameters
    ----------
    state : dict
        Result of :func:`load_state`.
    now_wall : float
        Wall time, epoch seconds.
    stale_s : float
        Heartbeat age (seconds) beyond which the bot counts as stopped.

    Returns
    -------
    dict
        ``running`` (bool), ``heartbeat_age_s`` (None without a heartbeat), ``pid``,
        ``event_ts`` / ``events_processed`` / ``live_instruments`` (from ``engine``),
        ``started_wall`` / ``stopped_wall`` / ``clean`` (from ``run``), ``trading_state``
        (``ACTIVE`` / ``REDUCING`` / ``HALTED``, or ``UNKNOWN`` before the bot reports one),
        ``kill_switch`` (the raw record or None) and a one-line ``message``.
    """
    hb = state_value(state, "heartbeat")
    engine = state_value(state, "engine")
    run = state_value(state, "run")
    ks = state_value(state, "kill_switch")
    hb = hb if isinstance(hb, dict) else {}
    engine = engine if isinstance(engine, dict) else {}
    run = run if isinstance(run, dict) else {}
    wall_ts = _num(hb.get("wall_ts"))
    age = None if wall_ts is None else max(0.0, now_wall - wall_ts)
    stopped = run.get("stopped_wall") is not None
    running = age is not None and age <= stale_s and not stopped
    trading_state = "UNKNOWN"
    if isinstance(ks, dict) and str(ks.get("state", "")).upper() in TRADING_STATES:
        trading_state = str(ks["state"]).upper()
    elif ks is None and running:
        trading_state = "ACTIVE"
    if running:
        message = "Bot running."
    elif wall_ts is None and not run:
        message = "No bot has written to this database yet."
    elif stopped:
        message = "Bot stopped" + (" cleanly." if run.get("clean") else " (not cleanly).")
    else:
        message = (
            "Bot not running."
            if age is None
            else f"No heartbeat for {age:.0f} s: the bot is not running."
        )
    return {
        "running": running,
        "heartbeat_age_s": age,
        "pid": hb.get("pid"),
        "event_ts": _num(engine.get("event_ts")),
        "events_processed": engine.get("events_processed"),
        "live_instruments": engine.get("live_instruments"),
        "started_wall": _num(run.get("started_wall")),
        "stopped_wall": _num(run.get("stopped_wall")),
        "clean": run.get("clean"),
        "trading_state": trading_state,
        "kill_switch": ks if isinstance(ks, dict) else None,
        "message": message,
    }


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def max_id(session: Session, table: str) -> int:
    """Return the highest ``id`` of ``table`` (0 when empty)."""
    return int(session.execute(select(func.max(t(table).c.id))).scalar() or 0)


def escape_like(text: str) -> str:
    """Escape ``%``, ``_`` and the escape character for a ``LIKE ... ESCAPE '\\'`` pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


OUTSIDE_ZONE = "outside"
"""Zone of prices below the first or above the last boundary (as in ``risk.zones``)."""


def zone_of(price: float | None, boundaries: tuple[float, ...] | list[float]) -> str | None:
    """Return the price zone (``Z1``..``Zn`` or ``outside``) of a probability.

    Zones follow ``risk.zones.boundaries``: Z1 is ``[b0, b1)``, Z2 ``[b1, b2)``...; None stays
    None.
    """
    if price is None:
        return None
    for i, (lo, hi) in enumerate(zip(boundaries, boundaries[1:], strict=False)):
        if lo <= price < hi:
            return f"Z{i + 1}"
    return OUTSIDE_ZONE


def zone_labels(boundaries: tuple[float, ...] | list[float]) -> list[tuple[str, str]]:
    """Return ``(zone, "lo-hi")`` for every zone in order, then ``outside``."""
    out = [
        (f"Z{i + 1}", f"{lo:.2f}-{hi:.2f}")
        for i, (lo, hi) in enumerate(zip(boundaries, boundaries[1:], strict=False))
    ]
    out.append((OUTSIDE_ZONE, f"<{boundaries[0]:.2f} or >={boundaries[-1]:.2f}"))
    return out
