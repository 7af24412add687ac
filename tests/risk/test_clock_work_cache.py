"""The clock work's caches give the answers the full computation gives (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.risk.breakers import BreakerBoard
from services.risk.metrics import RiskMetrics, StrategyMeasure
from utils.safety_config import BreakerConfig


def _slow_day(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz)).date().isoformat()


@pytest.mark.parametrize(
    "tz", ["UTC", "Europe/London", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"]
)
def test_cached_risk_day_equals_the_zoneinfo_answer_every_minute_across_transitions(
    tz: str,
) -> None:
    m = RiskMetrics(timezone=tz)
    # Every 61 seconds across the spring-forward and fall-back weeks of 2026, then across midnight
    # of ordinary days: every answer equals the uncached computation.
    starts = [
        datetime(2026, 3, 7, tzinfo=UTC).timestamp(),
        datetime(2026, 3, 27, tzinfo=UTC).timestamp(),
        datetime(2026, 10, 23, tzinfo=UTC).timestamp(),
        datetime(2026, 4, 3, tzinfo=UTC).timestamp(),
    ]
    for t0 in starts:
        for k in range(0, 3 * 86_400, 61):
            ts = t0 + k + 0.25
            assert m.day_of(ts) == _slow_day(ts, tz)


def test_cached_risk_day_follows_a_time_zone_change() -> None:
    m = RiskMetrics(timezone="UTC")
    ts = datetime(2026, 6, 1, 23, 30, tzinfo=UTC).timestamp()
    assert m.day_of(ts) == "2026-06-01"
    m.timezone = "Asia/Tokyo"  # a config reload changes it in place
    assert m.day_of(ts) == "2026-06-02"


def _measure(name: str, status: str, stage: str) -> StrategyMeasure:
    return StrategyMeasure(name, status, 1_000, 1_000, 1_000, 0, 0, 0, stage=stage)


def test_global_breaker_modes_follow_a_stage_or_status_change() -> None:
    # Daily loss observed on paper, enforced live: the global mode depends on the stages.
    cfg = BreakerConfig.model_validate({"modes": {"daily_loss": {"paper": "observe"}}})
    board = BreakerBoard(cfg)
    full = BreakerBoard(cfg)
    seen = set()
    sequences = [
        [_measure("a", "active", "paper"), _measure("b", "active", "paper")],
        [_measure("a", "active", "paper"), _measure("b", "active", "paper")],
        [_measure("a", "active", "live"), _measure("b", "active", "paper")],
        [_measure("a", "disabled", "live"), _measure("b", "active", "paper")],
        [_measure("a", "disabled", "live"), _measure("b", "active", "paper")],
        [_measure("a", "active", "full"), _measure("b", "paused", "paper")],
        [_measure("a", "active", "paper"), _measure("b", "paused", "paper")],
    ]
    for ms in sequences:
        board._set_global_modes(ms)
        full._modes_key = None  # the uncached computation every time
        full._set_global_modes(ms)
        assert board.global_modes == full.global_modes
        seen.add(board.global_modes["daily_loss"])
    assert seen == {"enforce", "observe"}
