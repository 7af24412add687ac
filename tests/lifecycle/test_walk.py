"""A scripted walk through every stage with accelerated durations, on the simulator (paper
client) and the fake asynchronous venue (the "live" client): eligibility on the engine clock,
approval, routing with the stage's capital, the capital gate, and demotion on a breaker trip."""

from __future__ import annotations

from typing import Any

import pytest

from services.clock import SimClock
from services.events import BookSnapshot, MarketListed
from services.instruments import Side
from services.lifecycle.manager import LifecycleManager
from services.money import MICRO
from services.node import build_node
from services.persistence import Sink
from services.risk.actions import CommandError
from services.strategies.base import StrategyParams
from tests.conftest import make_instrument
from tests.execution.fake_async import fake_async
from tests.risk.conftest import T0, Idle, RecordingWriter, intent, make_config, px, sh

FAST = {"min_closed_bets": 2, "min_win_rate_pct": 50, "min_return_pct": 0, "max_drawdown_pct": 50}


def config(**over: Any) -> Any:
    stage = lambda cap, route, auto=False: {  # noqa: E731
        "capital_usd": cap,
        "min_days": 0.05,  # 72 minutes of event time
        "route": route,
        "auto_promote": auto,
        "promote_if": dict(FAST, min_sharpe=0.0) if route == "paper" else FAST,
    }
    d: dict[str, Any] = {
        "competition": {
            "returns_period": "hourly",
            "sharpe_min_returns": 3,
            "win_rate_min_bets": 2,
        },
        "breakers": {
            "consecutive_losses_by_kind": {"market_making": 2},
            "consecutive_losses_min_loss_pct": None,
        },
        "graduation": {
            "initial_stage": "backtest",
            "check_interval_s": 600,
            "sample_interval_s": 60,
            "reconcile_interval_s": 600,
            "stages": {
                "backtest": stage(10000, "paper", auto=True),
                "paper": stage(10000, "paper"),
                "micro": stage(50, "live"),
                "mini": stage(200, "live"),
                "full": stage(1000, "live"),
            },
        },
    }
    d.update(over)
    return make_config(d)


def rows_ts(w: Walk, stage: str) -> float:
    """Return the event time the strategy entered ``stage``."""
    return next(r["ts"] for r in w.writer.rows["stage_transitions"] if r["to_stage"] == stage)


class Walk:
    def __init__(self, cfg: Any, names: tuple[str, ...] = ("s1",), state: Any = None) -> None:
        self.clock = SimClock(T0)
        self.writer = RecordingWriter()
        self.live = fake_async()
        node = build_node(
            cfg,
            [Idle(n, StrategyParams()) for n in names],
            Sink(self.writer),
            clock=self.clock,
            extra_clients={"live": self.live},
            wall=lambda: 1000.0,
        )
        self.engine = node.engine
        assert node.safety is not None
        self.safety = node.safety
        yes = make_instrument("Y1", end_ts=T0 + 400 * 86400)
        no = make_instrument("N1", outcome="No", complement_id="Y1", end_ts=T0 + 400 * 86400)
        self.engine.handle(MarketListed(T0, (yes, no)))
        self.book(0.49, 0.51)
        self.engine.handle(BookSnapshot(T0, "N1", ((px(0.49), sh(5000)),), ((px(0.51), sh(5000)),)))
        self.engine.start()
        self.safety.startup()
        self.mgr = LifecycleManager(self.engine, self.safety, wall=lambda: 1000.0)
        self.mgr.attach(None if state is None else state.get)

    def book(self, bid: float, ask: float) -> None:
        self.engine.handle(
            BookSnapshot(self.clock.now(), "Y1", ((px(bid), sh(5000)),), ((px(ask), sh(5000)),))
        )

    def step(self, seconds: float = 1.0, n: int = 1) -> None:
        for _ in range(n):
            self.clock.advance(self.clock.now() + seconds)
            self.engine.on_clock()

    def trade(self, win: bool, shares: float = 10) -> None:
        """Buy at market, let it fill, move the book, sell at market, let it fill."""
        assert self.engine.submit(intent("Y1", Side.BUY, shares, None, strategy="s1")) is not None
        self.step(n=4)
        self.book(0.60, 0.62) if win else self.book(0.40, 0.42)
        self.engine.submit(intent("Y1", Side.SELL, shares, None, strategy="s1"))
        self.step(n=4)
        self.book(0.49, 0.51)
        assert not self.engine.runners["s1"].portfolio.positions

    def run_stage(self) -> None:
        """Spread winning trades over five hours (uneven hourly returns: a Sharpe is shown)."""
        for gap in (3700, 1800, 3700, 1800, 3700):
            self.trade(True)
            self.step(gap, 1)
        self.step(600, 2)

    @property
    def stage(self) -> str:
        return str(self.engine.runners["s1"].stage)

    @property
    def route(self) -> str:
        return self.engine.client_of("s1").name

    def graduate(self, confirm: str | None = "GRADUATE") -> str:
        args = {"strategy": "s1", "reason": "looks good", "confirm": confirm}
        return self.mgr.handlers()["strategy.graduate"](args, {"source": "cli"})


