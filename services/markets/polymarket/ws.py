"""Market-channel WebSocket shards: subscribe, heartbeat, silence detection, reconnect.

Each :class:`Shard` owns one connection carrying at most ``max_tokens_per_connection`` tokens. It
sends the text ``PING`` every ``ping_interval_s``, and sooner after ``idle_ping_s`` without any
message so that a quiet connection still proves it is alive; a connection that delivers nothing (not even a
``PONG``) for ``silence_timeout_s`` is aborted and reopened after an exponential backoff with
jitter, and every token is subscribed again, so the venue sends a fresh ``book`` for each.
Frames are handed to a callback untouched (translation happens in the feed's consumer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from services.clock import Clock
from services.markets.polymarket.config import PolymarketConfig

log = logging.getLogger(__name__)

FrameCallback = Callable[[int, "str | bytes"], None]
ConnectedCallback = Callable[[int, list[str]], None]


class ShardState(StrEnum):
    """Connection state of one shard."""

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    STOPPED = "stopped"


class Shard:
    """One market-channel connection and its token subscriptions.

    Parameters
    ----------
    shard_id : int
        Stable id (recorded with every frame).
    config : PolymarketConfig
        URL, heartbeat, silence and backoff settings.
    on_frame : FrameCallback
        Called with ``(shard_id, frame)`` for every data frame, in arrival order.
    on_connected : ConnectedCallback
        Called with ``(shard_id, tokens)`` right before a (re)subscription: the books of those
        tokens are unsynced until their fresh snapshot arrives.
    clock : Clock
        Wall clock for message times shown in stats.
    rng : random.Random
        Jitter source.
    """

    def __init__(
        self,
        shard_id: int,
        config: PolymarketConfig,
        on_frame: FrameCallback,
        on_connected: ConnectedCallback,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.shard_id = shard_id
        self.config = config
        self.tokens: dict[str, None] = {}
        self._on_frame = on_frame
        self._on_connected = on_connected
        self._clock = clock
        self._rng = rng
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_rx = time.monotonic()
        self.state = ShardState.IDLE
        self.messages = 0
        self.pongs = 0
        self.errors = 0
        self.reconnects = 0
        self.silences = 0
        self.resyncs = 0
        self.sessions = 0
        self.last_message_ts: float | None = None
        self.connected_since: float | None = None
        self.last_error = ""

    # ------------------------------------------------------------------ control
    def start(self, done: Callable[[asyncio.Task[None]], None] | None = None) -> None:
        """Start the connection task (idempotent); ``done`` is called when the task ends."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"polymarket-shard-{self.shard_id}")
            if done is not None:
                self._task.add_done_callback(done)

    async def stop(self) -> None:
        """Close the connection and end the task."""
        self._stopping = True
        self._wake.set()
        if self._ws is not None:
            self._abort(self._ws)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.state = ShardState.STOPPED

    @property
    def room(self) -> int:
        """Return how many more tokens fit on this connection."""
        return self.config.max_tokens_per_connection - len(self.tokens)

    def healthy(self) -> bool:
        """Return whether the shard is connected and heard from within the silence timeout."""
        return (
            self.state is ShardState.CONNECTED
            and time.monotonic() - self._last_rx <= self.config.silence_timeout_s
        )

    async def add(self, tokens: Iterable[str]) -> None:
        """Subscribe more tokens (on the open connection, or at the next connect)."""
        new = [t for t in tokens if t not in self.tokens]
        for t in new:
            self.tokens[t] = None
        if new:
            self._wake.set()
            await self._op("subscribe", new)

    async def remove(self, tokens: Iterable[str]) -> None:
        """Unsubscribe tokens; an emptied shard closes its connection."""
        gone = [t for t in tokens if t in self.tokens]
        for t in gone:
            del self.tokens[t]
        if not gone:
            return
        if not self.tokens and self._ws is not None:
            self._abort(self._ws)
            return
        await self._op("unsubscribe", gone)

    async def resync(self, tokens: Iterable[str]) -> None:
        """Ask for fresh snapshots of ``tokens`` by unsubscribing and subscribing again."""
        mine = [t for t in tokens if t in self.tokens]
        if mine and self.state is ShardState.CONNECTED:
            self.resyncs += 1
            await self._op("unsubscribe", mine)
            await self._op("subscribe", mine)

    def stats(self) -> dict[str, Any]:
        """Return the shard's state and counters (ages in seconds)."""
        return {
            "shard_id": self.shard_id,
            "state": self.state.value,
            "healthy": self.healthy(),
            "tokens": len(self.tokens),
            "messages": self.messages,
            "pongs": self.pongs,
            "errors": self.errors,
            "reconnects": self.reconnects,
            "silences": self.silences,
            "resyncs": self.resyncs,
            "last_message_age_s": round(time.monotonic() - self._last_rx, 3),
            "last_message_ts": self.last_message_ts,
            "connected_since": self.connected_since,
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ internals
    def _subscribe_msg(self, tokens: list[str]) -> str:
        return json.dumps(
            {
                "assets_ids": tokens,
                "type": "market",
                "custom_feature_enabled": self.config.custom_feature_enabled,
                "initial_dump": True,
            }
        )

    async def _op(self, operation: str, tokens: list[str]) -> None:
        ws = self._ws
        if ws is None or self.state is not ShardState.CONNECTED:
            return
        msg: dict[str, Any] = {"operation": operation, "assets_ids": tokens}
        if operation == "subscribe":
            msg["custom_feature_enabled"] = self.config.custom_feature_enabled
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            await ws.send(json.dumps(msg))  # if closed, the reconnect resubscribes everything

    @staticmethod
    def _abort(ws: ClientConnection) -> None:
        transport = getattr(ws, "transport", None)
        if transport is not None:
            transport.abort()

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        base = min(cfg.reconnect_backoff_max_s, cfg.reconnect_backoff_min_s * (2**attempt))
        jitter = 1 + cfg.reconnect_jitter * (2 * self._rng.random() - 1)
        return max(0.0, base * jitter)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            if not self.tokens:
                self.state = ShardState.IDLE
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.sessions:
                self.reconnects += 1
            self.sessions += 1
            self.state = ShardState.CONNECTING
            got_data = False
            try:
                got_data = await self._session()
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "Polymarket WebSocket shard disconnected.",
                    extra={"shard": self.shard_id, "error": self.last_error},
                )
            finally:
                self._ws = None
                self.connected_since = None
            if self._stopping:
                break
            attempt = 0 if got_data else attempt + 1
            self.state = ShardState.BACKOFF
            if self.tokens:
                await asyncio.sleep(self._backoff(attempt))
        self.state = ShardState.STOPPED

    async def _session(self) -> bool:
        cfg = self.config
        got_data = False
        async with connect(
            cfg.ws_url,
            ping_interval=None,
            open_timeout=cfg.connect_timeout_s,
            close_timeout=1.0,
            max_size=None,
        ) as ws:
            self._ws = ws
            self._last_rx = time.monotonic()
            sent = list(self.tokens)
            self._on_connected(self.shard_id, sent)
            await ws.send(self._subscribe_msg(sent))
            self.state = ShardState.CONNECTED
            self.connected_since = self._clock.now()
            extra = [t for t in self.tokens if t not in set(sent)]
            if extra:
                await self._op("subscribe", extra)
            hb = asyncio.create_task(
                self._heartbeat(ws), name=f"polymarket-shard-{self.shard_id}-heartbeat"
            )
            try:
                async for frame in ws:
                    self._last_rx = time.monotonic()
                    self.last_message_ts = self._clock.now()
                    self.messages += 1
                    if frame == "PONG":
                        self.pongs += 1
                        continue
                    got_data = True
                    self._on_frame(self.shard_id, frame)
            finally:
                hb.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hb
        if not self._stopping and self.tokens:
            self.last_error = self.last_error or "closed by server"
        return got_data

    async def _heartbeat(self, ws: ClientConnection) -> None:
        cfg = self.config
        idle = cfg.idle_ping_s
        tick = max(0.01, min(cfg.ping_interval_s, cfg.silence_timeout_s, 2 * idle) / 4)
        last_ping = time.monotonic()
        next_ping = last_ping + cfg.ping_interval_s
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - self._last_rx > cfg.silence_timeout_s:
                self.silences += 1
                self.last_error = f"silent for {now - self._last_rx:.1f} s"
                log.warning(
                    "Polymarket WebSocket shard is silent; reconnecting.",
                    extra={"shard": self.shard_id, "silence_s": round(now - self._last_rx, 1)},
                )
                self._abort(ws)
                return
            quiet = now - self._last_rx >= idle and now - last_ping >= idle
            if now >= next_ping or quiet:
                last_ping = now
                next_ping = now + cfg.ping_interval_s
                try:
                    await ws.send("PING")
                except websockets.exceptions.ConnectionClosed:
                    return


