"""REST hygiene for Polymarket: one aiohttp session, timeouts, retries, priority rate limiting.

Retries cover 5xx, 429 (honouring ``Retry-After``), 425 (matching-engine restart, also with
``Retry-After``) and transport errors, with capped exponential backoff and jitter. The
:class:`PriorityRateLimiter` keeps a sliding window per endpoint and lets waiting requests through
in priority order: emergency cancels before orders before market data before history.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from enum import IntEnum
from typing import Any

import aiohttp

from services.markets.polymarket.config import PolymarketConfig, RateLimit, RateLimits
from utils.errors import VenueError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({425, 429, 500, 502, 503, 504})


class Priority(IntEnum):
    """Request priority; lower values go first when an endpoint's window is full."""

    EMERGENCY = 0
    ORDER = 1
    DATA = 2
    HISTORY = 3


class RestError(VenueError):
    """A REST request failed after its retries (a temporary error: try again later)."""

    temporary = True

    def __init__(self, message: str, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class RestClientError(RestError):
    """The venue rejected the request (4xx other than 425/429); retrying will not help."""

    temporary = False


class _Bucket:
    __slots__ = ("limit", "window", "log", "waiting", "paused_until", "_event")

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit.max_requests
        self.window = limit.window_s
        self.log: deque[float] = deque()
        self.waiting: list[list[int]] = []
        self.paused_until = 0.0
        self._event = asyncio.Event()

    def prune(self, now: float) -> None:
        edge = now - self.window
        while self.log and self.log[0] <= edge:
            self.log.popleft()

    def wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None) -> None:
        ev = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ev.wait(), timeout)


