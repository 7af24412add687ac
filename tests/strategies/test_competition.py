"""A fixed-seed competition of the default field on the simulator: everyone trades, results differ."""

from __future__ import annotations

import yaml

from services.clock import SimClock
from services.execution.orders import Order, OrderStatus
from services.markets.sim import SimFeed
from services.money import LOT
from services.node import build_node
from services.persistence import NullSink
from services.strategies.loader import build_strategies
from tests.conftest import ROOT
from utils.config import parse_config

HOURS = 0.5


class _OrderRecorder(NullSink):
    """Keeps the last state of every order the engine stored."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: dict[int, Order] = {}

    def order(self, o: Order) -> None:
        self.orders[o.order_id] = o


def test_default_field_competes_and_results_differ() -> None:
    example = ROOT / "config.example.yaml"
    entries = yaml.safe_load(example.read_text(encoding="utf-8"))["strategies"]
    cfg = parse_config(
        {"strategies": entries, "market_data": {"sim": {"markets": 12, "neg_risk_events": 1}}},
        str(example),
    )
    strategies = build_strategies(cfg, str(example))
    assert len(strategies) == 6
    start = cfg.market_data.start_ts
    sink = _OrderRecorder()
    engine = build_node(cfg, strategies, sink, clock=SimClock(start), safety=False).engine
    engine.start()
    feed = SimFeed(cfg.market_data.sim, seed=7, start_ts=start, duration_s=HOURS * 3600)
    for batch in feed.iter_batches():
        engine.process_batch(batch)
    engine.finish()  # also checks every ledger
    rows = {r.strategy: r for r in engine.tracker.latest}
    assert set(rows) == {s.name for s in strategies}
    for name, row in rows.items():
        assert row.trades > 0, f"{name} never traded"
        assert engine.runners[name].errors == 0, f"{name} raised"
    returns = [round(r.return_pct, 4) for r in rows.values()]
    assert len(set(returns)) == len(returns)  # no two strategies end the same
    assert max(returns) > 0 > min(returns)  # some win, some lose
    kinds = {s.kind for s in strategies}
    assert kinds == {"market_making", "arbitrage", "directional"}
    # Every order any strategy sent: a reason, on the tick grid, on the lot grid, >= min size.
    orders = list(sink.orders.values())  # the exchange forgets finished orders; storage keeps them
    assert len(orders) > 100
    for o in orders:
        inst = engine.instruments[o.instrument_id]
        assert o.reason, o
        assert inst.on_grid(o.price), o
        assert o.size % LOT == 0 and o.size >= inst.min_size, o
    rejected = [o for o in orders if o.status is OrderStatus.REJECTED]
    assert len(rejected) <= len(orders) // 100, [o.reject_reason for o in rejected[:5]]