class ShardManager:
    """Spreads tokens over shards of at most ``max_tokens_per_connection`` each."""

    def __init__(
        self,
        config: PolymarketConfig,
        on_frame: FrameCallback,
        on_connected: ConnectedCallback,
        clock: Clock,
        task_done: Callable[[asyncio.Task[None]], None] | None = None,
    ) -> None:
        self.config = config
        self._task_done = task_done
        self._on_frame = on_frame
        self._on_connected = on_connected
        self._clock = clock
        self.shards: list[Shard] = []
        self.by_token: dict[str, Shard] = {}

    def _new_shard(self) -> Shard:
        sid = len(self.shards)
        seed = None if self.config.seed is None else self.config.seed * 1_000 + sid
        shard = Shard(
            sid, self.config, self._on_frame, self._on_connected, self._clock, random.Random(seed)
        )
        self.shards.append(shard)
        return shard

    async def add(self, tokens: Iterable[str]) -> None:
        """Subscribe tokens, filling shards with room first and opening new ones as needed."""
        todo = [t for t in dict.fromkeys(tokens) if t not in self.by_token]
        while todo:
            shard = next((s for s in self.shards if s.room > 0), None) or self._new_shard()
            chunk, todo = todo[: shard.room], todo[shard.room :]
            for t in chunk:
                self.by_token[t] = shard
            shard.start(self._task_done)
            await shard.add(chunk)

    async def remove(self, tokens: Iterable[str]) -> None:
        """Unsubscribe tokens from their shards."""
        groups: dict[int, list[str]] = {}
        for t in tokens:
            shard = self.by_token.pop(t, None)
            if shard is not None:
                groups.setdefault(shard.shard_id, []).append(t)
        for sid, chunk in groups.items():
            await self.shards[sid].remove(chunk)

    async def resync(self, tokens: Iterable[str]) -> None:
        """Ask for fresh snapshots of tokens on their shards."""
        groups: dict[int, list[str]] = {}
        for t in tokens:
            shard = self.by_token.get(t)
            if shard is not None:
                groups.setdefault(shard.shard_id, []).append(t)
        for sid, chunk in groups.items():
            await self.shards[sid].resync(chunk)

    def shard_of(self, token: str) -> Shard | None:
        """Return the shard carrying ``token``."""
        return self.by_token.get(token)

    async def stop(self) -> None:
        """Stop every shard."""
        for shard in self.shards:
            await shard.stop()

    def stats(self) -> list[dict[str, Any]]:
        """Return per-shard stats."""
        return [s.stats() for s in self.shards]
