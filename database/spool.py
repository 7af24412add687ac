"""A local spool file for write operations the database could not take yet.

While the store cannot be written (a lock held past every retry, a full disk, a read-only file),
:class:`database.writer.DbWriter` keeps the operations it could not commit: in memory up to a
bound, then appended here, oldest first, so that the database plus the spool always hold a
*prefix* of the submitted sequence. When the store comes back the writer replays the spool in
order, then its memory. A spool left by a crash or an unwritable store is replayed by the next
start before anything else reads the database.

Format: JSON lines. The first line is a header ``{"spool": <file id>, "version": 1}``; every other
line is one operation ``{"s": seq, "k": kind, "t": table, "p": row}``. A last line without its
newline (the process died mid-append) is ignored. Exactly-once replay: every replayed batch also
upserts ``bot_state["writer_spool"] = {"file": <file id>, "seq": <last replayed seq>}`` in the same
transaction, so a replay interrupted by a crash resumes after the last committed operation.

Operations that cannot be written as JSON (``call`` operations, which are Python callables) are
never spooled; the writer keeps them in memory and merges them back by sequence number.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from database.batching import CALL, Op

logger = logging.getLogger(__name__)

SPOOL_STATE_KEY = "writer_spool"
"""The ``bot_state`` key recording how far a spool file was replayed."""

_VERSION = 1


def encode_op(op: Op) -> str | None:
    """Return the JSON line of ``op`` (with its newline), or None if it cannot be serialized."""
    kind, table, payload, seq, _ = op
    if kind == CALL:
        return None
    try:
        return json.dumps({"s": seq, "k": kind, "t": table, "p": payload}, allow_nan=True) + "\n"
    except (TypeError, ValueError):
        return None


def decode_op(line: str, enqueued: float) -> Op:
    """Turn one spooled line back into an operation (``enqueued`` is its new enqueue time)."""
    d = json.loads(line)
    return (int(d["k"]), str(d["t"]), d["p"], int(d["s"]), enqueued)


class SpoolError(OSError):
    """The spool file could not be written (a full disk, no permission)."""


class Spool:
    """An append-only file of operations plus a read cursor.

    Parameters
    ----------
    path : Path
        The spool file; created on the first append, removed by :meth:`discard`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file_id = ""
        self._read_offset = 0
        self._pending = 0  # operations appended and not yet consumed
        self._appended = 0  # lines appended by this process (for reports)
        self._skipped = 0  # unreadable lines met by the last peek

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> int:
        """Return how many spooled operations are not yet replayed."""
        return self._pending

    @property
    def appended(self) -> int:
        """Return how many operations this process appended (cumulative)."""
        return self._appended

    def exists(self) -> bool:
        """Return whether the spool file exists."""
        return self.path.exists()

    # ------------------------------------------------------------------ writing

    def append(self, lines: Sequence[str]) -> None:
        """Append encoded operations; all or nothing.

        Raises
        ------
        SpoolError
            If the file could not be written; it is then left as it was before the call.
        """
        if not lines:
            return
        new_file = not self.path.exists() or not self.file_id
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot open spool {self.path}: {exc}") from exc
        try:
            size = os.fstat(fd).st_size
            if new_file:
                self.file_id = uuid.uuid4().hex
                head = json.dumps({"spool": self.file_id, "version": _VERSION}) + "\n"
                data = (head + "".join(lines)).encode()
                if size:
                    os.ftruncate(fd, 0)
                    size = 0
                    self._read_offset = 0
            else:
                data = "".join(lines).encode()
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            except OSError as exc:
                os.ftruncate(fd, size)  # never leave half a line behind
                if new_file:
                    self.file_id = ""
                raise SpoolError(exc.errno, f"cannot write spool {self.path}: {exc}") from exc
        finally:
            os.close(fd)
        if new_file:
            self._read_offset = len(head.encode())
        self._pending += len(lines)
        self._appended += len(lines)

    # ------------------------------------------------------------------ reading

    def open_existing(self, replayed_seq: int | None, replayed_file: str | None) -> int:
        """Adopt a spool file left by an earlier process; return its operations still to replay.

        Parameters
        ----------
        replayed_seq, replayed_file : int or None, str or None
            The ``bot_state["writer_spool"]`` record: the last sequence number committed from the
            file with that id (None if the record is absent).
        """
        self._read_offset = 0
        self._pending = 0
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            head = f.readline()
            try:
                meta = json.loads(head)
                self.file_id = str(meta["spool"])
            except (ValueError, KeyError, TypeError):
                logger.error("Spool file %s has no valid header; it is ignored.", self.path)
                self.file_id = ""
                return 0
            offset = len(head)
            count = 0
            skip_to = replayed_seq if replayed_file == self.file_id else None
            while True:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break  # end of file, or a line cut by a crash
                if skip_to is not None:
                    try:
                        seq = int(json.loads(line)["s"])
                    except (ValueError, KeyError, TypeError):
                        seq = skip_to + 1
                    if seq <= skip_to:
                        offset += len(line)
                        continue
                    skip_to = None
                count += 1
        self._read_offset = offset
        self._pending = count
        return count

    def peek(self, limit: int, enqueued: float) -> list[tuple[Op, int]]:
        """Return up to ``limit`` next operations, each with the byte offset after it.

        Nothing is consumed; an unreadable line is logged and skipped.
        """
        out: list[tuple[Op, int]] = []
        offset = self._read_offset
        if self._pending == 0:
            return out
        with self.path.open("rb") as f:
            f.seek(offset)
            while len(out) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                offset += len(line)
                try:
                    out.append((decode_op(line.decode(), enqueued), offset))
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    logger.error("Spool %s: unreadable line skipped: %r", self.path, line[:200])
                    self._skipped += 1
        return out

    def consume(self, count: int, offset: int) -> None:
        """Mark ``count`` operations up to byte ``offset`` as replayed; discard an empty spool."""
        self._read_offset = offset
        self._pending = max(0, self._pending - count - self._skipped)
        self._skipped = 0
        if self._pending == 0:
            self.discard()

    def discard(self) -> None:
        """Remove the spool file (everything in it is committed)."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("Could not remove the replayed spool %s: %s", self.path, exc)
        self.file_id = ""
        self._read_offset = 0
        self._pending = 0


def progress_row(file_id: str, seq: int, ts: float) -> dict[str, Any]:
    """Return the ``bot_state`` row that records replay progress (same transaction as the ops)."""
    return {
        "key": SPOOL_STATE_KEY,
        "value_json": json.dumps({"file": file_id, "seq": seq}),
        "updated_ts": ts,
    }


def dead_letter(path: Path, op: Op, error: BaseException) -> bool:
    """Append an operation the database rejected (bad data) to ``path``; return success."""
    kind, table, payload, seq, _ = op
    try:
        line = json.dumps(
            {"s": seq, "k": kind, "t": table, "p": payload, "error": str(error)[:500]},
            default=repr,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as exc:
        logger.error("Could not write rejected row to %s: %s", path, exc)
        return False
    return True
