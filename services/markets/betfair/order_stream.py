"""Betfair's order stream: the Exchange Stream API's ``orderSubscription`` on a worker thread.

Betfair pushes an order change message for every change of the account's bets::

    {"op": "ocm", "id": 2, "clk": "...", "initialClk": "...", "pt": 1700000000000,
     "ct": "SUB_IMAGE" | "RESUB_DELTA" | "HEARTBEAT" | null,
     "oc": [{"id": "1.23", "closed": false,
             "orc": [{"id": 4711, "hc": 0.0, "fullImage": false,
                      "uo": [{"id": "228302937743", "p": 3.5, "s": 10.0, "side": "B",
                              "status": "E" | "EC", "pt": "L" | "P" | "MOC", "ot": "L",
                              "pd": 1700000000000, "md": 1700000001000, "avp": 3.5,
                              "sm": 4.0, "sr": 6.0, "sl": 0.0, "sc": 0.0, "sv": 0.0,
                              "rfo": "<customerOrderRef>", "rfs": "<customerStrategyRef>"}],
                      "mb": [[price, size]], "ml": [[price, size]]}]}]}

(betfairlightweight ``streaming/cache.py``: ``OrderBookCache.update_cache`` reads ``oc`` ->
``orc`` -> ``uo``; ``UnmatchedOrder(id, p, s, side, status, pt, ot, pd, md, avp, sm, sr, sl, sc,
sv, rfo, rfs, ...)``). Every ``uo`` carries the bet's cumulative state, so applying one twice
is harmless: the execution client turns increases of ``sm`` into fills.

The thread logs in once (the caller's ``APIClient``), subscribes, hands each ``ocm`` to
``on_message`` and says ``on_state(True)`` when a subscription image arrives, ``on_state(False)``
when the connection drops; it then reconnects with exponential backoff and resubscribes with
the last ``initialClk`` / ``clk`` (Betfair's documented resume). Both callbacks run on the
worker thread: the caller queues them for its own thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from services.markets.betfair.live import RawListener, create_stream

log = logging.getLogger(__name__)


class BetfairOrderStream:
    """The account's order changes, pushed by Betfair.

    Parameters
    ----------
    client : Any
        A logged-in ``betfairlightweight.APIClient``.
    host : str
        Stream API host ('' production, ``host:port`` a test server).
    on_message : Callable[[dict], None]
        Called with each ``ocm`` message (worker thread).
    on_state : Callable[[bool, str], None]
        Called with (connected, why) on every change (worker thread).
    """

    def __init__(
        self,
        client: Any,
        host: str,
        on_message: Callable[[dict[str, Any]], None],
        on_state: Callable[[bool, str], None],
        *,
        heartbeat_ms: int = 5000,
        backoff_max_s: float = 60.0,
    ) -> None:
        self.client = client
        self.host = host
        self.on_message = on_message
        self.on_state = on_state
        self.heartbeat_ms = heartbeat_ms
        self.backoff_max_s = backoff_max_s
        self.initial_clk: str | None = None
        self.clk: str | None = None
        self.connected = False
        self.counters = {"ocm": 0, "reconnects": 0}
        self._stream: Any = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="betfair-orders", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker thread (a few seconds at most)."""
        self._stopping.set()
        if self._stream is not None:
            with contextlib.suppress(Exception):  # a socket that may already be gone
                self._stream.stop()
        if self._thread is not None:
            self._thread.join(5.0)

    def _line(self, raw: str) -> None:
        if self._stopping.is_set():
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            log.warning("Betfair order stream sent a line that is not JSON: %.200s", raw)
            return
        op = msg.get("op")
        if op == "status" and msg.get("statusCode") == "FAILURE":
            log.error(
                "Betfair order stream refused a request: %s (%s).",
                msg.get("errorCode"),
                msg.get("errorMessage"),
            )
            return
        if op != "ocm":
            return
        if msg.get("initialClk"):
            self.initial_clk = msg["initialClk"]
        if msg.get("clk"):
            self.clk = msg["clk"]
        if msg.get("ct") in ("SUB_IMAGE", "RESUB_DELTA") and not self.connected:
            self.connected = True
            self.on_state(True, str(msg.get("ct")))
        self.counters["ocm"] += 1
        if msg.get("oc"):
            self.on_message(msg)

    def _run(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                self._stream = create_stream(self.client, self.host, RawListener(self._line))
                self._stream.subscribe_to_orders(
                    initial_clk=self.initial_clk,
                    clk=self.clk,
                    heartbeat_ms=self.heartbeat_ms,
                )
                delay = 1.0
                self._stream.start()  # blocks until stopped or disconnected
                why = "closed"
            except Exception as exc:  # noqa: BLE001 - any socket/protocol error means reconnect
                why = f"{type(exc).__name__}: {exc}"
            if self._stopping.is_set():
                break
            if self.connected:
                self.connected = False
                self.on_state(False, why)
            self.counters["reconnects"] += 1
            log.warning(
                "Betfair order stream disconnected (%s); reconnecting in %.0f s.", why, delay
            )
            self._stopping.wait(delay)
            delay = min(self.backoff_max_s, delay * 2)
