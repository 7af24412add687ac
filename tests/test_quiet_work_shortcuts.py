"""Sixth round of issue 18: work skipped because it would change nothing gives what doing it gives.

- ``Engine.process_batch`` does not deliver a book delta to the paper venue when the venue has no
  resting order, no claim and no unmatched print on the instrument
  (``ExecutionClient.delta_watch``, ``Engine.skip_quiet_deltas``): the same rows as delivering
  every delta, and every delta the gate would skip leaves the venue's state unchanged when it is
  delivered anyway;
- ``DirectionalStrategy.on_timer`` looks for a position to adopt only when the portfolio holds
  one of the market's tokens: the same rows as looking on every sample (the old body is kept
  here as the reference).

The whole-run comparisons use the row log and configuration of
``tests/test_event_path_shortcuts.py`` (market tops written every tick, so no wall clock enters).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.engine import Engine
from services.execution.sim_client import SimulatedClient
from services.execution.simulated import SimulatedExchange
from tests.test_event_path_shortcuts import _config, _run


def _venue_state(ex: SimulatedExchange, iid: str) -> Any:
    """What a delta on ``iid`` could change in the venue (its clock aside)."""
    return (
        [(o.order_id, o.queue_ahead, o.filled, o.status) for o in ex._resting.get(iid, [])],
        copy.deepcopy(ex._consumed.get(iid)),
        copy.deepcopy(ex._traded.get(iid)),
        copy.deepcopy(ex._unexplained.get(iid)),
        dict(ex._cross_credit),
        list(ex._pending),
        sorted((k, o.status, o.filled) for k, o in ex.orders.items()),
    )


def count_venue_deltas(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the deltas delivered to the paper venue (``["n"]``; reset it between runs)."""
    calls = {"n": 0}
    real = SimulatedExchange.on_delta

    def counted(self: SimulatedExchange, *a: Any, **kw: Any) -> None:
        calls["n"] += 1
        real(self, *a, **kw)

    monkeypatch.setattr(SimulatedExchange, "on_delta", counted)
    return calls


def _quiet(client: SimulatedClient, iid: str) -> bool:
    watch = client.delta_watch
    assert watch is not None
    return not any(d.get(iid) for d in watch)


@pytest.mark.parametrize("latency_s", [0.0, 0.4])
def test_quiet_deltas_skipped_write_what_delivering_every_delta_writes(
    monkeypatch: pytest.MonkeyPatch, latency_s: float
) -> None:
    cfg = _config(markets=6)
    cfg = cfg.model_copy(
        update={"execution": cfg.execution.model_copy(update={"latency_ms": latency_s * 1000})}
    )
    calls = count_venue_deltas(monkeypatch)
    gated, eng = _run(cfg, 400)
    assert isinstance(eng._md_clients[0], SimulatedClient)
    delivered_gated = calls["n"]
    assert eng._plain_clock is not None
    monkeypatch.setattr(Engine, "skip_quiet_deltas", False)
    calls["n"] = 0
    every, _ = _run(cfg, 400)
    delivered_all = calls["n"]
    # Many deltas were skipped (with 6 markets the market makers quote on most), and many still
    # reached the venue.
    assert delivered_gated > 500 and delivered_all > 1.5 * delivered_gated, (
        delivered_gated,
        delivered_all,
    )
    assert gated.count("fills") > 20 and gated.count("orders") > 100
    assert gated.rows == every.rows


def test_every_delta_the_gate_skips_changes_nothing_at_the_venue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deliver every delta (no gate) and check, for each one the gate would have skipped, that
    the venue's state for that instrument, its orders, claims and timers did not move."""
    cfg = _config(markets=6)
    cfg = cfg.model_copy(
        update={"execution": cfg.execution.model_copy(update={"latency_ms": 200.0})}
    )
    seen = {"quiet": 0, "busy": 0}
    real = SimulatedExchange.on_delta
    clients: list[SimulatedClient] = []

    def checked(self: SimulatedExchange, ev: Any, book: Any, old: Any, now: Any = None) -> None:
        client = next(c for c in clients if c.matcher is self)
        iid = ev.instrument_id
        if _quiet(client, iid):
            seen["quiet"] += 1
            before = _venue_state(self, iid)
            real(self, ev, book, old, now)
            assert _venue_state(self, iid) == before, ev
        else:
            seen["busy"] += 1
            real(self, ev, book, old, now)

    def keep(eng: Engine) -> None:
        clients.extend(c for c in eng._md_clients if isinstance(c, SimulatedClient))

    monkeypatch.setattr(SimulatedExchange, "on_delta", checked)
    monkeypatch.setattr(Engine, "skip_quiet_deltas", False)
    log, _ = _run(cfg, 400, before=keep)
    assert clients
    assert seen["quiet"] > 2000 and seen["busy"] > 500, seen
    assert log.count("fills") > 20


def _reference_on_timer(self: Any, ctx: Any) -> None:
    """``DirectionalStrategy.on_timer`` as it was before the position pre-check (issue 18)."""
    now = ctx.now()
    n_held = sum(1 for m in self._markets.values() if m.held is not None)
    for m in self._markets.values():
        book = ctx.book(m.yes)
        if book is None:
            continue
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None or bid >= ask:
            continue
        mid = (bid + ask) // 2
        entry = self.signal(ctx, m, mid, now)
        m.hist.append(mid)
        if m.held is None and not self.orders.active(m.yes) and not self.orders.active(m.no):
            self._adopt(ctx, m, now)
        if m.held is not None:
            if self._manage(ctx, m, now):
                n_held -= 1
        elif (
            entry is not None
            and n_held < self.params.max_positions
            and now >= m.cool_until
            and self._enter(ctx, m, entry, now)
        ):
            n_held += 1


def test_directional_timer_adopts_as_before_the_position_precheck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``DirectionalStrategy.on_timer`` looks for a position to adopt only when the portfolio
    holds one of the market's tokens: the same rows as looking every sample. Every seventh timer
    call forgets the markets' held positions (as a restart does), so positions are adopted."""
    from services.strategies.directional import DirectionalStrategy

    cfg = _config(markets=8)
    seen = {"calls": 0, "adopted": 0, "timer": 0}
    real_adopt = DirectionalStrategy._adopt

    def counting_adopt(self: Any, ctx: Any, m: Any, now: float) -> None:
        was = m.held
        real_adopt(self, ctx, m, now)
        seen["calls"] += 1
        seen["adopted"] += was is None and m.held is not None

    def forgetful(impl: Any) -> Any:
        def on_timer(self: Any, ctx: Any) -> None:
            seen["timer"] += 1
            if seen["timer"] % 7 == 0:
                for m in self._markets.values():
                    m.held = None
            impl(self, ctx)

        return on_timer

    monkeypatch.setattr(DirectionalStrategy, "_adopt", counting_adopt)
    monkeypatch.setattr(DirectionalStrategy, "on_timer", forgetful(DirectionalStrategy.on_timer))
    fast, _ = _run(cfg, 400)
    fast_seen = dict(seen)
    monkeypatch.setattr(DirectionalStrategy, "on_timer", forgetful(_reference_on_timer))
    seen.update(calls=0, adopted=0, timer=0)
    ref, _ = _run(cfg, 400)
    assert fast_seen["adopted"] == seen["adopted"] > 3, (fast_seen, seen)
    # The pre-check saved most calls.
    assert 5 * fast_seen["calls"] < seen["calls"], (fast_seen, seen)
    entries = [r for _, t, r in fast.rows if t == "orders" and "favorite_longshot" in str(r)]
    assert len(entries) > 5, len(entries)
    assert fast.rows == ref.rows
