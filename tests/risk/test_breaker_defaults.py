"""Breakers a competition can live with: loss-streak rules per strategy kind and only on losing
strategies, enforce/observe per stage, the daily-loss breaker re-armed at the next risk day, and
no resuming around an OPEN breaker."""

from __future__ import annotations

import pytest

from services.monitors.health import HealthMonitor
from services.risk.actions import CommandError
from services.risk.breakers import BreakerBoard, BreakerState
from services.risk.metrics import StrategyMeasure
from tests.risk.conftest import CAPITAL, T0, make_config, make_harness, usd
from utils.config import parse_config
from utils.safety_config import BreakerConfig, HealthConfig

DAY = 86_400.0


def measure(
    kind: str, cl: int, equity: int, *, stage: str = "paper", name: str = "s1"
) -> StrategyMeasure:
    return StrategyMeasure(
        name, "active", equity, max(equity, CAPITAL), CAPITAL, 10, cl, cl,
        kind=kind, stage=stage, starting=CAPITAL,
    )  # fmt: skip


def enforced(**kw: object) -> BreakerBoard:
    return BreakerBoard(BreakerConfig(modes={"consecutive_losses": "enforce"}, **kw))  # type: ignore[arg-type]


def test_a_strategy_making_money_is_never_paused_for_a_loss_streak() -> None:
    # Defect: the default 3-losses breaker paused both market makers while they were up.
    b = enforced()
    up = usd(10_250)
    for kind in ("market_making", "directional", "arbitrage"):
        assert b.evaluate(T0, [measure(kind, 40, up)], up, up, up) == []
    h = HealthMonitor(HealthConfig())
    assert h.check_all(measure("directional", 40, up)) == []


def test_loss_streak_limits_depend_on_the_kind_of_strategy() -> None:
    down = CAPITAL - usd(150)  # 1.5 % below the starting capital
    cases = {"directional": 5, "market_making": 15, "arbitrage": 3}
    for kind, limit in cases.items():
        b = enforced()
        assert b.evaluate(T0, [measure(kind, limit - 1, down)], down, CAPITAL, CAPITAL) == []
        acts = b.evaluate(T0 + 1, [measure(kind, limit, down)], down, CAPITAL, CAPITAL)
        assert [(a.kind, a.effect) for a in acts] == [("trip", "pause_strategy")], kind
        assert f"the {kind} loss-streak limit {limit}" in (acts[0].breaker.reason or "")
        assert "down 1.50%" in (acts[0].breaker.reason or "")
    # A loss of less than consecutive_losses_min_loss_pct (1 %) does not trip.
    small = CAPITAL - usd(99)
    assert (
        enforced().evaluate(T0, [measure("directional", 9, small)], small, CAPITAL, CAPITAL) == []
    )


def test_observe_mode_records_what_would_have_tripped_and_keeps_trading() -> None:
    # Default modes: the loss streak is observed in paper and enforced with live money.
    b = BreakerBoard(BreakerConfig())
    down = CAPITAL - usd(300)
    acts = b.evaluate(T0, [measure("directional", 5, down)], down, CAPITAL, CAPITAL)
    assert [(a.kind, a.effect) for a in acts] == [("observe", "pause_strategy")]
    assert b.get("consecutive_losses", "s1").state is BreakerState.CLOSED
    live = BreakerBoard(BreakerConfig())
    acts = live.evaluate(
        T0, [measure("directional", 5, down, stage="micro")], down, CAPITAL, CAPITAL
    )
    assert [(a.kind, a.effect) for a in acts] == [("trip", "pause_strategy")]
    # A drawdown observed once is reported once until it clears.
    cfg = BreakerConfig(strategy_drawdown_pct=1, modes={"strategy_drawdown": {"paper": "observe"}})
    obs = BreakerBoard(cfg)
    m = measure("directional", 0, down)
    assert [a.kind for a in obs.evaluate(T0, [m], down, CAPITAL, CAPITAL)] == ["observe"]
    assert obs.evaluate(T0 + 1, [m], down, CAPITAL, CAPITAL) == []
    ok = measure("directional", 0, CAPITAL)
    assert obs.evaluate(T0 + 2, [ok], CAPITAL, CAPITAL, CAPITAL) == []
    assert [a.kind for a in obs.evaluate(T0 + 3, [m], down, CAPITAL, CAPITAL)] == ["observe"]


def test_the_safety_layer_counts_observations_and_does_not_pause() -> None:
    h = make_harness(
        make_config({"risk": {"enabled": False}}), kinds=("directional", "directional")
    )
    h.at(T0)
    h.buy("s1", "Y1", 1000, None)  # 510.00 at 0.51
    h.set_book("Y1", [(0.37, 1000)], [(0.39, 1000)], T0 + 1)  # -130.00: 1.3 % down
    h.pf("s1").consecutive_losses = 5
    h.at(T0 + 2)
    assert h.engine.runners["s1"].status == "active"
    ev = h.writer.events("observed")
    assert len(ev) == 1 and ev[0]["strategy"] == "s1"
    assert ev[0]["message"].startswith("Breaker consecutive_losses:s1 would have tripped")
    assert h.safety.observed == {"breaker consecutive_losses:s1": 1}
    assert h.writer.state["observed"] == {"breaker consecutive_losses:s1": 1}


