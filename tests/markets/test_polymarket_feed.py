"""PolymarketFeed against the local fake venue: books, faults, reconnects, validation, resolution."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from services.events import BookDelta, BookSnapshot, MarketListed, MarketResolved, MarketStatus
from services.markets.polymarket.config import DiscoveryConfig, PolymarketConfig, ValidationConfig
from services.markets.polymarket.feed import PolymarketFeed, apply_to_books, rest_best
from services.markets.polymarket.rest import RestError
from services.orderbook import BookStore
from tests.markets.fake_polymarket import FakePolymarket, FeedPump, books_match

pytestmark = pytest.mark.timeout(30)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakePolymarket]:
    f = FakePolymarket(seed=11)
    await f.start()
    yield f
    await f.stop()


def make_feed(
    fake: FakePolymarket,
    validation: ValidationConfig | None = None,
    refresh_s: float = 60.0,
    books: BookStore | None = None,
    **kw: Any,
) -> PolymarketFeed:
    params: dict[str, Any] = dict(
        gamma_url=fake.gamma_url,
        clob_url=fake.clob_url,
        ws_url=fake.ws_url,
        ping_interval_s=0.1,
        silence_timeout_s=0.5,
        reconnect_backoff_min_s=0.05,
        reconnect_backoff_max_s=0.2,
        retry_backoff_base_s=0.01,
        seed=1,
        discovery=DiscoveryConfig(refresh_interval_s=refresh_s),
    )
    params.update(kw)
    vc = validation or ValidationConfig(cross_checks_per_round=0)
    return PolymarketFeed(PolymarketConfig(**params), validation=vc, books=books)


def synced(fake: FakePolymarket, feed: PolymarketFeed, tokens: list[str] | None = None) -> bool:
    """Return whether the feed's books equal the venue's for every watched token."""
    return books_match(fake, feed.books, feed.watched() if tokens is None else tokens)


async def started(fake: FakePolymarket, **kw: Any) -> tuple[PolymarketFeed, FeedPump]:
    feed = make_feed(fake, **kw)
    pump = FeedPump(feed)
    try:
        await pump.until(
            lambda: len(feed.watched()) == 12 and synced(fake, feed), what="initial snapshots"
        )
    except BaseException:
        await pump.stop()
        raise
    return feed, pump


def all_frames_seen(fake: FakePolymarket, feed: PolymarketFeed) -> bool:
    return feed.translator.counters["frames"] == fake.sent_frames and feed._queue.empty()


@pytest.mark.asyncio
async def test_snapshot_plus_deltas_equals_next_snapshot(fake: FakePolymarket) -> None:
    fake.array_mode = True
    fake.duplicate_deltas = True
    feed, pump = await started(fake)
    try:
        first = [e for e in pump.events if isinstance(e, (MarketListed, BookSnapshot))]
        assert isinstance(first[0], MarketListed) and len(first[0].instruments) == 12
        await fake.step(300)
        await pump.until(lambda: all_frames_seen(fake, feed), what="all deltas")
        # the next snapshot (REST /book, level order as the venue sends it) equals our book
        for tok in feed.watched():
            body = await feed.rest.get_json(
                f"{fake.clob_url}/book", {"token_id": tok}, endpoint="clob_book"
            )
            book = feed.books.get(tok)
            assert {
                (int(float(x["price"]) * 1e6 + 0.5)): None for x in body["bids"]
            }.keys() == book.bids.keys()
            assert rest_best(body) == (book.best_bid(), book.best_ask())
        assert synced(fake, feed)
        assert feed.translator.counters["malformed"] == 0
        sent = fake.sent_messages["price_change"]
        assert feed.translator.counters["type:price_change"] == sent
        assert sent % 2 == 0 and sent >= 400  # every delta came twice
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_reconnect_after_drop_rebuilds_books_from_fresh_snapshots(
    fake: FakePolymarket,
) -> None:
    feed, pump = await started(
        fake, reconnect_backoff_min_s=0.3, reconnect_backoff_max_s=0.3, reconnect_jitter=0.0
    )
    tok = fake.tokens()[0]
    try:
        assert feed.validator.can_trade(tok, time.time()) == (True, None)
        await fake.drop_connections()
        await pump.until(lambda: not feed.is_healthy(tok), what="disconnect noticed")
        assert feed.validator.can_trade(tok, time.time()) == (False, "connection_unhealthy")
        # the venue moves while we are away: only a fresh snapshot can tell us
        await fake.step(40)
        assert not synced(fake, feed)
        await pump.until(lambda: synced(fake, feed), what="books rebuilt")
        await pump.until(lambda: feed.is_healthy(tok), what="synced again")
        shard = feed.shards.shards[0].stats()
        assert shard["reconnects"] == 1 and shard["state"] == "connected"
        assert len(fake.subscribe_log) == 2 and set(fake.subscribe_log[1]) == set(feed.watched())
        assert feed.validator.can_trade(tok, time.time()) == (True, None)
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_silent_connection_is_stale_then_reconnected(fake: FakePolymarket) -> None:
    vc = ValidationConfig(freshness_threshold_s=0.25, cross_checks_per_round=0)
    feed, pump = await started(fake, validation=vc)
    tok = fake.tokens()[2]
    try:
        await pump.until(lambda: feed.validator.can_trade(tok, time.time())[0], what="tradable")
        fake.silence_connections()
        await pump.until(
            lambda: not feed.validator.can_trade(tok, time.time())[0], 2.0, what="stale block"
        )
        assert feed.validator.can_trade(tok, time.time()) == (False, "stale_book")
        await pump.until(lambda: feed.shards.shards[0].silences == 1, 2.0, what="silence")
        await pump.until(
            lambda: feed.validator.can_trade(tok, time.time())[0], 3.0, what="fresh again"
        )
        assert feed.shards.shards[0].reconnects == 1
        assert fake.connections == 2
        failures = feed.validator.take_failures()
        assert any(f.instrument_id == tok and f.reason == "stale_book" for f in failures)
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_failed_cross_check_blocks_resyncs_and_unblocks(fake: FakePolymarket) -> None:
    vc = ValidationConfig(
        cross_check_interval_s=0.1,
        # The suspect state lasts at least this long: wide enough that a loaded machine's
        # stalls of the event loop do not let it pass between two polls of `until`.
        suspect_recheck_s=1.0,
        cross_checks_per_round=12,
        freshness_threshold_s=30,
    )
    feed, pump = await started(fake, validation=vc)
    tok = fake.tokens()[0]
    try:
        await pump.until(lambda: feed.validator.counters["cross_check_ok"] >= 12, what="checks")
        assert feed.validator.can_trade(tok, time.time()) == (True, None)
        # the venue's book changes without a message reaching us (a lost delta)
        fb = fake.books[tok]
        for p in sorted(fb.bids)[-2:]:
            del fb.bids[p]
        # Read the gate in the same step that sees the token turn suspect (no await between):
        # the feed requests the resync in the same cross-check round, and from then until the
        # new snapshot arrives the higher-precedence block is the unsynced book's
        # ``connection_unhealthy``. Which one a poll sees depends on the machine's speed, so the
        # expected reason is derived from the feed's own state at that instant.
        seen: list[tuple[tuple[bool, str | None], bool]] = []

        def suspect() -> bool:
            if tok not in feed.validator.suspects:
                return False
            seen.append((feed.validator.can_trade(tok, time.time()), feed.is_healthy(tok)))
            return True

        await pump.until(suspect, 15.0, what="suspect")
        gate, healthy = seen[0]
        assert gate == (False, "cross_check_failed" if healthy else "connection_unhealthy")
        await pump.until(lambda: synced(fake, feed, [tok]), 15.0, what="resync")
        assert feed.shards.shards[0].resyncs >= 1
        await pump.until(lambda: tok not in feed.validator.suspects, 15.0, what="clean check")
        assert feed.validator.can_trade(tok, time.time()) == (True, None)
        reasons = [(f.instrument_id, f.reason) for f in feed.validator.take_failures()]
        assert (tok, "cross_check_failed") in reasons
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_out_of_order_deltas_are_caught_by_cross_check(fake: FakePolymarket) -> None:
    vc = ValidationConfig(
        cross_check_interval_s=0.1,
        suspect_recheck_s=0.2,
        cross_checks_per_round=12,
        price_discrepancy_threshold=0.005,
        freshness_threshold_s=30,
    )
    feed, pump = await started(fake, validation=vc)
    tok = fake.tokens()[0]
    best = fake.books[tok].best_bid()
    assert best is not None
    try:
        fake.out_of_order = True
        size = fake.books[tok].bids[best]
        await fake.set_level(tok, "BUY", best, 0)
        await fake.set_level(tok, "BUY", best, size)  # sent first, then the delete
        fake.out_of_order = False
        await pump.until(lambda: all_frames_seen(fake, feed), what="frames")
        assert feed.books.get(tok).best_bid() != best
        await pump.until(lambda: synced(fake, feed, [tok]), 3.0, what="repair")
        assert feed.validator.counters["cross_check_failed"] >= 1
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_resolution_from_socket_settles_once_and_unsubscribes(fake: FakePolymarket) -> None:
    feed, pump = await started(fake, refresh_s=0.1)
    m = fake.markets[0]
    toks = json.loads(m["clobTokenIds"])
    try:
        await fake.resolve(m["conditionId"], 0)
        await pump.until(
            lambda: any(isinstance(e, MarketResolved) for e in pump.events), what="resolution"
        )
        start = feed.discovery.counters["refreshes"]
        await pump.until(
            lambda: feed.discovery.counters["refreshes"] >= start + 2,
            what="two more Gamma refreshes",
        )
        resolved = [e for e in pump.events if isinstance(e, MarketResolved)]
        assert len(resolved) == 1
        assert resolved[0].market_id == m["conditionId"]
        assert dict(resolved[0].payouts) == {toks[0]: 1_000_000, toks[1]: 0}
        assert feed.shards.shard_of(toks[0]) is None and feed.shards.shard_of(toks[1]) is None
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_missed_socket_resolution_comes_from_gamma(fake: FakePolymarket) -> None:
    feed, pump = await started(fake, refresh_s=0.1)
    m = fake.markets[1]
    toks = json.loads(m["clobTokenIds"])
    try:
        await fake.resolve(m["conditionId"], 1, via_ws=False)
        await pump.until(
            lambda: any(isinstance(e, MarketResolved) for e in pump.events), what="resolution"
        )
        (res,) = [e for e in pump.events if isinstance(e, MarketResolved)]
        assert res.payouts == ((toks[0], 0), (toks[1], 1_000_000))
        assert feed.shards.shard_of(toks[0]) is None
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_new_market_is_listed_before_its_books(fake: FakePolymarket) -> None:
    feed, pump = await started(fake, refresh_s=0.1)
    new = copy.deepcopy(fake.markets[5])
    new.update(
        id="600001",
        slug="brand-new",
        conditionId="0x" + "cd" * 32,
        clobTokenIds=json.dumps(["7001", "7002"]),
    )
    try:
        fake.add_market(new)
        await pump.until(lambda: feed.books.find("7002") is not None, what="new books")
        kinds = [(type(e).__name__, getattr(e, "instrument_id", None)) for e in pump.events]
        listed_at = next(
            i
            for i, e in enumerate(pump.events)
            if isinstance(e, MarketListed) and any(x.instrument_id == "7001" for x in e.instruments)
        )
        assert listed_at < kinds.index(("BookSnapshot", "7001"))
        assert feed.shards.shard_of("7001") is not None
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_malformed_frames_are_counted_and_the_feed_goes_on(fake: FakePolymarket) -> None:
    feed, pump = await started(fake)
    tok = fake.tokens()[0]
    try:
        await fake.send_malformed()
        await fake.set_level(tok, "SELL", 990_000, 7_000_000)
        await pump.until(
            lambda: feed.books.get(tok).asks.get(990_000) == 7_000_000, what="update after garbage"
        )
        c = feed.translator.counters
        # bad JSON, 3 non-objects in an array, a book without asset, no event_type, bad changes
        assert c["malformed"] == 7 and c["unknown_type"] == 1
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_tokens_are_sharded_and_stats_reported(fake: FakePolymarket) -> None:
    feed, pump = await started(fake, max_tokens_per_connection=5)
    try:
        shards = feed.pipeline_stats()["shards"]
        assert [s["tokens"] for s in shards] == [5, 5, 2]
        assert all(s["state"] == "connected" and s["healthy"] for s in shards)
        assert fake.connections == 3
        assert sorted(len(x) for x in fake.subscribe_log) == [2, 5, 5]
        top = feed.top_of_book()
        tok = fake.tokens()[0]
        assert top[tok]["best_bid"] == fake.books[tok].best_bid()
        assert top[tok]["best_ask_size"] == fake.books[tok].asks[fake.books[tok].best_ask()]
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_shared_book_store_is_read_but_left_to_its_owner(fake: FakePolymarket) -> None:
    store = BookStore()
    feed = make_feed(fake, books=store)
    book_events: dict[str, int] = {}

    async def engine() -> None:  # the owner applies each batch exactly once
        async for batch in feed.batches():
            apply_to_books(store, batch)
            for e in batch:
                if isinstance(e, (BookSnapshot, BookDelta)):
                    book_events[e.instrument_id] = book_events.get(e.instrument_id, 0) + 1

    task = asyncio.create_task(engine())
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while not (len(feed.watched()) == 12 and synced(fake, feed)):
            assert loop.time() < end, "books never matched"
            await asyncio.sleep(0.01)
        await fake.step(50)
        while not all_frames_seen(fake, feed):
            assert loop.time() < end, "frames never seen"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert feed.books is store and synced(fake, feed)
        assert {t: store.get(t).updates for t in book_events} == book_events
        tok = feed.watched()[0]
        assert feed.validator.can_trade(tok, time.time()) == (True, None)
    finally:
        await feed.close()
        await asyncio.wait_for(task, 5)


@pytest.mark.asyncio
async def test_idle_pings_keep_a_quiet_connection_fresh(fake: FakePolymarket) -> None:
    vc = ValidationConfig(freshness_threshold_s=0.3, cross_checks_per_round=0)
    feed, pump = await started(fake, validation=vc, ping_interval_s=5.0, idle_ping_s=0.1)
    tok = feed.watched()[0]
    try:
        answers = []
        for _ in range(40):  # 0.8 s of a market where nothing changes
            answers.append(feed.validator.can_trade(tok, time.time()))
            await asyncio.sleep(0.02)
        assert set(answers) == {(True, None)}
        shard = feed.shards.shards[0]
        assert shard.reconnects == 0 and shard.pongs >= 5
    finally:
        await pump.stop()


@pytest.mark.asyncio
async def test_start_fails_cleanly_when_gamma_is_down_and_can_retry(fake: FakePolymarket) -> None:
    feed = make_feed(fake, max_retries=1)
    fake.fail_next("/markets", 503, 503)
    try:
        with pytest.raises(RestError):
            await feed.start()
        assert feed.watched() == [] and feed.rest.counters["status_5xx"] == 2
        await feed.start()  # Gamma is back
        assert len(feed.watched()) == 12
    finally:
        await feed.close()


@pytest.mark.asyncio
async def test_accepting_orders_false_becomes_a_not_accepting_status_event(
    fake: FakePolymarket,
) -> None:
    """Gamma's ``acceptingOrders: false`` on a still-open market reaches the engine as
    ``MarketStatus(status="not_accepting")`` at the next discovery refresh (issue 11)."""
    feed, pump = await started(fake, refresh_s=0.1)
    m = fake.markets[0]
    try:
        m["acceptingOrders"] = False
        await pump.until(
            lambda: any(isinstance(e, MarketStatus) for e in pump.events), what="status"
        )
        (ev,) = [e for e in pump.events if isinstance(e, MarketStatus)]
        assert (ev.market_id, ev.status) == (m["conditionId"], "not_accepting")
        tok = json.loads(m["clobTokenIds"])[0]
        assert feed.shards.shard_of(tok) is not None  # still watched: books keep flowing
    finally:
        await pump.stop()
