"""L1 history: top-of-book quotes with settlement labels, replayed as one-level books.

The format is the one of ``../shared/data/polymarket_l1/`` (see its README): a folder with
``quotes_*.csv[.gz]`` (``ts, slug, category, bid, ask, mid, spread``; UTC, prices of the YES
outcome), ``labels.csv`` (``slug, y``: 1 = YES won) and optionally ``markets.csv`` (``slug,
question, category, first_ts, last_ts``).

What the data does not say is assumed, and every report names the assumption:

* depth: ``backtest.l1.depth_shares`` shares at the best bid and at the best ask, nothing behind;
* the NO token mirrors YES (NO bid = 1 - YES ask, NO ask = 1 - YES bid), as Polymarket's CLOB
  shows a binary market's two books;
* fees: ``backtest.l1.fee_rate`` on every market (Polymarket's taker curve);
* settlement: every market settles at 1 or 0 from ``labels.csv`` when the window ends
  (``settle_at_end``), since the quotes stop before the markets resolve.

Each quote replaces the whole book (a ``BookSnapshot``), so a level a strategy consumed comes
back at the next poll (about every two minutes), as the paper matcher's rule for refreshed
levels says (docs/FILLS.md).
"""

from __future__ import annotations

import bisect
import csv
import functools
import gzip
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from services.events import BookSnapshot, MarketEvent, MarketListed, MarketResolved
from services.instruments import FeeSchedule, Instrument
from services.money import MICRO
from utils.backtest_config import L1Config

YES, NO = "YES", "NO"


class L1DataError(ValueError):
    """The folder is not L1 data in the expected format (the message says what is wrong)."""


def parse_ts(text: str) -> float:
    """Return epoch seconds of ``YYYY-MM-DD HH:MM:SS`` (UTC) or an ISO-8601 time."""
    t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def _micro(text: str) -> int:
    return int(Decimal(text) * MICRO)


@dataclass(frozen=True, slots=True)
class Quote:
    """One poll of a market's YES top of book (micro)."""

    ts: float
    slug: str
    bid: int
    ask: int


@dataclass
class L1Data:
    """Quotes, labels and market descriptions read from one folder."""

    quotes: list[Quote]
    labels: dict[str, int]
    questions: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    skipped: int = 0  # rows that were not a valid two-sided quote, or had no label


def quote_files(folder: Path) -> list[Path]:
    """Return the folder's quote files in name (date) order."""
    return sorted(p for p in folder.glob("quotes_*.csv*") if p.is_file())


def load_l1(folder: Path, start_ts: float | None = None, end_ts: float | None = None) -> L1Data:
    """Read an L1 folder, keeping quotes with ``start_ts <= ts < end_ts``.

    The whole folder is parsed once per process and kept (the two newest folders), so the
    optimizer's many trials on one worker read the files once.

    Raises
    ------
    L1DataError
        If ``labels.csv`` or the quote files are missing, or a file lacks a column.
    """
    if not folder.is_dir():
        raise L1DataError(f"{folder} is not a folder")
    files = quote_files(folder)
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    full = _read_all(folder.resolve(), stamp)
    quotes = full.quotes
    times = [q.ts for q in quotes] if start_ts is not None or end_ts is not None else []
    lo = bisect.bisect_left(times, start_ts) if start_ts is not None else 0
    hi = bisect.bisect_left(times, end_ts) if end_ts is not None else len(quotes)
    return L1Data(quotes[lo:hi], full.labels, full.questions, full.categories, full.skipped)


@functools.lru_cache(maxsize=2)
def _read_all(folder: Path, stamp: tuple[tuple[str, int, int], ...]) -> L1Data:
    labels_file = folder / "labels.csv"
    if not labels_file.is_file():
        raise L1DataError(f"{folder} has no labels.csv (slug,y)")
    files = quote_files(folder)
    if not files:
        raise L1DataError(f"{folder} has no quotes_*.csv[.gz] file")
    labels: dict[str, int] = {}
    with labels_file.open(newline="", encoding="utf-8") as fh:
        for row in _rows(csv.DictReader(fh), labels_file, ("slug", "y")):
            if row["y"] in ("0", "1"):
                labels[row["slug"]] = int(row["y"])
    data = L1Data([], labels)
    markets_file = folder / "markets.csv"
    if markets_file.is_file():
        with markets_file.open(newline="", encoding="utf-8") as fh:
            for row in _rows(csv.DictReader(fh), markets_file, ("slug",)):
                data.questions[row["slug"]] = row.get("question") or ""
                data.categories[row["slug"]] = row.get("category") or ""
    # Polls share their time and prices repeat: parse each distinct string once.
    times: dict[str, float] = {}
    prices: dict[str, int] = {}
    for path in files:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", newline="", encoding="utf-8") as fh:
            for row in _rows(csv.DictReader(fh), path, ("ts", "slug", "bid", "ask")):
                try:
                    t_text, b_text, a_text = row["ts"], row["bid"], row["ask"]
                    ts = times.get(t_text)
                    if ts is None:
                        ts = times[t_text] = parse_ts(t_text)
                    bid = prices.get(b_text)
                    if bid is None:
                        bid = prices[b_text] = _micro(b_text)
                    ask = prices.get(a_text)
                    if ask is None:
                        ask = prices[a_text] = _micro(a_text)
                except (ValueError, InvalidOperation):
                    data.skipped += 1
                    continue
                slug = row["slug"]
                if slug not in labels or not 0 < bid < ask < MICRO:
                    data.skipped += 1
                    continue
                if slug not in data.categories and row.get("category"):
                    data.categories[slug] = row["category"]
                data.quotes.append(Quote(ts, slug, bid, ask))
    data.quotes.sort(key=lambda q: q.ts)  # stable: rows of one poll keep their file order
    return data


