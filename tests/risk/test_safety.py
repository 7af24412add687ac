"""The safety layer on a small engine: breaker effects, person actions, persisted state across a
restart, the risk day, hot-applied limits and throttled rejection events."""

from __future__ import annotations

import json

import pytest

from services.instruments import Side
from services.risk.actions import CommandError
from services.risk.breakers import BreakerState
from services.risk.kill_switch import TradingState
from services.risk.metrics import RiskMetrics
from tests.risk.conftest import T0, intent, make_config, make_harness, sh, usd

# Loss-streak mechanics: any kind pauses at 3 losses in a row, whatever its return, enforced.
STREAK3 = {
    "consecutive_losses": 3,
    "consecutive_losses_by_kind": {},
    "consecutive_losses_min_loss_pct": None,
    "modes": {"consecutive_losses": "enforce"},
}


def test_loss_streak_pauses_cancels_entries_and_auto_resumes_after_24h() -> None:
    h = make_harness(make_config({"breakers": STREAK3}))
    buy = h.buy("s1", "Y1", 10, 0.45)
    h.buy("s1", "Y1", 20, None)
    sell = h.sell("s1", "Y1", 10, 0.60)
    assert buy is not None and sell is not None and buy.active and sell.active
    h.pf("s1").consecutive_losses = 3  # crafted: three losing bets in a row
    h.at(T0 + 1)
    r = h.engine.runners["s1"]
    assert r.status == "paused" and r.status_reason.startswith("breaker consecutive_losses")
    assert not buy.active and sell.active  # entries cancelled, the exit order stays
    assert h.writer.events("auto_pause")[-1]["strategy"] == "s1"
    assert h.writer.events("breaker_trip")[-1]["value"] == "3"
    assert h.buy("s1", "Y1", 10, 0.45) is None  # paused: no new entries
    assert h.sell("s1", "Y1", 5, 0.61) is not None  # ...but reducing is allowed
    h.at(T0 + 1 + 24 * 3600 - 1)
    assert r.status == "paused"
    h.at(T0 + 1 + 24 * 3600)
    assert r.status == "active"
    assert h.writer.events("breaker_reset")[-1]["message"].startswith(
        "Breaker consecutive_losses:s1 is CLOSED: auto-resume after 24 h"
    )


def test_daily_loss_breaker_pauses_everyone_until_a_person_resets_it() -> None:
    h = make_harness(make_config({"breakers": {"daily_loss_pct": 1}, "risk": {"enabled": False}}))
    h.at(T0)
    h.buy("s1", "Y1", 1000, None)  # 510.00 at 0.51
    h.set_book("Y1", [(0.19, 1000)], [(0.21, 1000)], T0 + 1)  # mid 0.20: -310.00 of 20,000
    h.at(T0 + 2)
    assert {r.status for r in h.engine.runners.values()} == {"paused"}
    b = h.safety.board.get("daily_loss")
    assert b.state is BreakerState.OPEN and b.value == "1.55%"
    msg = h.safety.reset_breaker("daily_loss", None, "reviewed", "cli")
    assert "resumed s1, s2" in msg
    assert {r.status for r in h.engine.runners.values()} == {"active"}
    h.at(T0 + 3)
    assert b.state is BreakerState.CLOSED  # rebased: the same loss does not trip again


