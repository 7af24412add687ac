"""Digests of the simulator's event stream, for pinning it across performance work (issue 18).

The simulator must give the same events (same values, same types, same batches, in the same
order) for a seed and config whatever is optimised inside it: users compare runs by seed, and
recorded results must reproduce. ``stream_digest`` hashes every batch boundary and the ``repr`` of
every event (a ``repr`` tells an int from a float and ``True`` from ``1``), then the instruments
listed at the end (current ticks). ``WORKLOADS`` cover the default field, another seed and a busy
config that exercises every action kind (jumps, dislocations, arbitrage, tick changes, periodic
snapshots, closes, resolutions and relistings, deep makers, events of five outcomes) and adopting
carried-over markets.

Used by ``tests/markets/test_sim_stream.py`` (expected digests computed on the code before the
simulator was optimised) and ``benchmarks/bench_sim.py`` (generation CPU, digest printed).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from services.events import BookDelta, BookSnapshot, MarketEvent
from services.markets.sim import SimConfig, SimFeed
from services.orderbook import BookStore

START = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def digest_batches(batches: Iterable[list[MarketEvent]]) -> tuple[str, int, int]:
    """Return (sha256 hex, batches, events) of a stream of batches."""
    h = hashlib.sha256()
    nb = ne = 0
    for batch in batches:
        nb += 1
        ne += len(batch)
        h.update(b"B%d\n" % len(batch))
        h.update("\n".join(map(repr, batch)).encode())
    return h.hexdigest(), nb, ne


def stream_digest(
    feed: Any, batches: Iterable[list[MarketEvent]] | None = None
) -> tuple[str, int, int]:
    """Digest ``feed``'s whole stream (``batches``, else ``feed.iter_batches()``), then its
    listed instruments at the end."""
    d, nb, ne = digest_batches(feed.iter_batches() if batches is None else batches)
    h = hashlib.sha256(d.encode())
    h.update(repr(sorted(feed.instruments(), key=lambda i: i.instrument_id)).encode())
    return h.hexdigest(), nb, ne


BUSY = SimConfig(
    markets=6,
    neg_risk_events=2,
    outcomes_per_event=5,
    fine_tick_share=0.3,
    lifetime_min_s=120.0,
    lifetime_max_s=400.0,
    resolution_delay_s=1.0,
    activity=1.5,
    jumps_per_hour=40.0,
    mispricing_rate_per_hour=120.0,
    arbitrage_visits_per_min=6.0,
    informed_trades_per_min=6.0,
    deep_maker=True,
    snapshot_interval_s=30.0,
    volatility_logodds_per_sqrt_hour=3.0,
    tick_change_low=0.2,
    tick_change_high=0.8,
)


def _adopted(seed: int, seconds: float, cls: Callable[..., Any] = SimFeed) -> Any:
    """A feed (of class ``cls``: ``SimFeed`` or ``ChildSimFeed``) that adopts the markets another
    feed left after 120 s (one made overdue), then runs ``seconds``."""
    cfg_a = SimConfig(markets=3, neg_risk_events=1, outcomes_per_event=3)
    feed_a = SimFeed(cfg_a, seed=seed, start_ts=START, duration_s=120)
    store = BookStore()
    for batch in feed_a.iter_batches():
        for e in batch:
            if isinstance(e, BookSnapshot):
                store.apply_snapshot(e)
            elif isinstance(e, BookDelta):
                store.apply_delta(e)
    carried = feed_a.instruments()
    mids: dict[str, int] = {}
    for i in carried:
        m = store.get(i.instrument_id).mid()
        if m is not None:
            mids[i.instrument_id] = m
    first_market = min(i.market_id for i in carried if not i.event_id)
    start_b = START + 120
    carried = [
        dataclasses.replace(i, end_ts=start_b - 50) if i.market_id == first_market else i
        for i in carried
    ]
    feed_b = cls(
        SimConfig(markets=4, neg_risk_events=1, outcomes_per_event=3),
        seed=seed + 1,
        start_ts=start_b,
        duration_s=seconds,
    )
    feed_b.adopt(carried, mids)
    return feed_b


WORKLOADS: dict[str, Callable[..., Any]] = {
    "default-seed7-240s": lambda cls=SimFeed: cls(
        SimConfig(), seed=7, start_ts=START, duration_s=240
    ),
    "default-seed11-120s": lambda cls=SimFeed: cls(
        SimConfig(), seed=11, start_ts=START, duration_s=120
    ),
    "busy-seed3-200s": lambda cls=SimFeed: cls(BUSY, seed=3, start_ts=START, duration_s=200),
    "adopted-seed5-300s": lambda cls=SimFeed: _adopted(5, 300, cls),
}
"""name -> factory of the workload's feed; the factory takes the feed class (``SimFeed`` by
default, or ``ChildSimFeed``: same parameters, same events)."""


def all_digests() -> dict[str, Any]:
    """Digest of every workload: name -> (sha256, batches, events)."""
    return {name: stream_digest(make()) for name, make in WORKLOADS.items()}


if __name__ == "__main__":
    for name, (d, nb, ne) in all_digests().items():
        print(f'    "{name}": ("{d}", {nb}, {ne}),')