def _rows(
    reader: csv.DictReader[str], path: Path, needed: tuple[str, ...]
) -> Iterator[dict[str, str]]:
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
        raise L1DataError(f"{path} lacks column(s) {', '.join(missing)}")
    yield from reader


class L1Feed:
    """A feed of one-level books from L1 quotes, settling every market at the end.

    Parameters
    ----------
    data : L1Data
        What :func:`load_l1` read.
    cfg : L1Config
        Depth, fee, tick and settlement assumptions.
    end_ts : float | None
        Settlement time (default: one second after the last quote).
    """

    name = "l1"

    def __init__(self, data: L1Data, cfg: L1Config, end_ts: float | None = None) -> None:
        self.data = data
        self.cfg = cfg
        self.depth = int(cfg.depth_shares * MICRO)
        last = data.quotes[-1].ts if data.quotes else 0.0
        self.end_ts = max(end_ts, last) if end_ts is not None else last + 1.0
        self.fees = FeeSchedule(cfg.fee_rate, 1)
        self.instruments: dict[str, tuple[Instrument, Instrument]] = {}
        self.counters = {"quotes": 0, "markets": 0, "settled": 0}
        base_tick = int(cfg.tick * MICRO)
        self._ticks: dict[str, int] = {}
        for q in data.quotes:
            if q.bid % base_tick or q.ask % base_tick:
                self._ticks[q.slug] = 1_000

    def _listing(self, slug: str) -> tuple[Instrument, Instrument]:
        tick = self._ticks.get(slug, int(self.cfg.tick * MICRO))

        def make(side: str, outcome: str, other: str) -> Instrument:
            return Instrument(
                instrument_id=f"{slug}:{side}",
                venue="polymarket",
                market_id=slug,
                outcome=outcome,
                tick=tick,
                min_size=int(self.cfg.min_size_shares * MICRO),
                fees=self.fees,
                complement_id=f"{slug}:{other}",
                question=self.data.questions.get(slug, slug),
                category=self.data.categories.get(slug, ""),
            )

        yes, no = make(YES, "Yes", NO), make(NO, "No", YES)
        return yes, no

    def iter_batches(self) -> Iterator[list[MarketEvent]]:
        """Yield one batch per poll time, then the settlements."""
        depth = self.depth
        batch: list[MarketEvent] = []
        listed: list[Instrument] = []
        current: float | None = None
        for q in self.data.quotes:
            if current is not None and q.ts != current:
                yield self._flush(current, listed, batch)
                listed, batch = [], []
            current = q.ts
            if q.slug not in self.instruments:
                pair = self.instruments[q.slug] = self._listing(q.slug)
                listed.extend(pair)
                self.counters["markets"] += 1
            yes, no = self.instruments[q.slug]
            batch.append(
                BookSnapshot(q.ts, yes.instrument_id, ((q.bid, depth),), ((q.ask, depth),))
            )
            batch.append(
                BookSnapshot(
                    q.ts, no.instrument_id, ((MICRO - q.ask, depth),), ((MICRO - q.bid, depth),)
                )
            )
            self.counters["quotes"] += 1
        if current is not None:
            yield self._flush(current, listed, batch)
        if self.cfg.settle_at_end and self.instruments:
            out: list[MarketEvent] = []
            for slug, (yes, no) in self.instruments.items():
                y = self.data.labels[slug]
                out.append(
                    MarketResolved(
                        self.end_ts,
                        slug,
                        ((yes.instrument_id, y * MICRO), (no.instrument_id, (1 - y) * MICRO)),
                    )
                )
                self.counters["settled"] += 1
            yield out

    @staticmethod
    def _flush(ts: float, listed: list[Instrument], batch: list[MarketEvent]) -> list[MarketEvent]:
        if listed:
            return [MarketListed(ts, tuple(listed)), *batch]
        return batch

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield the batches as fast as the engine takes them."""
        for b in self.iter_batches():
            yield b

    async def close(self) -> None:
        """Nothing to release (the data is in memory)."""

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Do nothing: the data knows its markets."""
