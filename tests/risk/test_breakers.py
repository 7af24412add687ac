"""Circuit breakers on crafted measures with an injected clock: trips at the exact thresholds,
auto-resume, half-open probes and persisted state."""

from __future__ import annotations

import json

import pytest

from services.risk.breakers import BreakerBoard, BreakerState
from services.risk.metrics import StrategyMeasure
from tests.risk.conftest import T0, usd
from utils.safety_config import BreakerConfig

CAP = usd(10_000)


def m(
    name: str = "s1",
    equity: int = CAP,
    *,
    peak: int = CAP,
    day: int = CAP,
    cl: int = 0,
    status: str = "active",
) -> StrategyMeasure:
    return StrategyMeasure(name, status, equity, peak, day, 0, cl, cl)


LEGACY: dict[str, object] = {
    "consecutive_losses": 3,
    "consecutive_losses_by_kind": {},
    "consecutive_losses_min_loss_pct": None,
    "modes": {"consecutive_losses": "enforce"},
}
"""The breaker mechanics below: any kind pauses at 3 losses in a row, whatever its return."""


def board(**kw: object) -> BreakerBoard:
    return BreakerBoard(BreakerConfig(**{**LEGACY, **kw}))  # type: ignore[arg-type]


def test_three_consecutive_losses_pause_for_24h_then_auto_resume() -> None:
    b = board()
    assert b.evaluate(T0, [m(cl=2)], CAP, CAP, CAP) == []
    acts = b.evaluate(T0 + 1, [m(cl=3)], CAP, CAP, CAP)
    assert [(a.kind, a.effect) for a in acts] == [("trip", "pause_strategy")]
    br = acts[0].breaker
    assert br.key == "consecutive_losses:s1" and br.state is BreakerState.OPEN
    assert br.until_ts == T0 + 1 + 24 * 3600 and (br.value, br.limit) == ("3", "3")
    assert b.evaluate(T0 + 1 + 24 * 3600 - 0.001, [m(cl=3, status="paused")], CAP, CAP, CAP) == []
    acts = b.evaluate(T0 + 1 + 24 * 3600, [m(cl=3, status="paused")], CAP, CAP, CAP)
    assert [(a.kind, a.effect) for a in acts] == [("reset", "resume_strategy")]
    assert br.state is BreakerState.CLOSED
    # The streak counts again from the resume: two more losses are not three.
    assert b.evaluate(T0 + 90_000, [m(cl=5)], CAP, CAP, CAP) == []
    assert len(b.evaluate(T0 + 90_001, [m(cl=6)], CAP, CAP, CAP)) == 1


def test_a_win_resets_the_loss_streak_base() -> None:
    b = board(consecutive_losses=2)
    b.evaluate(T0, [m(cl=2)], CAP, CAP, CAP)
    b.evaluate(T0 + 90_000, [m(cl=2, status="paused")], CAP, CAP, CAP)  # auto-resumed
    b.evaluate(T0 + 90_001, [m(cl=0)], CAP, CAP, CAP)  # a win
    acts = b.evaluate(T0 + 90_002, [m(cl=2)], CAP, CAP, CAP)
    assert [a.effect for a in acts] == ["pause_strategy"]


def test_daily_loss_at_exactly_five_percent_halts_all_until_reset() -> None:
    b = board()
    total = usd(30_000)
    assert b.evaluate(T0, [], total - usd(1499.99), total, total) == []
    acts = b.evaluate(T0, [], total - usd(1500), total, total)
    assert [(a.kind, a.effect) for a in acts] == [("trip", "halt_all")]
    assert acts[0].breaker.value == "5.00%" and acts[0].breaker.until_ts is None
    assert b.evaluate(T0 + 10 * 86_400, [], total - usd(3000), total, total) == []  # stays OPEN
    b.reset("daily_loss", None, T0 + 5, "checked")
    assert b.get("daily_loss").state is BreakerState.CLOSED


def test_strategy_drawdown_at_exactly_25_percent_halts_that_strategy() -> None:
    b = board()
    peak = usd(12_000)
    assert b.evaluate(T0, [m(equity=usd(9000.01), peak=peak)], CAP, CAP, CAP) == []
    acts = b.evaluate(T0, [m(equity=usd(9000), peak=peak)], CAP, CAP, CAP)
    assert [(a.effect, a.breaker.strategy, a.breaker.value) for a in acts] == [
        ("halt_strategy", "s1", "25.00%")
    ]
    # A paused or disabled strategy does not trip.
    assert b.evaluate(T0, [m("s2", equity=usd(1), peak=peak, status="paused")], CAP, CAP, CAP) == []


