"""Replay recorded sessions as a feed: same translation code, same order, any speed.

:class:`ReplayFeed` merges the records of every file (and every shard inside them) by receive time
and sequence number, passes raw Polymarket frames through the same
:class:`~services.markets.polymarket.translate.Translator` the live feed used, and passes
normalized records (simulator output, REST-noticed resolutions) through the translator's state so
duplicates are dropped exactly as they were live. Instrument metadata records become
``MarketListed`` events at their place in time, which in a recording is before any frame for them.
"""

from __future__ import annotations

import base64
import gzip
import heapq
import json
import logging
import zlib
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from services.events import MarketEvent
from services.instruments import Instrument
from services.markets.base import paced
from services.markets.polymarket.translate import Translator
from services.markets.recorder import event_from_dict, instrument_from_dict

log = logging.getLogger(__name__)

try:  # the same fast parser the translator uses, when installed
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

try:  # format-2 recordings are zstd-compressed by default (requirements.txt)
    import zstandard

    _ZSTD_ERRORS: tuple[type[Exception], ...] = (zstandard.ZstdError,)
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None  # type: ignore[assignment]
    _ZSTD_ERRORS = ()

PathLike = str | Path
_SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".jsonl")
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_READ = 1 << 14  # compressed bytes per read (about 700 KB of text on the peer recording)
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error, *_ZSTD_ERRORS)
_READ_OR_OS_ERRORS: tuple[type[Exception], ...] = (*_READ_ERRORS, OSError)


class ReplayFileError(ValueError):
    """A file given to the replay is not a recording it can read (the message says why)."""


_KINDS = frozenset({"meta", "raw", "instruments", "normalized"})