def test_strategy_drawdown_halts_until_resumed_and_portfolio_drawdown_kills() -> None:
    cfg = make_config(
        {
            "breakers": {
                "strategy_drawdown_pct": 2,
                "portfolio_drawdown_pct": 3,
                "daily_loss_pct": None,
            },
            "risk": {"enabled": False},
            "health": {"enabled": False},
        }
    )
    h = make_harness(cfg)
    h.at(T0)
    h.buy("s1", "Y1", 1000, None)
    h.set_book("Y1", [(0.29, 1000)], [(0.31, 1000)], T0 + 1)  # -210.00: 2.1 % of s1
    h.at(T0 + 2)
    r = h.engine.runners["s1"]
    assert r.status == "paused" and "until a person resets the breaker" in (r.status_reason or "")
    h.at(T0 + 10 * 86_400)
    assert r.status == "paused"  # no auto-resume
    with pytest.raises(CommandError, match="breaker strategy_drawdown:s1 is OPEN"):
        h.safety.set_strategy("resume", "s1", "accepting the loss", "cli")
    h.safety.reset_breaker("strategy_drawdown", "s1", "accepting the loss", "cli")
    assert r.status == "active"
    assert h.safety.board.get("strategy_drawdown", "s1").state is BreakerState.CLOSED
    # Lose 3 % of the whole portfolio (210.00 + 490.00 of 20,000): the kill switch activates.
    h.buy("s2", "N1", 1000, None)  # 510.00 at 0.51
    h.set_book("N1", [(0.01, 10)], [(0.03, 10)], T0 + 10 * 86_400 + 1)
    h.at(T0 + 10 * 86_400 + 2)
    assert h.safety.kill.state is TradingState.HALTED
    assert h.safety.kill.source == "breaker"
    assert h.safety.kill.reason.startswith("breaker portfolio_drawdown")


def test_system_errors_block_entries_and_cancel_resting_buys() -> None:
    h = make_harness(make_config({"breakers": {"failure_threshold": 3}}))
    buy = h.buy("s2", "Y1", 10, 0.45)
    for k in range(3):
        h.safety.on_failure(T0 + k, "strategy", "s1", "boom")
    assert buy is not None and not buy.active
    assert h.buy("s2", "Y1", 10, 0.45) is None
    rej = h.writer.events("risk_rejection")[-1]
    assert rej["message"].startswith("breaker system_failures is OPEN")


def test_a_strategy_exception_counts_as_a_system_failure() -> None:
    h = make_harness(make_config({"breakers": {"failure_threshold": 1}}))
    runner = h.engine.runners["s1"]

    def boom(ctx: object) -> None:
        raise RuntimeError("bug")

    runner.strategy.on_timer = boom  # type: ignore[method-assign]
    h.at(T0 + 5)
    assert h.safety.board.get("system_failures").state is BreakerState.OPEN
    assert h.writer.events("breaker_trip")[-1]["message"].endswith("entries refused for 1800 s")


def test_persisted_breakers_and_day_start_survive_a_restart() -> None:
    h = make_harness(make_config({"risk": {"enabled": False}, "breakers": STREAK3}))
    h.at(T0)
    h.buy("s1", "Y1", 100, None)
    h.pf("s1").consecutive_losses = 3
    h.at(T0 + 10)
    h.safety.finish()
    saved = json.loads(json.dumps(h.writer.state))
    again = make_harness(
        make_config({"risk": {"enabled": False}, "breakers": STREAK3}), state=saved
    )
    b = again.safety.board.get("consecutive_losses", "s1")
    assert b.state is BreakerState.OPEN and b.until_ts == T0 + 10 + 86_400
    assert again.safety.metrics.day_start == h.safety.metrics.day_start
    assert again.safety.metrics.peak == h.safety.metrics.peak
    assert saved["risk_limits"]["limits"]["s1"]["max_order_usd"] == "1000"


def test_the_risk_day_starts_at_midnight_of_the_configured_time_zone() -> None:
    rm = RiskMetrics("America/New_York")  # T0 = 2026-01-01 00:00 UTC = 19:00 in New York
    assert rm.update(T0, {"s1": usd(100)})
    assert rm.day == "2025-12-31"
    assert not rm.update(T0 + 5 * 3600 - 1, {"s1": usd(90)})
    assert rm.day_start["s1"] == usd(100)
    assert rm.update(T0 + 5 * 3600, {"s1": usd(90)})  # 00:00 in New York
    assert rm.day == "2026-01-01" and rm.day_start["s1"] == usd(90)
    assert rm.peak["s1"] == usd(100)


