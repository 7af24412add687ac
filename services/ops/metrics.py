"""The Prometheus endpoint: what a monitoring system needs to watch an unattended bot.

Metrics live in a private ``CollectorRegistry`` (no global state). Counters of audit events and
order outcomes are fed from the event bus and the engine's order listeners (no engine hook);
gauges are refreshed on the event loop every ``metrics.update_interval_s`` from the engine, the
safety layer and the writer, so the scrape thread never walks the engine's live dictionaries.

Served by ``prometheus_client.start_http_server(port, addr, registry)`` in a daemon thread
(https://prometheus.github.io/client_python/exporting/http/). Names: see docs/DEPLOY.md.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from services.bus import AuditEvent, EventBus
from services.execution.orders import Order, OrderStatus

log = logging.getLogger(__name__)

ACK_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
COMMIT_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class BotMetrics:
    """The bot's metrics in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.events_processed = Counter(
            "bot_events_processed", "Market events processed by the engine", registry=r
        )
        self.audit_events = Counter(
            "bot_audit_events", "Audit events published, by kind and severity",
            ["kind", "severity"], registry=r,
        )  # fmt: skip
        self.rejections = Counter(
            "bot_rejections", "Refused intents and orders, by reason (risk control or venue)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.orders = Counter("bot_orders", "Orders created", registry=r)
        self.fills = Counter("bot_fills", "Fills", registry=r)
        self.order_ack = Histogram(
            "bot_order_ack_seconds",
            "Order acknowledgement latency: creation to first venue answer, event-time seconds",
            buckets=ACK_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.book_staleness = Gauge(
            "bot_book_staleness_seconds", "Age of the order books' last update, market seconds",
            ["stat"], registry=r,
        )  # fmt: skip
        self.books = Gauge("bot_books", "Order books held", registry=r)
        self.feed_lag = Gauge(
            "bot_feed_lag_seconds",
            "Wall time minus the engine's market time (live feeds; ~0 when current)",
            registry=r,
        )
        self.market_time = Gauge("bot_market_time_seconds", "Engine clock, epoch s", registry=r)
        self.writer_backlog = Gauge(
            "bot_writer_backlog", "Rows waiting for the DB writer", registry=r
        )
        self.writer_commit = Histogram(
            "bot_writer_commit_seconds", "Queue-to-commit latency of writer batches, s",
            buckets=COMMIT_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.writer_healthy = Gauge(
            "bot_writer_healthy", "1 when the database takes writes", registry=r
        )
        self.writer_dropped = Gauge(
            "bot_writer_rejected_rows", "Rows the database rejected", registry=r
        )
        self.kill_switch = Gauge(
            "bot_kill_switch_active",
            "1 when the kill switch is active (trading halted)",
            registry=r,
        )
        self.trading_state = Gauge(
            "bot_trading_state", "Trading state (1 for the current one)", ["state"], registry=r
        )
        self.breaker = Gauge(
            "bot_breaker_open",
            "1 when a breaker is not closed",
            ["breaker", "strategy"],
            registry=r,
        )
        self.equity = Gauge(
            "bot_strategy_equity", "Strategy equity, USDC", ["strategy"], registry=r
        )
        self.ret = Gauge("bot_strategy_return_pct", "Strategy return, %", ["strategy"], registry=r)
        self.drawdown = Gauge(
            "bot_strategy_drawdown_pct", "Strategy drawdown from peak, %", ["strategy"], registry=r
        )
        self.positions = Gauge(
            "bot_strategy_open_positions", "Instruments held", ["strategy"], registry=r
        )
        self.stage = Gauge(
            "bot_strategy_stage", "Strategy stage (1 for the current one)",
            ["strategy", "stage"], registry=r,
        )  # fmt: skip
        self.status = Gauge(
            "bot_strategy_active", "1 when the strategy is active (not paused/disabled)",
            ["strategy"], registry=r,
        )  # fmt: skip
        self.notifications = Counter(
            "bot_notifications", "Notifications by outcome (sent, failed, dropped)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self._seen: dict[str, float] = {}
        self._acked: set[int] = set()
        self._last_batches = 0
        self._last_events = 0
        self._last_orders = 0
        self._last_fills = 0
        self._stages: dict[str, str] = {}
        self._breakers: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ event-driven counters
    def on_event(self, ev: AuditEvent) -> None:
        """Bus subscriber: count audit events, and rejections by reason."""
        self.audit_events.labels(ev.kind, ev.severity).inc()
        if ev.kind == "risk_rejection":
            control = (ev.data or {}).get("control") or "risk"
            self.rejections.labels(str(control)).inc()
        elif ev.kind == "order_rejected":
            self.rejections.labels("venue").inc()

    def on_order(self, order: Order) -> None:
        """Engine order listener: the first answer to an order gives its acknowledgement time."""
        if order.order_id in self._acked or order.status is OrderStatus.PENDING:
            return
        self._acked.add(order.order_id)
        if len(self._acked) > 100_000:
            self._acked.clear()  # bounded memory; a late repeat only re-observes one order
        self.order_ack.observe(max(0.0, order.updated_ts - order.created_ts))

    def on_notification(self, outcome: str, _n: object) -> None:
        """Notifier outcome hook."""
        self.notifications.labels(outcome).inc()

    # ------------------------------------------------------------------ periodic gauges
    def update(self, engine: Any, safety: Any, writer: Any, wall: float | None = None) -> None:
        """Refresh gauges from the engine, safety layer and writer (call on the event loop)."""
        wall = time.time() if wall is None else wall
        now = engine.clock.now()
        self.market_time.set(now)
        self.feed_lag.set(max(0.0, wall - now))
        ep = engine.events_processed
        self.events_processed.inc(max(0, ep - self._last_events))
        self._last_events = ep
        self.orders.inc(max(0, engine.order_seq - self._last_orders))
        self._last_orders = engine.order_seq
        self.fills.inc(max(0, engine.fill_seq - self._last_fills))
        self._last_fills = engine.fill_seq
        ages = [now - b.ts for b in engine.books._books.values() if b.ts > 0]
        self.books.set(len(ages))
        if ages:
            self.book_staleness.labels("max").set(max(ages))
            self.book_staleness.labels("median").set(statistics.median(ages))
        st = writer.stats
        self.writer_backlog.set(writer.backlog())
        self.writer_healthy.set(1 if writer.healthy else 0)
        self.writer_dropped.set(st.dropped_rows)
        if st.batches > self._last_batches:
            self.writer_commit.observe(st.last_batch_latency_s)
            self._last_batches = st.batches
        if safety is not None:
            state = safety.kill.state
            self.kill_switch.set(1 if safety.kill.active else 0)
            for s in type(state):
                self.trading_state.labels(s.value).set(1 if s is state else 0)
            open_now = {(b.name, b.strategy or "") for b in safety.board.not_closed()}
            for key in self._breakers | open_now:
                self.breaker.labels(*key).set(1 if key in open_now else 0)
            self._breakers |= open_now
        for row in engine.tracker.latest:
            self.equity.labels(row.strategy).set(row.equity)
            self.ret.labels(row.strategy).set(row.return_pct)
            self.drawdown.labels(row.strategy).set(row.drawdown_pct)
        for name, runner in engine.runners.items():
            held = sum(1 for p in runner.portfolio.positions.values() if p.qty)
            self.positions.labels(name).set(held)
            self.status.labels(name).set(1 if str(runner.status.value) == "active" else 0)
            stage = str(runner.stage.value)
            prev = self._stages.get(name)
            if prev != stage:
                if prev is not None:
                    self.stage.labels(name, prev).set(0)
                self.stage.labels(name, stage).set(1)
                self._stages[name] = stage

    def subscribe(self, bus: EventBus, engine: Any) -> None:
        """Count bus events and order answers."""
        bus.subscribe(self.on_event)
        engine.order_listeners.append(self.on_order)

    def serve(self, host: str, port: int) -> Any:
        """Serve ``/metrics`` on ``host:port`` in a daemon thread; return the server."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        log.info("Prometheus metrics on http://%s:%d/metrics.", host, server.server_port)
        return server