def recording_lines(path: Path) -> Generator[bytes, None, None]:
    """Yield the lines of a recording file, decompressing gzip or zstd by its content.

    Raises
    ------
    OSError
        If the file cannot be read, or is zstd and the ``zstandard`` package is missing.
    EOFError, gzip.BadGzipFile, zlib.error, zstandard.ZstdError
        When the compressed data is corrupt or ends early (after yielding what it holds).
    """
    with open(path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        if magic[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                yield from gz
            return
        if magic != _ZSTD_MAGIC:
            yield from fh
            return
        if zstandard is None:
            raise OSError(f"{path} is zstd-compressed: install the zstandard package")
        # decompressobj rather than stream_reader: the latter ends a cut file silently.
        # Small reads bound the memory: a compressed MB of a recording can hold 40 MB of text,
        # which for the peer workload held 300 MB at once (issue 18). Lines are cut out of each
        # decompressed block one at a time (``bytes.find``), not split into a list of them all.
        dec = zstandard.ZstdDecompressor().decompressobj()
        decompress = dec.decompress
        read = fh.read
        head: list[bytes] = []  # the start of a line cut at the end of earlier blocks
        while chunk := read(_ZSTD_READ):
            data = decompress(chunk)
            find = data.find
            end = find(b"\n")
            if end < 0:
                if data:
                    head.append(data)
                continue
            if head:
                head.append(data[:end])
                yield b"".join(head)
                head = []
            else:
                yield data[:end]
            start = end + 1
            end = find(b"\n", start)
            while end >= 0:
                yield data[start:end]
                start = end + 1
                end = find(b"\n", start)
            if start < len(data):
                head.append(data[start:])
        if not dec.eof:  # the cut line is dropped, as gzip's reader drops it
            raise EOFError("the zstd stream ends early (a file cut short)")
        if head:
            yield b"".join(head)


def recording_files(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    """Expand files and directories into the sorted list of recording files.

    Raises
    ------
    ReplayFileError
        If a path does not exist, or a directory holds no ``.jsonl``/``.jsonl.gz`` file.
    """
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for p in map(Path, items):
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.name.endswith(_SUFFIXES))
            if not found:
                raise ReplayFileError(
                    f"{p}: no recording files (*.jsonl, *.jsonl.gz, *.jsonl.zst) in this directory"
                )
            out.extend(found)
        elif not p.is_file():
            raise ReplayFileError(f"{p}: no such file")
        else:
            out.append(p)
    return out


def check_recording(path: Path) -> None:
    """Refuse a file that is not a recording written by this bot's recorder.

    Reads the first non-empty line: it must be a JSON object with a record kind ``k``
    (``meta``, ``raw``, ``instruments``, ``normalized``). A replay of anything else would yield
    nothing and count every line as a bad record, which looks like an empty market.

    Raises
    ------
    ReplayFileError
        With the file and what it looks like instead (e.g. a Betfair stream file).
    """
    try:
        first = b""
        lines = recording_lines(path)
        for line in lines:
            if line.strip():
                first = line
                break
        lines.close()
    except EOFError:
        return  # cut short before its first complete line or block: the replay counts it
    except _READ_ERRORS as exc:
        raise ReplayFileError(f"{path}: not a readable compressed file ({exc})") from exc
    except OSError as exc:
        raise ReplayFileError(f"{path}: cannot be read ({exc})") from exc
    if not first:
        return  # an empty file (a recorder stopped before its header): nothing to replay
    try:
        rec = _loads(first)
    except ValueError:
        rec = None
    if isinstance(rec, dict) and rec.get("k") in _KINDS:
        return
    hint = "its first line is not a JSON record with a kind 'k'"
    head = rec[0] if isinstance(rec, list) and rec else rec
    if isinstance(head, dict) and head.get("op") in ("mcm", "connection", "status"):
        hint = (
            f"it looks like a Betfair Exchange stream file (op={head.get('op')!r}); the replay "
            "reads only recordings written by this bot (market_data.record: true)"
        )
    elif isinstance(head, dict) and "event_type" in head:
        hint = (
            "it looks like raw Polymarket WebSocket messages without the recorder's envelope; "
            "record sessions with market_data.record: true"
        )
    raise ReplayFileError(f"{path}: not a recording this replay can read: {hint}")


def first_timestamp(paths: PathLike | Sequence[PathLike]) -> float | None:
    """Return the earliest record time of the recordings (None if they hold no record).

    A replay's clock starts here, not at ``market_data.start_ts`` (the simulator's start): a
    clock left at a later configured start would never move for an older recording.
    """
    feed = ReplayFeed(paths)
    for rec in feed.records():
        return float(rec["t"])
    return None


class ReplayFeed:
    """A feed that plays recording files back in time order.

    Parameters
    ----------
    paths : str | Path | Sequence[str | Path]
        Recording files or directories holding them.
    speed : float | None
        Market seconds per wall second; None plays as fast as possible.
    strict : bool
        Drop frames for tokens that were never listed (as the live feed does).

    Raises
    ------
    ReplayFileError
        If a path is missing or a file is not a recording (see :func:`check_recording`).
    """

    name = "replay"

    def __init__(
        self, paths: PathLike | Sequence[PathLike], speed: float | None = None, strict: bool = True
    ) -> None:
        self.files = recording_files(paths)
        for path in self.files:
            check_recording(path)
        self.speed = speed
        self.translator = Translator(strict=strict)
        self.counters: dict[str, int] = {"records": 0, "bad_records": 0, "truncated_files": 0}
        self._closed = False

    # ------------------------------------------------------------------ reading
    def _read(self, index: int, path: Path) -> Iterator[tuple[float, int, int, dict[str, Any]]]:
        try:
            for line in recording_lines(path):
                if self._closed:
                    return
                try:
                    rec = _loads(line)
                    if rec.get("k") == "meta":
                        continue
                    yield float(rec["t"]), int(rec.get("n", 0)), index, rec
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.counters["bad_records"] += 1
        except _READ_OR_OS_ERRORS as exc:
            # A file cut short by a crash: keep what was read.
            self.counters["truncated_files"] += 1
            log.warning(
                "A recording file ends early.", extra={"file": str(path), "error": str(exc)}
            )

    def _merged(self) -> Iterator[tuple[float, int, int, dict[str, Any]]]:
        """Every file's ``(time, sequence, file, record)``, merged by the first three."""
        streams = [self._read(i, p) for i, p in enumerate(self.files)]
        if len(streams) == 1:
            return streams[0]
        # Tuples compare on (time, sequence, file) and never reach the record: the file index
        # differs between streams, and merge compares items of different streams only.
        return heapq.merge(*streams)

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield every record of every file, merged by (time, sequence, file)."""
        for item in self._merged():
            yield item[3]

    def instruments(self) -> list[Instrument]:
        """Return every instrument described in the recording (reads the files once)."""
        seen: dict[str, Instrument] = {}
        for rec in self.records():
            for inst in self._listed(rec):
                seen.setdefault(inst.instrument_id, inst)
        return list(seen.values())

    @staticmethod
    def _listed(rec: dict[str, Any]) -> list[Instrument]:
        kind = rec.get("k")
        if kind == "instruments":
            return [instrument_from_dict(d) for d in rec["instruments"]]
        if kind == "normalized":
            out: list[Instrument] = []
            for d in rec["events"]:
                if d.get("type") == "listed":
                    out.extend(instrument_from_dict(i) for i in d["instruments"])
            return out
        return []

    # ------------------------------------------------------------------ events
    def iter_batches(self) -> Iterator[list[MarketEvent]]:
        """Yield event batches synchronously (one per record that produced events)."""
        tr = self.translator
        counters = self.counters
        for t, _n, _i, rec in self._merged():
            counters["records"] += 1
            try:
                kind = rec["k"]
                if kind == "raw":
                    if "p" in rec:  # format 3: a price_change message as runs of levels
                        events = tr.translate_runs(rec["p"], rec["r"], t)
                    elif "j" in rec:  # format 2: the frame already decoded
                        events = tr.translate_decoded(rec["j"], t)
                    else:
                        frame = rec["m"] if "m" in rec else base64.b64decode(rec["b64"])
                        events = tr.translate_frame(frame, t)
                elif kind == "instruments":
                    events = tr.listing([instrument_from_dict(d) for d in rec["instruments"]], t)
                elif kind == "normalized":
                    events = tr.accept(event_from_dict(d) for d in rec["events"])
                else:
                    counters["bad_records"] += 1
                    continue
            except (KeyError, TypeError, ValueError, ArithmeticError):
                counters["bad_records"] += 1
                continue
            if events:
                yield events

    def _first_ts(self) -> float:
        for rec in self.records():
            return float(rec["t"])
        return 0.0

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield batches paced by ``speed`` (as fast as possible when None)."""
        start = self._first_ts() if self.speed is not None else 0.0
        async for batch in paced(self.iter_batches(), self.speed, start):
            yield batch

    async def close(self) -> None:
        """Stop reading (open files close when their iterators end)."""
        self._closed = True

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Do nothing: a recording knows its instruments."""
