"""Build the configured market-data source (sim, replay, polymarket), with optional recording,
and watch a live feed's health for the engine and the dashboard.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.bus import EventBus
from services.clock import Clock
from services.events import MarketEvent
from services.feed import Feed
from services.instruments import Instrument
from services.markets.recorder import Recorder, RecordingFeed
from services.orderbook import BookStore
from services.persistence import Sink
from services.risk.data_guard import DataGuard, DataGuardControl
from utils.config import AppConfig

__all__ = ["DataGuard", "DataGuardControl", "FeedBundle", "make_feed", "watch_live_feed"]

log = logging.getLogger(__name__)


@dataclass
class FeedBundle:
    """The feed the engine consumes plus what the app must close and watch."""

    feed: Feed
    recorder: Recorder | None = None
    live: Any = None  # the PolymarketFeed, when the source is live
    notes: list[str] = field(default_factory=list)


def make_feed(cfg: AppConfig, start_ts: float, books: BookStore, clock: Clock) -> FeedBundle:
    """Build the configured source. ``books`` is the engine's store (the live feed reads it)."""
    md = cfg.market_data
    speed = None if md.speed == "max" else float(md.speed)
    recording = md.record or md.recorder.record
    recorder = (
        Recorder(md.recorder.model_copy(update={"record": True}), source=md.source)
        if recording
        else None
    )
    if md.source == "sim":
        from services.markets.sim import SimFeed

        sim: Feed = SimFeed(
            md.sim, seed=md.seed, start_ts=start_ts, speed=speed, duration_s=md.duration_s
        )
        feed = RecordingFeed(sim, recorder) if recorder is not None else sim
        return FeedBundle(feed, recorder)
    if md.source == "replay":
        from services.markets.replay import ReplayFeed

        paths = [Path(p).expanduser() for p in md.replay_paths]
        replay: Feed = ReplayFeed(paths, speed=speed)
        if md.duration_s is not None:
            replay = _Limited(replay, md.duration_s)
        feed = RecordingFeed(replay, recorder) if recorder is not None else replay
        return FeedBundle(feed, recorder)
    from services.markets.polymarket import PolymarketFeed

    live = PolymarketFeed(
        md.polymarket, clock, validation=md.validation, recorder=recorder, books=books
    )
    feed = _RetryingStart(live, md.polymarket.reconnect_backoff_max_s)
    if md.duration_s is not None:
        feed = _Limited(feed, md.duration_s)  # type: ignore[assignment]
    return FeedBundle(feed, recorder, live)


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


async def watch_live_feed(
    bundle: FeedBundle, guard: DataGuard, sink: Sink, bus: EventBus, cfg: AppConfig, clock: Clock
) -> None:
    """Every ``pipeline.evaluate_interval_s``: evaluate the pipeline, log validation failures as
    events, and keep ``bot_state.data_health`` current (the dashboard's health panel)."""
    from services.monitors.data_pipeline import DataPipelineMonitor

    live = bundle.live
    if live is None:
        return
    guard.validator = live.validator
    monitor = DataPipelineMonitor(cfg.market_data.pipeline)
    interval = cfg.market_data.pipeline_check_interval_s
    while True:
        await asyncio.sleep(interval)
        now = clock.now()
        for failure in live.validator.take_failures():
            bus.event(
                failure.ts,
                "data_validation",
                f"{failure.instrument_id}: {failure.reason}",
                severity="warning",
                instrument_id=failure.instrument_id,
                value=failure.reason,
                data={"detail": failure.detail} if failure.detail else None,
            )
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
