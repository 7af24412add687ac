"""Live Betfair orders inside one bot run (``market_data.betfair.live``).

Wired like live Polymarket (:mod:`services.markets.polymarket.live.runtime`): ``run_app`` calls
:func:`open_betfair_live` before the node is built (a certificate login that fails, or a
section naming unknown strategies, is a configuration error: exit 2, nothing starts), gives
:meth:`BetfairLiveRuntime.factories` and :meth:`BetfairLiveRuntime.routes` to the node builder,
then :meth:`BetfairLiveRuntime.start` once the ledger is restored: the named strategies are
routed to ``betfair_live``, the order stream starts (fills pushed by Betfair; polling is the
fallback), and a timer applies Betfair's answers while the market feed is quiet. The kill
switch's ``kill_switch`` event sends one cancel-all (``cancelOrders`` without a market).

The login is the stream's (``market_data.betfair.stream``: user name, password and app key
from environment variables through ``${...}``, and the certificate folder), so no secret is
written in the configuration file.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from services.bus import AuditEvent
from services.execution.routing import pin_live_routes
from services.markets.betfair.execution import BetfairExecutionClient
from services.markets.betfair.order_stream import BetfairOrderStream
from utils.config import AppConfig
from utils.errors import ConfigError

log = logging.getLogger(__name__)

LIVE_ROUTE = "betfair_live"
"""The live Betfair client's route name."""
TIMER_TICK_S = 0.1


def check_config(cfg: AppConfig, file: str) -> None:
    """Refuse a live Betfair section that cannot work (ConfigError, exit 2)."""
    md = cfg.market_data
    live = md.betfair.live
    where = "market_data.betfair.live"
    if not live.enabled:
        return
    if md.source != "betfair":
        raise ConfigError(
            file, f"{where}.enabled", "live Betfair orders need market_data.source: betfair"
        )
    if not live.strategies:
        raise ConfigError(file, f"{where}.strategies", "enabled is true but no strategy is named")
    enabled = {e.name for e in cfg.strategies if e.enabled}
    for i, name in enumerate(live.strategies):
        if name not in enabled:
            raise ConfigError(
                file, f"{where}.strategies[{i}]", f"{name!r} is not an enabled strategy"
            )
    if cfg.live.enabled and set(cfg.live.strategies) & set(live.strategies):
        raise ConfigError(
            file, f"{where}.strategies", "a strategy cannot be live on Polymarket and Betfair"
        )


def _login(cfg: AppConfig) -> Any:
    from services.markets.betfair.live import login

    client = login(cfg.market_data.betfair.stream)
    api = cfg.market_data.betfair.live.api_url
    if api:  # a local fake (tests)
        client.api_uri = api.rstrip("/") + "/"
    return client


async def open_betfair_live(cfg: AppConfig, file: str, *, client: Any = None) -> BetfairLiveRuntime:
    """Log in to Betfair; a ConfigError when the section or the login is not usable."""
    check_config(cfg, file)
    if client is None:
        try:
            client = await asyncio.to_thread(_login, cfg)
        except Exception as exc:  # noqa: BLE001 - login errors: say which, never a secret
            raise ConfigError(
                file,
                "market_data.betfair.stream",
                f"cannot log in to Betfair for live orders: {type(exc).__name__}",
            ) from exc
    log.warning(
        "Live Betfair orders are ON for %s: REAL BETS.",
        ", ".join(cfg.market_data.betfair.live.strategies),
    )
    return BetfairLiveRuntime(cfg, client)


