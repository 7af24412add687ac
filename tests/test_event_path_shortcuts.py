"""The per-event path's shortcuts give what the full computation gives (issue 18).

Each shortcut of the engine's per-event path is compared here with the computation it replaces,
on data that exercises it (and each test checks that the shortcut was actually taken):

- ``Engine.process_batch`` handles events inline for a plain ``SimClock``, a delta's book
  update of one level too: the same rows as :meth:`Engine.handle` per event, and the same books
  and previous sizes as ``OrderBook.set_level`` level by level;
- strategy contexts read the clock, the books and the portfolio directly: the same values as
  the gateway's ``now()``, ``book()`` and ``portfolio()`` at every hook;
- the paper matcher skips ``_match_crossed`` when no resting order is crossed
  (``SimulatedExchange.skip_uncrossed``): the same rows as without the skip;
- the directional strategies' windows: :class:`SummedHistory` sums equal ``sum()``, and mean
  reversion signals the same with and without it; :class:`RangedHistory` ranges equal
  ``max()`` and ``min()``, and momentum signals the same with and without it;
- ``Portfolio.min_available_qty`` equals the smallest ``available_qty``.

The whole-run comparisons record every row the engine hands to storage, in order, with market
tops written every tick (``tops_write_interval_wall_s: 0``) so that no wall-clock timing enters.
"""

from __future__ import annotations

import hashlib
import random
import time
import types
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from services.bus import EventBus
from services.clock import SimClock
from services.engine import Engine
from services.events import BookDelta
from services.execution.client import ExecutionClient
from services.execution.orders import Order, OrderStatus
from services.execution.simulated import SimulatedExchange
from services.instruments import Side
from services.markets.sim import SimFeed
from services.node import build_node
from services.orderbook import BookStore
from services.persistence import NullSink, OpWriter, Sink
from services.portfolio import Portfolio
from services.strategies.base import StrategyContext
from services.strategies.directional import Market, RangedHistory, SummedHistory
from services.strategies.loader import build_strategies
from services.strategies.mean_reversion import MeanReversion, MeanReversionParams
from services.strategies.momentum import Momentum, MomentumParams
from tests.conftest import ROOT, make_instrument
from utils.config import AppConfig, load_config


