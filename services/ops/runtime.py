"""Start the bot's operations side: notifications, daily summary, metrics endpoint, retention.

Everything subscribes to the event bus or reads the engine between batches; nothing is hooked
into the engine. Built once in ``services/app.py`` (``start_ops``) and closed at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from services.bus import EventBus
from services.ops.notify import Notifier
from services.ops.retention import prune
from services.ops.summary import DailySchedule, summary_notification
from utils.config import AppConfig

if TYPE_CHECKING:
    from services.ops.metrics import BotMetrics

log = logging.getLogger(__name__)

SUMMARY_CHECK_S = 20.0


class OpsRuntime:
    """The running operations parts; ``tasks`` are owned by the caller (cancelled at stop)."""

    def __init__(self) -> None:
        self.notifier: Notifier | None = None
        self.metrics: BotMetrics | None = None
        self.metrics_server: Any = None
        self.tasks: list[asyncio.Task[None]] = []

    def close(self) -> None:
        """Stop the metrics server and deliver what is queued (bounded wait)."""
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
            self.metrics_server = None
        if self.notifier is not None:
            self.notifier.stop(5.0)


def start_ops(
    cfg: AppConfig,
    engine: Any,
    bus: EventBus,
    safety: Any,
    writer: Any,
    wall: Callable[[], float] = time.time,
) -> OpsRuntime:
    """Subscribe and start what the config enables; return the runtime (its tasks started)."""
    ops = OpsRuntime()
    n_cfg = cfg.notifications
    if n_cfg.enabled:
        ops.notifier = Notifier(n_cfg, wall=wall)
        ops.notifier.subscribe(bus)
        ops.notifier.start()
        if n_cfg.daily_summary_utc:
            ops.tasks.append(
                asyncio.create_task(
                    _summary_loop(ops.notifier, engine, n_cfg.daily_summary_utc, wall),
                    name="ops-daily-summary",
                )
            )
    m_cfg = cfg.metrics
    if m_cfg.enabled:
        # Imported only when enabled: prometheus_client is about 20 modules (issue 18).
        from services.ops.metrics import BotMetrics

        metrics = ops.metrics = BotMetrics()
        metrics.subscribe(bus, engine)
        if ops.notifier is not None:
            ops.notifier.on_outcome = metrics.on_notification
        metrics.update(engine, safety, writer, wall())
        ops.metrics_server = metrics.serve(m_cfg.host, m_cfg.port)
        ops.tasks.append(
            asyncio.create_task(
                _metrics_loop(metrics, engine, safety, writer, m_cfg.update_interval_s, wall),
                name="ops-metrics",
            )
        )
    r_cfg = cfg.retention
    if any(
        d is not None for d in (r_cfg.events_days, r_cfg.rejected_orders_days, r_cfg.commands_days)
    ):
        ops.tasks.append(
            asyncio.create_task(_retention_loop(r_cfg, engine, writer), name="ops-retention")
        )
    return ops


async def _summary_loop(
    notifier: Notifier, engine: Any, hhmm: str, wall: Callable[[], float]
) -> None:
    schedule = DailySchedule(hhmm, wall())
    while True:
        await asyncio.sleep(SUMMARY_CHECK_S)
        now = wall()
        if schedule.due(now):
            rows = list(engine.tracker.latest)
            notifier.submit(summary_notification(rows, now, notifier.cfg.title_prefix))


async def _metrics_loop(
    metrics: BotMetrics,
    engine: Any,
    safety: Any,
    writer: Any,
    interval_s: float,
    wall: Callable[[], float],
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        metrics.update(engine, safety, writer, wall())


async def _retention_loop(cfg: Any, engine: Any, writer: Any) -> None:
    while True:
        now = engine.clock.now()
        writer.call(lambda s, now=now: prune(s, cfg, now) and None)
        await asyncio.sleep(cfg.run_every_s)
