"""Entry criteria and eligibility: thresholds, evidence, durations, routes."""

from __future__ import annotations

from services.enums import Stage
from services.lifecycle.criteria import Figures, check_figures, eligibility, next_stage
from services.metrics import Estimate
from utils.graduation_config import Criteria, GraduationConfig

PAPER = GraduationConfig().stages.paper.promote_if  # 5 %, 1.5, 55 %, 15 %, 50 bets


def good(**kw: object) -> Figures:
    base: dict[str, object] = dict(
        return_pct=6.0,
        sharpe=Estimate(2.0, 0.9, 30),
        win_rate=0.6,
        closed_bets=60,
        max_drawdown_pct=8.0,
        n_returns=30,
        min_returns=20,
    )
    base.update(kw)
    return Figures(**base)  # type: ignore[arg-type]


def test_order_of_stages() -> None:
    assert [next_stage(s) for s in ("backtest", "paper", "micro", "mini", "full")] == [
        Stage.PAPER,
        Stage.MICRO,
        Stage.MINI,
        Stage.FULL,
        None,
    ]


def test_paper_defaults_pass_and_fail_at_the_limits() -> None:
    assert all(c.ok for c in check_figures(good(), PAPER, win_rate_min_bets=10))
    exact = good(return_pct=5.0, max_drawdown_pct=15.0, win_rate=0.55, closed_bets=50)
    assert all(c.ok for c in check_figures(exact, PAPER))  # inclusive
    bad = {c.name: c for c in check_figures(good(return_pct=4.99, closed_bets=49), PAPER)}
    assert not bad["return"].ok and not bad["closed_bets"].ok and bad["sharpe"].ok


def test_too_little_evidence_does_not_pass() -> None:
    f = good(sharpe=None, n_returns=12)
    c = {x.name: x for x in check_figures(f, PAPER)}
    assert not c["sharpe"].ok and "12 of 20" in c["sharpe"].text
    # A win rate over fewer bets than the metrics module needs is not judged.
    c = {
        x.name: x
        for x in check_figures(
            good(closed_bets=8), Criteria(min_win_rate_pct=50), win_rate_min_bets=10
        )
    }
    assert not c["win_rate"].ok and "too little evidence" in c["win_rate"].text
    # Supported basis: 2.0 - 0.9 = 1.1 < 1.5.
    sup = PAPER.model_copy(update={"sharpe_basis": "supported"})
    c = {x.name: x for x in check_figures(good(), sup)}
    assert not c["sharpe"].ok and "supported Sharpe 1.10" in c["sharpe"].text


def test_eligibility_needs_days_active_and_a_route() -> None:
    e = eligibility("paper", good(), PAPER, days_in_stage=29.9, min_days=30)
    assert not e.eligible and e.blockers[0] == "29.9 of 30 days in paper"
    e = eligibility("paper", good(), PAPER, days_in_stage=30, min_days=30)
    assert e.eligible and e.target is Stage.MICRO and e.needs_approval
    e = eligibility("paper", good(), PAPER, days_in_stage=31, min_days=30, status="paused")
    assert not e.eligible and "strategy is paused" in e.blockers
    e = eligibility(
        "paper",
        good(),
        PAPER,
        days_in_stage=31,
        min_days=30,
        target_route_ok=False,
        target_route="polymarket_live",
    )
    assert not e.eligible and "'polymarket_live'" in e.blockers[-1]
    e = eligibility("backtest", good(), PAPER, days_in_stage=8, min_days=7)
    assert e.eligible and not e.needs_approval
    assert not eligibility("full", good(), PAPER, days_in_stage=99, min_days=0).eligible


def test_a_partly_written_stage_keeps_its_other_defaults() -> None:
    from utils.config import parse_config

    cfg = parse_config(
        {
            "graduation": {
                "stages": {"paper": {"capital_usd": 500, "promote_if": {"min_sharpe": None}}}
            },
            "selection": {"gates": {"min_sharpe": 2}},
        },
        "x.yaml",
    )
    paper = cfg.graduation.stages.paper
    assert paper.capital_usd == 500 and paper.min_days == 30 and paper.route == "paper"
    assert paper.promote_if.min_sharpe is None  # null switches it off
    assert paper.promote_if.min_return_pct == 5.0 and paper.promote_if.min_closed_bets == 50
    assert cfg.selection.gates.min_sharpe == 2 and cfg.selection.gates.min_win_rate_pct == 55
