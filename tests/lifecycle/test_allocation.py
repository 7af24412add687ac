"""Selection (70/20/10) and the rebalancer on hand-built metric tables."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.lifecycle.allocation import Allocation, bounded_shares, rebalance, select
from services.lifecycle.criteria import Figures
from services.metrics import Estimate
from utils.config import CompetitionConfig
from utils.graduation_config import RebalanceWeights, SelectionConfig

GATES = SelectionConfig().gates  # return > 0, Sharpe > 1.5, win > 55 %, dd < 15 %, >= 20 bets
SHARES = (70.0, 20.0, 10.0)


def fig(
    score: float,
    ret: float = 8.0,
    sharpe: float | None = 2.5,
    wr: float = 0.6,
    bets: int = 40,
    dd: float = 5.0,
) -> Figures:
    est = None if sharpe is None else Estimate(sharpe, 0.5, 30)
    return Figures(ret, est, wr, bets, dd, n_returns=30, min_returns=20, score=score)


def test_top_three_get_70_20_10_of_the_pool() -> None:
    table = {"a": fig(60), "b": fig(80), "c": fig(70), "d": fig(50)}
    a = select(table, GATES, SHARES, Decimal("1000"))
    assert a.shares_pct == {"b": 70.0, "c": 20.0, "a": 10.0, "d": 0.0}
    assert a.capital == {"b": 700_000_000, "c": 200_000_000, "a": 100_000_000, "d": 0}
    assert a.unallocated == 0
    assert "only the top 3" in a.reasons["d"]


def test_ties_break_on_return_then_name() -> None:
    table = {"z": fig(70, ret=9.0), "y": fig(70, ret=9.0), "x": fig(70, ret=12.0)}
    a = select(table, GATES, SHARES, Decimal("1000"))
    assert a.shares_pct == {"x": 70.0, "y": 20.0, "z": 10.0}


def test_fewer_than_three_qualified_leaves_the_rest_unallocated() -> None:
    table = {
        "good": fig(75),
        "noisy": fig(90, sharpe=None),  # Sharpe not shown yet: too little evidence
        "loser": fig(85, ret=0.0),  # return must be strictly above 0
        "thin": fig(88, bets=19),
    }
    a = select(table, GATES, SHARES, Decimal("1000"))
    assert a.shares_pct["good"] == 70.0
    assert a.shares_pct["noisy"] == a.shares_pct["loser"] == a.shares_pct["thin"] == 0.0
    assert a.unallocated == 300_000_000
    assert "too little evidence" in a.reasons["noisy"]
    assert "return 0.00% fails > 0%" in a.reasons["loser"]
    assert "30% of the pool stays unallocated" in a.reasons["(unallocated)"]


def test_a_strategy_that_drops_out_loses_its_share_next_week() -> None:
    week1 = {"a": fig(80), "b": fig(70), "c": fig(60)}
    assert select(week1, GATES, SHARES, Decimal("1000")).shares_pct["a"] == 70.0
    week2 = dict(week1, a=fig(80, dd=16.0))  # drawdown over the gate
    a = select(week2, GATES, SHARES, Decimal("1000"))
    assert a.shares_pct == {"a": 0.0, "b": 70.0, "c": 20.0}
    assert "max drawdown 16.00% fails < 15%" in a.reasons["a"]


def test_bounded_shares_water_fill() -> None:
    s = bounded_shares({"a": 90, "b": 5, "c": 3, "d": 2}, 5.0, 40.0)
    assert s["a"] == pytest.approx(40.0)
    assert s["b"] + s["c"] + s["d"] == pytest.approx(60.0)
    assert min(s.values()) >= 5.0 - 1e-9
    assert sum(s.values()) == pytest.approx(100.0)
    # Two strategies cannot place the pool under a 40 % cap: 20 % stays out.
    assert bounded_shares({"a": 1, "b": 1}, 5.0, 40.0) == {"a": 40.0, "b": 40.0}
    # Equal scores: equal shares.
    assert bounded_shares({"a": 2, "b": 2, "c": 2, "d": 2}, 5.0, 40.0) == {k: 25.0 for k in "abcd"}


def test_rebalance_scores_sharpe_win_rate_pnl_and_keeps_bounds() -> None:
    comp = CompetitionConfig()
    table = {
        "star": fig(0, ret=30.0, sharpe=6.0, wr=0.8, bets=50),
        "ok": fig(0, ret=5.0, sharpe=2.0, wr=0.56, bets=50),
        "meh": fig(0, ret=1.0, sharpe=0.5, wr=0.5, bets=50),
        "bad": fig(0, ret=-10.0, sharpe=-2.0, wr=0.3, bets=50),
        "worse": fig(0, ret=-20.0, sharpe=-4.0, wr=0.2, bets=50),
    }
    a = rebalance(
        table, RebalanceWeights(), comp, Decimal("1000"), min_share_pct=5, max_share_pct=40
    )
    assert isinstance(a, Allocation)
    assert a.shares_pct["star"] == max(a.shares_pct.values())
    assert a.shares_pct["worse"] == pytest.approx(5.0)  # raised to the floor
    assert sum(a.shares_pct.values()) == pytest.approx(100.0)
    assert all(5.0 - 1e-9 <= v <= 40.0 + 1e-9 for v in a.shares_pct.values())
    assert a.shares_pct["ok"] > a.shares_pct["meh"] > a.shares_pct["bad"] >= a.shares_pct["worse"]
    assert sum(a.capital.values()) <= a.pool
    assert a.pool - sum(a.capital.values()) < 10  # micro-units lost to flooring only
    assert Allocation.from_dict(a.to_dict()) == a
