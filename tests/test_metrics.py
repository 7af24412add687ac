"""The metrics module: every formula of docs/METRICS.md, its worked example, and the leaderboard
figures a short run produces (no Sharpe from a few minutes of data)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.metrics import (
    PERIODS_PER_YEAR,
    BetAccumulator,
    DrawdownTracker,
    Estimate,
    PeriodReturns,
    ScoreInputs,
    annualised_return_pct,
    bet_stats,
    calmar,
    composite_score,
    exposure_time_pct,
    max_drawdown_pct,
    period_returns,
    sharpe,
    sortino,
    supported_sharpe,
)
from tests.risk.conftest import T0, make_config, make_harness

DOC = Path(__file__).resolve().parent.parent / "docs" / "METRICS.md"


def _table_after(marker: str) -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    block = text.split(marker, 1)[1].strip().split("\n\n", 1)[0]
    rows = [r.strip().strip("|").split("|") for r in block.splitlines() if r.startswith("|")]
    return [[c.strip() for c in r] for r in rows[2:]]  # skip header and rule


def test_the_worked_example_of_docs_metrics_md_is_what_the_module_computes() -> None:
    inp = _table_after("<!-- worked-example-input -->")
    ts = [T0 + int(d) * 86_400 + float(s) for d, s, _ in inp]
    eq = [float(e) for _, _, e in inp]
    rets = period_returns(ts, eq, "daily")
    ppy = PERIODS_PER_YEAR["daily"]
    sr = sharpe(rets, ppy, 5)
    so = sortino(rets, ppy, 5)
    mdd = max_drawdown_pct(eq)
    bs = bet_stats([12.0, -5.0, 8.0, -3.0, 0.0])
    sc = composite_score(
        ScoreInputs(0.6, sr, bs.win_rate, bs.n, mdd),
        weights=(0.4, 0.3, 0.2, 0.1),
        return_scale_pct=10,
        sharpe_scale=3,
        drawdown_scale_pct=50,
        win_rate_min_bets=10,
    )
    assert sr is not None and so is not None
    got = {
        "returns": len(rets),
        "Sharpe": sr.value,
        "Sharpe standard error": sr.stderr,
        "Sortino": so.value,
        "annualised return %": annualised_return_pct(rets, ppy),
        "max drawdown %": mdd,
        "Calmar": calmar(rets, ppy, mdd, 5),
        "win rate": bs.win_rate,
        "profit factor": bs.profit_factor,
        "expectancy": bs.expectancy,
        "average win": bs.avg_win,
        "average loss": bs.avg_loss,
        "largest loss": bs.largest_loss,
        "score": sc.score,
        "evidence %": sc.evidence_pct,
    }
    doc = {name: value for name, value in _table_after("<!-- worked-example -->")}
    assert set(doc) == set(got)
    for name, text in doc.items():
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert got[name] == pytest.approx(float(text), abs=0.51 * 10**-decimals), name


def test_period_returns_use_the_last_sample_of_each_calendar_period() -> None:
    # Two samples in hour 0, none in hour 1 (bot stopped), one in hour 2, one in running hour 3.
    ts = [T0, T0 + 3000, T0 + 2 * 3600 + 5, T0 + 3 * 3600 + 1]
    rets = period_returns(ts, [100.0, 110.0, 99.0, 120.0], "hourly")
    assert rets == pytest.approx([0.10, 99.0 / 110.0 - 1.0])  # the gap adds no return
    pr = PeriodReturns("hourly")
    for t, e in zip(ts, [100.0, 110.0, 99.0, 120.0], strict=True):
        pr.update(t, e)
    again = PeriodReturns.from_dict(pr.to_dict())
    again.update(T0 + 4 * 3600, 130.0)
    assert again.returns[-1] == pytest.approx(120.0 / 99.0 - 1.0)


def test_sharpe_and_sortino_wait_for_enough_returns_and_carry_a_standard_error() -> None:
    rets = [0.01, -0.005, 0.008, -0.002, 0.004] * 4  # 20 returns
    assert sharpe(rets[:19], 365, 20) is None
    sr = sharpe(rets, 365, 20)
    assert sr is not None and sr.n == 20
    sr_p = statistics.mean(rets) / statistics.stdev(rets)
    assert sr.value == pytest.approx(sr_p * math.sqrt(365))
    assert sr.stderr == pytest.approx(math.sqrt((1 + sr_p**2 / 2) / 20) * math.sqrt(365))
    assert sharpe([0.0] * 30, 365, 20) is None  # equity never moved
    assert sortino([0.01] * 30, 365, 20) is None  # no losing period
    so = sortino(rets, 365, 20)
    dd = math.sqrt(sum(min(r, 0) ** 2 for r in rets) / 20)
    assert so is not None and so.value == pytest.approx(statistics.mean(rets) / dd * math.sqrt(365))


def test_bet_statistics() -> None:
    bs = bet_stats([3.0, -1.0, -2.0, 6.0])
    assert (bs.n, bs.wins, bs.losses) == (4, 2, 2)
    assert bs.profit_factor == pytest.approx(3.0)
    assert bs.expectancy == pytest.approx(1.5)
    assert (bs.avg_win, bs.avg_loss, bs.largest_loss) == (4.5, -1.5, -2.0)
    none = bet_stats([])
    assert none.win_rate is None and none.profit_factor is None and none.expectancy is None
    assert bet_stats([1.0]).profit_factor is None  # no loss: undefined, never infinite (JSON)


@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), max_size=50))
def test_the_running_bet_sums_equal_the_batch_formula(pnls: list[float]) -> None:
    acc = BetAccumulator()
    for p in pnls:
        acc.add(p)
    a, b = acc.stats(), bet_stats(pnls)
    assert (a.n, a.wins, a.losses) == (b.n, b.wins, b.losses)
    if pnls:
        assert a.expectancy == pytest.approx(sum(pnls) / len(pnls), abs=1e-6)


@given(st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=1, max_size=60))
def test_max_drawdown_is_the_largest_fall_from_a_running_peak(eq: list[float]) -> None:
    best = 0.0
    for i, e in enumerate(eq):
        peak = max(eq[: i + 1])
        best = max(best, (peak - e) / peak * 100.0)
    assert max_drawdown_pct(eq) == pytest.approx(best)
    t = DrawdownTracker()
    for e in eq:
        t.update(e)
    assert 0.0 <= t.current_pct(eq[-1]) <= t.max_dd_pct + 1e-9


def test_exposure_time_counts_each_interval_with_the_state_at_its_start() -> None:
    assert exposure_time_pct([0, 600, 1800, 3600], [True, False, True, False]) == pytest.approx(
        (600 + 1800) / 3600 * 100
    )
    assert exposure_time_pct([0], [True]) is None


def test_the_score_discounts_a_noisy_sharpe_and_reports_its_evidence() -> None:
    kw = {
        "weights": (0.4, 0.3, 0.2, 0.1),
        "return_scale_pct": 10.0,
        "sharpe_scale": 3.0,
        "drawdown_scale_pct": 50.0,
        "win_rate_min_bets": 10,
    }
    noisy = composite_score(ScoreInputs(0.0, Estimate(50.0, 60.0, 5), 1.0, 3, 0.0), **kw)
    assert noisy.components["sharpe"] == 0.5  # 50 ± 60: no evidence either way
    assert noisy.components["win_rate"] == 0.5  # 3 bets < 10
    assert noisy.evidence_pct == 80.0
    solid = composite_score(ScoreInputs(0.0, Estimate(4.0, 1.0, 200), 0.6, 50, 0.0), **kw)
    assert solid.components["sharpe"] == 1.0 and solid.evidence_pct == 100.0
    assert supported_sharpe(Estimate(-2.5, 1.0, 30)) == -1.5
    bare = composite_score(ScoreInputs(0.0, None, None, 0, 0.0), **kw)
    assert bare.evidence_pct == 50.0


def test_a_few_minutes_of_trading_show_no_sharpe_and_a_plausible_one_after_a_day() -> None:
    # Defect: Sharpe annualised from 10-second returns read -367.71 for one trade and -0.05 %.
    h = make_harness(make_config({"risk": {"enabled": False}}))
    h.buy("s1", "Y1", 100, None)
    h.set_book("Y1", [(0.48, 1000)], [(0.50, 1000)], T0 + 60)
    for k in range(1, 8 * 60):
        h.at(T0 + k)
    row = {r.strategy: r for r in h.engine.tracker.latest}["s1"]
    assert row.return_pct < 0 and row.sharpe is None and row.sharpe_se is None
    assert row.metrics["n_returns"] == 0 and row.metrics["returns_period"] == "hourly"
    # A day of hourly moves: the Sharpe appears with its standard error, on hourly returns.
    for hour in range(1, 26):
        mid = 0.49 + (0.01 if hour % 2 else -0.005)
        h.set_book("Y1", [(mid - 0.01, 1000)], [(mid + 0.01, 1000)], T0 + hour * 3600)
        h.at(T0 + hour * 3600 + 1)
    row = {r.strategy: r for r in h.engine.tracker.latest}["s1"]
    assert row.metrics["n_returns"] >= 20 and row.sharpe is not None
    assert row.sharpe_se is not None and row.sharpe_se > 0
    assert abs(row.sharpe) < 1_000
