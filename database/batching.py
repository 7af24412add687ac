"""Turn a batch of queued write operations into few ``executemany`` statements.

Used by :class:`database.writer.DbWriter` inside one transaction per batch. The plan keeps the
meaning of the submitted sequence while cutting the number of statements:

* ``call`` operations are barriers: everything before one runs before it, everything after it
  runs after it.
* Between barriers, operations are bucketed by table and the tables run parents first (the
  foreign-key order: strategies, then orders, then fills), so an order's upsert always lands
  before a fill that references it, however the two were interleaved. Within a table the
  submission order is kept (runs of inserts, upserts and deletes stay in sequence).
* A run of upserts (or of updates) on one table is folded per primary key (a later row's columns
  override an earlier one's; the union of columns is written), which is exactly what applying
  them one by one would leave, and rows with the same column set share one statement.
* A segment that deletes from a parent table (one referenced by a foreign key) is not reordered.
* An upsert whose row lacks a required column (NOT NULL without a server default) cannot insert,
  so it runs as an update of the named columns; if no row exists it is a logged no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    Delete,
    Table,
    TextClause,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from database.engine import upsert_statement
from database.models import TABLES, Base

logger = logging.getLogger(__name__)

INSERT = 0
UPSERT = 1
DELETE = 2
CALL = 3
UPDATE = 4
KIND_NAMES = ("insert", "upsert", "delete", "call", "update")

FILLS = "fills"

Op = tuple[int, str, Any, int, float]
"""A queued operation: (kind, table name, row dict / key dict / callable, sequence number,
enqueue time from ``time.monotonic()``)."""

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in t.primary_key.columns) for name, t in TABLES.items()
}
REQUIRED_COLUMNS: dict[str, frozenset[str]] = {
    name: frozenset(
        c.name
        for c in t.columns
        if not c.nullable and c.server_default is None and c is not t.autoincrement_column
    )
    for name, t in TABLES.items()
}
"""Columns an inserted row must carry (NOT NULL, no server default, not autoincremented)."""
_TABLE_ORDER = {t.name: i for i, t in enumerate(Base.metadata.sorted_tables)}
_PARENT_TABLES = frozenset(fk.column.table.name for t in TABLES.values() for fk in t.foreign_keys)


@dataclass(slots=True)
class Group:
    """One statement of a plan: ``rows`` for insert/upsert/delete, ``fn`` for a call."""

    kind: int
    table: str
    columns: frozenset[str] = frozenset()
    rows: list[dict[str, Any]] = field(default_factory=list)
    fn: Callable[[Session], None] | None = None


def plan(ops: Sequence[Op]) -> list[Group]:
    """Return the statements that apply ``ops`` (see the module docstring for the rules).

    Parameters
    ----------
    ops : Sequence[Op]
        Operations in submission order.

    Returns
    -------
    list[Group]
        Statements in execution order.
    """
    groups: list[Group] = []
    segment: list[Op] = []
    for op in ops:
        if op[0] == CALL:
            groups.extend(_plan_segment(segment))
            segment = []
            groups.append(Group(CALL, "", fn=op[2]))
        else:
            segment.append(op)
    groups.extend(_plan_segment(segment))
    return groups


def _plan_segment(segment: list[Op]) -> list[Group]:
    if not segment:
        return []
    if any(op[0] == DELETE and op[1] in _PARENT_TABLES for op in segment):
        return _consecutive(segment)
    by_table: dict[str, list[Op]] = {}
    for op in segment:
        by_table.setdefault(op[1], []).append(op)
    out: list[Group] = []
    for table in sorted(by_table, key=_TABLE_ORDER.__getitem__):
        ops = by_table[table]
        i = 0
        while i < len(ops):
            kind = ops[i][0]
            j = i + 1
            while j < len(ops) and ops[j][0] == kind:
                j += 1
            run = ops[i:j]
            out.extend(_fold(kind, table, run) if kind in (UPSERT, UPDATE) else _consecutive(run))
            i = j
    return out


def _consecutive(ops: list[Op]) -> list[Group]:
    out: list[Group] = []
    last: Group | None = None
    for kind, table, payload, _, _ in ops:
        cols = frozenset(payload)
        if last is not None and last.kind == kind and last.table == table and last.columns == cols:
            last.rows.append(payload)
        else:
            last = Group(kind, table, cols, [payload])
            out.append(last)
    return out


def _fold(kind: int, table: str, run: list[Op]) -> list[Group]:
    pk = PRIMARY_KEYS[table]
    merged: dict[Any, dict[str, Any]] = {}
    for op in run:
        row = op[2]
        key = row[pk[0]] if len(pk) == 1 else tuple(row[c] for c in pk)
        prev = merged.get(key)
        # Never mutate a submitted row: the isolation path may replay it.
        merged[key] = row if prev is None else {**prev, **row}
    by_cols: dict[frozenset[str], Group] = {}
    for row in merged.values():
        cols = frozenset(row)
        group = by_cols.get(cols)
        if group is None:
            by_cols[cols] = Group(kind, table, cols, [row])
        else:
            group.rows.append(row)
    return list(by_cols.values())


def max_fill_id(ops: Sequence[Op]) -> int:
    """Return the highest ``fills.id`` inserted or upserted by ``ops`` (0 if none)."""
    top = 0
    for kind, table, payload, _, _ in ops:
        if table == FILLS and kind in (INSERT, UPSERT):
            fid = payload.get("id")
            if fid is not None and fid > top:
                top = int(fid)
    return top


class BatchExecutor:
    """Execute planned batches; caches statements per dialect, table and column set.

    SQLAlchemy cannot cache the compiled form of an ``ON CONFLICT`` insert, so each upsert
    shape is compiled once here and reused as a (cacheable) textual statement.
    """

    def __init__(self) -> None:
        self._upserts: dict[tuple[str, str, frozenset[str]], TextClause | None] = {}
        self._driver_upserts: dict[tuple[str, frozenset[str]], _DriverUpsert | None] = {}
        self._deletes: dict[str, Delete] = {}
        self._updates: dict[tuple[str, frozenset[str]], Update] = {}
        self.missed_updates = 0
        """Updates (and partial upserts) that found no row to change, since creation."""

    def execute(self, session: Session, ops: Sequence[Op]) -> None:
        """Apply ``ops`` on the session's connection (the caller commits).

        Parameters
        ----------
        session : Session
            Session with an open transaction.
        ops : Sequence[Op]
            Operations in submission order.
        """
        conn = session.connection()
        for group in plan(ops):
            if group.kind == CALL:
                assert group.fn is not None
                group.fn(session)
                session.flush()  # ORM changes must land before the next statement
            elif group.kind == INSERT:
                conn.execute(insert(TABLES[group.table]), group.rows)
            elif group.kind == UPSERT and REQUIRED_COLUMNS[group.table] <= group.columns:
                self._upsert(conn, group)
            elif group.kind in (UPSERT, UPDATE):
                # A partial upsert cannot insert (a NOT NULL column has no value), and SQLite
                # and PostgreSQL check that before resolving the conflict: update instead.
                self._update(conn, group)
            else:
                conn.execute(self._delete_stmt(group.table), _key_params(group))

    def _delete_stmt(self, table: str) -> Delete:
        stmt = self._deletes.get(table)
        if stmt is None:
            t = TABLES[table]
            cond = and_(*(t.c[c] == bindparam(f"k_{c}") for c in PRIMARY_KEYS[table]))
            stmt = self._deletes[table] = delete(t).where(cond)
        return stmt

    def _update(self, conn: Connection, group: Group) -> None:
        result = conn.execute(self._update_stmt(group), _update_params(group))
        if not conn.dialect.supports_sane_multi_rowcount:
            return
        missed = len(group.rows) - int(result.rowcount)
        if missed > 0:
            self.missed_updates += missed
            logger.warning(
                "%d %s of %s found no existing row (first key %s); nothing was written.",
                missed,
                "partial upsert(s)" if group.kind == UPSERT else "update(s)",
                group.table,
                {c: group.rows[0][c] for c in PRIMARY_KEYS[group.table]},
                extra={"table": group.table, "missed": missed},
            )

    def _update_stmt(self, group: Group) -> Update:
        key = (group.table, group.columns)
        stmt = self._updates.get(key)
        if stmt is None:
            t = TABLES[group.table]
            pk = PRIMARY_KEYS[group.table]
            cond = and_(*(t.c[c] == bindparam(f"k_{c}") for c in pk))
            values: dict[str, Any] = {
                c: bindparam(f"v_{c}") for c in sorted(group.columns) if c not in pk
            }
            stmt = self._updates[key] = update(t).where(cond).values(values)
        return stmt

    def _upsert(self, conn: Connection, group: Group) -> None:
        if conn.dialect.name == "sqlite":
            key = (group.table, group.columns)
            if key not in self._driver_upserts:
                self._driver_upserts[key] = _driver_upsert(conn, TABLES[group.table], group.columns)
            driver = self._driver_upserts[key]
            if driver is not None:
                driver.execute(conn, group.rows)
                return
        cache_key = (conn.dialect.name, group.table, group.columns)
        if cache_key not in self._upserts:
            self._upserts[cache_key] = _compile_upsert(conn, TABLES[group.table], group.columns)
        stmt = self._upserts[cache_key]
        if stmt is None:
            _upsert_fallback(conn, TABLES[group.table], group)
        else:
            conn.execute(stmt, group.rows)


class _DriverUpsert:
    """A SQLite upsert executed on the driver's ``executemany`` with positional rows (issue 18).

    The same SQL and the same values as the textual statement of :func:`_compile_upsert`: each
    column's value goes through the bind processor SQLAlchemy would apply (``Float``,
    ``Boolean``); only SQLAlchemy's per-row parameter dictionaries are skipped, which were about
    two thirds of the writer thread's cost per market-top row (15.6 against 6.8 us). Errors are
    still SQLAlchemy's (``exec_driver_sql`` wraps the driver's), so outages are handled as before.
    """

    __slots__ = ("sql", "names", "procs")

    def __init__(
        self, sql: str, names: list[str], procs: Sequence[Callable[[Any], Any] | None]
    ) -> None:
        self.sql = sql
        self.names = names
        self.procs = procs

    def execute(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        names = self.names
        if any(p is not None for p in self.procs):
            pairs = list(zip(names, self.procs, strict=True))
            params = [tuple(r[n] if p is None else p(r[n]) for n, p in pairs) for r in rows]
        else:
            params = [tuple(r[n] for n in names) for r in rows]
        conn.exec_driver_sql(self.sql, params)


def _upsert_for(
    conn: Connection, table: Table, columns: frozenset[str]
) -> tuple[list[str], Any] | None:
    """Return (the columns in table order, the dialect's upsert statement), or None when the
    dialect has none."""
    ordered = [c.name for c in table.columns if c.name in columns]
    try:
        return ordered, upsert_statement(conn.dialect, table, ordered)
    except NotImplementedError:
        return None


def _driver_upsert(conn: Connection, table: Table, columns: frozenset[str]) -> _DriverUpsert | None:
    """Return the driver-level form of an upsert, or None (then the textual statement is used)."""
    found = _upsert_for(conn, table, columns)
    if found is None:
        return None
    ordered, stmt = found
    compiled = stmt.compile(dialect=conn.dialect, column_keys=ordered)
    names = list(compiled.positiontup or ())
    if sorted(names) != sorted(ordered) or set(compiled.binds) != set(ordered):
        return None  # not one positional parameter per column: keep the general path
    procs = [table.c[n].type._cached_bind_processor(conn.dialect) for n in names]
    return _DriverUpsert(str(compiled), names, procs)


def _key_params(group: Group) -> list[dict[str, Any]]:
    pk = PRIMARY_KEYS[group.table]
    return [{f"k_{c}": r[c] for c in pk} for r in group.rows]


def _update_params(group: Group) -> list[dict[str, Any]]:
    pk = PRIMARY_KEYS[group.table]
    return [{(f"k_{c}" if c in pk else f"v_{c}"): v for c, v in r.items()} for r in group.rows]


def _compile_upsert(conn: Connection, table: Table, columns: frozenset[str]) -> TextClause | None:
    found = _upsert_for(conn, table, columns)
    if found is None:
        return None
    ordered, stmt = found
    # Render with named parameters; text() translates them to the driver's paramstyle.
    dialect_cls: Any = type(conn.dialect)
    named = dialect_cls(paramstyle="named")
    compiled = stmt.compile(dialect=named, column_keys=ordered)
    if set(compiled.binds) != set(ordered):
        # A column with a Python-side default would need a value the rows do not carry.
        raise ValueError(f"upsert of {table.name} binds {sorted(compiled.binds)}, not {ordered}")
    # PostgreSQL dialects render typed binds as ``:name::VARCHAR``; text() would not see a
    # parameter followed by "::" (it reads that as an escaped colon), so every row failed with
    # "text() construct doesn't define a bound parameter named ...". Escape the casts' colons
    # (text() turns ``\:`` back into ``:``); the driver-level statement keeps its casts.
    sql = str(compiled).replace("::", "\\:\\:")
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in ordered))


def _upsert_fallback(conn: Connection, table: Table, group: Group) -> None:
    # Dialects without ON CONFLICT: update by key, insert where nothing was updated.
    pk = PRIMARY_KEYS[table.name]
    cond = and_(*(table.c[c] == bindparam(f"k_{c}") for c in pk))
    values: dict[str, Any] = {c: bindparam(c) for c in sorted(group.columns) if c not in pk}
    for r in group.rows:
        keys = {f"k_{c}": r[c] for c in pk}
        if values:
            params = {**keys, **{c: r[c] for c in values}}
            updated = conn.execute(update(table).where(cond).values(values), params).rowcount
        else:
            found = conn.execute(select(func.count()).select_from(table).where(cond), keys)
            updated = int(found.scalar() or 0)
        if not updated:
            conn.execute(insert(table), r)
