"""Session recorder: raw venue frames and normalized events to gzip JSON-lines files.

Every line is one record with a kind ``k``, a receive/event time ``t`` (epoch s) and a sequence
number ``n`` that orders records with equal times:

* ``{"k": "meta", ...}`` - first line of every file (format version, source, part number);
* ``{"k": "raw", "t", "n", "s": shard_id, "m": "<frame text>"}`` - a WebSocket frame as received;
* ``{"k": "instruments", "t", "n", "instruments": [...]}`` - instrument metadata (discovery);
* ``{"k": "normalized", "t", "n", "events": [...]}`` - normalized events (simulator output,
  resolutions and closes noticed through REST).

Format 2 writes a raw frame that is a JSON object or array as
``{"k": "raw", "t", "n", "s", "j": <the decoded frame>}``: no second JSON encoding of the frame
as a string, and without the venue's per-level ``hash`` fields (random 40-hex-digit strings that
no compressor can shrink and that the translator never reads). Other frames (``PING``, text that
is not JSON) keep the format-1 ``m`` form. Format 3 (``compact: true``, the default) is format 2
except that a frame holding one ``price_change`` message in the usual shape, with runs of
entries of one token, is written as
``{"k": "raw", "t", "n", "s", "p": <the message without its entries>, "r": <seven columns>}``:
the token id, entry count and best prices once per run, a side letter, price and size per entry
(:func:`~services.markets.recording_runs.price_change_runs`). Files are zstd-compressed
(``.jsonl.zst``) unless
``codec: gzip``. The replay reads every combination, recognising the compression by content.
See ``docs/RECORDING.md``.

Files rotate per UTC day of the record time and when their compressed size passes ``rotate_mb``.
After the header, every new file repeats the metadata of every instrument listed so far (an
``instruments`` record), so that a single file replays on its own.
Callers only put tuples on a queue; a writer thread serializes, compresses and writes, so the
event loop never waits for the disk. ``close()`` drains the queue and closes the file.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import json
import logging
import os
import queue
import threading
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from services.events import (
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    RunnerRemoved,
    TickSizeChange,
    TradePrint,
)
from services.feed import Feed
from services.instruments import Instrument, Side, rules_from_dict, rules_to_dict
from services.markets.recording_runs import price_change_runs
from utils.market_config import RecorderConfig

log = logging.getLogger(__name__)

# format 1: raw frames only as strings ("m"); 2 adds decoded frames ("j"); 3 adds price_change
# messages as runs of levels ("p", "r")
FORMAT_VERSION = 3

try:  # zstd: smaller files and faster reading than gzip (requirements.txt)
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None  # type: ignore[assignment]

try:  # faster serialization in the writer thread when orjson is installed
    from orjson import dumps as _orjson_dumps
    from orjson import loads as _loads

    def _dumps(obj: Any) -> str:
        return _orjson_dumps(obj).decode("utf-8")

except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

    def _dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"))


def _strip_hashes(msg: Any) -> None:
    """Drop the venue's ``hash`` from a message and from the dicts of its list fields."""
    if type(msg) is dict:
        msg.pop("hash", None)
        for v in msg.values():
            if type(v) is list:
                for e in v:
                    if type(e) is dict:
                        e.pop("hash", None)


def compact_frame(frame: str) -> Any | None:
    """Return a text frame decoded for a format-2 ``j`` record, or None to keep it verbatim.

    Only JSON objects and arrays are decoded (``PING``, malformed text and bare values stay
    strings, so the replay counts them exactly as the live translator did); ``hash`` fields are
    dropped.
    """
    if not frame or frame[0] not in "{[ \t\r\n":
        return None
    try:
        obj = _loads(frame)
    except (ValueError, TypeError, RecursionError):
        return None
    if type(obj) is list:
        for msg in obj:
            _strip_hashes(msg)
    elif type(obj) is dict:
        _strip_hashes(obj)
    else:
        return None
    return obj


def compact_body(obj: Any) -> str:
    """The body of a raw record holding a decoded frame: ``"p":head,"r":runs`` for a
    ``price_change`` message in the usual shape (format 3), else ``"j":frame`` (format 2)."""
    split = price_change_runs(obj)
    if split is None:
        return '"j":' + _dumps(obj)
    return '"p":' + _dumps(split[0]) + ',"r":' + _dumps(split[1])


