"""Live Betfair market data over the Exchange Stream API (``market_data.source: betfair``).

betfairlightweight logs in (certificate login with the app key) and runs the stream's TLS
connection on a worker thread: ``authentication``, then ``marketSubscription`` with the
configured market filter (event types, countries, market types) and the full ladder
(``EX_ALL_OFFERS``, ``EX_TRADED``, ``EX_TRADED_VOL``, ``EX_LTP``, ``EX_MARKET_DEF``). Every line it
receives goes to this feed unparsed (a listener of our own); the feed translates ``mcm``
messages with the same :class:`~services.markets.betfair.translate.BetfairTranslator` as the
replay, so a live session and its replay give the engine the same events.

With recording on (``market_data.record``), every ``mcm`` line is appended, as received, to a
gzip file under ``<recorder.directory>/betfair/``: a Betfair stream file that
``source: betfair_replay`` plays back.

On a dropped connection the worker reconnects with exponential backoff and resubscribes with the
last ``initialClk`` / ``clk``, as Betfair's documentation asks, so the stream resumes with a
``RESUB_DELTA`` instead of a new image.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

from services.events import MarketEvent
from services.instruments import Instrument
from services.markets.betfair.translate import BetfairTranslator
from services.money import MICRO
from utils.betfair_config import BetfairConfig, BetfairStreamConfig

log = logging.getLogger(__name__)

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

IDLE_BATCH_S = 1.0
"""Seconds without a message after which the feed yields an empty batch (timers, a stop)."""
MARKET_DATA_FIELDS = ["EX_ALL_OFFERS", "EX_TRADED", "EX_TRADED_VOL", "EX_LTP", "EX_MARKET_DEF"]


class BetfairStreamError(RuntimeError):
    """The stream refused us (authentication or subscription failed): the message says why."""


def login(cfg: BetfairStreamConfig) -> Any:
    """Return a logged-in ``betfairlightweight.APIClient`` (certificate login)."""
    import betfairlightweight

    client = betfairlightweight.APIClient(
        cfg.username,
        cfg.password.get_secret_value(),
        app_key=cfg.app_key.get_secret_value(),
        certs=cfg.certs_dir or None,
    )
    if cfg.identity_url:  # a local fake (tests); betfairlightweight appends "certlogin"
        client.identity_cert_uri = cfg.identity_url.rstrip("/") + "/"
    client.login()
    return client


def create_stream(client: Any, host: str, listener: Any) -> Any:
    """Return a betfairlightweight stream to ``host`` ('' production, ``host:port`` a test)."""
    name, _, port = host.partition(":")
    stream = client.streaming.create_stream(
        listener=listener, host=name if name and not port else None
    )
    if port:  # a test endpoint (host:port); betfairlightweight otherwise connects to :443
        stream.host = name
        stream._BetfairStream__port = int(port)
    return stream


class RawListener:
    """A betfairlightweight listener that hands every line over unparsed (thread-safe)."""

    def __init__(self, put: Callable[[str], None]) -> None:
        self.put = put
        self.stream_unique_id = 0
        self.connection_id: str | None = None

    def register_stream(self, unique_id: int, operation: str) -> None:
        self.stream_unique_id = unique_id

    def update_unique_id(self, unique_id: int) -> None:
        self.stream_unique_id = unique_id

    def on_data(self, raw_data: str) -> bool:
        self.put(raw_data)
        return True


class BetfairStreamFeed:
    """A live feed of Betfair market changes.

    Parameters
    ----------
    cfg : BetfairConfig
        ``market_data.betfair`` (currency, minimum stake, and the ``stream`` section).
    record_dir : Path | None
        Where to record the raw stream (None: no recording).
    client : Any
        A logged-in ``betfairlightweight.APIClient``; None logs in with ``cfg.stream``.
    """

    name = "betfair"

    def __init__(self, cfg: BetfairConfig, *, record_dir: Path | None = None, client: Any = None):
        self.cfg = cfg
        self.translator = BetfairTranslator(
            currency=cfg.currency, min_stake=int(cfg.min_stake * MICRO)
        )
        self.client = client
        self.record_dir = record_dir
        self._record: IO[bytes] | None = None
        self._queue: asyncio.Queue[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self._stopping = threading.Event()
        self.initial_clk: str | None = None
        self.clk: str | None = None
        self.counters = {"lines": 0, "mcm": 0, "reconnects": 0, "status_errors": 0}

    # ------------------------------------------------------------------ worker thread
    def _put(self, raw: str) -> None:
        loop, q = self._loop, self._queue
        if loop is None or q is None or loop.is_closed() or self._stopping.is_set():
            return  # the feed is closing: nobody reads any more
        try:
            loop.call_soon_threadsafe(q.put_nowait, raw)
        except RuntimeError:  # the loop closed between the check and the call
            return

    def _make_stream(self) -> Any:
        return create_stream(self.client, self.cfg.stream.host, RawListener(self._put))

    def _subscribe(self, stream: Any) -> None:
        from betfairlightweight import filters

        s = self.cfg.stream
        stream.subscribe_to_markets(
            market_filter=filters.streaming_market_filter(
                event_type_ids=s.event_type_ids or None,
                country_codes=s.country_codes or None,
                market_types=s.market_types or None,
            ),
            market_data_filter=filters.streaming_market_data_filter(fields=MARKET_DATA_FIELDS),
            initial_clk=self.initial_clk,
            clk=self.clk,
            conflate_ms=s.conflate_ms or None,
            heartbeat_ms=s.heartbeat_ms,
        )

    def _run(self) -> None:
        from betfairlightweight.exceptions import BetfairError

        delay = 1.0
        while not self._stopping.is_set():
            try:
                self._stream = self._make_stream()
                self._subscribe(self._stream)
                delay = 1.0
                self._stream.start()  # blocks, reading lines, until stopped or disconnected
            except (BetfairError, OSError, RuntimeError) as exc:
                if self._stopping.is_set():
                    break
                self._backoff(exc, delay)
                delay = min(self.cfg.stream.reconnect_backoff_max_s, delay * 2)
            except Exception as exc:  # noqa: BLE001 - the client's internals while closing
                if self._stopping.is_set():
                    break  # e.g. betfairlightweight sending on the socket close() released
                log.exception("Betfair stream thread failed; reconnecting.")
                self._backoff(exc, delay)
                delay = min(self.cfg.stream.reconnect_backoff_max_s, delay * 2)

    def _backoff(self, exc: BaseException, delay: float) -> None:
        self.counters["reconnects"] += 1
        log.warning("Betfair stream disconnected (%s); reconnecting in %.0f s.", exc, delay)
        self._stopping.wait(delay)

    # ------------------------------------------------------------------ feed
    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        """Log in, subscribe and yield the events of every market change message."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        if self.client is None:
            self.client = await asyncio.to_thread(login, self.cfg.stream)
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            path = self.record_dir / f"betfair-{int(time.time())}.gz"
            self._record = gzip.open(path, "ab")  # type: ignore[assignment]  # noqa: SIM115
            log.info("Recording the Betfair stream to %s.", path)
        self._thread = threading.Thread(target=self._run, name="betfair-stream", daemon=True)
        self._thread.start()
        translate = self.translator.translate
        while True:
            try:
                raw = await asyncio.wait_for(self._queue.get(), IDLE_BATCH_S)
            except TimeoutError:  # a quiet market: let the engine run its clock and stop
                yield []
                continue
            self.counters["lines"] += 1
            try:
                msg = _loads(raw)
            except ValueError:
                log.warning("Betfair stream sent a line that is not JSON: %.200s", raw)
                continue
            op = msg.get("op")
            if op == "status":
                self._status(msg)
                continue
            if op != "mcm":
                continue
            self.counters["mcm"] += 1
            if msg.get("initialClk"):
                self.initial_clk = msg["initialClk"]
            if msg.get("clk"):
                self.clk = msg["clk"]
            if self._record is not None:
                self._record.write(raw.encode() + b"\n")
            batch = translate(msg)
            if batch:
                yield batch

    def _status(self, msg: dict[str, Any]) -> None:
        if msg.get("statusCode") == "FAILURE":
            self.counters["status_errors"] += 1
            code, text = msg.get("errorCode"), msg.get("errorMessage")
            log.error("Betfair stream refused a request: %s (%s).", code, text)
            if code in ("NO_APP_KEY", "INVALID_APP_KEY", "NO_SESSION", "INVALID_SESSION_INFORMATION",
                        "NOT_AUTHORIZED"):  # fmt: skip
                raise BetfairStreamError(f"Betfair stream authentication failed: {code} ({text})")

    async def close(self) -> None:
        """Stop the stream thread and close the recording."""
        self._stopping.set()
        if self._stream is not None:
            self._stream.stop()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
        if self._record is not None:
            self._record.close()
            self._record = None

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Ignore carried instruments: the stream's images list the markets again."""