class RowLog(OpWriter):
    """A storage writer that keeps every operation, in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, list[tuple[str, Any]]]] = []

    def op(self, kind: str, table: str, row: dict[str, Any]) -> None:
        self.rows.append((kind, table, sorted(row.items())))

    def count(self, table: str) -> int:
        return sum(1 for _, t, _ in self.rows if t == table)


def _config(markets: int = 10, **sim: Any) -> AppConfig:
    cfg = load_config(str(ROOT / "config.example.yaml"))
    md = cfg.market_data
    return cfg.model_copy(
        update={
            "competition": cfg.competition.model_copy(update={"tops_write_interval_wall_s": 0.0}),
            "market_data": md.model_copy(
                update={
                    "sim": md.sim.model_copy(
                        update={
                            "markets": markets,
                            "lifetime_min_s": 150.0,  # some markets resolve within the run
                            "lifetime_max_s": 500.0,
                            **sim,
                        }
                    )
                }
            ),
        }
    )


def _run(
    cfg: AppConfig,
    seconds: float,
    *,
    per_event: bool = False,
    clock: SimClock | None = None,
    before: Callable[[Engine], None] | None = None,
    seed: int = 5,
) -> tuple[RowLog, Engine]:
    log = RowLog()
    md = cfg.market_data
    node = build_node(
        cfg,
        build_strategies(cfg, str(ROOT / "config.example.yaml")),
        Sink(log),
        clock=clock if clock is not None else SimClock(md.start_ts),
    )
    eng = node.engine
    if before is not None:
        before(eng)
    eng.start()
    if node.safety is not None:
        node.safety.startup()
    for batch in SimFeed(
        md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds
    ).iter_batches():
        if per_event:
            for ev in batch:
                eng.handle(ev)
            eng.on_clock()
        else:
            eng.process_batch(batch)
    eng.finish()
    return log, eng


class _SubClock(SimClock):
    """A SimClock subclass: the engine handles its events through handle()."""


def test_inline_batch_handling_writes_what_handle_writes() -> None:
    cfg = _config(markets=6)
    inline, eng = _run(cfg, 400)
    assert eng._plain_clock is not None  # the inline path ran
    sub, eng_sub = _run(cfg, 400, clock=_SubClock(cfg.market_data.start_ts))
    assert eng_sub._plain_clock is None  # ... and this one went through handle()
    assert inline.count("fills") > 20 and inline.count("settlements") > 0
    assert inline.rows == sub.rows


def test_context_shortcuts_answer_what_the_gateway_answers() -> None:
    cfg = _config(markets=6)
    seen = {"n": 0}

    def check(eng: Engine) -> None:
        for r in eng.runners.values():
            ctx = r.ctx
            assert {"now", "book", "instrument"} <= set(vars(ctx))  # the shortcuts are bound
            for hook in ("on_book", "on_timer", "on_fill"):
                inner = getattr(r.strategy, hook)

                def wrapped(c: StrategyContext, *a: Any, _inner: Any = inner, _r: Any = r) -> Any:
                    assert c.now() == eng.now() == StrategyContext.now(c)
                    assert c.portfolio is eng.portfolio(_r.name)
                    for iid in [*list(eng.live)[:4], "not-an-instrument"]:
                        assert c.book(iid) is eng.book(iid)
                        assert c.instrument(iid) is eng.instrument(iid)
                        assert c.instrument(iid) is StrategyContext.instrument(c, iid)
                    seen["n"] += 1
                    return _inner(c, *a)

                setattr(r.strategy, hook, wrapped)
            # re-subscribe the wrapped on_book (the engine looks it up per event)

    log, eng = _run(cfg, 200, before=check)
    assert seen["n"] > 1000
    assert log.count("fills") > 0


def test_an_engine_that_answers_book_itself_gets_no_shortcut() -> None:
    class OwnBooks(Engine):
        def book(self, instrument_id: str) -> Any:
            return None

    cfg = _config(markets=2)
    node = build_node(cfg, build_strategies(cfg, "c.yaml"), Sink(RowLog()), clock=SimClock(0))
    eng = node.engine
    pf = Portfolio("x", 1_000_000)
    own = OwnBooks.__new__(OwnBooks)
    own.__dict__.update(eng.__dict__)
    ctx = own._context("mm_tight", pf)
    assert "book" not in vars(ctx) and ctx.book("anything") is None
    assert ctx.portfolio is own.portfolio("mm_tight") is not pf  # asks the gateway


def test_an_engine_that_answers_instrument_itself_gets_no_instrument_shortcut() -> None:
    class OwnInstruments(Engine):
        def instrument(self, instrument_id: str) -> Any:
            return "own"

    cfg = _config(markets=2)
    node = build_node(cfg, build_strategies(cfg, "c.yaml"), Sink(RowLog()), clock=SimClock(0))
    eng = node.engine
    eng.instruments["x"] = make_instrument()
    pf = Portfolio("x", 1_000_000)
    assert eng._context("mm_tight", pf).instrument("x") is eng.instruments["x"]
    own = OwnInstruments.__new__(OwnInstruments)
    own.__dict__.update(eng.__dict__)
    ctx = own._context("mm_tight", pf)
    assert "instrument" not in vars(ctx) and ctx.instrument("x") == "own"
    assert "book" in vars(ctx)  # the other shortcuts still apply


def test_a_book_store_that_answers_find_itself_keeps_its_method() -> None:
    class CountingStore(BookStore):
        calls = 0

        def find(self, instrument_id: str) -> Any:
            CountingStore.calls += 1
            return super().find(instrument_id)

    cfg = _config(markets=2)
    node = build_node(cfg, build_strategies(cfg, "c.yaml"), Sink(RowLog()), clock=SimClock(0))
    eng = node.engine
    pf = Portfolio("x", 1_000_000)
    plain = eng._context("mm_tight", pf)
    assert plain.book == eng.books._books.get  # the plain store: its dictionary's get
    eng.books = CountingStore()
    ctx = eng._context("mm_tight", pf)
    assert ctx.book("anything") is None and CountingStore.calls == 1


@pytest.mark.parametrize("latency_s", [0.0, 0.4])
def test_skipping_uncrossed_matches_writes_what_full_matching_writes(
    monkeypatch: pytest.MonkeyPatch, latency_s: float
) -> None:
    cfg = _config(markets=6)
    cfg = cfg.model_copy(
        update={"execution": cfg.execution.model_copy(update={"latency_ms": latency_s * 1000})}
    )
    calls = {"skipped": 0, "full": 0}
    real = SimulatedExchange._match_crossed

    def counted(self: SimulatedExchange, iid: str, book: Any) -> None:
        before = {id(o): (o.filled, o.queue_ahead) for o in self._resting.get(iid, ())}
        n = len(self._resting.get(iid, ()))
        real(self, iid, book)
        after = {id(o): (o.filled, o.queue_ahead) for o in self._resting.get(iid, ())}
        if n and before == after and len(self._resting.get(iid, ())) == n:
            calls["skipped"] += 1
        else:
            calls["full"] += 1

    monkeypatch.setattr(SimulatedExchange, "_match_crossed", counted)
    fast, eng = _run(cfg, 400)
    monkeypatch.setattr(SimulatedExchange, "skip_uncrossed", False)
    full, _ = _run(cfg, 400)
    assert calls["skipped"] > 1000 and calls["full"] > 20, calls
    reasons = [dict(r).get("fill_reason") for _, t, r in fast.rows if t == "fills"]
    assert reasons.count("maker_cross") > 5, reasons  # resting quotes the book crossed
    assert fast.rows == full.rows


def test_paused_market_maker_books_write_what_delivering_every_book_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.strategies.market_maker import MarketMaker

    # More markets than quoting slots (max_markets 8), and markets that end within the run (so
    # slots are given back and taken again).
    cfg = _config(markets=14)
    seen = {"paused": 0, "resumed": 0, "calls": 0}
    real_pause = Engine.pause_books
    real_on_book = MarketMaker.on_book

    def counting_pause(self: Engine, strategy: str, iids: Any, paused: bool) -> None:
        iids = list(iids)
        seen["paused" if paused else "resumed"] += len(iids)
        real_pause(self, strategy, iids, paused)

    def counting_on_book(self: MarketMaker, ctx: Any, book: Any) -> None:
        seen["calls"] += 1
        real_on_book(self, ctx, book)

    monkeypatch.setattr(Engine, "pause_books", counting_pause)
    monkeypatch.setattr(MarketMaker, "on_book", counting_on_book)
    paused, eng = _run(cfg, 500)
    calls_paused = seen["calls"]
    assert seen["paused"] > 10 and seen["resumed"] > 5, seen
    monkeypatch.setattr(MarketMaker, "pause_idle_books", False)
    seen["calls"] = 0
    every, _ = _run(cfg, 500)
    assert seen["calls"] > 2 * calls_paused  # the pauses saved most calls ...
    assert paused.count("orders") > 50 and paused.count("fills") > 5
    assert paused.rows == every.rows  # ... and changed nothing


def _order(oid: int, side: Side, price: int, size: int = 10_000_000) -> Order:
    return Order(oid, "s", "Y1", side, price, size, status=OrderStatus.OPEN, created_ts=oid)


def test_skip_check_agrees_with_the_full_match_on_random_books() -> None:
    """The pre-check's crossing test against the loop's, order by order, on random books."""
    from services.orderbook import OrderBook

    rng = random.Random(3)
    inst = make_instrument("Y1")
    fired = {"skip": 0, "match": 0}
    for _ in range(3000):
        book = OrderBook("Y1")
        mid = rng.randrange(20, 80) * 10_000
        # Crossed books too: the bid may sit at or above the ask.
        top_bid = mid - rng.randrange(-1, 3) * 10_000
        bids = [(top_bid - k * 10_000, rng.randrange(1, 50) * 1_000_000) for k in range(3)]
        asks = [(mid + k * 10_000, rng.randrange(1, 50) * 1_000_000) for k in range(1, 4)]
        if rng.random() < 0.2:
            bids = []
        if rng.random() < 0.2:
            asks = []
        book.apply_snapshot(tuple(bids), tuple(asks), 0.0)
        orders = [
            _order(
                k + 1,
                rng.choice([Side.BUY, Side.SELL]),
                mid + rng.randrange(-4, 5) * 10_000,
            )
            for k in range(rng.randrange(1, 4))
        ]
        if rng.random() < 0.1:
            orders[0].status = OrderStatus.CANCELLED
        results = []
        for skip in (True, False):
            ex = _CountingExchange(_Books(book), {"Y1": inst}, _Quiet(), lambda: 1)
            ex.skip_uncrossed = skip
            copies = [replace(o, extra={}) for o in orders]
            ex._resting["Y1"] = copies
            ex._match_crossed("Y1", book)
            results.append(
                (
                    [(o.order_id, o.filled, o.status, o.queue_ahead) for o in copies],
                    [o.order_id for o in ex._resting.get("Y1", [])],
                    ex._cross_credit,
                    {k: dict(v) for k, v in ex._consumed.get("Y1", {}).items()},
                )
            )
            if skip and (bids or asks):
                fired["match" if ex.pruned else "skip"] += 1
        assert results[0] == results[1]
    assert fired["skip"] > 500 and fired["match"] > 500


class _CountingExchange(SimulatedExchange):
    pruned = 0

    def _prune(self, iid: str) -> None:
        self.pruned += 1
        super()._prune(iid)


class _Books:
    def __init__(self, book: Any) -> None:
        self.book = book

    def find(self, iid: str) -> Any:
        return self.book

    def get(self, iid: str) -> Any:
        return self.book


class _Quiet:
    def on_fill(self, order: Order, fill: Any) -> None:
        pass

    def on_order_update(self, order: Order) -> None:
        pass


# ---------------------------------------------------------------- windows of the directional


def test_summed_history_sums_equal_summing() -> None:
    rng = random.Random(11)
    for maxlen in (1, 2, 3, 7, 300):
        h = SummedHistory(maxlen)
        for step in range(3000):
            r = rng.random()
            if r < 0.9:
                h.append(rng.randrange(0, 1_000_000))
            elif r < 0.92:
                h.appendleft(rng.randrange(0, 1_000_000))
            elif r < 0.94 and h:
                h.popleft()
            elif r < 0.95:
                h.extend([rng.randrange(0, 1_000_000) for _ in range(3)])
            elif r < 0.96 and h:
                h[rng.randrange(len(h))] = rng.randrange(0, 1_000_000)
            elif r < 0.965:
                h.clear()
            elif r < 0.97:
                h.append(0.5)  # type: ignore[arg-type]  # not an int: sums() sums again
            if step % 500 == 0:
                h = SummedHistory(maxlen)  # fresh windows stay on the fast path for a while
            total, total_sq = h.sums()
            assert total == sum(h) and type(total) is type(sum(h))
            assert total_sq == sum(x * x for x in h)
    fast = SummedHistory(5)
    for x in range(20):
        fast.append(x * 7)
    assert fast._exact and fast.sums() == (sum(fast), sum(x * x for x in fast))


def test_mean_reversion_signals_alike_with_summed_and_plain_windows() -> None:
    params = MeanReversionParams(window_s=60, sample_interval_s=1, entry_z=1.5, exit_z=0.2)
    strat = MeanReversion("mr", params)
    inst = make_instrument("Y1")

    class Ctx:
        def instrument(self, iid: str) -> Any:
            return inst

    rng = random.Random(2)
    summed = Market("M1", "Y1", "N1", strat.history_len(), summed=True)
    plain = Market("M1", "Y1", "N1", strat.history_len())
    assert isinstance(summed.hist, SummedHistory) and type(plain.hist) is deque
    mid = 500_000
    entries = 0
    for _ in range(5000):
        mid = min(990_000, max(10_000, mid + rng.choice([-2, -1, 0, 0, 0, 1, 2]) * 5_000))
        if rng.random() < 0.01:
            mid += rng.choice([-1, 1]) * 60_000
        a = strat.signal(Ctx(), summed, mid, 0.0)  # type: ignore[arg-type]
        b = strat.signal(Ctx(), plain, mid, 0.0)  # type: ignore[arg-type]
        assert a == b
        assert summed.state == plain.state
        entries += a is not None
        summed.hist.append(mid)
        plain.hist.append(mid)
    assert entries > 20
    assert summed.hist._exact  # type: ignore[attr-defined]


def test_ranged_history_range_equals_max_and_min() -> None:
    rng = random.Random(12)
    fast_reads = 0
    for maxlen in (1, 2, 3, 7, 60):
        h = RangedHistory(maxlen)
        for step in range(3000):
            r = rng.random()
            if r < 0.985:
                # Few distinct values: the value leaving is often the high or the low (a tie).
                h.append(rng.randrange(0, 12) * 10_000)
            elif r < 0.988:
                h.appendleft(rng.randrange(0, 1_000_000))
            elif r < 0.991 and h:
                h.pop()
            elif r < 0.993:
                h.extend([rng.randrange(0, 1_000_000) for _ in range(3)])
            elif r < 0.996 and h:
                h[rng.randrange(len(h))] = rng.randrange(0, 1_000_000)
            elif r < 0.998:
                h.clear()
            else:
                h.append(0.5)  # type: ignore[arg-type]  # not an int: range() scans again
            if step % 100 == 0:
                h = RangedHistory(maxlen)  # fresh windows stay on the fast path for a while
            if h:
                fast_reads += h._exact
                assert h.range() == (max(h), min(h))
    assert fast_reads > 3000  # most reads were answered from the running range


def test_momentum_signals_alike_with_ranged_and_plain_windows() -> None:
    params = MomentumParams(lookback_s=30, sample_interval_s=1, breakout_ticks=2)
    strat = Momentum("mo", params)
    inst = make_instrument("Y1")

    class Ctx:
        def instrument(self, iid: str) -> Any:
            return inst

    rng = random.Random(3)
    ranged = Market("M1", "Y1", "N1", strat.history_len(), ranged=True)
    plain = Market("M1", "Y1", "N1", strat.history_len())
    assert isinstance(ranged.hist, RangedHistory) and type(plain.hist) is deque
    built = Market("M1", "Y1", "N1", strat.history_len(), ranged=strat.ranged_history)
    assert isinstance(built.hist, RangedHistory)  # what the strategy itself builds
    mid = 500_000
    entries = 0
    for _ in range(5000):
        mid = min(990_000, max(10_000, mid + rng.choice([-2, -1, 0, 0, 0, 1, 2]) * 10_000))
        if rng.random() < 0.02:
            mid += rng.choice([-1, 1]) * 60_000
        a = strat.signal(Ctx(), ranged, mid, 0.0)  # type: ignore[arg-type]
        b = strat.signal(Ctx(), plain, mid, 0.0)  # type: ignore[arg-type]
        assert a == b
        assert ranged.state == plain.state
        entries += a is not None
        ranged.hist.append(mid)
        plain.hist.append(mid)
    assert entries > 50
    assert ranged.hist._exact  # type: ignore[attr-defined]


def test_min_available_qty_equals_the_smallest_available_qty() -> None:
    from services.execution.orders import Fill

    rng = random.Random(4)
    insts = [make_instrument(f"I{k}", complement_id=None) for k in range(4)]
    pf = Portfolio("s", 10**12)
    for step in range(400):
        inst = rng.choice(insts)
        oid = step + 1
        if rng.random() < 0.6:
            size = rng.randrange(5, 50) * 1_000_000
            pf.apply_fill(
                Fill(oid, oid, "s", inst.instrument_id, Side.BUY, 400_000, size, 0, "taker", step),
                inst,
            )
        else:
            have = pf.available_qty(inst.instrument_id)
            if have >= 5_000_000:
                o = Order(
                    oid, "s", inst.instrument_id, Side.SELL, 600_000, have // 2 // 10_000 * 10_000
                )
                pf.reserve(o, inst)
                if rng.random() < 0.5:
                    pf.release(o)
        for k in range(1, 5):
            subset = rng.sample(insts, k)
            assert pf.min_available_qty(subset) == min(
                pf.available_qty(i.instrument_id) for i in subset
            )
    assert any(pf.reserved_shares.values())
    with pytest.raises(ValueError):
        pf.min_available_qty([])


def _state(pf: Portfolio) -> Any:
    return (
        pf.cash,
        pf.reserved_cash,
        dict(pf.reserved_shares),
        {k: (p.qty, p.cost_basis, p.fees) for k, p in pf.positions.items()},
        pf.short_liability,
    )


def test_portfolio_version_moves_with_every_change() -> None:
    """Whatever changes positions, reservations or cash bumps ``Portfolio.version``."""
    from services.events import VOID_PAYOUT
    from services.execution.orders import Fill

    rng = random.Random(9)
    insts = [make_instrument(f"I{k}", market_id=f"M{k}", complement_id=None) for k in range(3)]
    pf = Portfolio("s", 10**12)
    open_orders: list[Order] = []
    changes = 0
    for step in range(3000):
        before, version = _state(pf), pf.version
        inst = rng.choice(insts)
        iid = inst.instrument_id
        r = rng.random()
        if r < 0.35:
            side = Side.BUY if rng.random() < 0.7 else Side.SELL
            size = rng.randrange(1, 30) * 1_000_000
            if side is Side.SELL:
                size = min(size, pf.available_qty(iid))
            if size > 0:
                fill = Fill(step, step, "s", iid, side, 300_000, size, 1_000, "taker", step)
                pf.apply_fill(fill, inst)
        elif r < 0.6:
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            size = 5_000_000 if side is Side.BUY else pf.available_qty(iid) // 2
            if size > 0:
                o = Order(step, "s", iid, side, 500_000, size)
                pf.reserve(o, inst)
                open_orders.append(o)
        elif r < 0.8 and open_orders:
            pf.release(open_orders.pop(rng.randrange(len(open_orders))))
        elif r < 0.85:
            pf.settle(iid, rng.choice([0, 1_000_000]), step, step)
        elif r < 0.9:
            pf.reduce_odds(iid, rng.randrange(500_000, 1_000_000))
        elif r < 0.95:
            pf.apply_commission(rng.randrange(0, 1000))
        else:
            pf.settle(iid, VOID_PAYOUT, step, step)
        if _state(pf) != before:
            changes += 1
            assert pf.version != version, step
    assert changes > 1500


def test_cached_held_sets_write_what_computing_them_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.strategies.arbitrage import BundleArbitrage

    cfg = _config(markets=8)
    calls = {"n": 0}
    real = Portfolio.min_available_qty

    def counted(self: Portfolio, instruments: list[Any]) -> int:
        calls["n"] += 1
        return real(self, instruments)

    monkeypatch.setattr(Portfolio, "min_available_qty", counted)
    cached, _ = _run(cfg, 500)
    n_cached = calls["n"]
    monkeypatch.setattr(BundleArbitrage, "cache_held", False)
    calls["n"] = 0
    computed, _ = _run(cfg, 500)
    assert calls["n"] > 1000 and calls["n"] > 3 * n_cached, (calls, n_cached)
    assert cached.count("fills") > 20
    assert cached.rows == computed.rows


class _WatchingClient(ExecutionClient):
    """A market-data watching client that records what the engine hands it per delta."""

    watches_market_data = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list[int], tuple[Any, ...]]] = []

    def submit(self, order: Order, now: float) -> None:  # pragma: no cover - no strategies
        raise AssertionError("no orders here")

    def cancel(self, order: Order, now: float, reason: str) -> bool:  # pragma: no cover
        return False

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        return []

    def on_book_delta(self, ev: Any, book: Any, old_sizes: list[int], now: float) -> None:
        top = (book.best_bid(), book.best_ask(), book.ts, book.updates, now)
        self.seen.append((ev.instrument_id, list(old_sizes), top))


def _bare_engine(clock: SimClock) -> tuple[Engine, _WatchingClient]:
    cfg = load_config(str(ROOT / "config.example.yaml"))
    client = _WatchingClient()
    eng = Engine(
        cfg, clock, None, [], NullSink(),
        clients={"paper": client}, routes={}, capital={}, bus=EventBus(),
    )  # fmt: skip
    return eng, client


def _random_delta_batches(
    rng: random.Random,
    iids: list[str],
    n_batches: int,
    max_per_batch: int,
    steps: tuple[float, ...],
    single_p: float,
) -> list[list[BookDelta]]:
    """Random delta batches from 1,700,000,000 s on: one level with probability ``single_p``,
    else 2-5; adds, resizes and removals (also of absent levels) on a 0.01 ladder."""
    ts = 1_700_000_000.0
    batches: list[list[BookDelta]] = []
    for _ in range(n_batches):
        batch = []
        for _ in range(rng.randint(1, max_per_batch)):
            ts += rng.choice(steps)
            n = 1 if rng.random() < single_p else rng.randint(2, 5)
            changes = tuple(
                (
                    rng.choice((Side.BUY, Side.SELL)),
                    rng.randrange(1, 12) * 10_000,
                    0 if rng.random() < 0.35 else rng.randrange(1, 5) * 1_000_000,
                )
                for _ in range(n)
            )
            batch.append(BookDelta(ts, rng.choice(iids), changes))
        batches.append(batch)
    return batches


def test_inline_deltas_update_books_as_set_level_does() -> None:
    """The inline one-level book update (and the multi-level call) in ``process_batch`` leaves
    every book, level list and previous size as ``OrderBook.set_level`` level by level, and as
    ``handle()`` does, on random deltas (adds, resizes, removals, removals of absent levels)."""
    iids = ["a", "b", "c"]
    batches = _random_delta_batches(random.Random(18), iids, 400, 6, (0.0, 0.25, 1.0), 0.7)
    inline, seen_inline = _bare_engine(SimClock(1_700_000_000.0))
    per_event, seen_handle = _bare_engine(_SubClock(1_700_000_000.0))
    assert inline._plain_clock is not None and per_event._plain_clock is None
    ref = BookStore()
    expected: list[list[int]] = []
    singles = 0
    for batch in batches:
        inline.process_batch(batch)
        for ev in batch:
            per_event.handle(ev)
            book = ref.get(ev.instrument_id)
            expected.append([book.set_level(s, p, q) for s, p, q in ev.changes])
            singles += len(ev.changes) == 1
        per_event.on_clock()
        for iid in iids:
            got, want = inline.books.find(iid), ref.find(iid)
            if want is None:
                assert got is None
                continue
            assert got is not None
            assert (got.bids, got.asks) == (want.bids, want.asks)
            assert got._bid_px == sorted(want.bids) and got._ask_px == sorted(want.asks)
    assert [old for _, old, _ in seen_inline.seen] == expected
    assert seen_inline.seen == seen_handle.seen
    assert inline.events_processed == per_event.events_processed == len(expected)
    assert inline._changed_at == per_event._changed_at and inline._book_seq == len(expected)
    assert inline._tops_dirty == per_event._tops_dirty
    assert singles > 500 and len(expected) - singles > 200  # both paths ran


class _GatedClient(_WatchingClient):
    """A watching client that names what it watches (as the paper venue does): the engine tells
    it only of deltas on instruments with a non-empty entry in ``watch``."""

    def __init__(self) -> None:
        super().__init__()
        self.watch: dict[str, list[int]] = {}
        self.delta_watch = (self.watch,)


def test_untold_deltas_update_books_as_told_ones_do() -> None:
    """Deltas the gated client is not told of (the decision is taken before the book update;
    those of several levels go through ``BookStore.apply_delta``) leave every book, level list,
    time and update count as ``OrderBook.set_level`` level by level; the told ones hand the
    client the same previous sizes and tops as delivering every delta does."""
    rng = random.Random(81)
    iids = ["a", "b", "c", "d"]
    batches = _random_delta_batches(rng, iids, 300, 5, (0.0, 0.5, 1.0), 0.5)
    clock = SimClock(1_700_000_000.0)
    client = _GatedClient()
    eng = Engine(
        load_config(str(ROOT / "config.example.yaml")), clock, None, [], NullSink(),
        clients={"paper": client}, routes={}, capital={}, bus=EventBus(),
    )  # fmt: skip
    every, seen_every = _bare_engine(SimClock(1_700_000_000.0))
    ref = BookStore()
    told: list[tuple[str, list[int], tuple[Any, ...]]] = []
    untold_multi = 0
    for batch in batches:
        # The watch changes between batches (orders rest and leave), never inside one here.
        for iid in iids:
            client.watch[iid] = [1] if rng.random() < 0.4 else []
        eng.process_batch(batch)
        n0 = len(seen_every.seen)
        every.process_batch(batch)
        for k, ev in enumerate(batch):
            book = ref.get(ev.instrument_id)
            for s, p, q in ev.changes:
                book.set_level(s, p, q)
            book.ts = ev.ts
            book.updates += 1
            if client.watch[ev.instrument_id]:
                told.append(seen_every.seen[n0 + k])
            elif len(ev.changes) > 1:
                untold_multi += 1
        for iid in iids:
            got, want = eng.books.find(iid), ref.find(iid)
            assert (got is None) == (want is None)
            if got is None or want is None:
                continue
            assert (got.bids, got.asks, got.ts, got.updates) == (
                want.bids,
                want.asks,
                want.ts,
                want.updates,
            )
            assert got._bid_px == sorted(want.bids) and got._ask_px == sorted(want.asks)
    assert client.seen == told
    assert eng._changed_at == every._changed_at and eng._book_seq == every._book_seq
    assert untold_multi > 150 and len(told) > 150  # both branches ran


def _eager_write_tops(self: Engine, now: float, *, force_prices: bool = False) -> None:
    """``Engine._write_tops`` as it was before the mid was computed lazily (the reference): the
    mid of every changed top computed at once and kept with its row and price point."""
    written = self._top_written
    pending: Any = self._prices_pending  # the old row layouts, with the mid
    top_rows: Any = self._top_rows
    for iid in self._tops_dirty:
        book = self.books.find(iid)
        if book is None:
            continue
        bid, ask, mid = book.best_bid(), book.best_ask(), book.mid()
        last = self._last_trade.get(iid)
        top = (
            bid,
            ask,
            book.bids.get(bid) if bid else None,
            book.asks.get(ask) if ask else None,
            last,
        )
        if written.get(iid) != top:
            written[iid] = top
            top_rows[iid] = (top, mid, book.ts)
        pending[iid] = (book.ts, mid, last)
    self._tops_dirty.clear()
    if top_rows:
        wall = time.monotonic()
        if force_prices or wall >= self._tops_due_wall:
            self._tops_due_wall = wall + self.tops_wall_interval_s
            for iid, ((bid, ask, bid_size, ask_size, last), mid, ts) in top_rows.items():
                self.sink.top(
                    {
                        "instrument_id": iid,
                        "best_bid": bid,
                        "best_ask": ask,
                        "bid_size": bid_size,
                        "ask_size": ask_size,
                        "mid": mid,
                        "last_trade": last,
                        "updated_ts": ts,
                    }
                )
            top_rows.clear()
    if now < self._next_prices and not force_prices:
        return
    self._next_prices = now + self.cfg.competition.snapshot_interval_s
    for iid, (ts, mid, last) in pending.items():
        self.sink.price_point({"instrument_id": iid, "ts": ts, "mid": mid, "last_trade": last})
    pending.clear()


def test_lazy_top_mids_write_what_eager_mids_write() -> None:
    """Market-top rows and price points with the mid computed at the hand-over are those of
    the eager computation (the old ``_write_tops``), with one-sided books among them."""
    cfg = _config(markets=4)
    lazy, _ = _run(cfg, 150)

    def eager(eng: Engine) -> None:
        eng._write_tops = types.MethodType(_eager_write_tops, eng)  # type: ignore[method-assign]

    ref, _ = _run(cfg, 150, before=eager)
    tops = [r for r in lazy.rows if r[1] == "market_tops"]
    assert len(tops) > 300 and lazy.count("price_history") > 100
    assert lazy.rows == ref.rows
    # Random books, often one-sided or empty (no mid), written every few deltas.
    rng = random.Random(7)
    logs = []
    for write in (None, _eager_write_tops):
        log = RowLog()
        eng = Engine(
            load_config(str(ROOT / "config.example.yaml")), SimClock(1_700_000_000.0), None, [],
            Sink(log), clients={}, routes={}, capital={}, bus=EventBus(),
        )  # fmt: skip
        if write is not None:
            eng._write_tops = types.MethodType(write, eng)  # type: ignore[method-assign]
        rng.seed(7)
        ts = 1_700_000_000.0
        for _ in range(400):
            ts += 1.0
            eng.process_batch(
                [
                    BookDelta(
                        ts,
                        rng.choice("abc"),
                        ((rng.choice((Side.BUY, Side.SELL)), rng.randrange(1, 4) * 10_000,
                          rng.choice((0, 0, 1_000_000))),),
                    )
                    for _ in range(rng.randint(1, 3))
                ]
            )  # fmt: skip
            eng._write_tops(ts, force_prices=rng.random() < 0.5)
        logs.append(log)
    mids = [dict(r[2])["mid"] for r in logs[0].rows if r[1] == "market_tops"]
    assert mids.count(None) > 50 and len(mids) - mids.count(None) > 50
    assert logs[0].rows == logs[1].rows


class _CallMark(Engine):
    """An engine whose ``market_value`` calls ``mark`` per position (the plain path)."""

    def mark(self, iid: str) -> int | None:
        return Engine.mark(self, iid)


def test_inline_marks_value_as_calling_mark_does() -> None:
    """``Engine.market_value`` with ``Engine.mark`` inlined gives the values, the last known
    mids and the rows of calling ``mark`` for every position, at every clock tick."""
    cfg = _config(markets=6)
    seen: dict[str, list[Any]] = {"inline": [], "call": []}

    def watch(label: str, cls: type[Engine] | None) -> Callable[[Engine], None]:
        def before(eng: Engine) -> None:
            if cls is not None:
                eng.__class__ = cls

            def tick(now: float) -> None:
                vals = [eng.market_value(r.portfolio) for r in eng.runners.values()]
                seen[label].append((now, vals, dict(eng._last_mid)))

            eng.clock_listeners.append(tick)

        return before

    inline, eng = _run(cfg, 200, before=watch("inline", None))
    call, eng_call = _run(cfg, 200, before=watch("call", _CallMark))
    assert type(eng) is Engine and type(eng_call) is _CallMark
    assert seen["inline"] == seen["call"]
    held = sum(len(r.portfolio.positions) for r in eng.runners.values())
    assert held > 5 and len(seen["inline"]) > 150 and len(eng._last_mid) > 10
    assert inline.rows == call.rows


# The rows of the run below on the code before the eighth round's shortcuts (main at 1f5b5fe,
# every row's repr sorted, so the digest does not depend on the process's string-hash seed).
# The shortcuts must leave it as it is: change it only with a deliberate change of behaviour.
PLAIN_ROWS_SHA256 = "45c1111306018ff3528c3b5d8c785a8936e858dbc1c76faef4701cb80a197f2f"


def test_shortcuts_leave_the_rows_of_the_plain_code() -> None:
    """The default field (momentum and mean reversion given short windows so that every
    strategy trades within the run) writes the rows the code before the shortcuts wrote: the
    best bid and ask read from the book's price lists in the strategies and the paper venue,
    the told-first delta path, the lazy top mids and the inline marks all included."""
    cfg = _config(markets=8)
    quick = {
        "momentum": {"lookback_s": 20, "breakout_ticks": 1, "max_fee_rate": 0.1},
        "mean_reversion": {"window_s": 30, "entry_z": 1.5},
    }
    entries = []
    for e in cfg.strategies:
        params = quick.get(e.name)
        if params is not None:
            params = {**params, "max_hold_s": 60, "no_entry_before_end_s": 20}
            e = e.model_copy(update={"params": {**e.params, **params}})
        entries.append(e)
    log, _ = _run(cfg.model_copy(update={"strategies": entries}), 240)
    fills = Counter(dict(row)["strategy"] for _, t, row in log.rows if t == "fills")
    assert set(fills) == {s.name for s in cfg.strategies if s.enabled}  # every strategy traded
    digest = hashlib.sha256(repr(sorted(map(repr, log.rows))).encode()).hexdigest()
    assert digest == PLAIN_ROWS_SHA256
