"""Retention: delete old audit rows the ledger does not need.

Never deleted: fills and settlements (the ledger: portfolios are a replay of them, see
services/recovery.py), positions, strategies, instruments, orders that are open or have any fill,
``bot_state``, alerts, journal entries. Deleted when configured (``retention`` section), by event
time: info/warning events (critical ones too only if ``keep_critical_events`` is false), rejected
orders without fills, applied/failed control commands. Runs through the database writer (one
writer, in order with the bot's other writes).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.orm import Session

from database.models import ControlCommandRow, EventRow, FillRow, OrderRow
from utils.ops_config import RetentionConfig

log = logging.getLogger(__name__)
DAY_S = 86_400.0


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def prune(session: Session, cfg: RetentionConfig, now_ts: float) -> dict[str, int]:
    """Delete what ``cfg`` allows, older than its ages at event time ``now_ts``; return counts.

    Parameters
    ----------
    session : Session
        Session with an open transaction (the caller commits).
    cfg : RetentionConfig
        Ages in days (None: keep forever).
    now_ts : float
        Current event time, epoch seconds (rows carry event time).
    """
    out: dict[str, int] = {}
    if cfg.events_days is not None:
        cond = EventRow.ts < now_ts - cfg.events_days * DAY_S
        if cfg.keep_critical_events:
            cond = and_(cond, EventRow.severity != "critical")
        out["events"] = _count(session.execute(delete(EventRow).where(cond)))
    if cfg.rejected_orders_days is not None:
        has_fill = exists(select(FillRow.id).where(FillRow.order_id == OrderRow.id))
        cond = and_(
            OrderRow.status == "rejected",
            OrderRow.filled == 0,
            OrderRow.updated_ts < now_ts - cfg.rejected_orders_days * DAY_S,
            ~has_fill,
        )
        out["orders"] = _count(session.execute(delete(OrderRow).where(cond)))
    if cfg.commands_days is not None:
        cond = and_(
            ControlCommandRow.status != "pending",
            ControlCommandRow.created_ts < now_ts - cfg.commands_days * DAY_S,
        )
        out["control_commands"] = _count(session.execute(delete(ControlCommandRow).where(cond)))
    if any(out.values()):
        log.info(
            "Retention: deleted %s.", ", ".join(f"{n} {t}" for t, n in out.items() if n),
            extra={"retention": out},
        )  # fmt: skip
    return out
