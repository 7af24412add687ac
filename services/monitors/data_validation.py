"""Data validation: may a strategy open an order on this instrument right now?

:class:`DataValidator` is decision code: it reads book state, connection status and what it was
told (data issues, cross-check results) and answers ``can_trade(instrument_id, now)`` with a
reason when the answer is no. It does no I/O; the feed feeds it and runs the REST cross-checks.

Blocks, in the order they are checked:

* ``connection_unhealthy`` - the instrument's WebSocket shard is down or silent, or the book has
  not been re-snapshotted since the last (re)subscription;
* ``no_book`` / ``stale_book`` - no book yet, or neither the book nor its connection has been
  heard from within ``freshness_threshold_s``;
* ``bad_data:<kind>`` - a message carried an off-grid price or an unparseable size/price; lifted
  by the next clean update of that instrument;
* ``off_grid_book`` - the book itself holds a level off the instrument's price ladder (an off-grid
  level no later update removed, or levels a tick change from 0.001 to 0.01 left between the new
  ticks); lifted only when the book is clean again (a snapshot, or deltas that remove every
  off-grid level), whatever clean updates arrive for other levels meanwhile;
* ``cross_check_failed`` - the last REST comparison disagreed by more than the threshold; lifted
  by a clean check (a resync is requested meanwhile);
* ``crossed_book`` / ``empty_book`` - best bid >= best ask, or a side is empty;
* ``top_mismatch`` - the book's best prices differ from those the venue reported with its last
  update (a missed or reordered delta);
* ``thin_depth`` - less than ``min_depth_usd`` displayed on a side within ``depth_ticks`` ticks
  of that side's best price (what a strategy could trade at or near the touch; a wide spread
  does not make a deep book thin).

One validator per node, whatever the source: the live feed gives it its connection status, a
replay or the simulator a :class:`StreamStatus` (the stream itself is the connection), so a
replayed session meets the same gate, with the same reasons, as the live session it recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from services.instruments import Side
from services.ladder import PriceLadder, Quote, UniformLadder
from services.money import MICRO, notional, to_micro
from services.orderbook import BookStore, OrderBook
from utils.polymarket_config import ValidationConfig

DEFAULT_TICK = 10_000


class ConnectionStatus(Protocol):
    """What the validator asks the feed about an instrument's connection."""

    def is_healthy(self, instrument_id: str) -> bool:
        """Return whether the instrument's connection is up and its book synced."""
        ...

    def last_message_ts(self, instrument_id: str) -> float | None:
        """Return the receive time (epoch s) of the last message on its connection."""
        ...


class StreamStatus:
    """The connection status of a feed without connections (replay, simulator).

    The stream is the connection: it is healthy while it yields, and the last event time it
    yielded plays the part of the live socket's last message (a quiet book on a stream that
    keeps flowing is not stale, exactly as on a live connection that keeps receiving).
    """

    def __init__(self) -> None:
        self.last_ts: float | None = None

    def note(self, ts: float) -> None:
        """Record that the stream delivered events up to ``ts`` (event time, s)."""
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def is_healthy(self, instrument_id: str) -> bool:
        """Return True: a recording or a simulator has no connection to lose."""
        return True

    def last_message_ts(self, instrument_id: str) -> float | None:
        """Return the event time of the last batch the stream delivered."""
        return self.last_ts


@dataclass(frozen=True, slots=True)
class ValidationFailure:
    """One validation failure, for the engine's event log."""

    ts: float
    instrument_id: str
    reason: str
    detail: str = ""