def test_modes_accept_one_word_or_one_per_stage_and_reject_typos() -> None:
    cfg = parse_config({"breakers": {"modes": {"daily_loss": "observe"}}}, "t.yaml")
    assert cfg.breakers.modes.daily_loss.mode("full") == "observe"
    cfg = parse_config({"health": {"modes": {"win_rate": {"micro": "observe"}}}}, "t.yaml")
    assert cfg.health.modes.win_rate.mode("micro") == "observe"
    assert cfg.health.modes.win_rate.mode("full") == "enforce"
    with pytest.raises(Exception, match="enforce"):
        parse_config({"breakers": {"modes": {"daily_loss": "watch"}}}, "t.yaml")
    with pytest.raises(Exception, match="unknown strategy kind"):
        parse_config({"breakers": {"consecutive_losses_by_kind": {"mm": 3}}}, "t.yaml")


def _trip_daily_loss():  # type: ignore[no-untyped-def]
    h = make_harness(make_config({"breakers": {"daily_loss_pct": 0.5}, "risk": {"enabled": False}}))
    h.at(T0)
    h.buy("s1", "Y1", 1000, None)  # 510.00 at 0.51
    h.set_book("Y1", [(0.19, 1000)], [(0.21, 1000)], T0 + 1)  # -310.00 of 20,000
    h.at(T0 + 2)
    assert {r.status for r in h.engine.runners.values()} == {"paused"}
    return h


def test_the_daily_loss_breaker_re_arms_at_the_next_risk_day() -> None:
    # Defect: a tripped daily-loss breaker stayed tripped forever and never fired again.
    h = _trip_daily_loss()
    b = h.safety.board.get("daily_loss")
    h.at(T0 + DAY - 1)
    assert b.state is BreakerState.OPEN
    h.at(T0 + DAY)  # midnight UTC: a new risk day
    assert b.state is BreakerState.CLOSED and b.reason == "new risk day 2026-01-02: re-armed"
    assert {r.status for r in h.engine.runners.values()} == {"active"}
    # ...and it fires again on a new loss the next day.
    h.set_book("Y1", [(0.01, 1000)], [(0.03, 1000)], T0 + DAY + 1)  # another -180.00 (0.91 %)
    h.at(T0 + DAY + 2)
    assert b.state is BreakerState.OPEN and b.trips == 2
    assert {r.status for r in h.engine.runners.values()} == {"paused"}


def test_resuming_around_an_open_breaker_is_refused_with_its_name() -> None:
    # Defect: resuming strategies one by one left the daily-loss breaker tripped and disarmed.
    h = _trip_daily_loss()
    with pytest.raises(CommandError) as exc:
        h.safety.set_strategy("resume", "s1", "looks fine", "dashboard")
    msg = str(exc.value)
    assert "breaker daily_loss is OPEN" in msg and "breaker-reset daily_loss" in msg
    assert h.engine.runners["s1"].status == "paused"
    out = h.safety.reset_breaker("daily_loss", None, "reviewed", "dashboard")
    assert "resumed s1, s2" in out
    assert h.safety.board.get("daily_loss").state is BreakerState.CLOSED


def test_pause_all_and_resume_all_skip_what_an_open_breaker_holds() -> None:
    h = make_harness(make_config({"risk": {"enabled": False}}))
    out = h.safety.set_all_strategies("pause", "news in 5 minutes", "dashboard")
    assert out == "Paused 2 strategies: s1, s2"
    assert {r.status for r in h.engine.runners.values()} == {"paused"}
    # A per-strategy breaker holds s2: RESUME ALL resumes s1 and names the breaker for s2.
    h.safety.board.get("strategy_drawdown", "s2").state = BreakerState.OPEN
    out = h.safety.set_all_strategies("resume", "news out", "dashboard")
    assert out.startswith("Resumed 1 strategies: s1; not resumed: s2 (cannot resume s2: breaker ")
    assert "strategy_drawdown:s2 is OPEN" in out
    assert h.engine.runners["s1"].status == "active" and h.engine.runners["s2"].status == "paused"
    h.engine.set_status("s1", "disabled", "test")
    with pytest.raises(CommandError, match="no active strategy to pause"):
        h.safety.set_all_strategies("pause", "again", "cli")


def test_the_daily_loss_limit_pauses_until_the_next_risk_day_instead_of_refusing_all_day() -> None:
    # Defect: a strategy past max_daily_loss_usd kept trying; the 24-hour run recorded 12,238
    # refusals for momentum alone (one a second).
    h = make_harness(
        make_config(
            {"risk": {"limits": {"max_daily_loss_usd": 100}}, "breakers": {"enabled": False}}
        )
    )
    h.at(T0)
    h.buy("s1", "Y1", 1000, None)  # 510.00 at 0.51
    h.set_book("Y1", [(0.38, 1000)], [(0.40, 1000)], T0 + 1)  # -120.00
    h.at(T0 + 2)
    r = h.engine.runners["s1"]
    assert r.status == "paused"
    assert r.status_reason.startswith("risk max_daily_loss: daily loss 120.00 reached")
    assert h.engine.runners["s2"].status == "active"
    # The built-in strategies see ctx.status() == "paused" and stop asking (no refusal spam);
    # an entry that still comes is refused by the trading-status gate.
    assert h.buy("s1", "Y1", 10, 0.40) is None
    assert h.writer.events("risk_rejection")[-1]["limit_value"] == "active"
    peak = h.safety.metrics.peak["s1"]
    h.at(T0 + DAY)
    assert r.status == "active" and r.status_reason == "new risk day 2026-01-02"
    assert h.safety.metrics.peak["s1"] == peak  # the drawdown rules keep their peak
    assert h.writer.events("auto_resume")[-1]["strategy"] == "s1"
