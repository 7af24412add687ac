"""Risk and health views: trading state, breakers, drawdowns, zones, events, data-feed health.

The bot reports some of these under ``bot_state`` keys that other parts of it write
(``kill_switch``, ``breakers``, ``data_health``); their exact shape may grow, so they are
normalised defensively here and an absent key reads as "no data yet".
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.data.common import Row, as_dict, state_value, t, zone_labels
from dashboard.data.trading import positions
from utils.config import AppConfig

_TIMER_KEYS = ("until_ts", "until", "resume_ts", "reset_ts", "cooldown_until", "expires_ts")
_SINCE_KEYS = ("since_ts", "since", "tripped_ts")
_SHOWN_KEYS = {
    "name",
    "strategy",
    "state",
    "status",
    "reason",
    "value",
    "limit",
    "trips",
    "observed",
    *_TIMER_KEYS,
    *_SINCE_KEYS,
}


def breakers(raw: Any) -> list[Row]:
    """Normalise ``bot_state["breakers"]`` into a list of breaker rows.

    Reads the safety layer's record ``{"breakers": {key: {name, strategy, state, since_ts,
    reason, until_ts, value, limit, trips}}, ...}``; also accepts a plain mapping
    ``{name: {...}}`` or ``{name: "STATE"}`` and a list of dicts. Returns rows with ``name``,
    ``strategy``, ``state``, ``reason``, ``since``, ``until``, ``value``, ``limit``, ``trips`` and
    ``details`` (other keys as compact text), sorted with tripped breakers first.
    """
    if isinstance(raw, dict) and isinstance(raw.get("breakers"), dict | list):
        raw = raw["breakers"]
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        items = [(str(k), v) for k, v in sorted(raw.items())]
    elif isinstance(raw, list):
        items = [
            (str(v.get("name", i)) if isinstance(v, dict) else str(i), v) for i, v in enumerate(raw)
        ]
    out: list[Row] = []
    for key, item in items:
        if not isinstance(item, dict):
            out.append(
                {
                    "name": key,
                    "strategy": None,
                    "state": str(item),
                    "reason": None,
                    "since": None,
                    "until": None,
                    "value": None,
                    "limit": None,
                    "trips": None,
                    "observed": False,
                    "details": "",
                }
            )
            continue
        extra = {k: v for k, v in item.items() if k not in _SHOWN_KEYS}
        out.append(
            {
                "name": str(item.get("name", key)),
                "strategy": item.get("strategy"),
                "state": str(item.get("state", item.get("status", "?"))),
                "reason": item.get("reason"),
                "since": next((item[k] for k in _SINCE_KEYS if item.get(k) is not None), None),
                "until": next((item[k] for k in _TIMER_KEYS if item.get(k) is not None), None),
                "value": item.get("value"),
                "limit": item.get("limit"),
                "trips": item.get("trips"),
                "observed": bool(item.get("observed")),
                "details": json.dumps(extra, sort_keys=True, default=str) if extra else "",
            }
        )
    out.sort(key=lambda b: (b["state"].upper() == "CLOSED", b["name"], b["strategy"] or ""))
    return out


_AGE_KEYS = ("message_age_s", "max_message_age_s", "last_message_age_s", "age_s")
_RECONNECT_KEYS = ("reconnects", "reconnects_window")
_HEALTH_HIDDEN = {
    "name",
    "feed",
    "status",
    "state",
    "reasons",
    "changed",
    "previous_status",
    *_AGE_KEYS,
    *_RECONNECT_KEYS,
}


def data_health(raw: Any) -> list[Row]:
    """Normalise ``bot_state["data_health"]`` into one row per feed.

    Reads the live feed's pipeline record (``status``, ``max_message_age_s``,
    ``reconnects_window``, ``reasons``, counters...) or a mapping of such records per feed.
    Returns rows with ``name``, ``status`` (healthy / degraded / critical), ``message_age_s``,
    ``reconnects``, ``reasons`` (list of text) and ``details`` (the other keys as compact
    text); an empty list when absent.
    """
    if not isinstance(raw, dict):
        return []
    items: list[tuple[str, dict[str, Any]]]
    if "status" in raw or "state" in raw:
        items = [(str(raw.get("name", raw.get("feed", "market data"))), raw)]
    else:
        items = [(str(k), v) for k, v in sorted(raw.items()) if isinstance(v, dict)]
    out = []
    for name, d in items:
        extra = {k: v for k, v in d.items() if k not in _HEALTH_HIDDEN}
        reasons = d.get("reasons")
        out.append(
            {
                "name": name,
                "status": str(d.get("status", d.get("state", "?"))).lower(),
                "message_age_s": next((d[k] for k in _AGE_KEYS if d.get(k) is not None), None),
                "reconnects": next((d[k] for k in _RECONNECT_KEYS if d.get(k) is not None), None),
                "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [],
                "details": json.dumps(extra, sort_keys=True, default=str) if extra else "",
            }
        )
    return out


def risk_view(
    session: Session,
    state: dict[str, tuple[Any, float]],
    board: list[Row],
    cfg: AppConfig,
) -> Row:
    """Return the risk page's data.

    Parameters
    ----------
    session : Session
        Open session.
    state : dict
        Result of :func:`dashboard.data.common.load_state`.
    board : list[dict]
        Leaderboard rows (current drawdowns and statuses).
    cfg : AppConfig
        Limits and zones used when the running bot has not published its own
        (``bot_state["risk_limits"]``, which wins because the bot hot-reloads them).

    Returns
    -------
    dict
        ``kill_switch`` (raw record or None), ``breakers`` (see :func:`breakers`),
        ``strategies`` (per strategy: ``drawdown_pct``, ``max_drawdown_pct``, ``limit_pct``
        (entries stop), ``halt_pct`` (breaker halts it), ``used_pct``, ``consecutive_losses``,
        ``wins``, ``losses``, ``status``), ``zones`` (exposure by price zone: ``zone``,
        ``range``, ``positions``, ``value_usd``, ``share_pct``), ``data_health`` and
        ``observed``: what observe-mode breakers and health rules would have done (``rule``,
        ``strategy``, ``count``), most frequent first.
    """
    ks = state_value(state, "kill_switch")
    per = as_dict(state_value(state, "strategy_risk"))
    published = as_dict(state_value(state, "risk_limits"))
    limits = as_dict(published.get("limits"))
    halt = as_dict(published.get("breakers")).get(
        "strategy_drawdown_pct", cfg.breakers.strategy_drawdown_pct
    )
    bounds = tuple(as_dict(published.get("zones")).get("boundaries") or cfg.risk.zones.boundaries)
    strategies = []
    for r in board:
        name = r["strategy"]
        info = as_dict(per.get(name))
        if isinstance(limits.get(name), dict):
            limit = limits[name].get("max_drawdown_pct")
        else:
            limit = cfg.risk.limits_for(name).max_drawdown_pct
        dd = r["drawdown_pct"] or 0.0
        strategies.append(
            {
                "strategy": name,
                "status": r["status"],
                "drawdown_pct": r["drawdown_pct"],
                "max_drawdown_pct": info.get("max_drawdown_pct"),
                "limit_pct": limit,
                "halt_pct": halt,
                "used_pct": min(100.0, dd / limit * 100.0) if limit else None,
                "consecutive_losses": info.get("consecutive_losses"),
                "wins": info.get("wins"),
                "losses": info.get("losses"),
            }
        )
    return {
        "kill_switch": ks if isinstance(ks, dict) else None,
        "breakers": breakers(state_value(state, "breakers")),
        "strategies": strategies,
        "zones": zone_exposure(positions(session, bounds), bounds),
        "data_health": data_health(state_value(state, "data_health")),
        "observed": observed(state_value(state, "observed")),
    }


def observed(raw: Any) -> list[Row]:
    """Return ``bot_state["observed"]`` (``"breaker NAME[:strategy]"`` / ``"health RULE:strategy"``
    -> count) as rows ``{"kind", "rule", "strategy", "count"}``, most frequent first."""
    out: list[Row] = []
    for key, n in as_dict(raw).items():
        kind, _, rest = str(key).partition(" ")
        rule, _, strategy = rest.partition(":")
        out.append({"kind": kind, "rule": rule, "strategy": strategy or None, "count": int(n or 0)})
    out.sort(key=lambda r: (-r["count"], r["kind"], r["rule"], r["strategy"] or ""))
    return out


def zone_exposure(rows: list[Row], boundaries: tuple[float, ...]) -> list[Row]:
    """Group position values by price zone (every zone listed, empty ones at 0)."""
    count: dict[str, int] = dict.fromkeys((z for z, _ in zone_labels(boundaries)), 0)
    value: dict[str, float] = dict.fromkeys(count, 0.0)
    for p in rows:
        z = p["zone"]
        if z in count:
            count[z] += 1
            value[z] += p["value_usd"] if p["value_usd"] is not None else p["cost_usd"]
    total = sum(value.values())
    return [
        {
            "zone": z,
            "range": rng,
            "positions": count[z],
            "value_usd": value[z],
            "share_pct": (value[z] / total * 100.0) if total else 0.0,
        }
        for z, rng in zone_labels(boundaries)
    ]


def events(
    session: Session,
    *,
    severity: str | None = None,
    kind: str | None = None,
    strategy: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[Row]:
    """Return audit-log events newest first, optionally filtered.

    Returns
    -------
    list[dict]
        Keys: ``id``, ``ts``, ``kind``, ``severity``, ``strategy``, ``instrument_id``,
        ``message``, ``value``, ``limit_value``, ``data`` (decoded JSON or None).
    """
    tb = t("events")
    stmt = select(tb)
    if severity:
        stmt = stmt.where(tb.c.severity == severity)
    if kind:
        stmt = stmt.where(tb.c.kind == kind)
    if strategy:
        stmt = stmt.where(tb.c.strategy == strategy)
    if before_id is not None:
        stmt = stmt.where(tb.c.id < before_id)
    stmt = stmt.order_by(tb.c.id.desc()).limit(limit)
    out = []
    for m in session.execute(stmt).mappings():
        r = dict(m)
        raw = r.pop("data_json")
        try:
            r["data"] = json.loads(raw) if raw else None
        except ValueError:
            r["data"] = raw
        out.append(r)
    return out