class BetfairLiveRuntime:
    """Owns the live Betfair client, its order stream and its timer for one bot run."""

    def __init__(self, cfg: AppConfig, api: Any) -> None:
        self.cfg = cfg
        self.live = cfg.market_data.betfair.live
        self.api = api
        self.client: BetfairExecutionClient | None = None
        self.stream: BetfairOrderStream | None = None
        self.engine: Any = None
        self.tasks: list[asyncio.Task[Any]] = []
        self._inbox: queue.SimpleQueue[Callable[[float], None]] = queue.SimpleQueue()
        self.killed = False

    def factories(self) -> dict[str, Callable[..., Any]]:
        """Return the live route's execution-client factory (for build_node)."""

        def make(books: Any, instruments: Any, cfg: AppConfig) -> BetfairExecutionClient:
            self.client = BetfairExecutionClient(
                instruments,
                self.api.betting,
                poll_interval_s=self.live.poll_interval_s,
                name=LIVE_ROUTE,
            )
            return self.client

        return {LIVE_ROUTE: make}

    def routes(self) -> dict[str, str]:
        """Return strategy -> route for the live strategies (the rest stay on paper)."""
        return {name: LIVE_ROUTE for name in self.live.strategies}

    async def start(self, node: Any, sink: Any, lifecycle: Any = None) -> None:
        """Pin the live routes, start the order stream and the timer."""
        assert self.client is not None, "build the node with factories() first"
        eng = self.engine = node.engine
        pin_live_routes(
            eng, self.live.strategies, LIVE_ROUTE, lifecycle, "market_data.betfair.live.strategies"
        )
        node.bus.subscribe(self._on_kill_event, kinds=["kill_switch"])
        if self.live.order_stream:
            s = self.cfg.market_data.betfair.stream
            self.stream = BetfairOrderStream(
                self.api,
                s.host,
                lambda msg: self._inbox.put(lambda now: self._on_ocm(msg, now)),
                lambda up, why: self._inbox.put(lambda now: self._on_stream(up, why)),
                heartbeat_ms=s.heartbeat_ms,
                backoff_max_s=s.reconnect_backoff_max_s,
            )
            await asyncio.to_thread(self.stream.start)
        self.tasks = [asyncio.create_task(self._timer(), name="betfair-live")]

    async def stop(self) -> None:
        """Stop the timer and the order stream; working bets stay at Betfair."""
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.stream is not None:
            await asyncio.to_thread(self.stream.stop)
        if self.client is not None:
            await asyncio.to_thread(self.client.close)

    # ------------------------------------------------------------------ engine thread
    def _on_ocm(self, msg: dict[str, Any], now: float) -> None:
        assert self.client is not None
        self.client.on_order_change(msg, now)

    def _on_stream(self, up: bool, why: str) -> None:
        assert self.client is not None
        self.client.set_stream(up)
        if up:
            log.info("Betfair order stream connected (%s).", why)
        else:
            self._event(
                "live_order_stream",
                f"Betfair order stream dropped ({why}); polling listCurrentOrders until it is back",
                "warning",
            )

    async def _timer(self) -> None:
        """Apply the stream's messages and the API's answers while the market feed is quiet."""
        while True:
            c, eng = self.client, self.engine
            if c is not None and eng is not None:
                now = eng.clock.now()
                while True:
                    try:
                        apply = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    apply(now)
                if c.next_due <= now:
                    c.on_time(now)
                if eng._inbox:  # noqa: SLF001 - as the Polymarket runtime: apply events now
                    eng._drain()  # noqa: SLF001
                    eng._flush_deferred()  # noqa: SLF001
            await asyncio.sleep(TIMER_TICK_S)

    # ------------------------------------------------------------------ kill switch
    def _on_kill_event(self, ev: AuditEvent) -> None:
        state = str((ev.data or {}).get("state")).upper()
        if state in ("REDUCING", "HALTED") and self.client is not None and not self.killed:
            self.killed = True
            t0 = time.perf_counter()
            n = self.client.cancel_everything("kill switch: cancel-all")
            self._event(
                "live_kill",
                f"Kill switch: one cancelOrders for every Betfair bet ({n} of ours working, "
                f"sent in {(time.perf_counter() - t0) * 1000:.1f} ms).",
                "critical",
            )

    def _event(self, kind: str, message: str, severity: str) -> None:
        if self.engine is None:
            return
        self.engine.bus.event(self.engine.clock.now(), kind, message, severity=severity, data={})
