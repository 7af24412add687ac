"""The one node builder: every assembly has the whole risk chain, a restored bot included."""

from __future__ import annotations

from pathlib import Path

import pytest

from database import queries
from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.writer import DbWriter
from services.clock import SimClock
from services.events import BookSnapshot, MarketListed
from services.execution.orders import TimeInForce
from services.instruments import Side
from services.intents import Intent
from services.node import PAPER, build_node
from services.persistence import NullSink, Sink
from services.recovery import restore_node
from services.strategies.base import Strategy, StrategyParams
from tests.conftest import make_instrument, query
from utils.config import parse_config

CHAIN = [
    "trading_state",
    "trading_status",
    "data_guard",
    "store",
    "breaker",
    "price",
    "size",
    "post_only",
    "expiry",
    "self_cross",
    "funds",
    "zone",
    "max_order",
    "max_position",
    "max_exposure",
    "global_exposure",
    "max_open_positions",
    "max_daily_loss",
    "max_drawdown",
    "rate_limit",
]


class Idle(Strategy):
    """Never trades on its own."""

    kind = "market_making"


def _intent(strategy: str = "a") -> Intent:
    return Intent(strategy, "Y1", Side.BUY, 10_000_000, 450_000, TimeInForce.GTC, False, "t")


def test_a_restored_node_has_every_control_and_its_data_guard_works(tmp_path: Path) -> None:
    url = db_url_from_path(tmp_path / "bot.db")
    migrate(url)
    db = make_engine(url)
    sessions = make_session_factory(db)
    # A previous run left states behind (a tripped breaker list, a kill switch at rest).
    with sessions.begin() as s:
        queries.set_state(s, "kill_switch", {"state": "ACTIVE"}, ts=1.0)
        queries.set_state(s, "breakers", [], ts=1.0)
    cfg = parse_config({"strategies": [{"name": "a", "class": "MarketMaker"}]}, "c.yaml")
    writer = DbWriter(sessions)
    writer.start()
    try:
        node, rep = restore_node(
            cfg, [Idle("a", StrategyParams())], Sink(writer), sessions, clock=SimClock(1_000.0)
        )
        names = [c.name for c in node.engine.risk.controls]
        assert names == CHAIN
        guard = next(c for c in node.engine.risk.controls if c.name == "data_guard")
        assert guard.guard is node.data_guard  # type: ignore[attr-defined]
        eng = node.engine
        yes = make_instrument("Y1", end_ts=9_000.0)
        no = make_instrument("N1", outcome="No", complement_id="Y1", end_ts=9_000.0)
        eng.handle(MarketListed(1_000.0, (yes, no)))
        eng.handle(BookSnapshot(1_000.0, "Y1", ((490_000, 10**9),), ((510_000, 10**9),)))
        eng.start()
        node.data_guard.allows_new_positions = False
        node.data_guard.status = "critical"
        assert eng.submit(_intent()) is None
        node.data_guard.allows_new_positions = True
        assert eng.submit(_intent()) is not None
        assert writer.flush(10)
    finally:
        writer.stop(10)
        db.dispose()
    rows = query(tmp_path / "bot.db", "SELECT message FROM events WHERE kind = 'risk_rejection'")
    assert any("data pipeline is critical: no new positions" in m for (m,) in rows)


def test_every_builder_assembly_routes_strategies_and_gives_each_its_capital() -> None:
    cfg = parse_config(
        {
            "competition": {"starting_capital_usd": 5000},
            "strategies": [
                {"name": "a", "class": "MarketMaker", "capital_usd": 250},
                {"name": "b", "class": "MarketMaker"},
            ],
        },
        "c.yaml",
    )
    node = build_node(cfg, [Idle("a", StrategyParams()), Idle("b", StrategyParams())], NullSink())
    assert node.engine.portfolio("a").starting_cash == 250_000_000
    assert node.engine.portfolio("b").starting_cash == 5_000_000_000
    assert node.engine.client_of("a").name == PAPER
    assert [c.name for c in node.engine.risk.controls] == CHAIN
    with pytest.raises(ValueError, match="unknown execution clients: live"):
        build_node(cfg, [Idle("a", StrategyParams())], NullSink(), routes={"a": "live"})


def test_the_engine_never_builds_or_reaches_into_the_paper_matcher() -> None:
    root = Path(__file__).resolve().parent.parent
    for rel in ("services/engine.py", "services/recovery.py", *_risk_files(root)):
        text = (root / rel).read_text()
        assert "SimulatedExchange" not in text, rel
        assert "exchange._" not in text, rel


def _risk_files(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in (root / "services" / "risk").glob("*.py")]
