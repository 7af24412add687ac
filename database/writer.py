"""The single database writer: a thread that commits queued writes in batches.

The engine's asyncio loop never waits on the database: it hands rows to :class:`DbWriter`
(``insert``, ``upsert``, ``update``, ``delete`` and ``call`` only append to a queue) and a
dedicated thread writes them, one transaction per batch. A batch is everything queued up to
``max_batch`` operations or ``flush_interval_s`` after its first operation, whichever comes
first. Within a batch the meaning of the submitted sequence is kept (an order's upsert lands
before a fill that references it) while rows are grouped into few ``executemany`` statements
(see :mod:`database.batching`).

Failures: a busy or locked database (``OperationalError``) is retried with exponential backoff;
if it still fails, the batch is dropped. Bad data (integrity or type errors) is isolated: the
batch is replayed one operation per transaction so that only the offending rows are dropped.
Every dropped row is logged at ERROR with its table and key, counted in :attr:`DbWriter.stats`,
and reported through ``on_error``; the writer keeps running.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from database.batching import (
    CALL,
    DELETE,
    FILLS,
    INSERT,
    KIND_NAMES,
    PRIMARY_KEYS,
    UPDATE,
    UPSERT,
    BatchExecutor,
    Op,
    max_fill_id,
)
from database.models import TABLES

logger = logging.getLogger(__name__)

ErrorCallback = Callable[[BaseException], None]


_BACKLOG_PAUSE_S = 0.02  # seconds between full batches, for other writers


@dataclass(frozen=True, slots=True)
class WriterStats:
    """A snapshot of the writer's counters.

    Attributes
    ----------
    rows_written : int
        Operations committed (rows inserted, upserted or deleted, plus ``call`` operations).
    batches : int
        Transactions committed.
    errors : int
        Failed transaction attempts (each retry counts).
    retries : int
        Batches retried after a transient error.
    dropped_rows : int
        Operations given up on (logged at ERROR).
    max_batch_latency_s : float
        Longest time from a batch's first queued operation to its commit, seconds.
    last_batch_latency_s : float
        The same for the latest batch, seconds.
    max_batch_size : int
        Largest batch committed, in operations.
    missed_updates : int
        Updates and partial upserts that found no row to change (logged at WARNING).
    queue_depth : int
        Operations waiting in the queue when the snapshot was taken.
    """

    rows_written: int = 0
    batches: int = 0
    errors: int = 0
    retries: int = 0
    dropped_rows: int = 0
    max_batch_latency_s: float = 0.0
    last_batch_latency_s: float = 0.0
    max_batch_size: int = 0
    missed_updates: int = 0
    queue_depth: int = 0


_DETAILED_DROPS = 5  # dropped operations logged one by one per failure, the rest summarized


def _short(exc: BaseException, limit: int = 600) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


class _FlushMarker:
    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class _Stop:
    __slots__ = ()


class DbWriter:
    """Batch writes to the database from a dedicated thread.

    Parameters
    ----------
    session_factory : sessionmaker[Session]
        Factory from :func:`database.engine.make_session_factory`; the schema must exist.
    flush_interval_s : float, default 0.2
        Longest time an operation waits in the queue before its batch commits, seconds.
    max_batch : int, default 2000
        Most operations per transaction.
    on_error : Callable[[BaseException], None], optional
        Called from the writer thread once per batch that lost rows, with the last exception.
        It must be thread-safe (e.g. ``loop.call_soon_threadsafe``); its own errors are logged.
    max_retries : int, default 3
        Retries of a batch after a transient (busy/locked) error before it is dropped.
    retry_backoff_s : float, default 0.1
        First retry delay, seconds; doubles on each retry.

    Notes
    -----
    The submit methods never block and are safe to call from any thread. Rows are copied on
    submission. Start the writer once with :meth:`start` and end it with :meth:`stop`; the thread
    is a daemon, so a process that exits without ``stop`` loses what was not yet committed.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        flush_interval_s: float = 0.2,
        max_batch: int = 2000,
        on_error: ErrorCallback | None = None,
        max_retries: int = 3,
        retry_backoff_s: float = 0.1,
    ) -> None:
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self._session_factory = session_factory
        self._flush_interval_s = flush_interval_s
        self._max_batch = max_batch
        self._on_error = on_error
        self._max_retries = max_retries
        self._retry_backoff_s = retry_backoff_s
        self._queue: queue.SimpleQueue[Op | _FlushMarker | _Stop] = queue.SimpleQueue()
        self._seq = itertools.count(1)
        self._submit_lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._stats = WriterStats()
        self._dropped_at_last_marker = 0
        self._persisted_fill_id = 0
        self._table_columns = {name: frozenset(t.columns.keys()) for name, t in TABLES.items()}
        self._table_pk = PRIMARY_KEYS
        self._executor = BatchExecutor()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Read the highest committed fill id and start the writer thread.

        Raises
        ------
        RuntimeError
            If the writer was already started or stopped.
        """
        if self._thread is not None or self._closed:
            raise RuntimeError("DbWriter.start() may be called only once.")
        with self._session_factory() as session:
            top = session.execute(select(func.max(TABLES[FILLS].c.id))).scalar()
        self._persisted_fill_id = int(top or 0)
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self._thread.start()

    def backlog(self) -> int:
        """Return how many operations are queued and not yet committed (approximate, cheap)."""
        return self._queue.qsize()

    @property
    def is_alive(self) -> bool:
        """Return whether the writer thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything submitted so far is committed.

        This blocks the calling thread: from the event loop use
        ``await asyncio.to_thread(writer.flush)``.

        Parameters
        ----------
        timeout : float, default 10.0
            Longest wait, seconds.

        Returns
        -------
        bool
            True if the writer reached this point in time and no operation submitted since the
            previous flush was dropped; False on timeout, on dropped rows, or if the writer is
            not running.
        """
        if not self.is_alive:
            return False
        marker = _FlushMarker()
        self._queue.put(marker)
        if not marker.done.wait(timeout):
            logger.warning(
                "Database writer flush timed out after %.1f s with %d operation(s) queued.",
                timeout,
                self._queue.qsize(),
            )
            return False
        return marker.ok

    def stop(self, timeout: float = 10.0) -> None:
        """Commit everything queued, then stop the thread. Later submissions raise.

        Parameters
        ----------
        timeout : float, default 10.0
            Longest wait for the queue to drain and the thread to end, seconds.
        """
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_Stop())
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "Database writer did not stop within %.1f s; %d operation(s) still queued.",
                timeout,
                self._queue.qsize(),
            )

    # ------------------------------------------------------------------ submission

    def insert(self, table: str, row: dict[str, Any]) -> None:
        """Queue a plain insert (fills, settlements, snapshots, events).

        Parameters
        ----------
        table : str
            Table name, e.g. ``"fills"``.
        row : dict[str, Any]
            Column values (money in micro-units, times in epoch seconds).

        Raises
        ------
        ValueError
            If the table or a column is unknown.
        """
        self._submit(INSERT, table, self._checked_row(table, row, need_pk=False))

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        """Queue an insert-or-update by primary key (orders, positions, strategies, ...).

        On conflict only the columns present in ``row`` are updated. A partial row, one without
        every NOT NULL column that has no server default, cannot be inserted: it updates the
        existing row instead, and is a logged no-op (counted in ``stats.missed_updates``) if
        there is none.

        Parameters
        ----------
        table : str
            Table name, e.g. ``"orders"``.
        row : dict[str, Any]
            Column values including every primary-key column.

        Raises
        ------
        ValueError
            If the table or a column is unknown, or a primary-key column is missing.
        """
        self._submit(UPSERT, table, self._checked_row(table, row, need_pk=True))

    def update(self, table: str, row: dict[str, Any]) -> None:
        """Queue an update of the named columns of an existing row (no-op if it is absent).

        Parameters
        ----------
        table : str
            Table name, e.g. ``"strategies"``.
        row : dict[str, Any]
            Every primary-key column plus at least one column to set.

        Raises
        ------
        ValueError
            If the table or a column is unknown, a key column is missing, or nothing is set.
        """
        checked = self._checked_row(table, row, need_pk=True)
        if len(checked) == len(self._table_pk[table]):
            raise ValueError(f"update of {table!r} sets no column")
        self._submit(UPDATE, table, checked)

    def delete(self, table: str, key: dict[str, Any]) -> None:
        """Queue a delete by primary key (e.g. a position back at qty 0).

        Parameters
        ----------
        table : str
            Table name.
        key : dict[str, Any]
            Exactly the primary-key columns and their values.

        Raises
        ------
        ValueError
            If the table is unknown or ``key`` is not exactly the primary key.
        """
        pk = self._table_pk.get(table)
        if pk is None:
            raise ValueError(f"unknown table {table!r}")
        if set(key) != set(pk):
            raise ValueError(f"delete from {table!r} needs exactly the key {pk}, got {set(key)}")
        self._submit(DELETE, table, {c: key[c] for c in pk})

    def call(self, fn: Callable[[Session], None]) -> None:
        """Queue an arbitrary write, run in the batch's transaction in submission order.

        Parameters
        ----------
        fn : Callable[[Session], None]
            Receives the batch's session; must not commit or roll back. ORM changes it makes
            are flushed before the next queued operation runs.
        """
        self._submit(CALL, "", fn)

    # ------------------------------------------------------------------ inspection

    @property
    def persisted_fill_id(self) -> int:
        """Return the highest ``fills.id`` known to be committed (0 if none)."""
        return self._persisted_fill_id

    @property
    def stats(self) -> WriterStats:
        """Return a snapshot of the counters (see :class:`WriterStats`)."""
        with self._stats_lock:
            return replace(
                self._stats,
                missed_updates=self._executor.missed_updates,
                queue_depth=self._queue.qsize(),
            )

    # ------------------------------------------------------------------ internals: submission

    def _checked_row(self, table: str, row: dict[str, Any], *, need_pk: bool) -> dict[str, Any]:
        columns = self._table_columns.get(table)
        if columns is None:
            raise ValueError(f"unknown table {table!r}")
        if not row:
            raise ValueError(f"empty row for table {table!r}")
        unknown = row.keys() - columns
        if unknown:
            raise ValueError(f"unknown column(s) {sorted(unknown)} for table {table!r}")
        if need_pk:
            missing = [c for c in self._table_pk[table] if c not in row]
            if missing:
                raise ValueError(f"write to {table!r} is missing key column(s) {missing}")
        return dict(row)

    def _submit(self, kind: int, table: str, payload: Any) -> None:
        with self._submit_lock:
            if self._closed:
                raise RuntimeError("DbWriter is stopped; the write was not queued.")
            self._queue.put((kind, table, payload, next(self._seq), time.monotonic()))

    # ------------------------------------------------------------------ internals: thread

    def _run(self) -> None:
        get = self._queue.get
        while True:
            first = get()
            batch: list[Op] = []
            controls: list[_FlushMarker | _Stop] = []
            item: Op | _FlushMarker | _Stop = first
            deadline = time.monotonic() + self._flush_interval_s
            while True:
                if isinstance(item, (_FlushMarker, _Stop)):
                    controls.append(item)
                    break  # commit now: someone is waiting
                batch.append(item)
                if len(batch) >= self._max_batch:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = get(timeout=remaining)
                except queue.Empty:
                    break
            if batch:
                try:
                    self._write_batch(batch)
                except Exception as exc:  # the writer thread must survive
                    logger.exception("Database writer failed unexpectedly on a batch.")
                    self._count(errors=1, dropped_rows=len(batch))
                    self._report(exc)
                if len(batch) >= self._max_batch and not controls:
                    # Under a backlog the writer would commit back to back and other processes
                    # (the dashboard's emergency stop, the control CLI) could starve on SQLite's
                    # single write lock; leave them a window between batches.
                    time.sleep(_BACKLOG_PAUSE_S)
            stop = False
            for control in controls:
                if isinstance(control, _FlushMarker):
                    with self._stats_lock:
                        dropped = self._stats.dropped_rows
                    control.ok = dropped == self._dropped_at_last_marker
                    self._dropped_at_last_marker = dropped
                    control.done.set()
                else:
                    stop = True
            if stop:
                self._drain_after_stop()
                return

    def _drain_after_stop(self) -> None:
        # Nothing can be submitted after the stop sentinel, but a flush() racing with stop() may
        # have queued a marker behind it: release its waiter.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _FlushMarker):
                item.done.set()

    def _write_batch(self, batch: list[Op]) -> None:
        started = batch[0][4]
        attempt = 0
        while True:
            try:
                fill_max = self._execute(batch)
            except OperationalError as exc:
                self._count(errors=1)
                if attempt < self._max_retries:
                    delay = self._retry_backoff_s * (2**attempt)
                    attempt += 1
                    self._count(retries=1)
                    logger.warning(
                        "Database writer batch of %d operation(s) failed (attempt %d), "
                        "retrying in %.2f s: %s",
                        len(batch),
                        attempt,
                        delay,
                        _short(exc),
                        extra={"batch_size": len(batch), "attempt": attempt},
                    )
                    time.sleep(delay)
                    continue
                self._drop(batch, exc, reason=f"still failing after {attempt + 1} attempt(s)")
                self._report(exc)
                return
            except Exception as exc:  # noqa: BLE001 - bad data or a failing call(): isolate it
                self._count(errors=1)
                logger.warning(
                    "Database writer batch of %d operation(s) failed (%s); replaying it one "
                    "operation per transaction to isolate the bad row(s).",
                    len(batch),
                    _short(exc),
                    extra={"batch_size": len(batch)},
                )
                self._isolate(batch)
                return
            self._committed(batch, fill_max, started)
            return

    def _committed(self, ops: Sequence[Op], fill_max: int, started: float) -> None:
        self._persisted_fill_id = max(self._persisted_fill_id, fill_max)
        latency = time.monotonic() - started
        with self._stats_lock:
            s = self._stats
            self._stats = replace(
                s,
                rows_written=s.rows_written + len(ops),
                batches=s.batches + 1,
                max_batch_latency_s=max(s.max_batch_latency_s, latency),
                last_batch_latency_s=latency,
                max_batch_size=max(s.max_batch_size, len(ops)),
            )

    def _isolate(self, batch: list[Op]) -> None:
        last_exc: BaseException | None = None
        dropped = 0
        for index, op in enumerate(batch):
            try:
                fill_max = self._execute([op])
            except OperationalError as exc:
                # The database itself is failing: stop replaying, drop the rest of the batch.
                self._count(errors=1)
                last_exc = exc
                rest = batch[index:]
                dropped += len(rest)
                self._drop(rest, exc, reason="database error while isolating bad rows")
                break
            except Exception as exc:  # noqa: BLE001 - drop only this operation
                self._count(errors=1)
                last_exc = exc
                dropped += 1
                detailed = 1 if dropped <= _DETAILED_DROPS else 0
                self._drop([op], exc, reason="rejected by the database", detailed=detailed)
                continue
            self._committed([op], fill_max, op[4])
        if last_exc is not None:
            logger.error(
                "Database writer dropped %d of %d operation(s) of a batch while isolating bad "
                "rows (details of the first %d above); last error: %s",
                dropped,
                len(batch),
                min(dropped, _DETAILED_DROPS),
                _short(last_exc),
                extra={"dropped": dropped, "batch_size": len(batch)},
            )
            self._report(last_exc)

    def _drop(
        self,
        ops: Sequence[Op],
        exc: BaseException,
        *,
        reason: str,
        detailed: int = _DETAILED_DROPS,
    ) -> None:
        self._count(dropped_rows=len(ops))
        for kind, table, payload, seq, _ in ops[:detailed]:
            logger.error(
                "Database writer dropped a %s on %s (%s): key=%s seq=%d error=%s",
                KIND_NAMES[kind],
                table or "<call>",
                reason,
                self._describe(kind, table, payload),
                seq,
                _short(exc),
                extra={"table": table, "op": KIND_NAMES[kind], "seq": seq},
            )
        if len(ops) > detailed:
            logger.error(
                "Database writer dropped %d more operation(s) (%s): %s",
                len(ops) - detailed,
                reason,
                _short(exc),
                extra={"dropped": len(ops) - detailed},
            )

    def _describe(self, kind: int, table: str, payload: Any) -> str:
        if kind == CALL:
            return getattr(payload, "__qualname__", repr(payload))
        pk = self._table_pk.get(table, ())
        key = {c: payload.get(c) for c in pk if c in payload}
        return repr(key) if key else repr(payload)[:200]

    def _report(self, exc: BaseException) -> None:
        if self._on_error is None:
            return
        try:
            self._on_error(exc)
        except Exception:
            logger.exception("Database writer on_error callback raised.")

    def _count(self, *, errors: int = 0, retries: int = 0, dropped_rows: int = 0) -> None:
        with self._stats_lock:
            s = self._stats
            self._stats = replace(
                s,
                errors=s.errors + errors,
                retries=s.retries + retries,
                dropped_rows=s.dropped_rows + dropped_rows,
            )

    def _execute(self, ops: Sequence[Op]) -> int:
        """Run ``ops`` in one transaction; return the highest fill id written (0 if none)."""
        with self._session_factory() as session, session.begin():
            self._executor.execute(session, ops)
        return max_fill_id(ops)
