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


def _uncached_measures(safety: object) -> list[StrategyMeasure]:
    """SafetyLayer._measure as it was before its cache (issue 18), without the metrics update."""
    eng = safety.engine  # type: ignore[attr-defined]
    metrics = safety.metrics  # type: ignore[attr-defined]
    out = []
    for name, r in eng.runners.items():
        pf = r.portfolio
        equity = pf.cash + pf.market_value(eng.mark)
        out.append(
            StrategyMeasure(
                name,
                r.status,
                equity,
                metrics.peak.get(name, equity),
                metrics.day_start.get(name, equity),
                pf.wins,
                pf.losses,
                pf.consecutive_losses,
                kind=str(getattr(r.strategy, "kind", "directional")),
                stage=str(getattr(r, "stage", "paper")),
                starting=pf.starting_cash,
            )
        )
    return out


def test_reused_strategy_measures_equal_fresh_ones_every_clock_second() -> None:
    from services.clock import SimClock
    from services.node import build_node
    from services.persistence import NullSink
    from services.strategies.loader import build_strategies
    from tests.conftest import ROOT, drive_per_event
    from utils.config import load_config

    cfg = load_config(str(ROOT / "config.example.yaml"))
    node = build_node(
        cfg, build_strategies(cfg, "c.yaml"), NullSink(), clock=SimClock(cfg.market_data.start_ts)
    )
    eng, safety = node.engine, node.safety
    assert safety is not None
    seen = {"ticks": 0, "reused": 0, "changed": 0}
    last: dict[str, StrategyMeasure] = {}
    names = list(eng.runners)

    def compare(now: float) -> None:
        k = seen["ticks"] = seen["ticks"] + 1
        # Change what a measure is built from now and then: a status, a stage.
        r = eng.runners[names[k % len(names)]]
        if k % 37 == 0:
            eng.set_status(r.name, "paused" if r.status == "active" else "active", "test")
        if k % 53 == 0:
            r.stage = "live" if getattr(r, "stage", "paper") == "paper" else "paper"  # type: ignore[attr-defined]
        got = safety._measure(now)
        assert got == _uncached_measures(safety)
        for m in got:
            if last.get(m.name) is m:
                seen["reused"] += 1
            elif m.name in last:
                seen["changed"] += 1
            last[m.name] = m

    eng.clock_listeners.append(compare)
    drive_per_event(eng, cfg, 300, seed=3)
    # Both paths were taken many times: unchanged strategies reused, changed ones rebuilt.
    assert seen["ticks"] > 250 and seen["reused"] > 100 and seen["changed"] > 100
    assert eng.fill_seq > 0


def test_skipping_idle_exits_writes_what_deciding_every_position_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The safety layer skips ``ExitManager.decide`` for positions no exit rule applies to (the
    example config sets none): the same rows as deciding every position every second, with some
    strategies given rules, others not, and a per-position override set mid-run."""
    from services.risk.exits import ExitManager
    from tests.test_event_path_shortcuts import _config, _run
    from utils.safety_config import ExitRules

    base = _config(markets=6)
    rules = {
        "momentum": ExitRules.model_validate({"stop_loss_pct": 2}),
        "mm_tight": ExitRules.model_validate({"max_hold_min": 2}),
    }
    cfg = base.model_copy(update={"exits": base.exits.model_copy(update={"per_strategy": rules})})
    decided: list[str] = []
    real = ExitManager.decide

    def counting(self: ExitManager, now: float, strategy: str, *a: object) -> object:
        decided.append(strategy)
        return real(self, now, strategy, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(ExitManager, "decide", counting)
    # Every mark taken (a mark refreshes the instrument's last known mid): the same in both.
    from services.engine import Engine

    marked: list[str] = []
    real_mark = Engine.mark

    def recording_mark(self: Engine, iid: str) -> int | None:
        marked.append(iid)
        return real_mark(self, iid)

    monkeypatch.setattr(Engine, "mark", recording_mark)

    def override_later(eng: object) -> None:
        # At 150 s, every position the complement arbitrage then holds gets its own stop-loss.
        def hook(now: float) -> None:
            if now >= base.market_data.start_ts + 150 and not hook.done:  # type: ignore[attr-defined]
                hook.done = True  # type: ignore[attr-defined]
                r = eng.runners["complement_arb"]  # type: ignore[attr-defined]
                for iid in r.portfolio.positions:
                    eng.safety.exits.set_override(  # type: ignore[attr-defined]
                        "complement_arb", iid, ExitRules.model_validate({"take_profit_pct": 1})
                    )

        hook.done = False  # type: ignore[attr-defined]
        eng.clock_listeners.append(hook)  # type: ignore[attr-defined]

    runs = {}
    for skip in (True, False):
        monkeypatch.setattr(ExitManager, "skip_idle", skip)
        decided.clear()
        marked.clear()
        log, eng = _run(cfg, 400, before=override_later)
        runs[skip] = (log, list(decided), list(marked))
    fast, full = runs[True], runs[False]
    assert fast[0].rows == full[0].rows
    assert fast[2] == full[2]
    exits = [r for r in fast[0].rows if r[1] == "events" and ("kind", "exit") in r[2]]
    assert len(exits) >= 3  # rules fired (momentum, mm_tight, the override)
    # Deciding was skipped for the strategies without rules, except the overridden positions.
    assert set(fast[1]) <= {"momentum", "mm_tight", "complement_arb"}
    assert "complement_arb" in fast[1] and len(fast[1]) < len(full[1]) // 2
    assert {"mm_wide", "mean_reversion", "favorite_longshot"} & set(full[1])


def test_idle_rules_mean_decide_returns_none_and_changes_nothing() -> None:
    import random

    from services.portfolio import Position
    from services.risk.exits import ExitManager
    from utils.safety_config import ExitConfig

    rng = random.Random(7)
    keys = ["stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "max_hold_min",
            "exit_before_end_min"]  # fmt: skip
    idle_seen = 0
    for _ in range(300):
        chosen = {k: rng.choice([1.0, 5.0]) for k in keys if rng.random() < 0.15}
        per = {k: rng.choice([2.0, 30.0]) for k in keys if rng.random() < 0.15}
        cfg = ExitConfig.model_validate(
            {"rules": chosen, "per_strategy": {"s": per} if per else {}}
        )
        ex = ExitManager(cfg)
        idle = ex.idle_for("s")
        assert idle == (not chosen and not per)
        if not idle:
            continue
        idle_seen += 1
        from tests.conftest import make_instrument

        inst = make_instrument("I1")
        pos = Position("I1", rng.choice([5, -5]) * 1_000_000, 2_000_000, opened_ts=0.0)
        for now in (10.0, 1e5, 1e7):
            mark = rng.choice([None, 10_000, 400_000, 990_000])
            assert ex.decide(now, "s", pos, inst, mark) is None
        assert ex.high == {} and ex.last_try == {}
    assert idle_seen > 20
