"""Build the configured market-data source (sim, replay, polymarket), with optional recording,
the data validator that gates orders on it, and watch the feed's health for the engine and the
dashboard.

Every source gets one :class:`~services.monitors.data_validation.DataValidator` reading the
engine's books (``FeedBundle.validator``): the live feed's own (with connection status and REST
cross-checks), or for a replay and the simulator one driven by the books themselves with the
stream as the connection. A replay also wires its translator to it (venue-reported best prices,
bad data), exactly as the live feed does, so the gate decides the same way on the same books.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.bus import EventBus
from services.clock import Clock
from services.events import MarketEvent
from services.feed import Feed
from services.instruments import Instrument
from services.ladder import PriceLadder
from services.markets.recorder import Recorder, RecordingFeed
from services.money import MICRO
from services.monitors.data_validation import DataValidator, StreamStatus
from services.orderbook import BookStore
from services.persistence import Sink
from services.risk.data_guard import DataGuard, DataGuardControl
from utils.config import AppConfig
from utils.polymarket_config import ValidationConfig

if TYPE_CHECKING:
    from services.markets.polymarket.translate import Translator

__all__ = [
    "DataGuard",
    "DataGuardControl",
    "FeedBundle",
    "attach_data_gate",
    "log_validation_failures",
    "make_feed",
    "watch_data",
    "watch_live_feed",
]

log = logging.getLogger(__name__)


@dataclass
class FeedBundle:
    """The feed the engine consumes plus what the app must close and watch."""

    feed: Feed
    recorder: Recorder | None = None
    live: Any = None  # the PolymarketFeed, when the source is live
    notes: list[str] = field(default_factory=list)
    validator: DataValidator | None = None  # the data gate of this source (see DataGuard)


def make_feed(
    cfg: AppConfig,
    start_ts: float,
    books: BookStore,
    clock: Clock,
    instruments: Mapping[str, Instrument] | None = None,
) -> FeedBundle:
    """Build the configured source and its data validator.

    ``books`` is the engine's store: the validator (and the live feed) read it. ``instruments``
    (the engine's registry) gives the simulator's ticks to the depth check; a replay and the
    live feed know their ticks from the venue's messages.
    """
    md = cfg.market_data
    speed = None if md.speed == "max" else float(md.speed)
    recording = md.record or md.recorder.record
    if md.source == "betfair":  # records the raw stream itself (a replayable stream file)
        from services.markets.betfair.live import BetfairStreamFeed

        record_dir = Path(md.recorder.directory).expanduser() / "betfair" if recording else None
        stream: Feed = BetfairStreamFeed(md.betfair, record_dir=record_dir)
        stream, validator = attach_data_gate(stream, md.validation, books, instruments=instruments)
        if md.duration_s is not None:
            stream = _Limited(stream, md.duration_s)
        return FeedBundle(stream, None, validator=validator)
    recorder = (
        Recorder(md.recorder.model_copy(update={"record": True}), source=md.source)
        if recording
        else None
    )
    if md.source == "sim":
        from services.markets.sim import SimFeed
        from services.markets.sim.process import ChildSimFeed, resolve_process

        # market_data.sim.process: the generation in a child process or on the engine's thread
        # (the same events; docs/PERFORMANCE.md, sixth round)
        child = resolve_process(md.sim.process) == "child"
        sim: Feed = (ChildSimFeed if child else SimFeed)(
            md.sim, seed=md.seed, start_ts=start_ts, speed=speed, duration_s=md.duration_s
        )
        sim, validator = attach_data_gate(sim, md.validation, books, instruments=instruments)
        feed: Feed = RecordingFeed(sim, recorder) if recorder is not None else sim
        return FeedBundle(feed, recorder, validator=validator)
    if md.source == "replay":
        from services.markets.replay import ReplayFeed

        paths = [Path(p).expanduser() for p in md.replay_paths]
        source = ReplayFeed(paths, speed=speed)
        replay, validator = attach_data_gate(
            source, md.validation, books, translator=source.translator
        )
        if md.duration_s is not None:
            replay = _Limited(replay, md.duration_s)
        feed = RecordingFeed(replay, recorder) if recorder is not None else replay
        return FeedBundle(feed, recorder, validator=validator)
    if md.source == "betfair_replay":
        from services.markets.betfair.replay import BetfairReplayFeed

        bf = md.betfair
        betfair: Feed = BetfairReplayFeed(
            [Path(p).expanduser() for p in bf.replay_paths],
            speed=speed,
            currency=bf.currency,
            min_stake=int(bf.min_stake * MICRO),
        )
        betfair, validator = attach_data_gate(
            betfair, md.validation, books, instruments=instruments
        )
        if md.duration_s is not None:
            betfair = _Limited(betfair, md.duration_s)
        feed = RecordingFeed(betfair, recorder) if recorder is not None else betfair
        return FeedBundle(feed, recorder, validator=validator)
    from services.markets.polymarket import PolymarketFeed

    live = PolymarketFeed(
        md.polymarket, clock, validation=md.validation, recorder=recorder, books=books
    )
    feed = _RetryingStart(live, md.polymarket.reconnect_backoff_max_s)
    if md.duration_s is not None:
        feed = _Limited(feed, md.duration_s)
    return FeedBundle(feed, recorder, live, validator=live.validator)


def attach_data_gate(
    feed: Feed,
    validation: ValidationConfig,
    books: BookStore,
    *,
    instruments: Mapping[str, Instrument] | None = None,
    translator: Translator | None = None,
) -> tuple[Feed, DataValidator]:
    """Give a feed without connections (replay, simulator, a test's feed) its data gate.

    Returns the feed wrapped so that the stream counts as the connection (a
    :class:`StreamStatus`), and the validator reading ``books`` (the engine's). With the
    ``translator`` of a replayed Polymarket recording, the validator also sees the venue's
    reported best prices and bad data, exactly as the live feed's validator does; otherwise the
    ticks of ``instruments`` size the depth window and their ladders are the grid a book's
    levels must lie on (``off_grid_book``).
    """
    stream = StreamStatus()
    if translator is not None:
        validator = DataValidator(
            validation,
            books,
            status=stream,
            ticks=translator.ticks,
            venue_top=translator.venue_top,
        )
        translator.sink = validator  # bad prices/sizes block as they did live
    else:
        registry = instruments or {}
        validator = DataValidator(
            validation,
            books,
            status=stream,
            ticks=_Ticks(registry),
            venue_top={},
            ladders=_Ladders(registry),
        )
    return _Heard(feed, stream), validator


class _Ticks(Mapping[str, int]):
    """Read-only view of the instruments' current ticks (micro), for the depth window."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = instruments

    def __getitem__(self, key: str) -> int:
        return self._instruments[key].tick

    def __iter__(self) -> Iterator[str]:
        return iter(self._instruments)

    def __len__(self) -> int:
        return len(self._instruments)


class _Ladders(Mapping[str, PriceLadder]):
    """Read-only view of the instruments' current ladders, for the off-grid book check."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = instruments

    def __getitem__(self, key: str) -> PriceLadder:
        return self._instruments[key].ladder

    def __iter__(self) -> Iterator[str]:
        return iter(self._instruments)

    def __len__(self) -> int:
        return len(self._instruments)


class _Heard:
    """Pass a feed's batches through, noting on a StreamStatus that the stream is alive."""

    def __init__(self, inner: Feed, status: StreamStatus) -> None:
        self.inner = inner
        self.name = inner.name
        self.status = status

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        note = self.status.note
        async for batch in self.inner.batches():
            if batch:
                note(batch[-1].ts)
            yield batch

    async def close(self) -> None:
        await self.inner.close()

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        self.inner.adopt(instruments, mids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # counters, translator, instruments() of the source


class _Limited:
    """Stop a feed after ``duration_s`` of event time from its first batch."""

    def __init__(self, inner: Feed, duration_s: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.duration_s = duration_s

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        t0: float | None = None
        async for batch in self.inner.batches():
            if t0 is None:
                t0 = batch[0].ts
            if batch[0].ts - t0 > self.duration_s:
                return
            yield batch

    async def close(self) -> None:
        await self.inner.close()

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        self.inner.adopt(instruments, mids)


class _RetryingStart:
    """Start a live feed, retrying with backoff while the venue is unreachable."""

    def __init__(self, inner: Any, max_backoff_s: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_backoff_s = max_backoff_s

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        from services.markets.polymarket.rest import RestError

        delay = 1.0
        while True:
            try:
                await self.inner.start()
                break
            except RestError as exc:
                log.warning(
                    "Could not reach the venue to discover markets (%s); retrying in %.0f s.",
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self.max_backoff_s, delay * 2)
        async for batch in self.inner.batches():
            yield batch

    async def close(self) -> None:
        await self.inner.close()

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        self.inner.adopt(instruments, mids)


def log_validation_failures(validator: DataValidator, bus: EventBus) -> int:
    """Publish the validator's new failures as audit events; return how many."""
    failures = validator.take_failures()
    for failure in failures:
        bus.event(
            failure.ts,
            "data_validation",
            f"{failure.instrument_id}: {failure.reason}",
            severity="warning",
            instrument_id=failure.instrument_id,
            value=failure.reason,
            data={"detail": failure.detail} if failure.detail else None,
        )
    return len(failures)


async def watch_data(
    bundle: FeedBundle, guard: DataGuard, sink: Sink, bus: EventBus, cfg: AppConfig, clock: Clock
) -> None:
    """Every ``pipeline_check_interval_s`` (wall time): log the data gate's new failures, for any
    source; on a live feed also evaluate the pipeline (:func:`watch_live_feed`)."""
    if bundle.live is not None:
        await watch_live_feed(bundle, guard, sink, bus, cfg, clock)
        return
    validator = guard.validator or bundle.validator
    if validator is None:
        return
    interval = cfg.market_data.pipeline_check_interval_s
    try:
        while True:
            await asyncio.sleep(interval)
            log_validation_failures(validator, bus)
    finally:
        log_validation_failures(validator, bus)  # the last ones, on shutdown


async def watch_live_feed(
    bundle: FeedBundle, guard: DataGuard, sink: Sink, bus: EventBus, cfg: AppConfig, clock: Clock
) -> None:
    """Every ``pipeline.evaluate_interval_s``: evaluate the pipeline, log validation failures as
    events, and keep ``bot_state.data_health`` current (the dashboard's health panel)."""
    from services.monitors.data_pipeline import DataPipelineMonitor

    live = bundle.live
    if live is None:
        return
    if guard.validator is None:
        guard.validator = live.validator
    monitor = DataPipelineMonitor(cfg.market_data.pipeline)
    interval = cfg.market_data.pipeline_check_interval_s
    while True:
        await asyncio.sleep(interval)
        now = clock.now()
        log_validation_failures(live.validator, bus)
        row = monitor.evaluate(live.pipeline_stats(), now)
        guard.status = row["status"]
        guard.allows_new_positions = bool(row["allows_new_positions"])
        sink.state("data_health", row, now)
        if row.get("changed"):
            severity = {"healthy": "info", "degraded": "warning"}.get(row["status"], "critical")
            log.log(
                logging.INFO if severity == "info" else logging.WARNING,
                "Market data pipeline is %s: %s.",
                row["status"],
                "; ".join(row.get("reasons") or []) or "all checks pass",
            )
            bus.event(
                now,
                "data_health",
                f"data pipeline {row.get('previous_status')} -> {row['status']}",
                severity=severity,
                value=row["status"],
                data={"reasons": row.get("reasons") or []},
            )
