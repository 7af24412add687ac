"""The single database writer: a thread that commits queued writes in batches.

The engine's asyncio loop never waits on the database: it hands rows to :class:`DbWriter`
(``insert``, ``upsert``, ``update``, ``delete`` and ``call`` only append to a queue) and a
dedicated thread writes them, one transaction per batch. A batch is everything queued up to
``max_batch`` operations or ``flush_interval_s`` after its first operation, whichever comes
first. Within a batch the meaning of the submitted sequence is kept (an order's upsert lands
before a fill that references it) while rows are grouped into few ``executemany`` statements
(see :mod:`database.batching`).

Failures never drop a row:

* A busy or locked database (``OperationalError``) is retried a few times with exponential
  backoff. If it still fails the store is *degraded* (:attr:`DbWriter.healthy` turns False): the
  writer keeps every operation it could not commit, in memory up to ``memory_rows`` and beyond
  that appended to a local spool file (:mod:`database.spool`), and retries every
  ``retry_interval_s`` until the store takes them, in submission order. The trading side reads
  :attr:`DbWriter.healthy` / :attr:`DbWriter.degraded_for_s` to stop new positions and, past a
  configured time, to stop the bot (see :mod:`services.risk.store_guard`).
* Bad data (integrity or type errors) is isolated: the batch is replayed one operation per
  transaction; a row the database rejects is written to a dead-letter file (``rejected_path``),
  logged at ERROR with its table and key, counted in :attr:`DbWriter.stats` (``dropped_rows``)
  and reported through ``on_error``. A flush that saw one returns False.
* At :meth:`DbWriter.stop`, what the store still refuses is appended to the spool; the next
  :meth:`DbWriter.start` replays the spool before anything else.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
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
from database.spool import (
    SPOOL_STATE_KEY,
    Spool,
    SpoolError,
    dead_letter,
    encode_op,
    progress_row,
)

logger = logging.getLogger(__name__)

ErrorCallback = Callable[[BaseException], None]


_BACKLOG_PAUSE_S = 0.02  # seconds between full batches, for other writers
_CHUNK_OPS = 256  # submitted operations handed to the writer thread in one queue item


class StoreUnavailableError(RuntimeError):
    """The database cannot be written (raised by :meth:`DbWriter.start` when a spool left by an
    earlier run cannot be replayed)."""


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
        Operations the database rejected as bad data (logged at ERROR, kept in the dead-letter
        file). A store that cannot be written never drops a row.
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
    held_rows : int
        Operations the store refused, kept in memory (not yet committed).
    spooled_rows : int
        Operations the store refused, kept in the spool file (not yet committed).
    spooled_total : int
        Operations ever appended to the spool by this writer.
    replayed_rows : int
        Operations committed after an outage (from memory or the spool).
    unsaved_rows : int
        Operations neither committed nor spooled when the writer stopped (only when the store
        and the spool were both unwritable).
    committed_fills, committed_orders, committed_settlements : int
        Fill inserts, order upserts and settlement inserts committed by this writer.
    degraded : bool
        Whether the store is failing now.
    outages : int
        How many times the store became unwritable.
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
    held_rows: int = 0
    spooled_rows: int = 0
    spooled_total: int = 0
    replayed_rows: int = 0
    unsaved_rows: int = 0
    committed_fills: int = 0
    committed_orders: int = 0
    committed_settlements: int = 0
    degraded: bool = False
    outages: int = 0


_DETAILED_DROPS = 5  # dropped operations logged one by one per failure, the rest summarized


_RESET_EVERY = 5
"""Failed outage retries between two "still not writable" warnings (and pool resets)."""


def _short(exc: BaseException, limit: int = 600) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def _store_error(exc: BaseException) -> str:
    """Return the driver's own message (``database is locked``), without SQL and parameters."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc).split("\n", 1)[0]
    return f"{type(orig or exc).__name__}: {text}"[:300]


class _FlushMarker:
    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class _Stop:
    __slots__ = ()


