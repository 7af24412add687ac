"""Trade journal entries: list, search, create, edit (values are validated by the caller)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from dashboard.data.common import Row, escape_like, t

EDITABLE = (
    "strategy",
    "instrument_id",
    "fill_id",
    "entry_reason",
    "confidence",
    "exit_reason",
    "lessons",
    "rating",
)
"""Columns a user may set."""


def list_entries(
    session: Session,
    *,
    q: str | None = None,
    strategy: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Row]:
    """Return journal entries, last edited first, optionally searched and filtered.

    Parameters
    ----------
    q : str, optional
        Case-insensitive substring of the reasons, lessons, strategy or instrument.
    strategy : str, optional
        Only this strategy's entries.
    """
    tb = t("journal_entries")
    stmt = select(tb)
    if strategy:
        stmt = stmt.where(tb.c.strategy == strategy)
    if q:
        pat = f"%{escape_like(q.lower())}%"
        cols = (
            tb.c.entry_reason,
            tb.c.exit_reason,
            tb.c.lessons,
            tb.c.strategy,
            tb.c.instrument_id,
        )
        stmt = stmt.where(or_(*(c.ilike(pat, escape="\\") for c in cols)))
    stmt = stmt.order_by(tb.c.updated_ts.desc(), tb.c.id.desc()).limit(limit).offset(offset)
    return [dict(m) for m in session.execute(stmt).mappings()]


def get_entry(session: Session, entry_id: int) -> Row | None:
    """Return one entry, or None."""
    tb = t("journal_entries")
    m = session.execute(select(tb).where(tb.c.id == entry_id)).mappings().first()
    return dict(m) if m is not None else None


def create_entry(session: Session, values: dict[str, Any], now_wall: float) -> int:
    """Insert an entry from validated ``values`` (keys of :data:`EDITABLE`); return its id."""
    tb = t("journal_entries")
    row = {k: values[k] for k in EDITABLE if k in values}
    res = session.execute(tb.insert().values(created_ts=now_wall, updated_ts=now_wall, **row))
    key = cast("CursorResult[Any]", res).inserted_primary_key
    if key is None:
        raise RuntimeError("the database did not return the new journal entry's id")
    return int(key[0])


def update_entry(session: Session, entry_id: int, values: dict[str, Any], now_wall: float) -> bool:
    """Update the given fields of an entry; return False if it does not exist."""
    tb = t("journal_entries")
    row = {k: values[k] for k in EDITABLE if k in values}
    res = session.execute(update(tb).where(tb.c.id == entry_id).values(updated_ts=now_wall, **row))
    return bool(res.rowcount)  # type: ignore[attr-defined]
