"""REST hygiene: retries with Retry-After on 429/425, backoff on 5xx, priority rate limiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.markets.polymarket.config import PolymarketConfig, RateLimit
from services.markets.polymarket.rest import (
    Priority,
    PriorityRateLimiter,
    RestClient,
    RestClientError,
    RestError,
    parse_retry_after,
)
from tests.markets.fake_polymarket import FakePolymarket


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakePolymarket]:
    f = FakePolymarket()
    await f.start()
    yield f
    await f.stop()


class Sleeps:
    """Records backoff waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _client(fake: FakePolymarket, sleeps: Sleeps, **kw: object) -> RestClient:
    cfg = PolymarketConfig(
        gamma_url=fake.gamma_url,
        clob_url=fake.clob_url,
        ws_url=fake.ws_url,
        retry_backoff_base_s=0.25,
        retry_backoff_max_s=5.0,
        seed=3,
        **kw,
    )
    return RestClient(cfg, sleep=sleeps)


@pytest.mark.asyncio
async def test_retries_429_honouring_retry_after_then_425_and_500(fake: FakePolymarket) -> None:
    sleeps = Sleeps()
    rest = _client(fake, sleeps)
    token = fake.tokens()[0]
    fake.fail_next("/book", 429, retry_after="0.2")
    fake.fail_next("/book", 425, retry_after="0.75")
    fake.fail_next("/book", 500)
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        body = await rest.get_json(
            f"{fake.clob_url}/book", {"token_id": token}, endpoint="clob_book"
        )
        # the 429's Retry-After also paused the endpoint in the rate limiter
        assert loop.time() - t0 >= 0.19
    finally:
        await rest.close()
    assert body["asset_id"] == token
    assert [s for p, s in fake.request_log if p == "/book"] == [429, 425, 500, 200]
    assert sleeps.waits[:2] == [0.2, 0.75]
    # no Retry-After on the 500: exponential backoff from the base (attempt 2), with jitter
    assert 0.5 <= sleeps.waits[2] <= 1.0
    c = rest.counters
    assert (c["status_429"], c["status_425"], c["status_5xx"], c["retries"], c["ok"]) == (
        1,
        1,
        1,
        3,
        1,
    )


@pytest.mark.asyncio
async def test_retry_after_is_capped_and_gives_up_after_max_retries(fake: FakePolymarket) -> None:
    sleeps = Sleeps()
    rest = _client(fake, sleeps, max_retries=2)
    fake.fail_next("/midpoint", 503, 503, 503, retry_after="600")
    try:
        with pytest.raises(RestError) as info:
            await rest.get_json(
                f"{fake.clob_url}/midpoint", {"token_id": "1"}, endpoint="clob_book"
            )
    finally:
        await rest.close()
    assert info.value.status == 503
    assert sleeps.waits == [5.0, 5.0]  # capped at retry_backoff_max_s
    assert rest.counters["requests"] == 3


@pytest.mark.asyncio
async def test_client_errors_are_not_retried(fake: FakePolymarket) -> None:
    sleeps = Sleeps()
    rest = _client(fake, sleeps)
    try:
        with pytest.raises(RestClientError) as info:
            await rest.get_json(f"{fake.clob_url}/book", {"token_id": "nope"}, endpoint="clob_book")
    finally:
        await rest.close()
    assert info.value.status == 404
    assert sleeps.waits == [] and rest.counters["requests"] == 1


@pytest.mark.asyncio
async def test_transport_errors_are_retried() -> None:
    sleeps = Sleeps()
    cfg = PolymarketConfig(max_retries=1, request_timeout_s=1.0, retry_backoff_base_s=0.1)
    rest = RestClient(cfg, sleep=sleeps)
    try:
        with pytest.raises(RestError):
            # nothing listens on port 9 of 127.0.0.1 (discard service is not running)
            await rest.get_json("http://127.0.0.1:9/markets", endpoint="gamma_markets")
    finally:
        await rest.close()
    assert rest.counters["transport_errors"] == 2 and len(sleeps.waits) == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Sat, 21 Nov 2026 00:00:10 GMT", now=1795219200.0) == 10.0


@pytest.mark.asyncio
async def test_rate_limiter_serves_by_priority_when_window_is_full() -> None:
    limiter = PriorityRateLimiter({"x": RateLimit(max_requests=2, window_s=0.2)})
    await limiter.acquire("x", Priority.DATA)
    await limiter.acquire("x", Priority.DATA)
    order: list[str] = []

    async def req(name: str, prio: Priority) -> None:
        await limiter.acquire("x", prio)
        order.append(name)

    tasks = [asyncio.create_task(req("history", Priority.HISTORY))]
    await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(req("data", Priority.DATA)))
    await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(req("order", Priority.ORDER)))
    await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(req("emergency", Priority.EMERGENCY)))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.wait_for(asyncio.gather(*tasks), 2.0)
    # two slots free after the first window, two more after the second
    assert order == ["emergency", "order", "data", "history"]
    assert loop.time() - t0 >= 0.3
    assert limiter.waits == 4


@pytest.mark.asyncio
async def test_rate_limiter_window_and_pause() -> None:
    limiter = PriorityRateLimiter({"y": RateLimit(max_requests=3, window_s=0.1)})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(6):
        await limiter.acquire("y")
    assert 0.1 <= loop.time() - t0 < 0.5
    limiter.pause("y", 0.15)
    t1 = loop.time()
    await limiter.acquire("y")
    assert loop.time() - t1 >= 0.14


@pytest.mark.asyncio
async def test_cancelled_waiter_leaves_the_queue() -> None:
    limiter = PriorityRateLimiter({"z": RateLimit(max_requests=1, window_s=0.1)})
    await limiter.acquire("z")
    blocked = asyncio.create_task(limiter.acquire("z", Priority.EMERGENCY))
    await asyncio.sleep(0.01)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    await asyncio.wait_for(limiter.acquire("z", Priority.HISTORY), 1.0)