class DataValidator:
    """Per-instrument trading gate built from book state, connection health and data checks.

    Parameters
    ----------
    config : ValidationConfig
        Thresholds.
    books : BookStore
        The books the checks read (the feed's own mirror or the engine's store).
    status : ConnectionStatus | None
        Connection health per instrument; None skips connection checks (simulator, replay).
    ticks : Mapping[str, int] | None
        Current tick per instrument, micro (for the depth window); default 0.01.
    venue_top : Mapping[str, tuple[int | None, int | None]] | None
        Best bid/ask the venue last reported per instrument (micro), for ``top_mismatch``.
    ladders : Mapping[str, PriceLadder] | None
        Current price ladder per instrument (``Instrument.ladder``), for ``off_grid_book``. None:
        a uniform grid of the instrument's entry in ``ticks`` (Polymarket, where the translator's
        ticks follow every tick-size change); an instrument with neither is not grid-checked.
    """

    def __init__(
        self,
        config: ValidationConfig,
        books: BookStore,
        status: ConnectionStatus | None = None,
        ticks: Mapping[str, int] | None = None,
        venue_top: Mapping[str, tuple[int | None, int | None]] | None = None,
        ladders: Mapping[str, PriceLadder] | None = None,
    ) -> None:
        self.config = config
        self.ladders = ladders
        self.books = books
        self.status = status
        self.ticks: Mapping[str, int] = ticks if ticks is not None else {}
        self.venue_top: Mapping[str, tuple[int | None, int | None]] = (
            venue_top if venue_top is not None else {}
        )
        self.data_issues: dict[str, str] = {}
        self.suspects: dict[str, float] = {}
        self.last_checked: dict[str, float] = {}
        self._resync: dict[str, None] = {}
        self._failures: list[ValidationFailure] = []
        self._blocked: dict[str, str] = {}
        # instrument -> (book, its update count, ladder, first off-grid price or None)
        self._grid: dict[str, tuple[OrderBook, int, PriceLadder, int | None]] = {}
        self._uniform: dict[int, UniformLadder] = {}
        # instrument -> (book, its update count, tick, ladder, depth_ticks, deep enough?)
        self._depth: dict[str, tuple[OrderBook, int, int, PriceLadder | None, int, bool]] = {}
        self._cursor = 0
        self._thr = max(1, to_micro(config.price_discrepancy_threshold))
        self._min_depth = to_micro(config.min_depth_usd)
        self.counters: dict[str, int] = {
            "checks": 0,
            "blocked_checks": 0,
            "unblocked": 0,
            "data_issues": 0,
            "cross_checks": 0,
            "cross_check_ok": 0,
            "cross_check_failed": 0,
            "resync_requests": 0,
        }

    # ------------------------------------------------------------------ inputs
    def note_data_issue(self, instrument_id: str, reason: str, ts: float) -> None:
        """Block an instrument after bad data; unparseable sizes also request a resync."""
        self.counters["data_issues"] += 1
        key = "data_issue:" + reason
        self.counters[key] = self.counters.get(key, 0) + 1
        if self.data_issues.get(instrument_id) != reason:
            self._failures.append(ValidationFailure(ts, instrument_id, "bad_data:" + reason))
        self.data_issues[instrument_id] = reason
        if reason in ("bad_size", "bad_price", "bad_level"):
            self._request_resync(instrument_id)

    def note_clean_update(self, instrument_id: str, ts: float) -> None:
        """Lift a data-issue block after a clean update."""
        self.data_issues.pop(instrument_id, None)

    def cross_check(
        self,
        instrument_id: str,
        rest_bid: int | None,
        rest_ask: int | None,
        now: float,
    ) -> bool:
        """Compare the book's best bid/ask with a REST snapshot (micro); return True if clean.

        A difference above the threshold on either side (or a side present in one and missing
        in the other) marks the instrument suspect and requests a resync; a clean check lifts
        the suspicion.
        """
        book = self.books.find(instrument_id)
        bid = book.best_bid() if book else None
        ask = book.best_ask() if book else None
        bad = _differs(bid, rest_bid, self._thr) or _differs(ask, rest_ask, self._thr)
        detail = f"ws bid/ask {bid}/{ask} vs rest {rest_bid}/{rest_ask}"
        return self._record_check(instrument_id, bad, detail, now)

    def cross_check_mid(self, instrument_id: str, rest_mid: int | None, now: float) -> bool:
        """Compare the book's mid with a REST midpoint (micro); return True if clean."""
        book = self.books.find(instrument_id)
        mid = _exact_mid(book) if book else None
        bad = _differs(mid, rest_mid, self._thr)
        return self._record_check(instrument_id, bad, f"ws mid {mid} vs rest {rest_mid}", now)

    def _record_check(self, instrument_id: str, bad: bool, detail: str, now: float) -> bool:
        c = self.counters
        c["cross_checks"] += 1
        self.last_checked[instrument_id] = now
        if bad:
            c["cross_check_failed"] += 1
            self.suspects[instrument_id] = now
            self._failures.append(
                ValidationFailure(now, instrument_id, "cross_check_failed", detail)
            )
            self._request_resync(instrument_id)
            return False
        c["cross_check_ok"] += 1
        self.suspects.pop(instrument_id, None)
        return True

    def _request_resync(self, instrument_id: str) -> None:
        if instrument_id not in self._resync:
            self._resync[instrument_id] = None
            self.counters["resync_requests"] += 1

    def forget(self, instrument_id: str) -> None:
        """Drop all state of an instrument (resolved or unsubscribed)."""
        for d in (
            self.data_issues,
            self.suspects,
            self.last_checked,
            self._blocked,
            self._resync,
            self._grid,
            self._depth,
        ):
            d.pop(instrument_id, None)

    # ------------------------------------------------------------------ outputs
    def take_resync_requests(self) -> list[str]:
        """Return and clear the instruments whose books should be re-snapshotted."""
        out = list(self._resync)
        self._resync.clear()
        return out

    def take_failures(self) -> list[ValidationFailure]:
        """Return and clear failure records (one per new block reason per instrument)."""
        out = self._failures
        self._failures = []
        return out

    def select_cross_checks(self, instrument_ids: Iterable[str], now: float, n: int) -> list[str]:
        """Choose up to ``n`` instruments to compare with REST now.

        Suspects whose recheck delay has passed come first; the rest rotate round-robin.
        """
        ids = list(instrument_ids)
        chosen: list[str] = []
        wait = self.config.suspect_recheck_s
        for iid in ids:
            if len(chosen) >= n:
                return chosen
            since = self.suspects.get(iid)
            if since is not None and now - self.last_checked.get(iid, since) >= wait:
                chosen.append(iid)
        if not ids:
            return chosen
        start = self._cursor % len(ids)
        for k in range(len(ids)):
            if len(chosen) >= n:
                break
            iid = ids[(start + k) % len(ids)]
            if iid not in chosen and iid not in self.suspects:
                chosen.append(iid)
                self._cursor = start + k + 1
        return chosen

    def counters_snapshot(self) -> dict[str, int]:
        """Return a copy of the counters plus current block tallies (for the dashboard)."""
        out = dict(self.counters)
        out["blocked_now"] = len(self._blocked)
        out["suspects_now"] = len(self.suspects)
        out["data_issues_now"] = len(self.data_issues)
        return out

    # ------------------------------------------------------------------ decision
    def can_trade(self, instrument_id: str, now: float) -> tuple[bool, str | None]:
        """Return ``(True, None)`` if new orders may go on the instrument, else ``(False, why)``."""
        self.counters["checks"] += 1
        reason = self._reason(instrument_id, now)
        prev = self._blocked.get(instrument_id)
        if reason is None:
            if prev is not None:
                del self._blocked[instrument_id]
                self.counters["unblocked"] += 1
            return True, None
        self.counters["blocked_checks"] += 1
        if prev != reason:
            self._blocked[instrument_id] = reason
            key = "blocked:" + reason.split(":", 1)[0]
            self.counters[key] = self.counters.get(key, 0) + 1
            if not reason.startswith(("bad_data", "cross_check")):
                # data issues and failed checks were recorded when they happened
                detail = ""
                if reason == "off_grid_book":
                    detail = f"level at {self._grid[instrument_id][3]} micro is off the ladder"
                self._failures.append(ValidationFailure(now, instrument_id, reason, detail))
        return False, reason

    def _reason(self, iid: str, now: float) -> str | None:
        cfg = self.config
        status = self.status
        if status is not None and not status.is_healthy(iid):
            return "connection_unhealthy"
        book = self.books.find(iid)
        if book is None or book.updates == 0:
            return "no_book"
        heard = book.ts
        if status is not None:
            heard = max(heard, status.last_message_ts(iid) or 0.0)
        if now - heard > cfg.freshness_threshold_s:
            return "stale_book"
        issue = self.data_issues.get(iid)
        if issue is not None:
            return "bad_data:" + issue
        if iid in self.suspects:
            return "cross_check_failed"
        if self._off_grid(book, iid) is not None:
            return "off_grid_book"
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            return "crossed_book"
        if cfg.require_two_sided and (bid is None or ask is None):
            return "empty_book"
        if cfg.check_venue_top:
            top = self.venue_top.get(iid)
            if top is not None:
                vbid = top[0] or None
                vask = top[1] if top[1] and top[1] < MICRO else None
                if vbid != bid or vask != ask:
                    return "top_mismatch"
        if self._min_depth > 0 and not self._deep_enough(book, iid):
            return "thin_depth"
        return None

    def _ladder(self, iid: str) -> PriceLadder | None:
        if self.ladders is not None:
            lad = self.ladders.get(iid)
            if lad is not None:
                return lad
        tick = self.ticks.get(iid)
        if not tick:
            return None
        uni = self._uniform.get(tick)
        if uni is None:
            uni = self._uniform[tick] = UniformLadder(tick)
        return uni

    def _off_grid(self, book: OrderBook, iid: str) -> int | None:
        """Return a price of the book that is off the instrument's current ladder, or None.

        The answer is cached until the book changes (``updates``: every snapshot and delta bumps
        it) or the ladder does (a tick-size change), so a quiet book is scanned once.
        """
        lad = self._ladder(iid)
        if lad is None:
            return None
        seen = self._grid.get(iid)
        if seen is not None and seen[0] is book and seen[1] == book.updates and seen[2] == lad:
            return seen[3]
        contains = lad.contains
        bad: int | None = None
        for levels in (book.bids, book.asks):
            for p in levels:
                if not contains(p):
                    bad = p
                    break
            if bad is not None:
                break
        self._grid[iid] = (book, book.updates, lad, bad)
        return bad

    def _deep_enough(self, book: OrderBook, iid: str) -> bool:
        """Return whether each side shows ``min_depth_usd`` near its own best price.

        The answer is cached until the book changes (``updates``), or the instrument's tick,
        ladder or the configured window does (issue 18): a book is mostly asked about many
        times between two of its updates (every strategy's entry check, every order).
        """
        tick = self.ticks.get(iid, DEFAULT_TICK)
        ladder = self._ladder(iid)
        depth_ticks = self.config.depth_ticks
        seen = self._depth.get(iid)
        if (
            seen is not None
            and seen[0] is book
            and seen[1] == book.updates
            and seen[2] == tick
            and seen[3] is ladder
            and seen[4] == depth_ticks
        ):
            return seen[5]
        ok = self._depth_scan(book, tick, ladder, depth_ticks)
        self._depth[iid] = (book, book.updates, tick, ladder, depth_ticks, ok)
        return ok

    def _depth_scan(
        self, book: OrderBook, tick: int, ladder: PriceLadder | None, depth_ticks: int
    ) -> bool:
        """Scan both sides of the book for ``min_depth_usd`` within the window (uncached)."""
        window = tick * depth_ticks
        # On an odds ladder (Betfair) the window is counted in ladder steps, whose size grows
        # with the odds, and a level's size is already cash (the backer's stake).
        odds = ladder if ladder is not None and ladder.quote is Quote.ODDS else None
        for side in (Side.BUY, Side.SELL):
            depth = 0
            best: int | None = None
            for p, s in book.levels(side):
                if best is None:
                    best = p
                elif odds is not None:
                    if not (odds.contains(p) and odds.contains(best)) or (
                        abs(odds.ticks_between(best, p)) > depth_ticks
                    ):
                        break
                elif abs(p - best) > window:
                    break
                depth += s if odds is not None else notional(s, p)
                if depth >= self._min_depth:
                    break
            if depth < self._min_depth:
                return False
        return True


def _differs(a: int | None, b: int | None, thr: int) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > thr


def _exact_mid(book: OrderBook) -> int | None:
    bid, ask = book.best_bid(), book.best_ask()
    if bid is None or ask is None:
        return None
    return (bid + ask) // 2