def instrument_to_dict(inst: Instrument) -> dict[str, Any]:
    """Return a JSON-ready dict of an instrument."""
    return {
        "instrument_id": inst.instrument_id,
        "venue": inst.venue,
        "market_id": inst.market_id,
        "outcome": inst.outcome,
        "tick": inst.tick,
        "min_size": inst.min_size,
        **rules_to_dict(inst),
        "end_ts": inst.end_ts,
        "complement_id": inst.complement_id,
        "event_id": inst.event_id,
        "question": inst.question,
        "category": inst.category,
    }


def instrument_from_dict(d: dict[str, Any]) -> Instrument:
    """Rebuild an instrument from :func:`instrument_to_dict` output."""
    return Instrument(
        instrument_id=d["instrument_id"],
        venue=d["venue"],
        market_id=d["market_id"],
        outcome=d["outcome"],
        tick=int(d["tick"]),
        min_size=int(d["min_size"]),
        end_ts=d.get("end_ts"),
        complement_id=d.get("complement_id"),
        event_id=d.get("event_id"),
        question=d.get("question", ""),
        category=d.get("category", ""),
        **rules_from_dict(d),
    )


def event_to_dict(ev: MarketEvent) -> dict[str, Any]:
    """Return a JSON-ready dict of a normalized event (``type`` names the class)."""
    if isinstance(ev, BookSnapshot):
        return {
            "type": "book",
            "ts": ev.ts,
            "id": ev.instrument_id,
            "bids": [list(x) for x in ev.bids],
            "asks": [list(x) for x in ev.asks],
        }
    if isinstance(ev, BookDelta):
        return {
            "type": "delta",
            "ts": ev.ts,
            "id": ev.instrument_id,
            "changes": [[s.value, p, q] for s, p, q in ev.changes],
        }
    if isinstance(ev, TradePrint):
        return {
            "type": "trade",
            "ts": ev.ts,
            "id": ev.instrument_id,
            "price": ev.price,
            "size": ev.size,
            "aggressor": ev.aggressor.value if ev.aggressor else None,
        }
    if isinstance(ev, TickSizeChange):
        return {"type": "tick", "ts": ev.ts, "id": ev.instrument_id, "tick": ev.tick}
    if isinstance(ev, MarketListed):
        return {
            "type": "listed",
            "ts": ev.ts,
            "instruments": [instrument_to_dict(i) for i in ev.instruments],
        }
    if isinstance(ev, MarketStatus):
        return {"type": "status", "ts": ev.ts, "market_id": ev.market_id, "status": ev.status}
    if isinstance(ev, MarketResolved):
        return {
            "type": "resolved",
            "ts": ev.ts,
            "market_id": ev.market_id,
            "payouts": [list(x) for x in ev.payouts],
        }
    if isinstance(ev, RunnerRemoved):
        return {
            "type": "removed",
            "ts": ev.ts,
            "market_id": ev.market_id,
            "id": ev.instrument_id,
            "adjustment_factor": ev.adjustment_factor,
            "keep_ppm": ev.keep_ppm,
            "reduced": list(ev.reduced),
        }
    raise TypeError(f"not a market event: {ev!r}")


def event_from_dict(d: dict[str, Any]) -> MarketEvent:
    """Rebuild a normalized event from :func:`event_to_dict` output.

    Raises
    ------
    KeyError, TypeError, ValueError
        If the dict is not a recorded event.
    """
    t = d["type"]
    ts = float(d["ts"])
    if t == "book":
        return BookSnapshot(
            ts,
            d["id"],
            tuple((int(p), int(s)) for p, s in d["bids"]),
            tuple((int(p), int(s)) for p, s in d["asks"]),
        )
    if t == "delta":
        return BookDelta(ts, d["id"], tuple((Side(s), int(p), int(q)) for s, p, q in d["changes"]))
    if t == "trade":
        agg = d.get("aggressor")
        return TradePrint(ts, d["id"], int(d["price"]), int(d["size"]), Side(agg) if agg else None)
    if t == "tick":
        return TickSizeChange(ts, d["id"], int(d["tick"]))
    if t == "listed":
        return MarketListed(ts, tuple(instrument_from_dict(i) for i in d["instruments"]))
    if t == "status":
        return MarketStatus(ts, d["market_id"], d["status"])
    if t == "resolved":
        return MarketResolved(ts, d["market_id"], tuple((str(i), int(p)) for i, p in d["payouts"]))
    if t == "removed":
        return RunnerRemoved(
            ts,
            d["market_id"],
            d["id"],
            float(d["adjustment_factor"]),
            int(d["keep_ppm"]),
            tuple(str(i) for i in d["reduced"]),
        )
    raise ValueError(f"unknown event type {t!r}")


