"""Live trading inside one bot run: keys, the live route, its tasks, reconciliation, kill switch.

``run_app`` calls :func:`open_live` before the node is built (nothing starts if the keys or the
venue are not usable: a configuration error, exit 2), passes :meth:`LiveRuntime.factories` and
:meth:`LiveRuntime.routes` to the node builder, then :meth:`LiveRuntime.start` after the ledger
is restored and before the feed runs: the first reconciliation starts from the venue's state
(crash recovery), then the user channel, the dead-man heartbeat and the reconciliation timer
run as named tasks. The kill switch's ``kill_switch`` event triggers one cancel-all request at
EMERGENCY priority, after which the heartbeat stops.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.bus import AuditEvent
from services.execution.orders import Order
from services.execution.routing import pin_live_routes
from services.keys.backends import open_store
from services.keys.store import KeyStoreError, Secrets
from services.markets.polymarket.live.client import LivePolymarketClient
from services.markets.polymarket.live.user_channel import UserChannel
from services.markets.polymarket.live.venue import ClobVenue, VenueCallError, connect_sdk
from services.money import MICRO
from services.strategies.base import Strategy
from utils.config import AppConfig
from utils.errors import ConfigError

log = logging.getLogger(__name__)

LIVE_ROUTE = "polymarket_live"
"""The live client's route name (graduation's live stages route to it: utils/graduation_config.py)."""
TWIN_SUFFIX = "__twin"
LIVE_STAGES = ("micro", "mini", "full")
STATE_INTERVAL_S = 1.0
TIMER_TICK_S = 0.1


def twin_name(name: str) -> str:
    """Return the paper twin's name of a live strategy."""
    return f"{name}{TWIN_SUFFIX}"


def check_live_config(cfg: AppConfig, file: str) -> None:
    """Refuse a live section that names unknown or disabled strategies (ConfigError)."""
    live = cfg.live
    if not live.enabled:
        return
    stages = cfg.graduation.stages  # graduation may route strategies live (docs/GRADUATION.md)
    if not live.strategies and all(stages.rule(s).route != LIVE_ROUTE for s in LIVE_STAGES):
        raise ConfigError(
            file,
            "live.strategies",
            f"live.enabled is true but no strategy is named and no graduation stage routes to "
            f"{LIVE_ROUTE}",
        )
    enabled = {e.name for e in cfg.strategies if e.enabled}
    for i, name in enumerate(live.strategies):
        if name not in enabled:
            raise ConfigError(file, f"live.strategies[{i}]", f"{name!r} is not an enabled strategy")
    for name in live.order_timeout_per_strategy_s:
        if name not in live.strategies:
            raise ConfigError(
                file, f"live.order_timeout_per_strategy_s.{name}", "not a live strategy"
            )


def add_twins(
    cfg: AppConfig, strategies: list[Strategy], file: str
) -> tuple[AppConfig, list[Strategy]]:
    """Add a paper twin (same class, parameters and capital) for every live strategy."""
    from services.strategies.loader import build_strategy

    if not (cfg.live.enabled and cfg.live.paper_twin):
        return cfg, strategies
    base_dir = Path(file).resolve().parent if file else Path.cwd()
    entries = list(cfg.strategies)
    out = list(strategies)
    for i, e in enumerate(cfg.strategies):
        if e.name in cfg.live.strategies:
            twin = e.model_copy(update={"name": twin_name(e.name)})
            entries.append(twin)
            out.append(build_strategy(twin, i, base_dir, file))
    return cfg.model_copy(update={"strategies": entries}), out


def create_twin(engine: Any, name: str) -> str:
    """Create the paper twin of strategy ``name`` in a running engine; return the twin's name.

    The public entry point for callers that route a strategy live at runtime (graduation's
    stage changes): the twin ``<name>__twin`` is the same class with the same parameters and
    starting capital, on the paper route, subscribed to the live instruments, and paired with the
    live strategy by the paper-vs-live report. Idempotent: an existing twin is kept. Raises
    ``KeyError`` if no strategy ``name`` runs. Signature stable: ``(engine, name) -> str``.
    """
    from services.node import PAPER

    tname = twin_name(name)
    if tname in engine.runners:
        return tname
    if name not in engine.runners:
        raise KeyError(f"no strategy {name!r} runs: no paper twin created")
    r = engine.runners[name]
    s = r.strategy
    twin = type(s)(tname, s.params)
    engine.add_strategy(twin, r.portfolio.starting_cash, PAPER, r.portfolio.currency)
    log.info("Paper twin %s created for %s.", tname, name, extra={"strategy": tname})
    return tname