def test_portfolio_drawdown_at_exactly_40_percent_activates_the_kill_switch() -> None:
    b = board()
    peak = usd(30_000)
    assert b.evaluate(T0, [], usd(18_000.01), None, peak) == []
    acts = b.evaluate(T0, [], usd(18_000), None, peak)
    assert [a.effect for a in acts] == ["kill_switch"]


def test_system_failures_open_cool_down_half_open_probe_and_close() -> None:
    b = board(
        failure_threshold=3,
        failure_window_s=300,
        cooldown_s=1800,
        probe_max_usd=50,
        probe_window_s=60,
    )
    assert b.record_failure(T0, "e1") == []
    assert b.record_failure(T0 + 100, "e2") == []
    acts = b.record_failure(T0 + 299, "e3")
    assert [(a.kind, a.effect) for a in acts] == [("trip", "block_entries")]
    rej = b.gate(T0 + 300, usd(1))
    assert rej is not None and rej.value == "OPEN"
    # Cooldown ends exactly 1800 s after the trip.
    assert b.evaluate(T0 + 299 + 1799, [], CAP, CAP, CAP) == []
    acts = b.evaluate(T0 + 299 + 1800, [], CAP, CAP, CAP)
    assert [a.effect for a in acts] == ["half_open"]
    half = T0 + 2099
    rej = b.gate(half, usd(50.01))
    assert rej is not None and "probe_max_usd 50.00" in rej.message
    assert b.gate(half, usd(50)) is None  # the probe goes through
    rej = b.gate(half + 1, usd(1))
    assert rej is not None and "waiting for the probe" in rej.message
    assert b.evaluate(half + 59, [], CAP, CAP, CAP) == []
    acts = b.evaluate(half + 60, [], CAP, CAP, CAP)
    assert [a.effect for a in acts] == ["close"]
    assert b.gate(half + 61, usd(1000)) is None


def test_failures_outside_the_window_do_not_count_and_probe_errors_reopen() -> None:
    b = board(failure_threshold=2, failure_window_s=300, cooldown_s=100)
    b.record_failure(T0, "e1")
    assert b.record_failure(T0 + 300, "e2") == []  # the first one left the window
    assert len(b.record_failure(T0 + 301, "e3")) == 1
    b.evaluate(T0 + 401, [], CAP, CAP, CAP)
    assert b.get("system_failures").state is BreakerState.HALF_OPEN
    acts = b.record_failure(T0 + 402, "boom")
    assert [(a.kind, a.effect) for a in acts] == [("trip", "block_entries")]
    assert b.get("system_failures").until_ts == T0 + 502


def test_breaker_state_survives_a_restart() -> None:
    b = board()
    b.evaluate(T0, [m(cl=3), m("s2", equity=usd(7000))], usd(17_000), usd(20_000), usd(20_000))
    b.record_failure(T0, "e")
    saved = json.loads(json.dumps(b.to_dict()))  # what bot_state holds
    again = board()
    again.load(saved)
    assert again.to_dict() == b.to_dict()
    assert again.get("consecutive_losses", "s1").state is BreakerState.OPEN
    assert again.get("strategy_drawdown", "s2").state is BreakerState.OPEN
    assert again.get("daily_loss").state is BreakerState.OPEN
    # The restored pause still auto-resumes at its original time.
    acts = again.evaluate(T0 + 86_400, [m(cl=3, status="paused")], CAP, CAP, CAP)
    assert [a.effect for a in acts] == ["resume_strategy"]


def test_reset_validates_names_and_strategy_reset_rebases() -> None:
    b = board()
    with pytest.raises(ValueError, match="unknown breaker"):
        b.reset("nope", None, T0, "x")
    with pytest.raises(ValueError, match="per strategy"):
        b.reset("strategy_drawdown", None, T0, "x")
    b.evaluate(T0, [m(cl=3)], CAP, CAP, CAP)
    b.strategy_reset("s1", 3, T0 + 1, "resumed")
    assert b.get("consecutive_losses", "s1").state is BreakerState.CLOSED
    assert b.evaluate(T0 + 2, [m(cl=4)], CAP, CAP, CAP) == []


def test_disabled_thresholds_never_trip() -> None:
    b = board(
        consecutive_losses=None,
        daily_loss_pct=None,
        strategy_drawdown_pct=None,
        portfolio_drawdown_pct=None,
        failure_threshold=None,
    )
    assert b.evaluate(T0, [m(cl=99, equity=1, peak=CAP)], 1, CAP, CAP) == []
    assert all(b.record_failure(T0, "e") == [] for _ in range(50))
