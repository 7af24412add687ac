"""PolymarketFeed: live Polymarket books as a :class:`~services.markets.base.Feed`.

Wiring: discovery (Gamma) lists instruments and keeps the selection fresh; shards (market-channel
WebSockets) deliver frames; one consumer translates frames in arrival order, updates the feed's own
book mirror (for validation, cross-checks and the top-of-book table) and yields event batches.
Every frame, listing and REST-noticed event is stamped with a monotonic receive time when it is
queued, and recorded at that moment, so a replay sees the same items in the same order with the
same times and rebuilds the same books.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from services.clock import Clock, LiveClock
from services.events import (
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketResolved,
    MarketStatus,
)
from services.instruments import Instrument
from services.markets.polymarket.config import PolymarketConfig, ValidationConfig
from services.markets.polymarket.discovery import Discovery, DiscoveryUpdate
from services.markets.polymarket.rest import Priority, RestClient, RestError
from services.markets.polymarket.translate import Translator, dec_to_micro
from services.markets.polymarket.ws import ShardManager
from services.markets.recorder import Recorder
from services.monitors.data_validation import DataValidator
from services.orderbook import BookStore
from utils.errors import FatalEngineError

log = logging.getLogger(__name__)

_RAW, _LISTED, _EVENTS, _CONNECTED, _ERROR, _STOP = range(6)
_SHUTDOWN_TIMEOUT_S = 5.0


class FeedError(FatalEngineError, RuntimeError):
    """A core task of the feed failed unexpectedly; trading on this feed must halt."""


def apply_to_books(books: BookStore, events: Iterable[MarketEvent]) -> None:
    """Apply the book events of a batch to a book store (other events are ignored)."""
    for ev in events:
        tp = type(ev)
        if tp is BookDelta:
            books.apply_delta(ev)  # type: ignore[arg-type]
        elif tp is BookSnapshot:
            books.apply_snapshot(ev)  # type: ignore[arg-type]


class PolymarketFeed:
    """Live Polymarket market data.

    Parameters
    ----------
    config : PolymarketConfig | None
        Endpoints, sharding, heartbeat, discovery filters, REST policy.
    clock : Clock | None
        Wall clock (``LiveClock`` by default); event times are receive times from it.
    validation : ValidationConfig | None
        Thresholds of :attr:`validator`.
    recorder : Recorder | None
        Records frames, listings and REST-noticed events; owned (and closed) by the caller.
    books : BookStore | None
        The store the validator, cross-checks and top-of-book table read. None (default): the
        feed keeps its own mirror and applies every book event to it. When given (normally the
        engine's store), the feed does not apply events to it: its owner applies the yielded
        batches, which saves a second book update per message.

    Attributes
    ----------
    books : BookStore
        The books read by the validator (the feed's mirror unless ``books`` was given).
    validator : DataValidator
        The trading gate for these instruments (``can_trade(instrument_id, now)``).
    translator : Translator
        Counters, ticks, last trades and venue-reported best prices.
    """

    name = "polymarket"

    def __init__(
        self,
        config: PolymarketConfig | None = None,
        clock: Clock | None = None,
        *,
        validation: ValidationConfig | None = None,
        recorder: Recorder | None = None,
        books: BookStore | None = None,
    ) -> None:
        self.config = config or PolymarketConfig()
        self.clock: Clock = clock or LiveClock()
        self.recorder = recorder
        self._mirror = books is None
        self.books = BookStore() if books is None else books
        self.translator = Translator()
        self.validator = DataValidator(
            validation or ValidationConfig(),
            self.books,
            status=self,
            ticks=self.translator.ticks,
            venue_top=self.translator.venue_top,
        )
        self.translator.sink = self.validator
        self.rest = RestClient(self.config)
        self.discovery = Discovery(self.config.discovery, self.rest, self.config.gamma_url)
        self.shards = ShardManager(
            self.config, self._on_frame, self._on_connected, self.clock, self._task_done
        )
        self.counters: dict[str, int] = {
            "batches": 0,
            "resync_requests": 0,
            "discovery_errors": 0,
            "cross_check_errors": 0,
        }
        self._queue: asyncio.Queue[tuple[int, float, Any, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._synced: set[str] = set()
        self._remove: list[str] = []
        self._last_ts = 0.0
        self._started = False
        self._start_lock = asyncio.Lock()
        self._closed = False

    # ------------------------------------------------------------------ Feed protocol
    async def start(self) -> None:
        """Open the REST session, run the first discovery, subscribe, start background tasks.

        Raises
        ------
        RestError
            If the first discovery cannot read Gamma (calling again retries).
        """
        async with self._start_lock:
            if self._started:
                return
            await self.rest.start()
            update = await self.discovery.refresh(self.clock.now())  # may raise: retry later
            self._started = True
            await self._apply_discovery(update)
            self._spawn(self._discovery_loop(), "polymarket-discovery")
            self._spawn(self._cross_check_loop(), "polymarket-cross-check")

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Yield event batches in receive order until :meth:`close`.

        Raises
        ------
        FeedError
            If a background task of the feed died unexpectedly.
        """
        await self.start()
        q = self._queue
        limit = self.config.max_batch_messages
        while True:
            items = [await q.get()]
            while len(items) < limit and not q.empty():
                items.append(q.get_nowait())
            out: list[MarketEvent] = []
            stop = False
            for item in items:
                if item[0] == _STOP:
                    stop = True
                    break
                if item[0] == _ERROR:
                    raise FeedError(f"Polymarket feed task failed: {item[3]!r}") from item[3]
                out.extend(self._process(item))
            await self._after_batch()
            if out:
                self.counters["batches"] += 1
                yield out
            if stop:
                return

    async def close(self) -> None:
        """Stop tasks and connections, close the REST session, end :meth:`batches`."""
        if self._closed:
            return
        self._closed = True
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=_SHUTDOWN_TIMEOUT_S)
            for t in pending:
                log.error("A feed task did not stop in time.", extra={"task": t.get_name()})
        await self.shards.stop()
        await self.rest.close()
        self._queue.put_nowait((_STOP, 0.0, None, None))

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Do nothing: the venue knows its markets."""

    # ------------------------------------------------------------------ ConnectionStatus
    def is_healthy(self, instrument_id: str) -> bool:
        """Return whether the token's shard is live and its book re-snapshotted since connect."""
        shard = self.shards.shard_of(instrument_id)
        return shard is not None and shard.healthy() and instrument_id in self._synced

    def last_message_ts(self, instrument_id: str) -> float | None:
        """Return the receive time of the last message on the token's shard (epoch s)."""
        shard = self.shards.shard_of(instrument_id)
        return shard.last_message_ts if shard is not None else None

    # ------------------------------------------------------------------ views
    def watched(self) -> list[str]:
        """Return the subscribed token ids."""
        return list(self.shards.by_token)

    def top_of_book(self) -> dict[str, dict[str, Any]]:
        """Return the current top of book per watched token (prices/sizes in micro, times s)."""
        out: dict[str, dict[str, Any]] = {}
        tr = self.translator
        for iid in self.shards.by_token:
            book = self.books.find(iid)
            bid = book.best_bid() if book else None
            ask = book.best_ask() if book else None
            trade = tr.last_trade.get(iid)
            venue = tr.venue_top.get(iid, (None, None))
            out[iid] = {
                "instrument_id": iid,
                "best_bid": bid,
                "best_bid_size": book.bids.get(bid, 0) if book and bid is not None else 0,
                "best_ask": ask,
                "best_ask_size": book.asks.get(ask, 0) if book and ask is not None else 0,
                "mid": book.mid() if book else None,
                "last_trade_price": trade[0] if trade else None,
                "last_trade_size": trade[1] if trade else None,
                "last_trade_ts": trade[2] if trade else None,
                "updated_ts": book.ts if book else None,
                "venue_best_bid": venue[0],
                "venue_best_ask": venue[1],
            }
        return out

    def pipeline_stats(self) -> dict[str, Any]:
        """Return the statistics the data pipeline monitor evaluates."""
        return {
            "ts": self.clock.now(),
            "shards": self.shards.stats(),
            "rest": self.rest.stats(),
            "translator": dict(self.translator.counters),
            "validation": self.validator.counters_snapshot(),
            "discovery": {
                **self.discovery.counters,
                "watched_markets": len(self.discovery.watched),
                "pending_resolution": len(self.discovery.pending),
            },
            "feed": dict(self.counters),
            "queue_depth": self._queue.qsize(),
        }

    async def resync(self, instrument_ids: Iterable[str]) -> None:
        """Ask the venue for fresh snapshots; the books stay blocked until they arrive."""
        ids = [i for i in instrument_ids if self.shards.shard_of(i) is not None]
        if not ids:
            return
        self.counters["resync_requests"] += len(ids)
        self._synced.difference_update(ids)
        await self.shards.resync(ids)

    # ------------------------------------------------------------------ producers
    def _stamp(self) -> float:
        t = self.clock.now()
        if t < self._last_ts:
            t = self._last_ts
        self._last_ts = t
        return t

    def _on_frame(self, shard_id: int, frame: str | bytes) -> None:
        t = self._stamp()
        if self.recorder is not None:
            self.recorder.record_raw(t, shard_id, frame)
        self._queue.put_nowait((_RAW, t, shard_id, frame))

    def _on_connected(self, shard_id: int, tokens: list[str]) -> None:
        self._queue.put_nowait((_CONNECTED, self._stamp(), shard_id, tokens))

    def _enqueue_listing(self, instruments: list[Instrument]) -> None:
        t = self._stamp()
        if self.recorder is not None:
            self.recorder.record_instruments(t, instruments)
        self._queue.put_nowait((_LISTED, t, None, instruments))

    def _enqueue_events(self, events: list[MarketEvent]) -> None:
        t = self._stamp()
        stamped = [dataclasses.replace(ev, ts=t) for ev in events]  # type: ignore[type-var]
        if self.recorder is not None:
            self.recorder.record_events(stamped, t)
        self._queue.put_nowait((_EVENTS, t, None, stamped))

    async def _apply_discovery(self, update: DiscoveryUpdate) -> None:
        insts = [i for m in update.listed for i in m.instruments]
        if insts:
            self._enqueue_listing(insts)
            await self.shards.add(i.instrument_id for i in insts)
        if update.status:
            self._enqueue_events(list(update.status))
        for m in update.closed:
            self._enqueue_events([MarketStatus(ts=0.0, market_id=m.condition_id, status="closed")])
            await self.shards.remove(m.token_ids)
        for ev in update.resolved:
            self._enqueue_events([ev])
            await self.shards.remove(i for i, _p in ev.payouts)

    # ------------------------------------------------------------------ consumer
    def _process(self, item: tuple[int, float, Any, Any]) -> list[MarketEvent]:
        kind, t, _shard, payload = item
        tr = self.translator
        if kind == _RAW:
            events = tr.translate_frame(payload, t)
        elif kind == _LISTED:
            events = tr.listing(payload, t)
        elif kind == _EVENTS:
            events = tr.accept(payload)
        else:  # _CONNECTED: books of these tokens wait for their fresh snapshot
            self._synced.difference_update(payload)
            return []
        books = self.books
        mirror = self._mirror
        for ev in events:
            tp = type(ev)
            if tp is BookDelta:
                if mirror:
                    books.apply_delta(ev)  # type: ignore[arg-type]
            elif tp is BookSnapshot:
                if mirror:
                    books.apply_snapshot(ev)  # type: ignore[arg-type]
                self._synced.add(ev.instrument_id)  # type: ignore[union-attr]
            elif tp is MarketResolved:
                ids = [i for i, _p in ev.payouts]  # type: ignore[union-attr]
                self.discovery.mark_resolved(ev.market_id)  # type: ignore[union-attr]
                for i in ids:
                    self.validator.forget(i)
                self._remove.extend(ids)
        return events

    async def _after_batch(self) -> None:
        if self._remove:
            ids, self._remove = self._remove, []
            await self.shards.remove(ids)
        reqs = self.validator.take_resync_requests()
        if reqs:
            await self.resync(reqs)

    # ------------------------------------------------------------------ background tasks
    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closed:
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "A Polymarket feed task failed.",
                extra={"task": task.get_name(), "error": repr(exc)},
            )
            self._queue.put_nowait((_ERROR, 0.0, None, exc))

    async def _discovery_loop(self) -> None:
        interval = self.config.discovery.refresh_interval_s
        while True:
            await self.clock.sleep(interval)
            try:
                update = await self.discovery.refresh(self.clock.now())
            except RestError as exc:
                self.counters["discovery_errors"] += 1
                log.warning(
                    "Market discovery refresh failed; keeping the current markets.",
                    extra={"error": str(exc)},
                )
                continue
            await self._apply_discovery(update)

    async def _cross_check_loop(self) -> None:
        vc = self.validator.config
        if vc.cross_checks_per_round <= 0:
            return
        tick = min(vc.cross_check_interval_s, vc.suspect_recheck_s)
        last_round = self.clock.now()
        while True:
            await self.clock.sleep(tick)
            now = self.clock.now()
            ids = [i for i in self.shards.by_token if i in self._synced]
            if now - last_round >= vc.cross_check_interval_s:
                last_round = now
                picks = self.validator.select_cross_checks(ids, now, vc.cross_checks_per_round)
            else:
                suspects = [i for i in ids if i in self.validator.suspects]
                picks = self.validator.select_cross_checks(suspects, now, len(suspects))
            for iid in picks:
                await self._cross_check(iid)
            reqs = self.validator.take_resync_requests()
            if reqs:
                await self.resync(reqs)

    async def _cross_check(self, iid: str) -> None:
        clob = self.config.clob_url.rstrip("/")
        mode = self.validator.config.cross_check_source
        try:
            if mode == "midpoint":
                body = await self.rest.get_json(
                    f"{clob}/midpoint",
                    {"token_id": iid},
                    endpoint="clob_book",
                    priority=Priority.DATA,
                )
                mid = dec_to_micro(body["mid"]) if body.get("mid") not in (None, "") else None
                self.validator.cross_check_mid(iid, mid, self.clock.now())
                return
            body = await self.rest.get_json(
                f"{clob}/book", {"token_id": iid}, endpoint="clob_book", priority=Priority.DATA
            )
            bid, ask = rest_best(body)
        except RestError as exc:
            self.counters["cross_check_errors"] += 1
            log.warning("A REST cross-check failed.", extra={"market": iid, "error": str(exc)})
            return
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            self.counters["cross_check_errors"] += 1
            log.warning("A REST book did not parse.", extra={"market": iid, "error": str(exc)})
            return
        self.validator.cross_check(iid, bid, ask, self.clock.now())


def rest_best(body: dict[str, Any]) -> tuple[int | None, int | None]:
    """Return (best bid, best ask) in micro of a CLOB ``/book`` answer (level order ignored)."""
    bids = [dec_to_micro(x["price"]) for x in body.get("bids") or [] if dec_to_micro(x["size"])]
    asks = [dec_to_micro(x["price"]) for x in body.get("asks") or [] if dec_to_micro(x["size"])]
    return (max(bids) if bids else None, min(asks) if asks else None)