class DbWriter:
    """Batch writes to the database from a dedicated thread; never drop a row the store refused.

    Parameters
    ----------
    session_factory : sessionmaker[Session]
        Factory from :func:`database.engine.make_session_factory`; the schema must exist.
    flush_interval_s : float, default 0.2
        Longest time an operation waits in the queue before its batch commits, seconds.
    max_batch : int, default 2000
        Most operations per transaction.
    on_error : Callable[[BaseException], None], optional
        Called from the writer thread once per batch whose rows the database rejected, with the
        last exception. It must be thread-safe; its own errors are logged.
    max_retries : int, default 3
        Quick retries of a batch after a transient (busy/locked) error before the store counts
        as degraded.
    retry_backoff_s : float, default 0.1
        First retry delay, seconds; doubles on each retry.
    spool_path : Path, optional
        Where operations beyond ``memory_rows`` go while the store cannot be written. None keeps
        them all in memory (the engine's backpressure then stops it at its backlog bound).
    rejected_path : Path, optional
        Dead-letter file for rows the database rejects as bad data. None: logged only.
    memory_rows : int, default 5000
        Operations kept in memory during an outage before the oldest are spooled, count.
    retry_interval_s : float, default 1.0
        Longest wait between two attempts during an outage, seconds.

    Notes
    -----
    The submit methods never block and are safe to call from any thread. Rows are copied on
    submission. Start the writer once with :meth:`start` and end it with :meth:`stop`; the thread
    is a daemon, so a process that exits without ``stop`` loses what was not yet committed or
    spooled (the database then holds a prefix of the submitted operations).
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
        spool_path: Path | None = None,
        rejected_path: Path | None = None,
        memory_rows: int = 5000,
        retry_interval_s: float = 1.0,
    ) -> None:
        if flush_interval_s <= 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if memory_rows < 1:
            raise ValueError(f"memory_rows must be >= 1, got {memory_rows}")
        if retry_interval_s <= 0:
            raise ValueError(f"retry_interval_s must be > 0, got {retry_interval_s}")
        self._session_factory = session_factory
        self._flush_interval_s = flush_interval_s
        self._max_batch = max_batch
        self._on_error = on_error
        self._max_retries = max_retries
        self._retry_backoff_s = retry_backoff_s
        self._memory_rows = memory_rows
        self._retry_interval_s = retry_interval_s
        # Submissions are appended to ``_pending`` (under ``_submit_lock``) and handed to the
        # thread as one list per ``_chunk`` operations, at a flush or stop, or when the thread
        # finds the queue idle: one queue item and one thread wake-up per chunk instead of per
        # row, in exactly the submitted order. ``_carry`` is the rest of a chunk that did not
        # fit in the last batch (``max_batch``); it goes first.
        self._queue: queue.SimpleQueue[list[Op] | _FlushMarker | _Stop] = queue.SimpleQueue()
        self._pending: list[Op] = []
        self._chunk = min(_CHUNK_OPS, max_batch)
        self._carry: list[Op] = []
        self._submitted = 0  # operations submitted (under the lock)
        self._taken = 0  # operations the thread took from the queue (writer thread only)
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
        self._valid_columns: set[tuple[Any, ...]] = set()  # (table, need_pk, *columns) checked
        self._executor = BatchExecutor()
        # Outage state, owned by the writer thread (read without a lock by other threads).
        self._spool = Spool(spool_path) if spool_path is not None else None
        self._rejected_path = rejected_path
        self._memory: deque[Op] = deque()  # refused ops after everything spooled, in order
        self._deferred: deque[Op] = deque()  # unspoolable ops (calls) among the spooled ones
        self._waiting: list[_FlushMarker] = []  # flushes waiting for the outage to end
        self._degraded_since: float | None = None  # time.monotonic() of the first failure
        self._last_store_error = ""
        self._spool_failing = False
        self._failed_retries = 0  # consecutive failed retries of this outage

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Replay a spool left by an earlier run, read the top fill id, start the thread.

        Raises
        ------
        RuntimeError
            If the writer was already started or stopped.
        StoreUnavailableError
            If a spool left by an earlier run exists and the database refuses it.
        """
        if self._thread is not None or self._closed:
            raise RuntimeError("DbWriter.start() may be called only once.")
        try:
            if self._spool is not None and self._spool.exists():
                self._replay_leftover_spool()
            with self._session_factory() as session:
                top = session.execute(select(func.max(TABLES[FILLS].c.id))).scalar()
        except OperationalError as exc:
            raise StoreUnavailableError(f"the database cannot be read: {_short(exc, 300)}") from exc
        self._persisted_fill_id = int(top or 0)
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self._thread.start()

    def backlog(self) -> int:
        """Return how many operations wait in memory, uncommitted (approximate, cheap).

        Spooled operations are not counted: they no longer take memory, so the engine's
        backpressure does not stall trading-side work (exits, cancels) during an outage.
        """
        queued = max(0, self._submitted - self._taken)
        return queued + len(self._memory) + len(self._deferred)

    @property
    def is_alive(self) -> bool:
        """Return whether the writer thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def healthy(self) -> bool:
        """Return False while the store refuses writes (rows are being held or spooled).

        This is the flag the risk chain's store gate reads: no new positions while it is False.
        """
        return self._degraded_since is None

    @property
    def degraded_for_s(self) -> float:
        """Return how long the store has been failing, seconds (0.0 when healthy)."""
        since = self._degraded_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    @property
    def last_store_error(self) -> str:
        """Return the last error the store raised (empty if none)."""
        return self._last_store_error

    @property
    def spool_failing(self) -> bool:
        """Return True while the spool file cannot be written either (rows only in memory)."""
        return self._spool_failing or (self._spool is None and not self.healthy)

    @property
    def spool_path(self) -> Path | None:
        """Return the spool file used during outages (None: memory only)."""
        return self._spool.path if self._spool is not None else None

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything submitted so far is committed.

        This blocks the calling thread: from the event loop use
        ``await asyncio.to_thread(writer.flush)``. During an outage the wait lasts until the store
        takes every held row, or until ``timeout``.

        Parameters
        ----------
        timeout : float, default 10.0
            Longest wait, seconds.

        Returns
        -------
        bool
            True if everything submitted before the call is committed and no operation since the
            previous flush was rejected; False on timeout (rows still held or spooled), on
            rejected rows, or if the writer is not running.
        """
        if not self.is_alive:
            return False
        marker = _FlushMarker()
        with self._submit_lock:
            self._publish_locked()
            self._queue.put(marker)
        if not marker.done.wait(timeout):
            logger.warning(
                "Database writer flush timed out after %.1f s with %d operation(s) uncommitted.",
                timeout,
                self.backlog() + (self._spool.pending if self._spool is not None else 0),
            )
            return False
        return marker.ok

    def stop(self, timeout: float = 10.0) -> None:
        """Commit everything queued (or spool what the store refuses), then stop the thread.

        Later submissions raise.

        Parameters
        ----------
        timeout : float, default 10.0
            Longest wait for the queue to drain and the thread to end, seconds.
        """
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._publish_locked()
            self._queue.put(_Stop())
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "Database writer did not stop within %.1f s; %d operation(s) still queued.",
                timeout,
                self.backlog(),
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
                queue_depth=max(0, self._submitted - self._taken),
            )

    # ------------------------------------------------------------------ internals: submission

    def _checked_row(self, table: str, row: dict[str, Any], *, need_pk: bool) -> dict[str, Any]:
        # The engine writes the same few column sets over and over: a set of columns already
        # found valid for (table, need_pk) skips the checks (same errors as before otherwise).
        key = (table, need_pk, *row)
        if key in self._valid_columns:
            return dict(row)
        checked = self._check_row(table, row, need_pk=need_pk)
        if len(self._valid_columns) < 4096:
            self._valid_columns.add(key)
        return checked

    def _check_row(self, table: str, row: dict[str, Any], *, need_pk: bool) -> dict[str, Any]:
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
            pending = self._pending
            pending.append((kind, table, payload, next(self._seq), time.monotonic()))
            self._submitted += 1
            if len(pending) >= self._chunk:
                self._queue.put(pending)
                self._pending = []

    def _publish_locked(self) -> bool:
        """Hand the pending submissions to the thread (caller holds ``_submit_lock``)."""
        if not self._pending:
            return False
        self._queue.put(self._pending)
        self._pending = []
        return True

    def _publish(self) -> bool:
        """From the writer thread: hand over what is pending; True if there was something."""
        with self._submit_lock:
            return self._publish_locked()

    def _took(self, chunk: list[Op]) -> None:
        self._taken += len(chunk)

    # ------------------------------------------------------------------ internals: thread

    def _run(self) -> None:
        while True:
            if self._has_pending():
                stop = self._outage_cycle()
            else:
                stop = self._normal_cycle()
            if stop:
                return

    def _has_pending(self) -> bool:
        return bool(
            self._memory or self._deferred or (self._spool is not None and self._spool.pending)
        )

    def _normal_cycle(self) -> bool:
        get = self._queue.get
        item: list[Op] | _FlushMarker | _Stop
        waited = False
        if self._carry:
            item, self._carry = self._carry, []
        else:
            try:
                item = get(timeout=self._flush_interval_s)
            except queue.Empty:
                # Idle for a whole interval: commit what is below a chunk now, not an interval later.
                if not self._publish():
                    return False
                item = self._queue.get_nowait()
                waited = True
            if isinstance(item, list):
                self._took(item)
        batch: list[Op] = []
        controls: list[_FlushMarker | _Stop] = []
        deadline = time.monotonic() + (0.0 if waited else self._flush_interval_s)
        max_batch = self._max_batch
        while True:
            if isinstance(item, (_FlushMarker, _Stop)):
                controls.append(item)
                break  # commit now: someone is waiting
            room = max_batch - len(batch)
            if len(item) > room:
                batch.extend(item[:room])
                self._carry = item[room:]
            else:
                batch.extend(item)
            if len(batch) >= max_batch:
                break
            remaining = deadline - time.monotonic()
            try:
                item = get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                # The interval is over: take what was submitted but not yet handed over.
                if not self._publish():
                    break
                item = self._queue.get_nowait()
            if isinstance(item, list):
                self._took(item)
        if batch:
            try:
                self._write_batch(batch)
            except Exception as exc:  # the writer thread must survive; keep the rows
                logger.exception("Database writer failed unexpectedly on a batch; holding it.")
                self._enter_outage(exc)
                self._memory.extendleft(reversed(batch))
            if len(batch) >= self._max_batch and not controls and not self._has_pending():
                # Under a backlog the writer would commit back to back and other processes
                # (the dashboard's emergency stop, the control CLI) could starve on SQLite's
                # single write lock; leave them a window between batches.
                time.sleep(_BACKLOG_PAUSE_S)
        return self._handle_controls(controls)

    def _handle_controls(self, controls: list[_FlushMarker | _Stop]) -> bool:
        stop = False
        for control in controls:
            if isinstance(control, _FlushMarker):
                self._waiting.append(control)
            else:
                stop = True
        if not self._has_pending():
            self._release_markers()
        if stop:
            if self._has_pending():
                self._final_attempt()
            self._release_markers(force=True)
            self._drain_after_stop()
            return True
        return False

    def _release_markers(self, *, force: bool = False) -> None:
        if not self._waiting:
            return
        pending = self._has_pending()
        if pending and not force:
            return
        with self._stats_lock:
            dropped = self._stats.dropped_rows
        ok = dropped == self._dropped_at_last_marker and not pending
        self._dropped_at_last_marker = dropped
        for marker in self._waiting:
            marker.ok = ok
            marker.done.set()
        self._waiting = []

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
        """Commit ``batch``; after the quick retries, hold it and enter the outage state."""
        attempt = 0
        while True:
            try:
                done = self._apply(batch, spool_offsets=None)
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
                        _store_error(exc),
                        extra={"batch_size": len(batch), "attempt": attempt},
                    )
                    time.sleep(delay)
                    continue
                self._enter_outage(exc)
                self._memory.extendleft(reversed(batch))
                self._spill_if_needed()
                return
            if done < len(batch):  # the store failed while isolating bad rows
                self._memory.extendleft(reversed(batch[done:]))
                self._spill_if_needed()
            return

    # ------------------------------------------------------------------ internals: outage

    def _enter_outage(self, exc: BaseException) -> None:
        self._last_store_error = _store_error(exc)
        if self._degraded_since is not None:
            return
        self._degraded_since = time.monotonic()
        with self._stats_lock:
            self._stats = replace(self._stats, degraded=True, outages=self._stats.outages + 1)
        logger.error(
            "The database cannot be written (%s). Rows are kept (memory, then the spool %s) and "
            "retried every %.1f s; no new positions until the store is back.",
            self._last_store_error,
            self.spool_path or "<none: memory only>",
            self._retry_interval_s,
            extra={"store": "degraded"},
        )

    def _still_failing(self) -> None:
        """Count a failed retry; every ``_RESET_EVERY`` of them, say so and reset the pool.

        Fresh connections rule out a pooled connection left holding a lock or an old WAL
        snapshot (which fails every write with "database is locked" however long one waits).
        """
        self._failed_retries += 1
        if self._failed_retries % _RESET_EVERY:
            return
        since = self._degraded_since or time.monotonic()
        bind = getattr(self._session_factory, "kw", {}).get("bind")
        if bind is not None and hasattr(bind, "dispose"):
            try:
                bind.dispose()
            except Exception as exc:  # noqa: BLE001 - a reset is only a precaution
                logger.warning("Could not reset the database connections: %s", _short(exc))
        logger.warning(
            "The database is still not writable after %.1f s (%d retries; last error: %s); "
            "%d row(s) held, %d in the spool; connections reset.",
            time.monotonic() - since,
            self._failed_retries,
            self._last_store_error,
            len(self._memory) + len(self._deferred),
            self._spool.pending if self._spool is not None else 0,
            extra={"store": "degraded"},
        )

    def _leave_outage(self) -> None:
        self._failed_retries = 0
        since = self._degraded_since
        self._degraded_since = None
        with self._stats_lock:
            self._stats = replace(self._stats, degraded=False)
        if since is not None:
            logger.warning(
                "The database is writable again after %.1f s; every held row is committed.",
                time.monotonic() - since,
                extra={"store": "healthy"},
            )

    def _outage_cycle(self) -> bool:
        """Take what was queued, spool beyond the memory bound, retry, wait; True to stop."""
        controls = self._take_queued(block_s=0.0)
        self._spill_if_needed()
        if any(isinstance(c, _Stop) for c in controls):
            return self._handle_controls(controls)
        if self._retry_pending():
            self._leave_outage()
        else:
            if self._degraded_since is None:
                self._enter_outage(RuntimeError(self._last_store_error or "store failing"))
            self._still_failing()
        if self._has_pending():
            # Wait before the next attempt, still taking submissions (and a stop).
            more = self._take_queued(block_s=self._retry_interval_s)
            controls.extend(more)
            self._spill_if_needed()
        return self._handle_controls(controls)

    def _take_queued(self, block_s: float) -> list[_FlushMarker | _Stop]:
        """Move queued operations to memory; return flush/stop controls met on the way."""
        controls: list[_FlushMarker | _Stop] = []
        if self._carry:
            self._memory.extend(self._carry)
            self._carry = []
        deadline = time.monotonic() + block_s
        while True:
            try:
                remaining = deadline - time.monotonic()
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                if self._publish():  # submissions not yet handed over belong here too
                    continue
                return controls
            if isinstance(item, _Stop):
                controls.append(item)
                return controls
            if isinstance(item, _FlushMarker):
                controls.append(item)
                continue
            self._took(item)
            self._memory.extend(item)
            if len(self._memory) > self._memory_rows and not self._spool_failing:
                self._spill_if_needed()  # a failing spool is retried once per cycle, not per chunk

    def _spill_if_needed(self) -> None:
        """Move the oldest held operations to the spool while memory is over its bound."""
        if self._spool is None or not self._memory:
            self._update_held()
            return
        if len(self._memory) > self._memory_rows:
            self._spill(len(self._memory) - self._memory_rows // 2)
        elif self._spool_failing and self._degraded_since is not None:
            self._spill(len(self._memory))  # is the spool writable again? then it is safe there
        else:
            self._update_held()

    def _spill(self, count: int) -> None:
        assert self._spool is not None
        # Peek, and remove only once the spool has them: the engine's thread reads
        # ``backlog()`` meanwhile, and must never see the rows as gone while they are in flight.
        take = list(itertools.islice(self._memory, min(count, len(self._memory))))
        lines: list[str] = []
        deferred: list[Op] = []
        for op in take:
            line = encode_op(op)
            if line is None:
                deferred.append(op)
            else:
                lines.append(line)
        try:
            self._spool.append(lines)
        except SpoolError as exc:
            if not self._spool_failing:
                logger.error(
                    "The spool %s cannot be written either (%s): %d row(s) stay in memory.",
                    self._spool.path,
                    exc,
                    len(self._memory),
                )
            self._spool_failing = True
            self._update_held()
            return
        self._deferred.extend(deferred)
        for _ in take:
            self._memory.popleft()
        if self._spool_failing:
            logger.warning("The spool %s is writable again.", self._spool.path)
        self._spool_failing = False
        with self._stats_lock:
            self._stats = replace(self._stats, spooled_total=self._stats.spooled_total + len(lines))
        self._update_held()

    def _update_held(self) -> None:
        with self._stats_lock:
            self._stats = replace(
                self._stats,
                held_rows=len(self._memory) + len(self._deferred),
                spooled_rows=self._spool.pending if self._spool is not None else 0,
            )

    def _retry_pending(self) -> bool:
        """Commit held operations in order, batch by batch; True once none is left."""
        while self._has_pending():
            spool = self._spool
            if spool is not None and (spool.pending or self._deferred):
                peeked = spool.peek(self._max_batch, time.monotonic()) if spool.pending else []
                last_seq = peeked[-1][0][3] if peeked else None
                merged: list[Op] = []
                offsets: list[int | None] = []
                deferred = list(self._deferred)
                di = 0
                for op, off in peeked:
                    while di < len(deferred) and deferred[di][3] < op[3]:
                        merged.append(deferred[di])
                        offsets.append(None)
                        di += 1
                    merged.append(op)
                    offsets.append(off)
                if last_seq is None or spool.pending <= len(peeked):
                    while di < len(deferred):  # the tail of the spool: every remaining call
                        merged.append(deferred[di])
                        offsets.append(None)
                        di += 1
                if not merged:  # the spool's remaining lines were unreadable
                    spool.discard()
                    self._update_held()
                    continue
                try:
                    done = self._apply(merged, spool_offsets=offsets)
                except OperationalError as exc:
                    self._count(errors=1)
                    self._last_store_error = _store_error(exc)
                    return False
                self._consume_merged(merged[:done], offsets[:done])
                if done < len(merged):
                    return False
                continue
            batch = list(itertools.islice(self._memory, self._max_batch))
            try:
                done = self._apply(batch, spool_offsets=None)
            except OperationalError as exc:
                self._count(errors=1)
                self._last_store_error = _store_error(exc)
                return False
            for _ in range(done):
                self._memory.popleft()
            with self._stats_lock:
                self._stats = replace(self._stats, replayed_rows=self._stats.replayed_rows + done)
            self._update_held()
            if done < len(batch):
                return False
        return True

    def _consume_merged(self, ops: list[Op], offsets: list[int | None]) -> None:
        assert self._spool is not None
        spooled = [off for off in offsets if off is not None]
        calls = len(ops) - len(spooled)
        for _ in range(calls):
            self._deferred.popleft()
        if spooled:
            self._spool.consume(len(spooled), spooled[-1])
        with self._stats_lock:
            self._stats = replace(self._stats, replayed_rows=self._stats.replayed_rows + len(ops))
        self._update_held()

    def _final_attempt(self) -> None:
        """At stop during an outage: one more try, then spool what is left (or count it lost)."""
        self._take_queued(block_s=0.0)
        if self._retry_pending():
            self._leave_outage()
            return
        if self._spool is not None and self._memory:
            self._spill(len(self._memory))
        unsaved = len(self._memory) + len(self._deferred)
        with self._stats_lock:
            self._stats = replace(self._stats, unsaved_rows=self._stats.unsaved_rows + unsaved)
        self._update_held()
        spooled = self._spool.pending if self._spool is not None else 0
        if unsaved:
            logger.critical(
                "Database writer stopped with %d operation(s) neither committed nor spooled "
                "(%d of them fills) and %d in the spool %s: the store (%s) and the spool were "
                "unwritable.",
                unsaved,
                sum(1 for op in self._memory if op[1] == FILLS),
                spooled,
                self.spool_path,
                self._last_store_error,
            )
        else:
            logger.error(
                "Database writer stopped during an outage: %d operation(s) are kept in the spool "
                "%s and will be written by the next start.",
                spooled,
                self.spool_path,
            )

    def _replay_leftover_spool(self) -> None:
        """At start: replay the spool an earlier run left; raise if the store refuses it."""
        assert self._spool is not None
        with self._session_factory() as session:
            row = session.execute(
                select(TABLES["bot_state"].c.value_json).where(
                    TABLES["bot_state"].c.key == SPOOL_STATE_KEY
                )
            ).scalar()
        progress: dict[str, Any] = {}
        if row:
            try:
                progress = dict(json.loads(row))
            except (ValueError, TypeError):
                progress = {}
        count = self._spool.open_existing(
            int(progress["seq"]) if "seq" in progress else None,
            str(progress["file"]) if "file" in progress else None,
        )
        if count == 0:
            self._spool.discard()
            return
        logger.warning(
            "Replaying %d operation(s) an earlier run left in the spool %s.",
            count,
            self._spool.path,
        )
        if not self._retry_pending():
            raise StoreUnavailableError(
                f"the spool {self._spool.path} holds {self._spool.pending} row(s) the database "
                f"refuses: {self._last_store_error}"
            )
        logger.warning(
            "The spool %s was replayed: %d operation(s) committed.", self._spool.path, count
        )

    # ------------------------------------------------------------------ internals: one attempt

    def _apply(self, ops: list[Op], *, spool_offsets: list[int | None] | None) -> int:
        """Commit ``ops`` in one transaction (bad data isolated); return how many are done.

        Raises ``OperationalError`` if the store refuses the whole batch. With ``spool_offsets``
        the ops come from the spool and each transaction also records the replay progress.
        """
        started = ops[0][4]
        try:
            fill_max = self._execute(ops, progress=self._progress_for(ops, spool_offsets))
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - bad data or a failing call(): isolate it
            self._count(errors=1)
            logger.warning(
                "Database writer batch of %d operation(s) failed (%s); replaying it one "
                "operation per transaction to isolate the bad row(s).",
                len(ops),
                _short(exc),
                extra={"batch_size": len(ops)},
            )
            return self._isolate(ops, spool_offsets)
        self._committed(ops, fill_max, started)
        return len(ops)

    def _progress_for(
        self, ops: Sequence[Op], spool_offsets: Sequence[int | None] | None
    ) -> Op | None:
        if spool_offsets is None or self._spool is None:
            return None
        seqs = [op[3] for op, off in zip(ops, spool_offsets, strict=True) if off is not None]
        if not seqs:
            return None
        row = progress_row(self._spool.file_id, max(seqs), time.time())
        return (UPSERT, "bot_state", row, 0, 0.0)

    def _committed(self, ops: Sequence[Op], fill_max: int, started: float) -> None:
        self._persisted_fill_id = max(self._persisted_fill_id, fill_max)
        latency = time.monotonic() - started
        fills = orders = settlements = 0
        for kind, table, _, _, _ in ops:
            if table == FILLS and kind == INSERT:
                fills += 1
            elif table == "orders" and kind == UPSERT:
                orders += 1
            elif table == "settlements" and kind == INSERT:
                settlements += 1
        with self._stats_lock:
            s = self._stats
            self._stats = replace(
                s,
                rows_written=s.rows_written + len(ops),
                batches=s.batches + 1,
                max_batch_latency_s=max(s.max_batch_latency_s, latency),
                last_batch_latency_s=latency,
                max_batch_size=max(s.max_batch_size, len(ops)),
                committed_fills=s.committed_fills + fills,
                committed_orders=s.committed_orders + orders,
                committed_settlements=s.committed_settlements + settlements,
            )

    def _isolate(self, batch: list[Op], spool_offsets: list[int | None] | None) -> int:
        last_exc: BaseException | None = None
        dropped = 0
        for index, op in enumerate(batch):
            offs = None if spool_offsets is None else [spool_offsets[index]]
            try:
                fill_max = self._execute([op], progress=self._progress_for([op], offs))
            except OperationalError as exc:
                # The store itself is failing: keep this and the rest of the batch.
                self._count(errors=1)
                self._enter_outage(exc)
                if last_exc is not None:
                    self._report(last_exc)
                return index
            except Exception as exc:  # noqa: BLE001 - reject only this operation
                self._count(errors=1)
                last_exc = exc
                dropped += 1
                detailed = 1 if dropped <= _DETAILED_DROPS else 0
                self._drop([op], exc, reason="rejected by the database", detailed=detailed)
                if offs is not None and offs[0] is not None:
                    self._skip_spooled(op)
                continue
            self._committed([op], fill_max, op[4])
        if last_exc is not None:
            logger.error(
                "Database writer rejected %d of %d operation(s) of a batch as bad data (details "
                "of the first %d above; kept in %s); last error: %s",
                dropped,
                len(batch),
                min(dropped, _DETAILED_DROPS),
                self._rejected_path or "<no dead-letter file>",
                _short(last_exc),
                extra={"dropped": dropped, "batch_size": len(batch)},
            )
            self._report(last_exc)
        return len(batch)

    def _skip_spooled(self, op: Op) -> None:
        """Record replay progress past a rejected spooled operation (its own transaction)."""
        progress = self._progress_for([op], [1])
        if progress is None:
            return
        try:
            self._execute([], progress=progress)
        except Exception as exc:  # noqa: BLE001 - worst case the row is rejected again later
            logger.warning("Could not record spool progress past a rejected row: %s", exc)

    def _drop(
        self,
        ops: Sequence[Op],
        exc: BaseException,
        *,
        reason: str,
        detailed: int = _DETAILED_DROPS,
    ) -> None:
        self._count(dropped_rows=len(ops))
        for op in ops:
            if self._rejected_path is not None and op[0] != CALL:
                dead_letter(self._rejected_path, op, exc)
        for kind, table, payload, seq, _ in ops[:detailed]:
            logger.error(
                "Database writer rejected a %s on %s (%s): key=%s seq=%d error=%s",
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
                "Database writer rejected %d more operation(s) (%s): %s",
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

    def _execute(self, ops: Sequence[Op], *, progress: Op | None = None) -> int:
        """Run ``ops`` in one transaction; return the highest fill id written (0 if none)."""
        with self._session_factory() as session, session.begin():
            self._executor.execute(session, list(ops) + ([progress] if progress else []))
        return max_fill_id(ops)
