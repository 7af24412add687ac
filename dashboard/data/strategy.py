"""One strategy's detail: configuration, status, metrics."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.data.common import Row, as_dict, state_value, t, usd
from dashboard.data.leaderboard import max_drawdown


def strategy_detail(
    session: Session, name: str, board_row: Row | None, state: dict[str, tuple[Any, float]]
) -> Row | None:
    """Return a strategy's configuration and metrics, or None if unknown.

    Parameters
    ----------
    session : Session
        Open session.
    name : str
        Strategy name.
    board_row : dict or None
        Its leaderboard row (metrics of the newest snapshot).
    state : dict
        ``bot_state`` (see :func:`dashboard.data.common.load_state`) for per-strategy risk.

    Returns
    -------
    dict or None
        ``name``, ``class_path``, ``kind``, ``stage``, ``status`` (active/paused/disabled),
        ``status_reason``, ``status_since``, ``starting_capital_usd``, ``error_count``,
        ``params`` (decoded), ``metrics`` (the leaderboard row or None),
        ``max_drawdown_pct`` and ``consecutive_losses`` (None when unknown).
    """
    tb = t("strategies")
    m = session.execute(select(tb).where(tb.c.name == name)).mappings().first()
    if m is None:
        return None
    try:
        params = json.loads(m["params_json"] or "{}")
    except ValueError:
        params = {"_raw": m["params_json"]}
    info = as_dict(as_dict(state_value(state, "strategy_risk")).get(name))
    mdd = info.get("max_drawdown_pct")
    return {
        "name": m["name"],
        "class_path": m["class_path"],
        "kind": m["kind"],
        "stage": m["stage"],
        "status": m["status"],
        "status_reason": m["status_reason"],
        "status_since": m["status_since"],
        "starting_capital_usd": usd(m["starting_capital"]),
        "error_count": m["error_count"],
        "params": params,
        "metrics": board_row,
        "max_drawdown_pct": mdd if isinstance(mdd, int | float) else max_drawdown(session, name),
        "consecutive_losses": info.get("consecutive_losses"),
    }


def strategies_brief(session: Session) -> list[Row]:
    """Return ``name``, ``kind``, ``stage``, ``status`` of every strategy, by name."""
    tb = t("strategies")
    stmt = select(tb.c.name, tb.c.kind, tb.c.stage, tb.c.status, tb.c.status_reason).order_by(
        tb.c.name
    )
    return [dict(r) for r in session.execute(stmt).mappings()]
