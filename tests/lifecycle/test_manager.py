"""The lifecycle manager's selection, allocation, demotion triggers, restart and hot reload."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.enums import Stage
from services.instruments import Side
from services.lifecycle.allocation import select
from services.lifecycle.criteria import Figures
from services.metrics import Estimate
from services.money import MICRO
from services.risk.actions import CommandError
from tests.lifecycle.test_walk import Walk, config
from tests.risk.conftest import intent
from utils.graduation_config import SelectionConfig


def to_full(w: Walk, *names: str) -> None:
    for n in names:
        w.mgr._transition(n, "full", "promotion", "test", "set up", w.clock.now(), None)


def fig(score: float) -> Figures:
    return Figures(8.0, Estimate(2.5, 0.5, 30), 0.6, 40, 5.0, 30, 20, score)


def test_selection_proposal_applied_on_approval_limits_new_entries_only() -> None:
    w = Walk(config(), names=("a", "b", "c", "d"))
    to_full(w, "a", "b", "c", "d")
    table = {"a": fig(80), "b": fig(70), "c": fig(60), "d": fig(50)}
    alloc = select(table, SelectionConfig().gates, (70.0, 20.0, 10.0), Decimal("1000"))
    # d holds a position bought under the full stage's 1,000 USD before the selection.
    w.engine.submit(intent("Y1", Side.BUY, 100, None, strategy="d"))
    w.step(n=3)
    held = w.engine.runners["d"].portfolio.positions["Y1"].qty
    w.mgr._propose(alloc, False, w.clock.now())
    assert w.mgr.proposal is not None and w.mgr.capital_of("a") == (1000 * MICRO, "stage full")
    with pytest.raises(CommandError, match="no open allocation proposal #9"):
        w.mgr.handlers()["allocation.approve"]({"proposal_id": 9}, {"source": "cli"})
    text = w.mgr.handlers()["allocation.approve"]({"proposal_id": 1}, {"source": "dashboard"})
    assert "applied by dashboard" in text
    assert w.mgr.capital_of("a") == (700 * MICRO, "selection share")
    assert w.mgr.capital_of("d") == (0, "selection share")
    # d was not selected: no new entry, but nothing is sold and it may still reduce.
    assert w.engine.submit(intent("Y1", Side.BUY, 5, None, strategy="d")) is None
    assert "selection share capital 0.00" in w.writer.events("risk_rejection")[-1]["message"]
    assert w.engine.runners["d"].portfolio.positions["Y1"].qty == held
    assert w.engine.submit(intent("Y1", Side.SELL, 50, None, strategy="d")) is not None
    # a may buy up to its 700 USD.
    assert w.engine.submit(intent("Y1", Side.BUY, 1000, 0.51, strategy="a")) is not None
    assert w.engine.submit(intent("Y1", Side.BUY, 500, 0.51, strategy="a")) is None


def test_selection_runs_on_its_schedule_and_auto_applies() -> None:
    cfg = config(
        selection={"enabled": True, "schedule": "daily", "auto_apply": True, "at_hour_utc": 0}
    )
    w = Walk(cfg, names=("a", "b"))
    to_full(w, "a", "b")
    w.step(3600, 2)  # T0 is midnight UTC: the first run is the next midnight
    assert w.mgr.allocation is None
    w.step(3600, 23)
    assert w.mgr.allocation is not None and w.mgr.allocation.kind == "selection"
    ev = [e for e in w.writer.events("graduation") if "proposal #1" in e["message"]]
    assert ev and "no strategy qualified" in ev[0]["message"]  # no track record yet
    assert w.mgr.capital_of("a") == (0, "selection share")


def test_rebalance_divides_the_pool_within_bounds() -> None:
    cfg = config(rebalancing={"enabled": True, "schedule": "daily"})
    w = Walk(cfg, names=("a", "b", "c"))
    to_full(w, "a", "b", "c")
    w.step(n=2)  # the leaderboard rows exist
    alloc = w.mgr.run_rebalance(w.clock.now())
    assert alloc is not None and alloc.kind == "rebalance"
    assert sorted(alloc.shares_pct.values()) == pytest.approx([100 / 3] * 3)  # equal scores
    assert w.mgr.capital_of("b")[0] == alloc.capital["b"]  # type: ignore[index]


def test_auto_disable_and_reconciliation_failure_demote_live_strategies() -> None:
    w = Walk(config(), names=("a", "b", "p"))
    to_full(w, "a", "b")
    w.step(n=1)
    assert w.engine.client_of("a").name == "live"
    w.engine.bus.event(w.clock.now(), "auto_disable", "a disabled: health x", strategy="a")
    w.engine.bus.event(w.clock.now(), "auto_disable", "p disabled: health x", strategy="p")
    w.step(n=1)
    assert w.engine.runners["a"].stage is Stage.PAPER
    assert w.engine.runners["p"].stage is Stage.BACKTEST  # not live: nothing to do
    assert w.writer.rows["stage_transitions"][-1]["actor"] == "health"
    # b's order disappears at the venue: the next reconciliation demotes b.
    o = w.engine.submit(intent("Y1", Side.BUY, 10, 0.30, strategy="b"))
    assert o is not None
    w.step(n=2)
    venue = w.live.made[0]  # type: ignore[attr-defined]
    venue._orders.pop(o.order_id)
    w.step(600, 1)
    assert w.engine.runners["b"].stage is Stage.PAPER
    last = w.writer.rows["stage_transitions"][-1]
    assert last["actor"] == "reconciliation" and f"order {o.order_id}" in last["reason"]


def test_state_survives_a_restart() -> None:
    w = Walk(config())
    w.run_stage()
    w.run_stage()
    assert "s1" in w.mgr.pending
    since = w.mgr.stats["s1"].since
    state = dict(w.writer.state)
    w2 = Walk(config(), state=state)
    assert w2.stage == "paper" and w2.mgr.stats["s1"].since == since
    assert w2.mgr.pending["s1"].target == "micro"
    assert "stage_transitions" not in w2.writer.rows  # no second "initial" row


def test_hot_reload_changes_capital_and_criteria_at_once() -> None:
    w = Walk(config())
    to_full(w, "s1")
    assert w.mgr.capital_of("s1") == (1000 * MICRO, "stage full")
    cfg = w.safety.cfg
    stages = cfg.graduation.stages.model_copy(
        update={"full": cfg.graduation.stages.full.model_copy(update={"capital_usd": Decimal(250)})}
    )
    new = cfg.model_copy(
        update={"graduation": cfg.graduation.model_copy(update={"stages": stages})}
    )
    w.safety.apply_config(new)
    assert w.mgr.capital_of("s1") == (250 * MICRO, "stage full")


def test_a_restored_order_goes_back_to_its_route_and_the_strategy_follows_it() -> None:
    from services.execution.orders import Order, OrderStatus
    from tests.risk.conftest import px, sh

    w = Walk(config())
    assert w.engine.client_of("s1").name == "paper"
    order = Order(77, "s1", "Y1", Side.BUY, px(0.3), sh(10), status=OrderStatus.OPEN)
    order.route = "live"
    w.engine.adopt_order(order)
    assert w.engine.client_of("s1").name == "live"
    # The manager wants paper for a backtest-stage strategy: the switch waits for the order.
    w.mgr.route_target["s1"] = "paper"
    w.step(n=1)
    assert w.engine.client_of("s1").name == "live"
    with pytest.raises(ValueError, match="still has working orders"):
        w.engine.set_route("s1", "paper")
