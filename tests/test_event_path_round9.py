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
from services.strategies.loader import build_strategies
from tests.conftest import ROOT
from tests.test_event_path_shortcuts import RowLog, _config, _run
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
    calls = {"n": 0}
    real = SimulatedExchange.on_delta

    def counted(self: SimulatedExchange, *a: Any, **kw: Any) -> None:
        calls["n"] += 1
        real(self, *a, **kw)

    monkeypatch.setattr(SimulatedExchange, "on_delta", counted)
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
