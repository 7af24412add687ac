"""The fidelity report from the database: fills by evidence, data-gate refusals per strategy."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.data.common import Row, t
from services.execution.fidelity import fidelity_report

DATA_GUARD = "data_guard"


def data_gate_refusals(session: Session, strategy: str | None = None) -> dict[str, int]:
    """Return the orders the data gate refused, per strategy.

    Refusals are ``risk_rejection`` events of the ``data_guard`` control; repeats the safety layer
    folded into one row count through the row's ``suppressed`` tally.
    """
    e = t("events")
    stmt = select(e.c.strategy, e.c.data_json).where(
        e.c.kind == "risk_rejection", e.c.data_json.like(f'%"{DATA_GUARD}"%')
    )
    if strategy is not None:
        stmt = stmt.where(e.c.strategy == strategy)
    out: dict[str, int] = {}
    for name, raw in session.execute(stmt):
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            continue
        if not isinstance(data, dict) or data.get("control") != DATA_GUARD or name is None:
            continue
        suppressed = data.get("suppressed")
        out[name] = out.get(name, 0) + 1 + (suppressed if isinstance(suppressed, int) else 0)
    return out


def fidelity(session: Session, strategy: str | None = None) -> list[Row]:
    """Return the fidelity report rows, by strategy (see ``Fidelity.as_dict``)."""
    f = t("fills")
    stmt = select(
        f.c.strategy,
        f.c.liquidity,
        f.c.fill_reason,
        func.count().label("count"),
        func.coalesce(func.sum(f.c.size), 0).label("size"),
    ).group_by(f.c.strategy, f.c.liquidity, f.c.fill_reason)
    if strategy is not None:
        stmt = stmt.where(f.c.strategy == strategy)
    groups = [dict(r) for r in session.execute(stmt).mappings()]
    report = fidelity_report(groups, data_gate_refusals(session, strategy))
    return [row.as_dict() for row in report.values()]
