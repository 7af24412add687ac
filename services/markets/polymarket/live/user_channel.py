"""The user WebSocket channel: order and trade updates for the account.

Protocol (``../shared/reference/polymarket.md``; the SDK's ``_internal/streams/clob``): connect
to ``live.user_ws_url``, send ``{"type": "user", "auth": {"apiKey", "secret", "passphrase"}}``
(plus ``"markets"`` to filter by condition id), send ``PING`` every 10 s (the server answers
``PONG``). Frames are one JSON object or an array; they are parsed with the SDK's own
``parse_user_events`` (``polymarket.models.clob.user_events``).

Missed messages are not replayed by the venue, so after every (re)connection the client's REST
refresh runs before messages are trusted again (``on_connected``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

PING_INTERVAL_S = 10.0
DEAD_AFTER_S = 30.0


class UserChannel:
    """Keeps one authenticated user-channel connection alive and dispatches its events.

    Parameters
    ----------
    url : str
        The user-channel WebSocket URL.
    creds : Callable[[], dict[str, str]]
        Returns ``{"apiKey", "secret", "passphrase"}`` (called at each connection; never
        logged).
    on_event : Callable[[Any], None]
        Called with each parsed SDK event.
    on_connected : Callable[[str], Awaitable[None]]
        Awaited after each connection (``"start"`` or ``"reconnect"``): the REST refresh.
    """

    def __init__(
        self,
        url: str,
        creds: Callable[[], dict[str, str]],
        on_event: Callable[[Any], None],
        on_connected: Callable[[str], Awaitable[None]],
        *,
        backoff_s: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        self.url = url
        self._creds = creds
        self._on_event = on_event
        self._on_connected = on_connected
        self._backoff = backoff_s
        self.connections = 0
        self.dropped_frames = 0
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Connect, read, reconnect with backoff, forever (cancel to stop)."""
        import websockets
        from polymarket.models.clob.user_events import parse_user_events

        delay = self._backoff[0]
        while True:
            try:
                async with websockets.connect(self.url, ping_interval=None, close_timeout=1) as ws:
                    frame = {"type": "user", "auth": self._creds()}
                    await ws.send(json.dumps(frame))
                    self.connections += 1
                    reason = "start" if self.connections == 1 else "reconnect"
                    self.connected.set()
                    delay = self._backoff[0]
                    pinger = asyncio.create_task(self._ping(ws), name="user-channel-ping")
                    try:
                        await self._on_connected(reason)
                        while True:
                            # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow a
                            # cancel that races with a message arriving.
                            async with asyncio.timeout(DEAD_AFTER_S):
                                raw = await ws.recv()
                            if raw == "PONG" or not raw:
                                continue
                            try:
                                doc = json.loads(raw)
                            except ValueError:
                                self.dropped_frames += 1
                                continue
                            events, dropped = parse_user_events(doc)
                            self.dropped_frames += dropped
                            for ev in events:
                                self._on_event(ev)
                    finally:
                        pinger.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await pinger
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any socket failure: reconnect
                log.warning(
                    "User channel lost (%s); reconnecting in %.1f s.", type(exc).__name__, delay
                )
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _ping(self, ws: Any) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL_S)
            await ws.send("PING")