def test_repeated_refusals_are_throttled_into_one_event_per_second() -> None:
    h = make_harness(make_config({"risk": {"limits": {"max_order_usd": 1}}}))
    for _ in range(5):
        assert h.buy("s1", "Y1", 10, 0.45) is None
    evs = h.writer.events("risk_rejection")
    assert len(evs) == 1 and evs[0]["limit_value"] == "1.00"
    h.clock.advance(T0 + 1)
    h.buy("s1", "Y1", 10, 0.45)
    evs = h.writer.events("risk_rejection")
    assert len(evs) == 2 and json.loads(evs[1]["data_json"])["suppressed"] == 4


def test_pause_resume_enable_disable_rules() -> None:
    h = make_harness()
    h.buy("s1", "Y1", 20, None)
    buy = h.buy("s1", "N1", 10, 0.40)
    sell = h.sell("s1", "Y1", 10, 0.60)
    msg = h.safety.set_strategy("pause", "s1", "too many fills", "dashboard")
    assert "1 resting buys cancelled" in msg
    assert buy is not None and sell is not None and not buy.active and sell.active
    with pytest.raises(CommandError, match="not active"):
        h.safety.set_strategy("pause", "s1", "again", "cli")
    h.safety.set_strategy("disable", "s1", "enough", "cli")
    assert not sell.active
    with pytest.raises(CommandError, match="enable it instead"):
        h.safety.set_strategy("resume", "s1", "x", "cli")
    with pytest.raises(CommandError, match="unknown strategy"):
        h.safety.set_strategy("enable", "nope", "x", "cli")
    h.safety.activate_kill_switch("stop", "cli")
    with pytest.raises(CommandError, match="kill switch is active"):
        h.safety.set_strategy("enable", "s1", "x", "cli")
    assert [e["message"] for e in h.writer.events("control")][0].startswith(
        "s1 paused by dashboard: too many fills"
    )


def test_close_position_while_halted_reduces_then_halts_again() -> None:
    h = make_harness()
    h.buy("s1", "Y1", 30, None)
    h.safety.activate_kill_switch("stop", "cli")
    msg = h.safety.close_position("s1", "Y1", "manual exit", "cli")
    assert "sold 30.00 of 30.00 shares at 0.49" in msg
    assert h.pf("s1").qty("Y1") == 0
    h.at(T0 + 1)
    assert h.safety.kill.state is TradingState.HALTED
    with pytest.raises(CommandError, match="holds no position"):
        h.safety.close_position("s1", "Y1", "again", "cli")


def test_flatten_all_sells_every_position() -> None:
    h = make_harness()
    h.buy("s1", "Y1", 30, None)
    h.buy("s2", "N1", 40, None)
    msg = h.safety.flatten_all("end of test", "dashboard")
    assert "2 closing orders sent" in msg
    assert h.pf("s1").qty("Y1") == 0 and h.pf("s2").qty("N1") == 0
    assert h.safety.kill.state is TradingState.ACTIVE


def test_new_config_applies_at_once_and_kill_switch_true_activates() -> None:
    h = make_harness()
    assert h.buy("s1", "Y1", 10, 0.45) is not None
    new = make_config({"risk": {"limits": {"max_order_usd": 2}}})
    h.safety.apply_config(new)
    assert h.buy("s1", "Y1", 10, 0.44) is None
    assert h.writer.events("risk_rejection")[-1]["limit_value"] == "2.00"
    assert h.writer.state["risk_limits"]["limits"]["s1"]["max_order_usd"] == "2"
    h.safety.apply_config(make_config({"kill_switch": True}))
    assert h.safety.kill.state is TradingState.HALTED and h.safety.kill.source == "config"


def test_market_exit_of_a_paused_strategy_passes_the_whole_chain() -> None:
    h = make_harness()
    h.buy("s1", "Y1", 10, None)
    h.safety.set_strategy("pause", "s1", "x", "cli")
    o = h.engine.submit(intent("Y1", Side.SELL, 10, None, strategy="s1"))
    assert o is not None and o.filled == sh(10)
