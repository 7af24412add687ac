"""Read (and a few small write) helpers over the bot's tables.

Every function takes a ``Session``; the caller owns the transaction::

    with session_factory.begin() as session:
        fills = load_fills(session, strategy="mm_tight")

Rows come back as plain ``dict`` objects keyed by column name (money in micro-units, times in
epoch seconds), usable after the session ends and directly serializable to JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Table, delete, func, select, update
from sqlalchemy.orm import Session

from database.engine import upsert_statement
from database.models import OPEN_ORDER_STATUSES, TABLES

Row = dict[str, Any]

_IN_CHUNK = 500  # stay far below SQLite's bound-parameter limit


def _rows(session: Session, stmt: Select[Any]) -> list[Row]:
    return [dict(m) for m in session.execute(stmt).mappings()]


def _t(name: str) -> Table:
    return TABLES[name]


def load_strategies(session: Session) -> list[Row]:
    """Return every strategy row, ordered by name."""
    t = _t("strategies")
    return _rows(session, select(t).order_by(t.c.name))


def fill_evidence(session: Session, strategy: str | None = None) -> list[Row]:
    """Return fills grouped by strategy, liquidity and ``fill_reason`` (the fidelity report).

    Each row: ``strategy``, ``liquidity``, ``fill_reason``, ``count`` (fills) and ``size``
    (micro-shares in total).
    """
    f = _t("fills")
    stmt = select(
        f.c.strategy,
        f.c.liquidity,
        f.c.fill_reason,
        func.count().label("count"),
        func.coalesce(func.sum(f.c.size), 0).label("size"),
    ).group_by(f.c.strategy, f.c.liquidity, f.c.fill_reason)
    if strategy is not None:
        stmt = stmt.where(f.c.strategy == strategy)
    return _rows(session, stmt.order_by(f.c.strategy))


def data_gate_refusals(session: Session, strategy: str | None = None) -> dict[str, int]:
    """Return the orders the data gate refused, per strategy.

    Refusals are ``risk_rejection`` events of the ``data_guard`` control; repeats that the safety
    layer folded into one row count through the row's ``suppressed`` tally.
    """
    e = _t("events")
    stmt = select(e.c.strategy, e.c.data_json).where(
        e.c.kind == "risk_rejection", e.c.data_json.like('%"data_guard"%')
    )
    if strategy is not None:
        stmt = stmt.where(e.c.strategy == strategy)
    out: dict[str, int] = {}
    for name, raw in session.execute(stmt):
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            continue
        if name is None or not isinstance(data, dict) or data.get("control") != "data_guard":
            continue
        suppressed = data.get("suppressed")
        out[name] = out.get(name, 0) + 1 + (suppressed if isinstance(suppressed, int) else 0)
    return out


def load_fills(session: Session, strategy: str | None = None) -> list[Row]:
    """Return fills ordered by id (the engine's execution order).

    Parameters
    ----------
    session : Session
        Open session.
    strategy : str, optional
        Only this strategy's fills.
    """
    t = _t("fills")
    stmt = select(t).order_by(t.c.id)
    if strategy is not None:
        stmt = stmt.where(t.c.strategy == strategy)
    return _rows(session, stmt)


def load_settlements(session: Session, strategy: str | None = None) -> list[Row]:
    """Return settlements ordered by id, optionally only ``strategy``'s."""
    t = _t("settlements")
    stmt = select(t).order_by(t.c.id)
    if strategy is not None:
        stmt = stmt.where(t.c.strategy == strategy)
    return _rows(session, stmt)


def load_open_orders(session: Session) -> list[Row]:
    """Return orders that can still fill (pending, open, partially filled), ordered by id."""
    t = _t("orders")
    return _rows(session, select(t).where(t.c.status.in_(OPEN_ORDER_STATUSES)).order_by(t.c.id))


def load_positions(session: Session, strategy: str | None = None) -> list[Row]:
    """Return current positions ordered by (strategy, instrument), optionally one strategy's."""
    t = _t("positions")
    stmt = select(t).order_by(t.c.strategy, t.c.instrument_id)
    if strategy is not None:
        stmt = stmt.where(t.c.strategy == strategy)
    return _rows(session, stmt)


def load_instruments(session: Session, ids: Iterable[str] | None = None) -> list[Row]:
    """Return instruments ordered by id, all of them or only ``ids`` (unknown ids are skipped)."""
    t = _t("instruments")
    if ids is None:
        return _rows(session, select(t).order_by(t.c.instrument_id))
    wanted = sorted(set(ids))
    out: list[Row] = []
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        out.extend(_rows(session, select(t).where(t.c.instrument_id.in_(chunk))))
    out.sort(key=lambda r: r["instrument_id"])
    return out


def max_ids(session: Session) -> dict[str, int]:
    """Return the highest engine-assigned ids, to resume the id sequences after a restart.

    Returns
    -------
    dict[str, int]
        ``{"orders": ..., "fills": ..., "settlements": ...}``; 0 for an empty table.
    """
    out: dict[str, int] = {}
    for name in ("orders", "fills", "settlements"):
        out[name] = int(session.execute(select(func.max(_t(name).c.id))).scalar() or 0)
    return out


def last_event_ts(session: Session) -> float | None:
    """Return the latest event time recorded (fills, settlements, snapshots, order updates).

    Returns
    -------
    float or None
        Epoch seconds, or None on an empty database.
    """
    candidates = [
        session.execute(select(func.max(_t("fills").c.ts))).scalar(),
        session.execute(select(func.max(_t("settlements").c.ts))).scalar(),
        session.execute(select(func.max(_t("performance_snapshots").c.ts))).scalar(),
        session.execute(select(func.max(_t("orders").c.updated_ts))).scalar(),
    ]
    values = [float(v) for v in candidates if v is not None]
    return max(values) if values else None


def pending_commands(session: Session) -> list[Row]:
    """Return control commands waiting to be applied, oldest first."""
    t = _t("control_commands")
    return _rows(session, select(t).where(t.c.status == "pending").order_by(t.c.id))


def recent_commands(session: Session, limit: int = 50) -> list[Row]:
    """Return the latest control commands (any status), newest first."""
    t = _t("control_commands")
    return _rows(session, select(t).order_by(t.c.id.desc()).limit(limit))


def submit_command(
    session: Session,
    command: str,
    args: dict[str, Any] | None = None,
    *,
    source: str,
    created_ts: float,
) -> int:
    """Insert a pending control command and return its id.

    Parameters
    ----------
    session : Session
        Open session (commit it to make the command visible to the bot).
    command : str
        Command name, e.g. ``"kill_switch"``.
    args : dict, optional
        JSON-serializable arguments.
    source : str
        ``"dashboard"``, ``"cli"`` or ``"api"``.
    created_ts : float
        Wall time, epoch seconds.
    """
    t = _t("control_commands")
    stmt = t.insert().values(
        created_ts=created_ts,
        command=command,
        args_json=json.dumps(args or {}, sort_keys=True),
        source=source,
        status="pending",
    )
    result = cast("CursorResult[Any]", session.execute(stmt))
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database did not return the new command's id")
    return int(key[0])


def finish_command(
    session: Session,
    command_id: int,
    *,
    ok: bool,
    result: str,
    applied_ts: float,
) -> None:
    """Mark a control command applied (``ok``) or failed, with a human-readable result.

    Parameters
    ----------
    session : Session
        Open session (e.g. inside ``DbWriter.call``).
    command_id : int
        ``control_commands.id``.
    ok : bool
        Whether the command was applied.
    result : str
        What happened, shown to the user.
    applied_ts : float
        Wall time, epoch seconds.
    """
    t = _t("control_commands")
    session.execute(
        update(t)
        .where(t.c.id == command_id)
        .values(status="applied" if ok else "failed", result=result, applied_ts=applied_ts)
    )


def latest_snapshots(session: Session) -> list[Row]:
    """Return the latest performance snapshot of each strategy (by ts, then id), by strategy."""
    t = _t("performance_snapshots")
    ranked = select(
        t,
        func.row_number()
        .over(partition_by=t.c.strategy, order_by=(t.c.ts.desc(), t.c.id.desc()))
        .label("_rn"),
    ).subquery()
    cols = [ranked.c[c.name] for c in t.columns]
    stmt = select(*cols).where(ranked.c["_rn"] == 1).order_by(ranked.c.strategy)
    return _rows(session, stmt)


def snapshot_history(
    session: Session,
    strategy: str,
    since_ts: float,
    granularity: str | None = None,
) -> list[Row]:
    """Return ``strategy``'s snapshots with ``ts >= since_ts``, oldest first.

    Parameters
    ----------
    session : Session
        Open session.
    strategy : str
        Strategy name.
    since_ts : float
        Lower bound, epoch seconds (inclusive).
    granularity : str, optional
        Only ``"fine"`` or only ``"hourly"`` rows.
    """
    t = _t("performance_snapshots")
    stmt = select(t).where(t.c.strategy == strategy, t.c.ts >= since_ts)
    if granularity is not None:
        stmt = stmt.where(t.c.granularity == granularity)
    return _rows(session, stmt.order_by(t.c.ts, t.c.id))


def prune_snapshots(session: Session, granularity: str, older_than_ts: float) -> int:
    """Delete snapshots of ``granularity`` with ``ts < older_than_ts``; return how many."""
    t = _t("performance_snapshots")
    result = session.execute(
        delete(t).where(t.c.granularity == granularity, t.c.ts < older_than_ts)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_price_history(session: Session, older_than_ts: float) -> int:
    """Delete price_history rows with ``ts < older_than_ts``; return how many."""
    t = _t("price_history")
    result = session.execute(delete(t).where(t.c.ts < older_than_ts))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def get_state(session: Session, key: str, default: Any = None) -> Any:
    """Return the JSON-decoded ``bot_state`` value of ``key``, or ``default`` if absent."""
    t = _t("bot_state")
    raw = session.execute(select(t.c.value_json).where(t.c.key == key)).scalar()
    if raw is None:
        return default
    return json.loads(raw)


def set_state(session: Session, key: str, value: Any, *, ts: float | None = None) -> None:
    """Insert or replace ``bot_state[key]`` with ``value`` (stored as JSON).

    Parameters
    ----------
    session : Session
        Open session.
    key : str
        State key, e.g. ``"kill_switch"``.
    value : Any
        JSON-serializable value.
    ts : float, optional
        ``updated_ts`` in epoch seconds; wall time if omitted (this is bookkeeping, not a
        trading decision).
    """
    t = _t("bot_state")
    row = {
        "key": key,
        "value_json": json.dumps(value, sort_keys=True),
        "updated_ts": time.time() if ts is None else ts,
    }
    dialect = session.get_bind().dialect
    try:
        stmt = upsert_statement(dialect, t, row.keys())
    except NotImplementedError:
        updated = session.execute(
            update(t)
            .where(t.c.key == key)
            .values(value_json=row["value_json"], updated_ts=row["updated_ts"])
        )
        if not updated.rowcount:  # type: ignore[attr-defined]
            session.execute(t.insert().values(**row))
        return
    session.execute(stmt, [row])


def table_counts(session: Session, names: Sequence[str] | None = None) -> dict[str, int]:
    """Return row counts per table (all tables by default), for health checks and tests."""
    out: dict[str, int] = {}
    for name in names if names is not None else sorted(TABLES):
        out[name] = int(session.execute(select(func.count()).select_from(_t(name))).scalar() or 0)
    return out
