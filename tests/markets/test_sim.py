"""Tests of the embedded simulated venue (services/markets/sim).

One module-scoped run of a few simulated hours is replayed into a ``BookStore`` while every
event is checked; the tests then assert on what that replay saw. Smaller tests cover the
config, determinism, the first batch, adoption after a restart, the async interface and the
simulator's own book (including a hypothesis property test).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.events import (
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    TickSizeChange,
    TradePrint,
)
from services.instruments import Instrument, Side
from services.markets.sim import SimConfig, SimFeed
from services.markets.sim.book import ASK, BID, SimBook
from services.markets.sim.latent import Latent, information
from services.markets.sim.rand import RandomBlocks
from services.money import LOT, MICRO
from services.orderbook import BookStore

START = 1_700_000_000.0


def take_events(feed: SimFeed, n: int) -> list[MarketEvent]:
    """Return the first ``n`` events of a feed."""
    out: list[MarketEvent] = []
    for batch in feed.iter_batches():
        out.extend(batch)
        if len(out) >= n:
            break
    return out[:n]


# ---------------------------------------------------------------------------- config
def test_config_defaults_bounds_and_frozen() -> None:
    cfg = SimConfig()
    assert (cfg.markets, cfg.neg_risk_events, cfg.outcomes_per_event) == (20, 1, 4)
    assert cfg.fee_enabled_share == 0.5
    with pytest.raises(ValidationError):
        SimConfig(markets=0)
    with pytest.raises(ValidationError):
        SimConfig(outcomes_per_event=13)
    with pytest.raises(ValidationError):
        SimConfig(unknown_field=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SimConfig(lifetime_min_s=7200, lifetime_max_s=3600)
    with pytest.raises(ValidationError):
        cfg.markets = 3  # type: ignore[misc]
    for name, info in SimConfig.model_fields.items():
        assert info.description, f"{name} has no description"


# ---------------------------------------------------------------------------- determinism
def test_same_seed_same_events_different_seed_differs() -> None:
    cfg = SimConfig(markets=5, neg_risk_events=1, outcomes_per_event=3)
    a = take_events(SimFeed(cfg, seed=7, start_ts=START), 6000)
    b = take_events(SimFeed(cfg, seed=7, start_ts=START), 6000)
    c = take_events(SimFeed(cfg, seed=8, start_ts=START), 6000)
    assert len(a) == 6000
    assert a == b
    assert a != c
    assert a[0].ts == START
    assert all(x.ts <= y.ts for x, y in zip(a, a[1:], strict=False))


def test_first_batch_lists_universe_then_snapshots() -> None:
    cfg = SimConfig(markets=30, neg_risk_events=2, outcomes_per_event=4)
    feed = SimFeed(cfg, seed=3, start_ts=START)
    first = next(iter(feed.iter_batches()))
    listed = [e for e in first if isinstance(e, MarketListed)]
    snaps = [e for e in first if isinstance(e, BookSnapshot)]
    assert len(listed) == 32 and len(listed) + len(snaps) == len(first)
    assert all(isinstance(e, MarketListed) for e in first[: len(listed)])  # listings come first
    insts = [i for e in listed for i in e.instruments]
    by_id = {i.instrument_id: i for i in insts}
    assert len(by_id) == len(insts) == 2 * (30 + 2 * 4)
    assert {s.instrument_id for s in snaps} == set(by_id)
    for i in insts:
        comp = by_id[i.complement_id]  # type: ignore[index]
        assert comp.complement_id == i.instrument_id and comp.market_id == i.market_id
        assert i.venue == "sim" and i.min_size == 5_000_000 and i.end_ts and i.end_ts > START
        assert i.category in {"politics", "sports", "crypto", "economics"}
        assert "SIM-" in i.question
        assert i.outcome in {"Yes", "No"}
        if i.fees.enabled:
            assert Decimal("0.02") <= i.fees.rate <= Decimal("0.07") and i.fees.exponent == 1
    assert {i.tick for i in insts} == {10_000, 1_000}
    fee_markets = {i.market_id for i in insts if i.fees.enabled}
    free_markets = {i.market_id for i in insts if not i.fees.enabled}
    assert fee_markets and free_markets
    events: dict[str, set[str]] = defaultdict(set)
    for i in insts:
        if i.event_id:
            events[i.event_id].add(i.market_id)
    assert len(events) == 2 and all(len(m) == 4 for m in events.values())
    store = BookStore()
    for s in snaps:
        book = store.apply_snapshot(s)
        assert book.best_bid() is not None and book.best_ask() is not None
        assert not book.is_crossed()
    assert feed.instruments() == [i for e in listed for i in e.instruments]


# ---------------------------------------------------------------------------- long run
@dataclass
class RunStats:
    """What the replay of one long simulated run observed."""

    cfg: SimConfig
    duration_s: float
    events: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_ts: float = 0.0
    prints_checked: int = 0
    pair_mid_sums: list[float] = field(default_factory=list)
    event_mid_sums: list[float] = field(default_factory=list)
    live_counts: set[int] = field(default_factory=set)
    episodes: list[float] = field(default_factory=list)  # durations of YES+NO ask < 1 spells
    event_episodes: list[float] = field(default_factory=list)
    resolutions: list[MarketResolved] = field(default_factory=list)
    event_winners: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tick_changes: list[tuple[TickSizeChange, int | None]] = field(default_factory=list)
    feed: SimFeed | None = None


def _check_levels(inst: Instrument, levels: object) -> None:
    """Assert every (price, size) level is on the tick grid with a positive lot-grid size."""
    for price, size in levels:  # type: ignore[attr-defined]
        assert inst.on_grid(price), (inst.instrument_id, price, inst.tick)
        assert size > 0 and size % LOT == 0, (inst.instrument_id, size)


@pytest.fixture(scope="module")
def long_run() -> RunStats:
    cfg = SimConfig(
        markets=6,
        neg_risk_events=1,
        outcomes_per_event=4,
        lifetime_min_s=1200,
        lifetime_max_s=3600,
        activity=0.25,
        flicker_per_s=0.5,
        maker_requote_s=10.0,
        batch_window_ms=1000,
        mispricing_rate_per_hour=6,
        # Keep the dislocation rate flat so the YES/NO consistency checks below measure the
        # makers, not the (deliberately more frequent) end-game dislocations.
        endgame_mispricing_multiplier=1.0,
        initial_ending_soon=0,
    )
    duration = 1.5 * 3600.0
    feed = SimFeed(cfg, seed=11, start_ts=START, duration_s=duration)
    stats = RunStats(cfg, duration, feed=feed)
    store = BookStore()
    insts: dict[str, Instrument] = {}
    closed: set[str] = set()
    pending: list[TradePrint] = []
    mis_since: dict[str, float] = {}
    ev_since: dict[str, float] = {}
    next_sample = START
    groups: dict[str, list[Instrument]] = {}
    t0 = time.perf_counter()
    for batch in feed.iter_batches():
        touched: set[str] = set()
        universe_changed = False
        for e in batch:
            stats.events += 1
            stats.counts[type(e).__name__] += 1
            assert e.ts >= stats.last_ts
            stats.last_ts = e.ts
            if pending and not isinstance(e, TradePrint):
                # the prints of one taker order are followed by the delta of the levels hit
                assert isinstance(e, BookDelta) and e.instrument_id == pending[0].instrument_id
                book = store.get(e.instrument_id)
                new = {(s, p): z for s, p, z in e.changes}
                taken: dict[tuple[Side, int], int] = defaultdict(int)
                for k, pr in enumerate(pending):
                    level_side = Side.SELL if pr.aggressor is Side.BUY else Side.BUY
                    if k == 0:
                        assert pr.price == book.best(level_side)  # takers start at the touch
                    taken[(level_side, pr.price)] += pr.size
                for (side, price), size in taken.items():
                    assert new[(side, price)] == book.size_at(side, price) - size
                    stats.prints_checked += 1
                pending = []
            if isinstance(e, MarketListed):
                universe_changed = True
                for i in e.instruments:
                    insts[i.instrument_id] = i
            elif isinstance(e, BookSnapshot):
                _check_levels(insts[e.instrument_id], e.bids + e.asks)
                store.apply_snapshot(e)
                touched.add(e.instrument_id)
            elif isinstance(e, BookDelta):
                inst = insts[e.instrument_id]
                assert inst.market_id not in closed
                for _side, price, size in e.changes:
                    assert inst.on_grid(price) and size >= 0 and size % LOT == 0
                store.apply_delta(e)
                touched.add(e.instrument_id)
            elif isinstance(e, TradePrint):
                assert e.size > 0 and e.aggressor in (Side.BUY, Side.SELL)
                assert not pending or pending[-1].instrument_id == e.instrument_id
                pending.append(e)
            elif isinstance(e, TickSizeChange):
                inst = insts[e.instrument_id]
                yes = inst if inst.outcome == "Yes" else insts[inst.complement_id]  # type: ignore[index]
                stats.tick_changes.append((e, store.get(yes.instrument_id).mid()))
                assert inst.tick == 10_000 and e.tick == 1_000
                insts[e.instrument_id] = dataclasses.replace(inst, tick=e.tick)
            elif isinstance(e, MarketStatus):
                assert e.status == "closed"
                closed.add(e.market_id)
            elif isinstance(e, MarketResolved):
                assert e.market_id in closed
                stats.resolutions.append(e)
                universe_changed = True
                for iid, _ in e.payouts:
                    assert insts[iid].market_id == e.market_id
                    event_id = insts[iid].event_id
                    if event_id and insts[iid].outcome == "Yes":
                        stats.event_winners[event_id] += dict(e.payouts)[iid] // MICRO
                    del insts[iid]
                    store.drop(iid)
        # batch end: books valid, mispricings tracked
        for iid in touched:
            inst = insts.get(iid)
            if inst is not None:
                assert not store.get(iid).is_crossed(), iid
        for iid in touched:
            inst = insts.get(iid)
            if inst is None or inst.outcome != "Yes":
                continue
            ya = store.get(iid).best_ask()
            na = store.get(inst.complement_id).best_ask()  # type: ignore[arg-type]
            below = ya is not None and na is not None and ya + na < MICRO
            if below and iid not in mis_since:
                mis_since[iid] = e.ts
            elif not below and iid in mis_since:
                stats.episodes.append(e.ts - mis_since.pop(iid))
        if universe_changed:
            groups = defaultdict(list)
            for inst in insts.values():
                if inst.event_id and inst.outcome == "Yes":
                    groups[inst.event_id].append(inst)
        for event_id, yes_list in groups.items():
            if touched.isdisjoint(i.instrument_id for i in yes_list):
                continue
            asks = [store.get(i.instrument_id).best_ask() for i in yes_list]
            below = all(asks) and sum(asks) < MICRO  # type: ignore[arg-type]
            if below and event_id not in ev_since:
                ev_since[event_id] = batch[-1].ts
            elif not below and event_id in ev_since:
                stats.event_episodes.append(batch[-1].ts - ev_since.pop(event_id))
        if batch[-1].ts >= next_sample:
            next_sample += 30.0
            stats.live_counts.add(len({i.market_id for i in insts.values()}))
            for inst in insts.values():
                if inst.outcome == "Yes":
                    m1 = store.get(inst.instrument_id).mid()
                    m2 = store.get(inst.complement_id).mid()  # type: ignore[arg-type]
                    if m1 is not None and m2 is not None:
                        stats.pair_mid_sums.append((m1 + m2) / MICRO)
            for yes_list in groups.values():
                mids = [store.get(i.instrument_id).mid() for i in yes_list]
                if all(m is not None for m in mids):
                    stats.event_mid_sums.append(sum(mids) / MICRO)  # type: ignore[arg-type]
    stats.seconds = time.perf_counter() - t0
    assert not pending
    return stats


def test_long_run_books_valid_and_duration_honored(long_run: RunStats) -> None:
    s = long_run
    assert s.events > 25_000
    assert s.counts["TradePrint"] > 1_000 and s.counts["BookDelta"] > 10_000
    assert s.prints_checked >= s.counts["TradePrint"] // 2
    assert START + s.duration_s - 5.0 < s.last_ts <= START + s.duration_s
    print(
        f"\nsim long run: {s.events} events in {s.seconds:.2f} s with checks "
        f"({s.events / s.seconds:,.0f} ev/s); {dict(s.counts)}"
    )


def test_yes_no_mids_sum_to_one(long_run: RunStats) -> None:
    sums = long_run.pair_mid_sums
    assert len(sums) > 1_000
    assert abs(statistics.mean(sums) - 1.0) < 0.005
    within = sum(1 for x in sums if abs(x - 1.0) <= 0.03) / len(sums)
    assert within > 0.95, within


def test_neg_risk_yes_mids_sum_to_one(long_run: RunStats) -> None:
    sums = long_run.event_mid_sums
    assert len(sums) > 100
    assert abs(statistics.mean(sums) - 1.0) < 0.01
    assert all(0.85 < x < 1.15 for x in sums), (min(sums), max(sums))


def test_transient_mispricings_occur(long_run: RunStats) -> None:
    eps, ev = long_run.episodes, long_run.event_episodes
    print(
        f"\nYES ask + NO ask < 1: {len(eps)} spells, median {statistics.median(eps):.1f} s, "
        f"max {max(eps):.1f} s; neg-risk YES asks < 1: {len(ev)} spells"
    )
    assert len(eps) >= 10
    assert statistics.median(eps) < 15.0  # transient: seconds, not minutes
    assert len(ev) >= 1


def test_resolutions_pay_one_winner_and_universe_stays_constant(long_run: RunStats) -> None:
    s = long_run
    assert len(s.resolutions) >= 8
    for r in s.resolutions:
        (yes_id, yes_pay), (no_id, no_pay) = r.payouts
        assert yes_id.endswith("-Y") and no_id.endswith("-N")
        assert {yes_pay, no_pay} == {0, MICRO}
    assert s.event_winners and all(w == 1 for w in s.event_winners.values())
    # listed-and-unresolved markets: 6 binary + 4 outcome markets, replaced as they resolve
    assert s.live_counts == {10}


def test_tick_size_changes_follow_polymarket_rule(long_run: RunStats) -> None:
    assert long_run.tick_changes
    changed = {(c.ts, c.instrument_id) for c, _ in long_run.tick_changes}
    for change, yes_mid in long_run.tick_changes:
        assert yes_mid is not None and not 40_000 <= yes_mid <= 960_000, yes_mid
        market = change.instrument_id[:-2]
        assert {(change.ts, market + "-Y"), (change.ts, market + "-N")} <= changed  # both tokens


def test_sim_internal_books_consistent(long_run: RunStats) -> None:
    feed = long_run.feed
    assert feed is not None
    groups = feed._venue.groups  # white-box: the simulator's own queues and maker orders
    assert groups
    for g in groups.values():
        for tok in g.tokens():
            tok.book.check(tok.makers)


# ---------------------------------------------------------------------------- performance
def test_throughput_fifty_markets_reported() -> None:
    cfg = SimConfig(markets=50)
    feed = SimFeed(cfg, seed=1, start_ts=START, duration_s=60.0)
    it = feed.iter_batches()
    n_first = len(next(it))
    t0 = time.process_time()
    n = sum(len(b) for b in it)
    dt = time.process_time() - t0
    assert n_first == 51 + 2 * (50 + 4)  # listings + snapshots
    assert n > 10_000
    print(f"\nsim 50 markets: {n} events in {dt:.2f} s CPU = {n / dt:,.0f} events/s")


# ---------------------------------------------------------------------------- adopt / restart
def test_adopt_carries_markets_over() -> None:
    cfg_a = SimConfig(markets=3, neg_risk_events=1, outcomes_per_event=3,
                      lifetime_min_s=7200, lifetime_max_s=7200)  # fmt: skip
    feed_a = SimFeed(cfg_a, seed=5, start_ts=START, duration_s=600)
    store = BookStore()
    for batch in feed_a.iter_batches():
        for e in batch:
            if isinstance(e, BookSnapshot):
                store.apply_snapshot(e)
            elif isinstance(e, BookDelta):
                store.apply_delta(e)
    carried = feed_a.instruments()
    assert len(carried) == 2 * (3 + 3)
    mids = {i.instrument_id: store.get(i.instrument_id).mid() for i in carried}
    assert all(m is not None for m in mids.values())
    binary = sorted({i.market_id for i in carried if not i.event_id})
    overdue = binary[0]
    start_b = START + 600
    carried = [
        dataclasses.replace(i, end_ts=start_b - 100) if i.market_id == overdue else i
        for i in carried
    ]

    cfg_b = SimConfig(markets=4, neg_risk_events=1, outcomes_per_event=3)
    feed_b = SimFeed(cfg_b, seed=99, start_ts=start_b, duration_s=120)
    feed_b.adopt(carried, mids)  # type: ignore[arg-type]
    batches = list(feed_b.iter_batches())
    with pytest.raises(RuntimeError):
        feed_b.adopt(carried, mids)  # type: ignore[arg-type]
    first = batches[0]
    listed = [i for e in first if isinstance(e, MarketListed) for i in e.instruments]
    assert set(carried) <= set(listed)  # same ids, ticks, fees, end times
    new = [i for i in listed if i not in carried]
    assert len(new) == 2 and {i.market_id for i in new}.isdisjoint(binary)
    snaps = {e.instrument_id: e for e in first if isinstance(e, BookSnapshot)}
    for inst in carried:
        book = BookStore().apply_snapshot(snaps[inst.instrument_id])
        assert abs(book.mid() - mids[inst.instrument_id]) < 60_000, inst.instrument_id  # type: ignore[operator]
    events = [e for b in batches for e in b]
    closes = [e for e in events if isinstance(e, MarketStatus) and e.market_id == overdue]
    resolved = [e for e in events if isinstance(e, MarketResolved) and e.market_id == overdue]
    assert len(closes) == 1 and closes[0].ts <= start_b + cfg_b.overdue_resolve_s
    assert len(resolved) == 1 and resolved[0].ts >= closes[0].ts
    assert sorted(p for _, p in resolved[0].payouts) == [0, MICRO]


def test_async_batches_match_sync_and_close_stops() -> None:
    cfg = SimConfig(markets=3, neg_risk_events=0)
    sync = [e for b in SimFeed(cfg, seed=2, start_ts=START, duration_s=30).iter_batches()
            for e in b]  # fmt: skip

    async def collect(stop_after: int | None) -> list[MarketEvent]:
        feed = SimFeed(cfg, seed=2, start_ts=START, duration_s=30)
        out: list[MarketEvent] = []
        n = 0
        async for batch in feed.batches():
            out.extend(batch)
            n += 1
            if stop_after is not None and n == stop_after:
                await feed.close()
        return out

    assert asyncio.run(collect(None)) == sync
    stopped = asyncio.run(collect(3))
    assert 0 < len(stopped) < len(sync) and stopped == sync[: len(stopped)]


# ---------------------------------------------------------------------------- book and latent
class _Owner:
    def __init__(self) -> None:
        self.own: tuple[dict[int, int], dict[int, int]] = ({}, {})


def test_take_fills_fifo_and_emits_prints_then_delta() -> None:
    book = SimBook(10_000)
    a, b = _Owner(), _Owner()
    changes: list = []
    book.requote(a, {480_000: 10 * MICRO}, {520_000: 10 * MICRO, 530_000: 50 * MICRO}, changes)
    book.requote(b, {470_000: 5 * MICRO}, {520_000: 20 * MICRO}, changes)
    out: list[MarketEvent] = []
    hit: list = []
    filled = book.take(1.0, "T", True, 530_000, 35 * MICRO, out, hit)
    assert filled == 35 * MICRO
    assert [type(e) for e in out] == [TradePrint, TradePrint, BookDelta]
    assert (out[0].price, out[0].size, out[0].aggressor) == (520_000, 30 * MICRO, Side.BUY)  # type: ignore[union-attr]
    assert (out[1].price, out[1].size) == (530_000, 5 * MICRO)  # type: ignore[union-attr]
    assert out[2].changes == ((Side.SELL, 520_000, 0), (Side.SELL, 530_000, 45 * MICRO))  # type: ignore[union-attr]
    assert hit == [a, b, a]  # time priority at 520_000: a first
    assert a.own[ASK] == {530_000: 45 * MICRO} and b.own[ASK] == {}
    book.check([a, b])


def test_requote_is_post_only_and_shift_keeps_book_uncrossed() -> None:
    book = SimBook(10_000)
    a, b = _Owner(), _Owner()
    changes: list = []
    book.requote(a, {480_000: 10 * MICRO}, {500_000: 10 * MICRO}, changes)
    # b wants to bid above a's ask: it is placed one tick below a's ask instead
    book.requote(b, {520_000: 7 * MICRO, 510_000: 3 * MICRO}, {560_000: 5 * MICRO}, changes)
    assert b.own[BID] == {490_000: 10 * MICRO}
    assert book.best_bid() == 490_000 and book.best_ask() == 500_000
    changes = book.shift_down(30_000)
    assert book.best_bid() == 460_000 and book.best_ask() == 470_000
    assert (Side.BUY, 490_000, 0) in changes and (Side.SELL, 470_000, 10 * MICRO) in changes
    book.check([a, b])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),  # owner
            st.integers(0, 3),  # action: requote, take buy, take sell, resize
            st.integers(5, 95),  # price in cents
            st.integers(1, 400),  # size in shares
        ),
        min_size=1,
        max_size=40,
    )
)
def test_sim_book_invariants_property(ops: list[tuple[int, int, int, int]]) -> None:
    book = SimBook(10_000)
    owners = [_Owner(), _Owner(), _Owner()]
    for who, action, cents, shares in ops:
        owner = owners[who]
        price = cents * 10_000
        size = shares * MICRO
        if action == 0:
            bids = {max(10_000, price - 10_000 * k): size for k in range(1, 3)}
            asks = {min(990_000, price + 10_000 * k): size for k in range(0, 2)}
            book.requote(owner, bids, asks, [])
        elif action in (1, 2):
            out: list[MarketEvent] = []
            buy = action == 1
            before = book.best_ask() if buy else book.best_bid()
            filled = book.take(0.0, "T", buy, price, size, out, [])
            assert filled == sum(e.size for e in out if isinstance(e, TradePrint))
            if filled:
                assert isinstance(out[-1], BookDelta) and out[0].price == before  # type: ignore[union-attr]
        else:
            side = BID if shares % 2 else ASK
            if owner.own[side]:
                p = next(iter(owner.own[side]))
                book.set_order(owner, side, p, (shares % 3) * MICRO)
        book.check(owners)


def test_latent_converges_to_hidden_winner_and_information_integrates() -> None:
    rand = RandomBlocks(1)
    wins = 0
    for _ in range(200):
        lat = Latent([0.3, 0.7], rand)
        lat.inform(40.0, rand)
        assert abs(sum(lat.p) - 1.0) < 1e-9
        assert lat.p[lat.winner] > 0.9
        wins += lat.winner == 0
    assert 35 <= wins <= 85  # drawn from the prior (expected 60)
    event = Latent([0.1, 0.2, 0.3, 0.4], rand)
    event.inform(0.5, rand)
    assert abs(sum(event.p) - 1.0) < 1e-9 and len(event.p) == 4
    # the end-game rate integrates to strength * ln((window + tau) / tau)
    total = sum(information(1.0, 900.0 - t - 1.0, 0.0, 900.0, 2.0, 15.0) for t in range(900))
    assert total == pytest.approx(2.0 * math.log(915.0 / 15.0), rel=1e-9)
    assert information(10.0, 5000.0, 1e-4, 900.0, 2.0, 15.0) == pytest.approx(1e-3)


def test_initial_markets_ending_soon_resolve_early() -> None:
    cfg = SimConfig(markets=8, neg_risk_events=0, initial_ending_soon=3, initial_ending_soon_s=60)
    feed = SimFeed(cfg, seed=2, start_ts=0.0, duration_s=70.0)
    resolved = [
        ev for batch in feed.iter_batches() for ev in batch if isinstance(ev, MarketResolved)
    ]
    assert len(resolved) == 3
    cfg0 = SimConfig(markets=8, neg_risk_events=0, initial_ending_soon=0)
    feed0 = SimFeed(cfg0, seed=2, start_ts=0.0, duration_s=70.0)
    assert not [ev for b in feed0.iter_batches() for ev in b if isinstance(ev, MarketResolved)]
