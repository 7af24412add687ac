"""Ninth round of issue 18: per-event shortcuts give what the plain computation gives.

- The paper venue keeps the instruments it may have work for in one ``WatchedInstruments``
  (``SimulatedExchange._watched``), and the engine tests membership instead of looking the
  instrument up in the three containers (``_resting``, ``_consumed``, ``_traded``). Between any
  two events it covers every instrument for which one of them holds a non-empty value, and a run
  writes the rows that the three-container gate writes, telling the venue of few more deltas.

The whole-run comparisons use the row log and configuration of
``tests/test_event_path_shortcuts.py`` (market tops written every tick, so no wall clock enters).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from services.clock import SimClock
from services.events import MarketEvent
from services.execution.client import WatchedInstruments
from services.execution.sim_client import SimulatedClient
from services.execution.simulated import SimulatedExchange
from services.markets.sim import SimFeed
from services.node import build_node
from services.persistence import Sink
from services.strategies.arbitrage import BundleArbitrage
from services.strategies.bundles import Bundle
from services.strategies.loader import build_strategies
from tests.conftest import ROOT, make_instrument
from tests.test_event_path_shortcuts import RowLog, _config, _run
from tests.test_quiet_work_shortcuts import count_venue_deltas
from utils.config import AppConfig


def _busy(ex: SimulatedExchange) -> set[str]:
    """The instruments for which the venue holds a non-empty resting list, claim or print."""
    return {
        iid
        for d in (ex._resting, ex._consumed, ex._traded)
        for iid, v in d.items()
        if v  # type: ignore[attr-defined]
    }


def _latency(cfg: AppConfig, latency_s: float) -> AppConfig:
    return cfg.model_copy(
        update={"execution": cfg.execution.model_copy(update={"latency_ms": latency_s * 1000})}
    )


@pytest.mark.parametrize("latency_s", [0.0, 0.3])
def test_watched_instruments_cover_every_instrument_with_venue_work(latency_s: float) -> None:
    """Before every event (where the engine's gate reads it) the watched set holds every
    instrument with a resting order, a claim or an unmatched print at the venue."""
    cfg = _latency(_config(markets=6), latency_s)
    md = cfg.market_data
    node = build_node(
        cfg,
        build_strategies(cfg, str(ROOT / "config.example.yaml")),
        Sink(RowLog()),
        clock=SimClock(md.start_ts),
    )
    eng = node.engine
    (client,) = eng._md_clients
    assert isinstance(client, SimulatedClient)
    ex = client.matcher
    assert client.delta_watch == (ex._watched,) and type(ex._watched) is WatchedInstruments
    seen = {"checks": 0, "busy": 0, "spare": 0}

    def checked(batch: list[MarketEvent]) -> Iterator[MarketEvent]:
        for ev in batch:
            busy = _busy(ex)
            missing = busy - set(ex._watched)
            assert not missing, (ev, missing)
            assert all(v is True for v in ex._watched.values())
            seen["checks"] += 1
            seen["busy"] += len(busy)
            seen["spare"] += len(ex._watched) - len(busy)
            yield ev

    eng.start()
    for batch in SimFeed(md.sim, seed=5, start_ts=md.start_ts, duration_s=400).iter_batches():
        eng.process_batch(checked(batch))
    eng.finish()
    assert seen["checks"] > 10_000 and seen["busy"] > 10_000, seen
    # A superset, but a close one: instruments leave it when a delivered delta finds nothing.
    assert seen["spare"] < 0.05 * seen["busy"], seen


@pytest.mark.parametrize("latency_s", [0.0, 0.4])
def test_watched_gate_writes_what_the_three_container_gate_writes(
    monkeypatch: pytest.MonkeyPatch, latency_s: float
) -> None:
    """The rows of a run gated on the watched set equal those of the gate before it (the venue's
    three containers looked up per delta), and the venue is told of few more deltas."""
    cfg = _latency(_config(markets=6), latency_s)
    calls = count_venue_deltas(monkeypatch)
    watched, eng = _run(cfg, 400)
    told_watched = calls["n"]
    assert isinstance(eng._md_clients[0], SimulatedClient)

    real_init = SimulatedClient.__init__

    def three_containers(self: SimulatedClient, *a: Any, **kw: Any) -> None:
        real_init(self, *a, **kw)
        m = self.matcher
        self.delta_watch = (m._resting, m._consumed, m._traded)

    monkeypatch.setattr(SimulatedClient, "__init__", three_containers)
    calls["n"] = 0
    three, eng3 = _run(cfg, 400)
    told_three = calls["n"]
    assert eng3._md_clients[0].delta_watch is not None
    assert len(eng3._md_clients[0].delta_watch) == 3
    assert watched.count("fills") > 20 and watched.count("orders") > 100
    assert watched.rows == three.rows
    assert told_three > 500 and told_three <= told_watched <= 1.03 * told_three, (
        told_three,
        told_watched,
    )


def test_bundle_cheap_flag_follows_its_asks() -> None:
    """``Bundle.cheap`` equals ``missing == 0 and ask_sum <= max_raw`` after every ask change
    (asks appear, move and vanish in random order), and the running sum is the asks' sum."""
    rng = random.Random(9)
    seen = {True: 0, False: 0}
    for _ in range(300):
        n = rng.randint(2, 4)
        legs = [make_instrument(f"L{k}") for k in range(n)]
        max_raw = rng.randrange(900_000, 1_000_001, 5_000)
        b = Bundle("k", legs, max_raw)
        assert b.cheap is False
        for _ in range(40):
            i = rng.randrange(n)
            ask = None if rng.random() < 0.15 else rng.randrange(1, 100) * 10_000
            b.set_ask(i, ask)
            asks = [a for a in b.asks if a is not None]
            assert b.missing == n - len(asks) and b.ask_sum == sum(asks)
            assert b.cheap == (len(asks) == n and sum(asks) <= max_raw), (b.asks, max_raw)
            seen[b.cheap] += 1
    assert seen[True] > 500 and seen[False] > 500, seen


def _plain_on_book(self: BundleArbitrage, ctx: Any, book: Any) -> None:
    """``BundleArbitrage.on_book`` before the ``cheap`` and ``holding`` flags (the reference)."""
    entries = self._leg_of.get(book.instrument_id)
    if not entries:
        return
    ask = book.best_ask()
    for b, i in entries:
        b.set_ask(i, ask)
        if b.dirty:
            self._reconcile(ctx, b)
            continue
        if b.missing == 0 and b.ask_sum <= self._max_raw:
            if b.armed:
                self._try_buy(ctx, b)
        else:
            b.armed = True
            if b.key in self._holding and self.params.sell_side:
                self._try_sell(ctx, b)


def test_arbitrage_flags_write_what_the_plain_book_hook_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Complement arbitrage reading its bundles' ``cheap`` and ``holding`` flags writes the rows
    of the plain computation; at every book update each flag equals what it stands for."""
    cfg = _latency(_config(markets=8), 0.0)
    real = BundleArbitrage.on_book
    seen = {"calls": 0, "cheap": 0, "holding": 0}

    def checked(self: BundleArbitrage, ctx: Any, book: Any) -> None:
        seen["calls"] += 1
        for b in self._bundles.values():
            assert b.holding == (b.key in self._holding), b.key
            assert b.cheap == (b.missing == 0 and b.ask_sum <= self._max_raw), b.key
            seen["cheap"] += b.cheap
            seen["holding"] += b.holding
        real(self, ctx, book)

    monkeypatch.setattr(BundleArbitrage, "on_book", checked)
    flags, _ = _run(cfg, 500)
    monkeypatch.setattr(BundleArbitrage, "on_book", _plain_on_book)
    plain, _ = _run(cfg, 500)
    arb = [r for _, t, r in flags.rows if t == "fills" and dict(r)["strategy"] == "complement_arb"]
    sides = {dict(r)["side"] for r in arb}
    assert len(sides) == 2, sides  # bought and sold bundles
    assert seen["calls"] > 10_000 and seen["cheap"] > 100 and seen["holding"] > 1000, seen
    assert flags.rows == plain.rows