def test_walk_through_every_stage_and_demotion_on_a_breaker_trip() -> None:
    w = Walk(config())
    assert (w.stage, w.route) == ("backtest", "paper")
    # Backtest -> paper is automatic once the days and the criteria are met.
    w.step(600, 1)
    assert w.stage == "backtest"
    assert any("0.0 of 0.05 days" in b or "closed bets" in b for b in w.mgr.eligible["s1"].blockers)
    w.run_stage()
    assert w.stage == "paper" and w.route == "paper"
    # Paper -> micro needs an approval; eligibility is announced, nothing moves by itself.
    w.run_stage()
    assert w.stage == "paper" and "s1" in w.mgr.pending
    assert w.mgr.pending["s1"].target == "micro"
    with pytest.raises(CommandError, match="needs confirm"):
        w.graduate(confirm=None)
    assert "promoted paper -> micro by cli" in w.graduate()
    assert (w.stage, w.route) == ("micro", "live")
    assert w.mgr.capital_of("s1") == (50 * MICRO, "stage micro")
    # Orders now reach the live client; the stage capital limits new entries.
    o = w.engine.submit(intent("Y1", Side.BUY, 200, 0.51, strategy="s1"))  # 102 USD > 50
    assert o is None
    rej = w.writer.events("risk_rejection")[-1]
    assert "stage micro capital 50.00" in rej["message"]
    w.run_stage()
    live_orders = [o for o in w.writer.rows.get("orders", []) if o.get("route") == "live"]
    assert live_orders and all(o["created_ts"] >= rows_ts(w, "micro") for o in live_orders)
    assert any(o["status"] == "filled" for o in live_orders)
    assert "promoted micro -> mini" in w.graduate()
    assert w.mgr.capital_of("s1")[0] == 200 * MICRO  # type: ignore[index]
    w.run_stage()
    assert "promoted mini -> full" in w.graduate()
    assert w.stage == "full" and w.route == "live"
    with pytest.raises(CommandError, match="not eligible"):
        w.graduate()  # no stage after full
    # Two losing bets in a row trip the loss-streak breaker (enforced in live stages): the
    # strategy goes back to paper, its live orders are cancelled, the reason is recorded.
    resting = w.engine.submit(intent("N1", Side.BUY, 10, 0.30, strategy="s1"))
    assert resting is not None
    w.step(n=2)
    w.trade(False)
    w.trade(False)
    w.step(n=3)
    assert w.stage == "paper"
    assert not resting.active
    assert w.route == "paper"
    rows = w.writer.rows["stage_transitions"]
    assert [(r["from_stage"], r["to_stage"], r["kind"], r["actor"]) for r in rows] == [
        (None, "backtest", "initial", "auto"),
        ("backtest", "paper", "promotion", "auto"),
        ("paper", "micro", "promotion", "cli"),
        ("micro", "mini", "promotion", "cli"),
        ("mini", "full", "promotion", "cli"),
        ("full", "paper", "demotion", "breaker"),
    ]
    assert "consecutive_losses" in rows[-1]["reason"]
    assert '"closed_bets"' in rows[2]["figures_json"]
    assert w.writer.state["graduation_view"]["strategies"]["s1"]["stage"] == "paper"


def test_live_stage_without_its_client_is_not_eligible() -> None:
    cfg = config()
    stages = cfg.graduation.stages.model_copy(
        update={"micro": cfg.graduation.stages.micro.model_copy(update={"route": "pm_live"})}
    )
    cfg = cfg.model_copy(
        update={"graduation": cfg.graduation.model_copy(update={"stages": stages})}
    )
    w = Walk(cfg)
    w.run_stage()
    w.run_stage()
    assert w.stage == "paper"
    assert "'pm_live', which is not an execution client" in w.mgr.eligible["s1"].blockers[-1]
    assert "s1" not in w.mgr.pending


def test_route_change_waits_for_positions_on_the_old_route() -> None:
    w = Walk(config())
    w.run_stage()
    w.run_stage()
    # Hold a paper position when the promotion is approved: the stage changes at once, the
    # route only once the paper position is gone; no new entry meanwhile.
    w.engine.submit(intent("Y1", Side.BUY, 10, None, strategy="s1"))
    w.step(n=2)
    w.graduate()
    assert w.stage == "micro" and w.route == "paper" and "s1" in w.mgr.route_target
    assert w.engine.submit(intent("Y1", Side.BUY, 5, None, strategy="s1")) is None
    assert "moving to route live" in w.writer.events("risk_rejection")[-1]["message"]
    w.engine.submit(intent("Y1", Side.SELL, 10, None, strategy="s1"))
    w.step(n=2)
    assert w.route == "live" and "s1" not in w.mgr.route_target
