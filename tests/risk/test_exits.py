"""Exit manager: each rule at its boundary, overrides, and exits through the execution path."""

from __future__ import annotations

import json

from services.portfolio import Position
from services.risk.exits import ExitManager
from services.risk.kill_switch import TradingState
from tests.conftest import make_instrument
from tests.risk.conftest import T0, make_config, make_harness, px, sh
from utils.safety_config import ExitConfig, ExitRules


def pos(entry: float = 0.50, shares: float = 100, opened: float = T0) -> Position:
    return Position("Y1", sh(shares), round(sh(shares) * entry), opened_ts=opened)


def mgr(**rules: object) -> ExitManager:
    return ExitManager(ExitConfig(rules=ExitRules(**rules), retry_s=10))  # type: ignore[arg-type]


INST = make_instrument("Y1", end_ts=T0 + 3600)


def test_stop_loss_fires_exactly_at_the_threshold() -> None:
    m = mgr(stop_loss_pct=10)
    assert m.decide(T0, "s1", pos(), INST, px(0.451)) is None
    d = m.decide(T0, "s1", pos(), INST, px(0.45))
    assert d is not None and d.rule == "stop_loss"
    assert (d.value, d.limit) == ("10.00%", "10%")
    assert "mid 0.45 is 10.00% below entry 0.5" in d.message


def test_take_profit_fires_exactly_at_the_threshold() -> None:
    m = mgr(take_profit_pct=20)
    assert m.decide(T0, "s1", pos(), INST, px(0.599)) is None
    d = m.decide(T0, "s1", pos(), INST, px(0.60))
    assert d is not None and d.rule == "take_profit" and d.value == "20.00%"


def test_trailing_stop_follows_the_high() -> None:
    m = mgr(trailing_stop_pct=10)
    p = pos()
    assert m.decide(T0, "s1", p, INST, px(0.60)) is None  # new high 0.60
    assert m.decide(T0 + 1, "s1", p, INST, px(0.541)) is None
    d = m.decide(T0 + 2, "s1", p, INST, px(0.54))  # 10 % below 0.60
    assert d is not None and d.rule == "trailing_stop" and "high 0.6" in d.message


def test_max_hold_and_exit_before_end_in_minutes() -> None:
    m = mgr(max_hold_min=30)
    p = pos(opened=T0)
    assert m.decide(T0 + 1799, "s1", p, INST, px(0.5)) is None
    d = m.decide(T0 + 1800, "s1", p, INST, px(0.5))
    assert d is not None and d.rule == "max_hold"
    m = mgr(exit_before_end_min=10)
    assert m.decide(T0 + 3600 - 601, "s1", pos(), INST, px(0.5)) is None
    d = m.decide(T0 + 3600 - 600, "s1", pos(), INST, None)  # time rules need no mark
    assert d is not None and d.rule == "exit_before_end" and d.limit == "10 min"


def test_overrides_strategy_then_position_only_set_keys() -> None:
    cfg = ExitConfig(
        rules=ExitRules(stop_loss_pct=10, take_profit_pct=50),
        per_strategy={"s1": ExitRules(stop_loss_pct=30)},
    )
    m = ExitManager(cfg)
    r = m.rules_for("s1", "Y1")
    assert (r.stop_loss_pct, r.take_profit_pct) == (30, 50)
    m.set_override("s1", "Y1", ExitRules(take_profit_pct=5))
    r = m.rules_for("s1", "Y1")
    assert (r.stop_loss_pct, r.take_profit_pct) == (30, 5)
    assert m.rules_for("s2", "Y1").stop_loss_pct == 10
    saved = json.loads(json.dumps(m.to_dict()))
    again = ExitManager(cfg)
    again.load(saved)
    assert again.rules_for("s1", "Y1") == r


def test_retry_waits_retry_s() -> None:
    m = mgr(stop_loss_pct=10)
    assert m.decide(T0, "s1", pos(), INST, px(0.40)) is not None
    assert m.decide(T0 + 9.9, "s1", pos(), INST, px(0.40)) is None
    assert m.decide(T0 + 10, "s1", pos(), INST, px(0.40)) is not None


def test_exit_goes_through_execution_and_records_an_event() -> None:
    h = make_harness(make_config({"exits": {"rules": {"stop_loss_pct": 10}}}))
    h.buy("s1", "Y1", 100, None)  # bought at 0.51
    h.buy("s1", "Y1", 10, 0.40)  # a resting buy on the same instrument
    h.at(T0 + 1)
    assert h.pf("s1").qty("Y1") == sh(100)  # mid 0.50: no exit
    h.set_book("Y1", [(0.44, 1000)], [(0.46, 1000)], T0 + 2)  # mid 0.45 < 0.459 (10 % of 0.51)
    h.at(T0 + 3)
    assert h.pf("s1").qty("Y1") == 0
    assert h.engine.open_orders("s1", "Y1") == []  # its resting buy was cancelled first
    ev = h.writer.events("exit")[-1]
    assert ev["strategy"] == "s1" and ev["limit_value"] == "10%"
    assert "sold 100.00 of 100.00 shares at 0.44" in ev["message"]
    h.pf("s1").check_ledger()


def test_exits_pass_in_reducing_and_skip_disabled_strategies() -> None:
    h = make_harness(make_config({"exits": {"rules": {"take_profit_pct": 1}}}))
    h.buy("s1", "Y1", 50, None)
    h.buy("s2", "Y1", 50, None)
    h.safety.set_strategy("disable", "s2", "manual", "cli")
    h.safety.kill.activate(T0, "reduce only", "cli", flatten=True, timeout_s=10_000)
    h.safety.flatten_next = float("inf")  # let the exit manager do the closing
    h.set_book("Y1", [(0.59, 1000)], [(0.61, 1000)], T0 + 1)
    h.at(T0 + 2)
    assert h.safety.kill.state is TradingState.REDUCING
    assert h.pf("s1").qty("Y1") == 0  # exit allowed while REDUCING
    assert h.pf("s2").qty("Y1") == sh(50)  # disabled: its exits do not run
