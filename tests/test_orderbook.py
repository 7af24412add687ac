"""Tests for services/orderbook.py: snapshots, absolute-size deltas, queries vs a dict model."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.events import BookDelta, BookSnapshot
from services.instruments import Side
from services.orderbook import BookStore, OrderBook

FAST = settings(max_examples=150, deadline=None)

B, S = Side.BUY, Side.SELL

prices = st.integers(min_value=1, max_value=99).map(lambda n: n * 10_000)
sizes = st.integers(min_value=0, max_value=5).map(lambda n: n * 1_000_000)  # 0 removes
changes = st.tuples(st.sampled_from([B, S]), prices, sizes)
levels = st.lists(
    st.tuples(prices, st.integers(min_value=0, max_value=3).map(lambda n: n * 500_000)),
    max_size=8,
)


def check_against_model(book: OrderBook, model: dict[Side, dict[int, int]]) -> None:
    """Assert every query of ``book`` agrees with a plain dict model of the two sides."""
    bids, asks = model[B], model[S]
    assert book.bids == bids
    assert book.asks == asks
    assert book.best_bid() == (max(bids) if bids else None)
    assert book.best_ask() == (min(asks) if asks else None)
    assert book.best(B) == book.best_bid()
    assert book.best(S) == book.best_ask()
    assert list(book.levels(B)) == sorted(bids.items(), reverse=True)
    assert list(book.levels(S)) == sorted(asks.items())
    assert book.depth(B, 3) == sorted(bids.items(), reverse=True)[:3]
    assert book.depth(S, 3) == sorted(asks.items())[:3]
    assert book.total_size(B) == sum(bids.values())
    assert book.total_size(S) == sum(asks.values())
    assert all(s > 0 for s in list(bids.values()) + list(asks.values()))
    for p in range(10_000, 1_000_000, 10_000):
        assert book.size_at(B, p) == bids.get(p, 0)
        assert book.size_at(S, p) == asks.get(p, 0)
    if bids and asks:
        bb, ba = max(bids), min(asks)
        assert book.mid() == (bb + ba) // 2
        assert book.spread() == ba - bb
        assert book.is_crossed() == (bb >= ba)
    else:
        assert book.mid() is None
        assert book.spread() is None
        assert book.is_crossed() is False


def test_snapshot_replaces_book_and_ignores_zero_levels() -> None:
    book = OrderBook("t")
    book.apply_snapshot(((500_000, 10), (480_000, 5)), ((520_000, 7),), ts=1.0)
    book.apply_snapshot(
        ((470_000, 3), (490_000, 0), (450_000, 9)), ((530_000, 4), (510_000, 2)), ts=2.0
    )
    assert book.bids == {470_000: 3, 450_000: 9}
    assert book.asks == {530_000: 4, 510_000: 2}
    assert book.best_bid() == 470_000
    assert book.best_ask() == 510_000
    assert list(book.levels(B)) == [(470_000, 3), (450_000, 9)]
    assert list(book.levels(S)) == [(510_000, 2), (530_000, 4)]
    assert book.ts == 2.0
    assert book.updates == 2


def test_set_level_returns_previous_size_and_zero_removes() -> None:
    book = OrderBook("t")
    assert book.set_level(B, 500_000, 10) == 0
    assert book.set_level(B, 500_000, 25) == 10
    assert book.size_at(B, 500_000) == 25
    assert book.set_level(B, 500_000, 0) == 25
    assert book.best_bid() is None
    assert book.bids == {}
    assert book.set_level(B, 500_000, 0) == 0  # removing a missing level is a no-op
    assert book.bids == {}
    assert book._bid_px == []


def test_size_within_counts_only_marketable_levels() -> None:
    book = OrderBook("t")
    book.apply_snapshot(
        ((500_000, 1), (490_000, 2), (480_000, 4)), ((510_000, 10), (520_000, 20), (530_000, 40)), 0
    )
    assert book.size_within(S, 520_000) == 30
    assert book.size_within(S, 505_000) == 0
    assert book.size_within(S, 990_000) == 70
    assert book.size_within(B, 490_000) == 3
    assert book.size_within(B, 10_000) == 7


def test_store_applies_events_and_drops() -> None:
    store = BookStore()
    assert store.find("a") is None
    store.apply_snapshot(BookSnapshot(1.0, "a", ((400_000, 5),), ((600_000, 6),)))
    book = store.apply_delta(
        BookDelta(2.0, "a", ((B, 400_000, 0), (B, 410_000, 3), (S, 590_000, 1)))
    )
    assert store.find("a") is book
    assert book.bids == {410_000: 3}
    assert book.asks == {600_000: 6, 590_000: 1}
    assert book.best_ask() == 590_000
    assert book.ts == 2.0
    assert book.updates == 2
    assert len(store) == 1
    store.drop("a")
    assert store.find("a") is None
    assert len(store) == 0


@FAST
@given(levels, levels, st.lists(st.lists(changes, min_size=1, max_size=4), max_size=30))
def test_any_delta_sequence_matches_dict_model(
    snap_bids: list[tuple[int, int]],
    snap_asks: list[tuple[int, int]],
    deltas: list[list[tuple[Side, int, int]]],
) -> None:
    store = BookStore()
    store.apply_snapshot(BookSnapshot(0.0, "x", tuple(snap_bids), tuple(snap_asks)))
    model: dict[Side, dict[int, int]] = {B: {}, S: {}}
    for side, lv in ((B, snap_bids), (S, snap_asks)):
        for p, s in lv:  # size-0 levels are ignored; a later duplicate price wins
            if s > 0:
                model[side][p] = s
    book = store.get("x")
    check_against_model(book, model)
    for i, chg in enumerate(deltas, start=1):
        store.apply_delta(BookDelta(float(i), "x", tuple(chg)))
        for side, p, s in chg:
            if s > 0:
                model[side][p] = s
            else:
                model[side].pop(p, None)
        check_against_model(book, model)
        assert book.ts == float(i)
    assert book.updates == 1 + len(deltas)


@FAST
@given(st.lists(changes, max_size=40))
def test_set_level_previous_size_matches_model(chg: list[tuple[Side, int, int]]) -> None:
    book = OrderBook("x")
    model: dict[Side, dict[int, int]] = {B: {}, S: {}}
    for side, p, s in chg:
        assert book.set_level(side, p, s) == model[side].get(p, 0)
        if s > 0:
            model[side][p] = s
        else:
            model[side].pop(p, None)
    check_against_model(book, model)


def test_apply_changes_equals_set_level_level_by_level() -> None:
    """The engine's one-call delta path leaves the book and returns the old sizes exactly as
    ``set_level`` called per level does (random deltas, removals and re-adds included)."""

    rng = random.Random(18)
    fast, slow = OrderBook("x"), OrderBook("x")
    for _ in range(3000):
        changes = tuple(
            (
                rng.choice((Side.BUY, Side.SELL)),
                rng.randrange(1, 40) * 10_000,
                rng.choice((0, 0, rng.randrange(1, 5_000_000))),
            )
            for _ in range(rng.randrange(1, 6))
        )
        expected = [slow.set_level(side, p, size) for side, p, size in changes]
        assert fast.apply_changes(changes) == expected
        assert (fast.bids, fast.asks, fast._bid_px, fast._ask_px) == (
            slow.bids,
            slow.asks,
            slow._bid_px,
            slow._ask_px,
        )


def test_book_store_apply_delta_equals_set_level_level_by_level() -> None:
    """The feed's inlined delta path (no previous sizes collected) leaves every book as
    ``set_level`` called per level does, snapshots between deltas included."""
    from services.events import BookDelta, BookSnapshot
    from services.orderbook import BookStore

    rng = random.Random(19)
    store = BookStore()
    slow = {i: OrderBook(i) for i in ("a", "b")}
    for n in range(3000):
        iid = rng.choice(("a", "b"))
        if rng.random() < 0.02:
            bids = tuple((rng.randrange(1, 40) * 10_000, rng.randrange(0, 9)) for _ in range(5))
            asks = tuple((rng.randrange(1, 40) * 10_000, rng.randrange(0, 9)) for _ in range(5))
            store.apply_snapshot(BookSnapshot(float(n), iid, bids, asks))
            slow[iid].apply_snapshot(bids, asks, float(n))
            continue
        changes = tuple(
            (
                rng.choice((Side.BUY, Side.SELL)),
                rng.randrange(1, 40) * 10_000,
                rng.choice((0, 0, -1, rng.randrange(1, 5_000_000))),
            )
            for _ in range(rng.randrange(1, 6))
        )
        for side, p, size in changes:
            slow[iid].set_level(side, p, size)
        slow[iid].ts = float(n)
        slow[iid].updates += 1
        book = store.apply_delta(BookDelta(float(n), iid, changes))
        s = slow[iid]
        assert (book.bids, book.asks, book._bid_px, book._ask_px, book.ts, book.updates) == (
            s.bids,
            s.asks,
            s._bid_px,
            s._ask_px,
            s.ts,
            s.updates,
        )