class PriorityRateLimiter:
    """Sliding-window limiter per endpoint that serves waiters by priority, then arrival.

    Parameters
    ----------
    limits : RateLimits | Mapping[str, RateLimit]
        Budget per endpoint key (``"clob_book"``, ``"gamma_markets"``, ...).
    monotonic : Callable[[], float]
        Monotonic time source, seconds (injectable for tests).
    """

    def __init__(
        self,
        limits: RateLimits | Mapping[str, RateLimit],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._mono = monotonic
        self._buckets: dict[str, _Bucket] = {}
        self._seq = itertools.count()
        self.waits = 0

    def _bucket(self, endpoint: str) -> _Bucket:
        b = self._buckets.get(endpoint)
        if b is None:
            if isinstance(self._limits, RateLimits):
                limit = self._limits.get(endpoint)
            else:
                limit = self._limits.get(endpoint) or RateLimit()
            b = self._buckets[endpoint] = _Bucket(limit)
        return b

    def pause(self, endpoint: str, seconds: float) -> None:
        """Hold every request to ``endpoint`` for ``seconds`` (after a 429 with Retry-After)."""
        b = self._bucket(endpoint)
        b.paused_until = max(b.paused_until, self._mono() + seconds)

    async def acquire(self, endpoint: str, priority: Priority = Priority.DATA) -> None:
        """Wait until a request to ``endpoint`` may be sent, then count it in the window."""
        b = self._bucket(endpoint)
        entry = [int(priority), next(self._seq)]
        heapq.heappush(b.waiting, entry)
        b.wake()  # a waiting head re-checks whether it still goes first
        waited = False
        try:
            while True:
                now = self._mono()
                b.prune(now)
                head = b.waiting[0] is entry
                full = len(b.log) >= b.limit
                if head and not full and now >= b.paused_until:
                    heapq.heappop(b.waiting)
                    b.log.append(now)
                    b.wake()
                    if waited:
                        self.waits += 1
                    return
                waited = True
                if head:
                    delay = max(b.paused_until - now, (b.log[0] + b.window - now) if full else 0)
                    await b.wait(max(delay, 0.001))
                else:
                    await b.wait(None)
        except BaseException:
            if entry in b.waiting:
                b.waiting.remove(entry)
                heapq.heapify(b.waiting)
                b.wake()
            raise


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the delay in seconds of a ``Retry-After`` header (seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    ref = time.time() if now is None else now
    return max(0.0, when.timestamp() - ref)


class RestClient:
    """Shared-session JSON client with retries, backoff and priority rate limiting.

    Parameters
    ----------
    config : PolymarketConfig
        Timeouts, retry policy and rate limits.
    sleep : Callable[[float], Awaitable[None]]
        Used for backoff waits (injectable for tests).
    rng : random.Random | None
        Jitter source.
    """

    def __init__(
        self,
        config: PolymarketConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.limiter = PriorityRateLimiter(config.rate_limits)
        self._sleep = sleep
        self._rng = rng or random.Random(config.seed)
        self._session: aiohttp.ClientSession | None = None
        self.counters: dict[str, int] = {
            "requests": 0,
            "ok": 0,
            "errors": 0,
            "retries": 0,
            "status_429": 0,
            "status_425": 0,
            "status_5xx": 0,
            "transport_errors": 0,
        }
        self.last_latency_ms = 0.0
        self.ewma_latency_ms = 0.0
        self.max_latency_ms = 0.0

    async def start(self) -> None:
        """Create the shared session (idempotent)."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)
            self._session = aiohttp.ClientSession(
                timeout=timeout, headers={"Accept": "application/json"}
            )

    async def close(self) -> None:
        """Close the shared session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def stats(self) -> dict[str, Any]:
        """Return request counters and latency figures (ms) for the pipeline monitor."""
        return {
            **self.counters,
            "last_latency_ms": round(self.last_latency_ms, 3),
            "ewma_latency_ms": round(self.ewma_latency_ms, 3),
            "max_latency_ms": round(self.max_latency_ms, 3),
            "limiter_waits": self.limiter.waits,
        }

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        base = min(cfg.retry_backoff_max_s, cfg.retry_backoff_base_s * (2**attempt))
        return base * (0.5 + 0.5 * self._rng.random())

    def _observe_latency(self, ms: float) -> None:
        self.last_latency_ms = ms
        self.max_latency_ms = max(self.max_latency_ms, ms)
        alpha = 0.2
        self.ewma_latency_ms = (
            ms if self.ewma_latency_ms == 0 else (alpha * ms + (1 - alpha) * self.ewma_latency_ms)
        )

    async def get_json(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        endpoint: str,
        priority: Priority = Priority.DATA,
    ) -> Any:
        """GET ``url`` and return the decoded JSON body, retrying temporary failures.

        Raises
        ------
        RestClientError
            On a non-retryable 4xx answer.
        RestError
            When all retries failed.
        """
        return await self._request(
            "GET", url, params=params, payload=None, endpoint=endpoint, priority=priority
        )

    async def post_json(
        self, url: str, payload: Any, *, endpoint: str, priority: Priority = Priority.DATA
    ) -> Any:
        """POST a JSON body and return the decoded JSON answer (same retry policy as GET)."""
        return await self._request(
            "POST", url, params=None, payload=payload, endpoint=endpoint, priority=priority
        )

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        payload: Any,
        endpoint: str,
        priority: Priority,
    ) -> Any:
        await self.start()
        assert self._session is not None
        c = self.counters
        last_error = ""
        status: int | None = None
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                c["retries"] += 1
            await self.limiter.acquire(endpoint, priority)
            c["requests"] += 1
            t0 = time.perf_counter()
            delay: float | None = None
            try:
                async with self._session.request(
                    method, url, params=_clean(params), json=payload
                ) as resp:
                    status = resp.status
                    if status < 400:
                        body = await resp.json(content_type=None)
                        self._observe_latency((time.perf_counter() - t0) * 1000)
                        c["ok"] += 1
                        return body
                    text = (await resp.text())[:200]
                    self._observe_latency((time.perf_counter() - t0) * 1000)
                    last_error = f"HTTP {status}: {text}"
                    if status not in RETRY_STATUSES:
                        c["errors"] += 1
                        raise RestClientError(last_error, status=status, url=url)
                    if status == 429:
                        c["status_429"] += 1
                    elif status == 425:
                        c["status_425"] += 1
                    else:
                        c["status_5xx"] += 1
                    delay = parse_retry_after(resp.headers.get("Retry-After"))
                    if delay is not None:
                        delay = min(delay, self.config.retry_backoff_max_s)
                        if status == 429:
                            self.limiter.pause(endpoint, delay)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                # ValueError: a 2xx body that is not JSON; treated as a transient glitch.
                self._observe_latency((time.perf_counter() - t0) * 1000)
                c["transport_errors"] += 1
                status = None
                last_error = f"{type(exc).__name__}: {exc}"
            c["errors"] += 1
            if attempt >= self.config.max_retries:
                break
            wait = delay if delay is not None else self._backoff(attempt)
            log.warning(
                "REST request failed; retrying.",
                extra={"url": url, "error": last_error, "attempt": attempt + 1, "wait_s": wait},
            )
            await self._sleep(wait)
        raise RestError(f"{method} {url} failed: {last_error}", status=status, url=url)


def _clean(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if params is None:
        return None
    out: dict[str, str] = {}
    for k, v in params.items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out
