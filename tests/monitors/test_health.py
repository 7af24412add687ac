"""Strategy health monitor: each auto-disable rule at its boundary, the baseline after a person
re-enables a strategy, persistence, and the disable applied to a running engine."""

from __future__ import annotations

import json

from services.monitors.health import HealthMonitor
from services.risk.metrics import StrategyMeasure
from tests.risk.conftest import T0, make_config, make_harness, usd
from utils.safety_config import HealthConfig

CAP = usd(10_000)
# The rule mechanics below: directional streak limit 5, quality rules without the loss guard.
LEGACY = {"max_consecutive_losses": 5, "quality_rules_min_loss_pct": None}


def m(
    equity: int = CAP,
    *,
    peak: int = CAP,
    day: int = CAP,
    wins: int = 0,
    losses: int = 0,
    cl: int = 0,
) -> StrategyMeasure:
    return StrategyMeasure("s1", "active", equity, peak, day, wins, losses, cl)


def test_daily_loss_more_than_ten_percent() -> None:
    h = HealthMonitor(HealthConfig(**LEGACY))
    assert h.check(m(usd(9000))) is None  # exactly 10 %: not more than
    v = h.check(m(usd(8999.99)))
    assert v is not None and v.rule == "daily_loss" and v.limit == "10.00%"
    assert "more than health.max_daily_loss_pct 10.00%" in v.message


def test_five_consecutive_losses() -> None:
    h = HealthMonitor(HealthConfig(**LEGACY))
    assert h.check(m(losses=4, cl=4)) is None
    v = h.check(m(losses=5, cl=5))
    assert v is not None and v.rule == "consecutive_losses" and (v.value, v.limit) == ("5", "5")


def test_drawdown_more_than_twenty_percent() -> None:
    h = HealthMonitor(HealthConfig(**LEGACY, max_daily_loss_pct=None))
    assert h.check(m(usd(8000), peak=usd(10_000))) is None  # exactly 20 %
    v = h.check(m(usd(7999.99), peak=usd(10_000)))
    assert v is not None and v.rule == "drawdown" and v.value == "20.00%"


def test_win_rate_under_forty_percent_after_twenty_bets() -> None:
    h = HealthMonitor(HealthConfig(**{**LEGACY, "max_consecutive_losses": None}))
    assert h.check(m(wins=7, losses=12)) is None  # 19 bets: too few to judge
    assert h.check(m(wins=8, losses=12)) is None  # exactly 40 %
    v = h.check(m(wins=7, losses=13))  # 35 %
    assert v is not None and v.rule == "win_rate" and v.value == "35.00%"
    assert "over 20 closed bets" in v.message


def test_rebase_counts_from_the_re_enable_and_round_trips() -> None:
    h = HealthMonitor(HealthConfig(**LEGACY))
    h.rebase(m(wins=0, losses=20, cl=20), T0)
    assert h.check(m(wins=0, losses=24, cl=24)) is None  # 4 new losses
    v = h.check(m(wins=0, losses=25, cl=25))
    assert v is not None and v.rule == "consecutive_losses"
    again = HealthMonitor(HealthConfig(**LEGACY))
    again.load(json.loads(json.dumps(h.to_dict())))
    assert again.check(m(wins=0, losses=24, cl=24)) is None
    assert again.baselines["s1"].since_ts == T0


def test_disabled_rules_and_schedule() -> None:
    h = HealthMonitor(
        HealthConfig(
            quality_rules_min_loss_pct=None,
            max_daily_loss_pct=None,
            max_consecutive_losses=None,
            max_drawdown_pct=None,
            min_win_rate_pct=None,
            check_interval_s=60,
        )
    )
    assert h.check(m(1, wins=0, losses=100, cl=100)) is None
    assert h.due(T0) and not h.due(T0 + 59.9) and h.due(T0 + 60)


def test_the_monitor_disables_a_losing_strategy_on_the_engine_clock() -> None:
    h = make_harness(
        make_config(
            {
                "health": {"check_interval_s": 60, "max_daily_loss_pct": 1},
                "breakers": {"enabled": False},
                "risk": {"enabled": False},
            }
        )
    )
    h.at(T0)  # first check: all healthy; the next one is due at T0 + 60
    h.buy("s1", "Y1", 1000, None)  # 1000 shares at 0.51
    h.buy("s1", "N1", 10, 0.30)  # a resting order, cancelled by the disable
    h.set_book("Y1", [(0.39, 1000)], [(0.41, 1000)], T0 + 1)  # mid 0.40: -110.00 (1.1 %)
    h.at(T0 + 30)
    assert h.engine.runners["s1"].status == "active"  # next check at T0 + 60
    h.at(T0 + 60)
    r = h.engine.runners["s1"]
    assert r.status == "disabled" and r.status_since == T0 + 60
    assert r.status_reason is not None and r.status_reason.startswith(
        "health daily_loss: lost 1.10%"
    )
    assert h.engine.open_orders("s1", None) == []
    ev = h.writer.events("auto_disable")[-1]
    assert ev["strategy"] == "s1" and ev["value"] == "1.10%" and ev["limit_value"] == "1.00%"
    assert h.engine.runners["s2"].status == "active"
    # Re-enabled by a person, it is measured from its current equity.
    h.safety.set_strategy("enable", "s1", "reviewed", "cli")
    h.at(T0 + 120)
    assert h.engine.runners["s1"].status == "active"