# ---------------------------------------------------------------------------- writer
_STOP = object()


class Recorder:
    """Non-blocking recorder; a disabled one (``record: false``) ignores every call.

    Parameters
    ----------
    config : RecorderConfig
        Directory, rotation and flush settings.
    source : str
        Name written in file names and headers (``"polymarket"``, ``"sim"``).
    """

    def __init__(self, config: RecorderConfig, source: str = "polymarket") -> None:
        self.config = config
        self.source = source
        self.enabled = config.record
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.files: list[Path] = []
        self._known: dict[str, Instrument] = {}
        self.records = 0
        self.errors = 0

    # --------------------------------------------------------------- public API
    def record_raw(self, ts: float, shard_id: int, frame: str | bytes) -> None:
        """Queue one raw WebSocket frame received at ``ts`` on ``shard_id``."""
        if self.enabled:
            self._put(("raw", ts, next(self._seq), shard_id, frame))

    def record_instruments(self, ts: float, instruments: Iterable[Instrument]) -> None:
        """Queue the metadata of instruments listed at ``ts``."""
        if self.enabled:
            self._put(("instruments", ts, next(self._seq), tuple(instruments)))

    def record_events(self, events: Iterable[MarketEvent], ts: float | None = None) -> None:
        """Queue a batch of normalized events (``ts`` defaults to the first event's time)."""
        if not self.enabled:
            return
        evs = tuple(events)
        if evs:
            self._put(("normalized", evs[0].ts if ts is None else ts, next(self._seq), evs))

    def close(self) -> None:
        """Write everything queued and close the file (blocks until done)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join()

    async def aclose(self) -> None:
        """Like :meth:`close`, without blocking the event loop."""
        await asyncio.to_thread(self.close)

    # --------------------------------------------------------------- internals
    def _put(self, item: tuple[Any, ...]) -> None:
        if self._closed:
            self.errors += 1
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._writer, name="recorder-writer", daemon=True
            )
            self._thread.start()
        self._q.put(item)

    def _line(self, item: tuple[Any, ...]) -> str:
        kind, ts, n = item[0], item[1], item[2]
        if kind == "raw":
            frame = item[4]
            obj = compact_frame(frame) if self.config.compact and type(frame) is str else None
            if obj is not None:
                body = compact_body(obj)
            elif isinstance(frame, bytes):
                body = '"b64":"' + base64.b64encode(frame).decode("ascii") + '"'
            else:
                body = '"m":' + _dumps(frame)
            return f'{{"k":"raw","t":{float(ts)!r},"n":{int(n)},"s":{int(item[3])},{body}}}'
        if kind == "instruments":
            rec = {
                "k": "instruments",
                "t": ts,
                "n": n,
                "instruments": [instrument_to_dict(i) for i in item[3]],
            }
        else:
            rec = {
                "k": "normalized",
                "t": ts,
                "n": n,
                "events": [event_to_dict(e) for e in item[3]],
            }
        return _dumps(rec)

    def _writer(self) -> None:
        out: _File | None = None
        limit = self.config.rotate_mb * 1_000_000
        rotate = False
        try:
            while True:
                try:
                    first = self._q.get(timeout=self.config.flush_interval_s)
                except queue.Empty:
                    if out is not None:
                        out.flush()
                    continue
                items = [first]
                while len(items) < 2048:
                    try:
                        items.append(self._q.get_nowait())
                    except queue.Empty:
                        break
                stop = False
                lines: list[str] = []
                for item in items:
                    if item is _STOP:
                        stop = True
                        break
                    ts = float(item[1])
                    if rotate or out is None or not out.day_start <= ts < out.day_end:
                        if out is not None:
                            out.write_lines(lines)
                            lines = []
                        out = self._open(out, ts, item[2])
                        rotate = False
                    try:
                        lines.append(self._line(item))
                    except (TypeError, ValueError) as exc:
                        self.errors += 1
                        log.error("A record could not be serialized.", extra={"error": str(exc)})
                        continue
                    self._remember(item)
                    self.records += 1
                if out is not None and lines:
                    out.write_lines(lines)
                    rotate = out.size() >= limit
                if stop:
                    break
        except OSError as exc:
            self.errors += 1
            log.error(
                "The recorder could not write; recording stopped.",
                extra={"error": str(exc), "directory": self.config.directory},
            )
        finally:
            if out is not None:
                out.close()

    def _remember(self, item: tuple[Any, ...]) -> None:
        """Track listed instruments so that every new file starts with their metadata."""
        if item[0] == "instruments":
            for inst in item[3]:
                self._known[inst.instrument_id] = inst
        elif item[0] == "normalized":
            for ev in item[3]:
                if isinstance(ev, MarketListed):
                    for inst in ev.instruments:
                        self._known[inst.instrument_id] = inst

    def _open(self, out: _File | None, ts: float, n: int) -> _File:
        if out is not None:
            out.close()
        new = _File(Path(self.config.directory), self.source, ts, len(self.files), self.config)
        self.files.append(new.path)
        if self._known:
            # same (t, n) as the record that opened the file, and written before it, so a
            # replay of this file alone lists the instruments first
            new.write_lines([self._line(("instruments", ts, n, tuple(self._known.values())))])
        return new


class _File:
    """One compressed JSON-lines file with its header line, covering one UTC day at most."""

    def __init__(
        self, directory: Path, source: str, ts: float, part: int, config: RecorderConfig
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        when = datetime.fromtimestamp(ts, tz=UTC)
        midnight = when.replace(hour=0, minute=0, second=0, microsecond=0)
        self.day_start = midnight.timestamp()
        self.day_end = self.day_start + 86_400.0
        name = when.strftime("%Y%m%d-%H%M%S")
        use_zstd = config.codec == "zstd"
        if use_zstd and zstandard is None:
            raise OSError("recorder.codec is zstd but the zstandard package is not installed")
        ext = ".jsonl.zst" if use_zstd else ".jsonl.gz"
        k = 0
        while True:
            path = directory / f"{source}-{name}-p{part:04d}-{os.getpid()}-{k}{ext}"
            try:
                self._raw: IO[bytes] = open(path, "xb")  # noqa: SIM115 - closed in close()
                break
            except FileExistsError:
                k += 1
        self.path = path
        self._zstd = use_zstd
        self._gz: Any
        if use_zstd:
            self._gz = zstandard.ZstdCompressor(level=config.zstd_level).stream_writer(
                self._raw, closefd=False
            )
        else:
            self._gz = gzip.GzipFile(
                fileobj=self._raw, mode="wb", compresslevel=config.compresslevel
            )
        version = FORMAT_VERSION if config.compact else 1
        self.write_lines(
            [json.dumps({"k": "meta", "v": version, "source": source, "part": part, "t": ts})]
        )

    def write_lines(self, lines: list[str]) -> None:
        if lines:
            self._gz.write(("\n".join(lines) + "\n").encode("utf-8"))

    def size(self) -> int:
        return self._raw.tell()

    def flush(self) -> None:
        self._gz.flush()  # zstd: ends a block, so a reader of the file sees every line so far
        self._raw.flush()

    def close(self) -> None:
        self._gz.close()
        self._raw.close()


class RecordingFeed:
    """Wraps any feed (e.g. the simulator) and records each batch as normalized events.

    The wrapper neither starts nor closes the recorder: its owner does.
    """

    def __init__(self, inner: Feed, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.name = inner.name

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield the inner feed's batches, recording each first."""
        async for batch in self.inner.batches():
            self.recorder.record_events(batch)
            yield batch

    async def close(self) -> None:
        """Close the inner feed."""
        await self.inner.close()

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Delegate to the inner feed."""
        self.inner.adopt(instruments, mids)