def read_passphrase(env: str) -> str:
    """Return the key-store passphrase from ``env`` or a prompt (a terminal is needed)."""
    import os

    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise KeyStoreError(f"no passphrase: set {env} or start the bot in a terminal")
    return getpass.getpass("Key-store passphrase (live trading): ")


async def open_live(cfg: AppConfig, file: str) -> LiveRuntime:
    """Decrypt the keys and connect to the venue; a ConfigError if that is not possible."""
    check_live_config(cfg, file)
    try:
        store = open_store(cfg)  # the encrypted file, or the OS keyring (keys.backend)
        secrets = store.load(
            read_passphrase(cfg.live.passphrase_env) if store.needs_passphrase else ""
        )
    except KeyStoreError as exc:
        key = "live.keys_path" if cfg.keys.backend == "file" else "keys.backend"
        raise ConfigError(file, key, str(exc)) from exc
    try:
        sdk = await connect_sdk(cfg.live, secrets)
    except VenueCallError as exc:
        raise ConfigError(file, "live", str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - SDK errors: say which, never a secret
        raise ConfigError(
            file,
            "live.clob_url",
            f"cannot authenticate with the venue: {type(exc).__name__}: {exc}",
        ) from exc
    log.warning(
        "Live trading is ON for %s (%s); wallet %s at %s.",
        ", ".join(cfg.live.strategies),
        "DRY RUN: orders are signed, never posted" if cfg.live.dry_run else "REAL ORDERS",
        sdk.wallet,
        cfg.live.clob_url,
    )
    return LiveRuntime(cfg, ClobVenue(sdk, cfg.live), secrets)


class LiveRuntime:
    """Owns the live client and its tasks for one bot run."""

    def __init__(self, cfg: AppConfig, venue: ClobVenue, secrets: Secrets) -> None:
        self.cfg = cfg
        self.venue = venue
        self._secrets = secrets
        self.client: LivePolymarketClient | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.engine: Any = None
        self.sink: Any = None
        self.safety: Any = None
        self.heartbeat_ok_ts: float | None = None
        self.heartbeat_failures = 0
        self.heartbeat_stopped = False
        self.last_reconcile: dict[str, Any] = {}
        self.verifications: list[dict[str, Any]] = []
        self.kill_ms: float | None = None

    # ------------------------------------------------------------------ node wiring
    def factories(self) -> dict[str, Callable[..., Any]]:
        """Return the execution-client factory of the live route (for build_node)."""

        def make(books: Any, instruments: Any, cfg: AppConfig) -> LivePolymarketClient:
            self.client = LivePolymarketClient(self.venue, books, instruments, cfg.live)
            return self.client

        return {LIVE_ROUTE: make}

    def routes(self) -> dict[str, str]:
        """Return strategy -> route for the live strategies (the rest stay on paper)."""
        return {name: LIVE_ROUTE for name in self.cfg.live.strategies}

    async def start(self, node: Any, sink: Any, lifecycle: Any = None) -> None:
        """Pin the configured live routes, reconcile with the venue, then start the user
        channel, heartbeat and timers.

        ``live.strategies`` are routed live whatever their graduation stage (an explicit
        override of the stage's route, recorded as an event); graduation's later stage changes
        route them as graduation says (a demotion to paper moves them off the live client).
        """
        assert self.client is not None, "build the node with LiveRuntime.factories() first"
        c = self.client
        self.engine, self.sink, self.safety = node.engine, sink, node.safety
        eng = node.engine
        pin_live_routes(eng, self.cfg.live.strategies, LIVE_ROUTE, lifecycle)
        c._clock = node.engine.clock.now  # noqa: SLF001 - the engine's clock, set once here
        c.on_verified = self._on_verified
        c.on_problem = self._on_problem
        c.position_cost = self._position_cost
        c.held = self._held
        node.bus.subscribe(self._on_kill_event, kinds=["kill_switch"])
        await self.reconcile("start")
        creds = self._ws_creds
        channel = UserChannel(
            self.cfg.live.user_ws_url, creds, self._on_user_event, self._on_connected
        )
        self.channel = channel
        self.tasks = [
            asyncio.create_task(channel.run(), name="live-user-channel"),
            asyncio.create_task(self._heartbeat_loop(), name="live-heartbeat"),
            asyncio.create_task(self._reconcile_loop(), name="live-reconcile"),
            asyncio.create_task(self._state_loop(), name="live-state"),
        ]

    async def stop(self) -> None:
        """Stop the tasks; open orders stay at the venue until the heartbeat lapses (~10 s)."""
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.close()
            self._write_state()
        await self.venue.close()

    # ------------------------------------------------------------------ user channel
    def _ws_creds(self) -> dict[str, str]:
        creds = self.venue.sdk.credentials
        return {"apiKey": creds.key, "secret": creds.secret, "passphrase": creds.passphrase}

    def _on_user_event(self, ev: Any) -> None:
        assert self.client is not None
        self.client.on_user_message(ev)
        self._poke()

    async def _on_connected(self, reason: str) -> None:
        if reason != "start":
            await self.reconcile(reason)

    def _poke(self) -> None:
        """Apply what the client reported now (the engine also drains on its next step)."""
        eng = self.engine
        if eng is not None and eng._inbox:  # noqa: SLF001
            eng._drain()  # noqa: SLF001
            eng._flush_deferred()  # noqa: SLF001

    # ------------------------------------------------------------------ reconciliation
    async def reconcile(self, reason: str) -> list[str]:
        """Compare the venue (orders, trades, USDC, token balances) with the ledger.

        Each difference is a ``live_reconciliation`` event (critical: notifications pick it
        up); at ``live.reconcile_kill_threshold`` differences or more the kill switch trips.
        """
        assert self.client is not None
        c = self.client
        try:
            diffs = await c.refresh(reason)
            diffs += await self._balances()
        except VenueCallError as exc:
            self._event(
                "live_reconciliation",
                f"Reconciliation ({reason}) could not read the venue: {exc}",
                "warning",
                {"reason": reason},
            )
            return []
        self._poke()
        now = self.engine.clock.now()
        self.last_reconcile = {"ts": now, "reason": reason, "differences": diffs}
        if diffs:
            self._event(
                "live_reconciliation",
                f"Reconciliation ({reason}) found {len(diffs)} difference(s): " + "; ".join(diffs),
                "critical",
                {"reason": reason, "differences": diffs},
            )
            if len(diffs) >= self.cfg.live.reconcile_kill_threshold and self.safety is not None:
                self.safety.activate_kill_switch(
                    f"live reconciliation found {len(diffs)} differences",
                    "live",
                    created_wall=time.time(),
                )
        else:
            log.info("Reconciliation (%s): the venue agrees with the ledger.", reason)
        return diffs

    async def _balances(self) -> list[str]:
        """USDC held against the live strategies' cash, and token balances against positions."""
        c = self.client
        assert c is not None
        if self.cfg.live.dry_run:
            return []
        out: list[str] = []
        tol = int(self.cfg.live.balance_tolerance_usd * MICRO)
        live = [r for n, r in self.engine.runners.items() if n in self.cfg.live.strategies]
        cash = sum(r.portfolio.cash for r in live)
        if c.balance is not None and c.balance + tol < cash:
            out.append(
                f"venue USDC balance {c.balance / MICRO:,.2f} is below the live strategies' "
                f"cash {cash / MICRO:,.2f}"
            )
        if c.allowance is not None and c.balance is not None and c.allowance < c.balance:
            out.append(
                f"exchange allowance {c.allowance / MICRO:,.2f} is below the USDC balance "
                f"{c.balance / MICRO:,.2f}: approve the exchange (docs/GOING_LIVE.md)"
            )
        held: dict[str, int] = {}
        # every strategy routed to the live client holds venue tokens (graduated ones too)
        routed = [r for n, r in self.engine.runners.items() if self.engine.client_of(n) is c]
        for r in {id(r): r for r in live + routed}.values():
            for iid, pos in r.portfolio.positions.items():
                held[iid] = held.get(iid, 0) + pos.qty
        for iid, qty in sorted(held.items()):
            venue_qty = await self.venue.token_balance(iid)
            if abs(venue_qty - qty) > tol:
                out.append(
                    f"token {iid[:12]}...: the venue holds {venue_qty / MICRO:,.2f} shares, "
                    f"the ledger {qty / MICRO:,.2f}"
                )
        return out

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.live.reconcile_interval_s)
            await self.reconcile("timer")

    # ------------------------------------------------------------------ heartbeat
    async def _heartbeat_loop(self) -> None:
        if self.cfg.live.dry_run:
            return
        while not self.heartbeat_stopped:
            try:
                await self.venue.heartbeat()
                self.heartbeat_ok_ts = time.time()
                self.heartbeat_failures = 0
            except VenueCallError as exc:
                self.heartbeat_failures += 1
                self._event(
                    "live_heartbeat",
                    f"Dead-man heartbeat failed: {exc}",
                    "warning",
                    {"failures": self.heartbeat_failures},
                )
            await asyncio.sleep(self.cfg.live.heartbeat_interval_s)

    # ------------------------------------------------------------------ kill switch
    def _on_kill_event(self, ev: AuditEvent) -> None:
        state = (ev.data or {}).get("state")
        if (
            str(state).upper() in ("REDUCING", "HALTED")
            and self.client is not None
            and not self.client.killed
        ):
            self.tasks.append(asyncio.create_task(self._kill(ev.message), name="live-kill"))

    async def _kill(self, reason: str) -> None:
        assert self.client is not None
        t0 = time.perf_counter()
        try:
            n = await self.client.kill("kill switch: cancel-all")
        except VenueCallError as exc:
            self._event(
                "live_kill",
                f"Kill switch: cancel-all failed ({exc}); the venue's "
                "dead-man timer cancels the rest within 10 s",
                "critical",
                {},
            )
            self.heartbeat_stopped = True
            return
        self.kill_ms = (time.perf_counter() - t0) * 1000.0
        self.heartbeat_stopped = True  # after cancel-all: a dead bot's orders cannot outlive it
        self._poke()
        self._event(
            "live_kill",
            f"Kill switch: the venue cancelled {n} live order(s) in one request "
            f"({self.kill_ms:.1f} ms); heartbeat stopped.",
            "critical",
            {"cancelled": n, "latency_ms": round(self.kill_ms, 3)},
        )

    # ------------------------------------------------------------------ reporting
    def _position_cost(self, strategy: str, market: str) -> int:
        r = self.engine.runners.get(strategy)
        if r is None:
            return 0
        total = 0
        for iid, pos in r.portfolio.positions.items():
            inst = self.engine.instruments.get(iid)
            if inst is not None and inst.market_id == market and pos.qty > 0:
                total += pos.cost_basis
        return total

    def _held(self, strategy: str, instrument_id: str) -> int:
        r = self.engine.runners.get(strategy)
        pos = r.portfolio.positions.get(instrument_id) if r is not None else None
        return pos.qty if pos is not None else 0

    def _on_verified(self, order: Order, label: str, detail: dict[str, Any]) -> None:
        row = {
            "label": label,
            "order_id": order.order_id,
            "strategy": order.strategy,
            "instrument_id": order.instrument_id,
            "side": order.side.value,
            **detail,
        }
        self.verifications.append(row)
        del self.verifications[:-200]
        self._event(
            "trade_verification",
            f"{order.strategy}: live order {order.order_id} {label}"
            + (f" (slippage {detail['slippage_pct']:.2f} %)" if "slippage_pct" in detail else ""),
            "warning" if label in ("FAILED", "SLIPPAGE_HIGH") else "info",
            row,
            strategy=order.strategy,
            instrument_id=order.instrument_id,
            value=label,
        )

    def _on_problem(self, kind: str, message: str) -> None:
        self._event(f"live_{kind}", message, "warning", {})

    def _event(
        self, kind: str, message: str, severity: str, data: dict[str, Any], **kw: Any
    ) -> None:
        if self.engine is None:
            return
        self.engine.bus.event(
            self.engine.clock.now(), kind, message, severity=severity, data=data, **kw
        )

    async def _state_loop(self) -> None:
        """Timers of the live client (order timeouts) even while the feed is quiet, and the
        ``bot_state["live"]`` summary for the dashboard."""
        next_state = 0.0
        while True:
            c = self.client
            if c is not None:
                now = self.engine.clock.now()
                if c.next_due <= now:
                    c.on_time(now)
                self._poke()
            if time.monotonic() >= next_state:
                self._write_state()
                next_state = time.monotonic() + STATE_INTERVAL_S
            await asyncio.sleep(TIMER_TICK_S)

    def _write_state(self) -> None:
        c = self.client
        if c is None or self.sink is None:
            return
        lat = sorted(c.latencies_ms)
        self.sink.state(
            "live",
            {
                "dry_run": self.cfg.live.dry_run,
                "strategies": list(self.cfg.live.strategies),
                "open_orders": len(c.open_orders()),
                "provisional": [
                    {
                        "trade_id": t.trade_id,
                        "order_id": t.order_id,
                        "size": t.size,
                        "price": t.price,
                        "status": t.status,
                    }
                    for t in c.provisional
                ],
                "heartbeat_ok_ts": self.heartbeat_ok_ts,
                "heartbeat_stopped": self.heartbeat_stopped,
                "post_only_mode": self.venue.post_only_mode(),
                "throttled": self.venue.throttled,
                "restarts": self.venue.restarts,
                "balance": c.balance,
                "allowance": c.allowance,
                "last_reconcile": self.last_reconcile,
                "verifications": self.verifications[-50:],
                "ack_latency_ms_p50": lat[len(lat) // 2] if lat else None,
                "kill_ms": self.kill_ms,
            },
            self.engine.clock.now(),
        )
