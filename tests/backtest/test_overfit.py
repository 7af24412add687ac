"""The deflated Sharpe ratio: the best of many skill-less trials is not an edge."""

from __future__ import annotations

import random

import pytest

from services.backtest.overfit import deflated_sharpe, expected_max_sharpe, period_sharpe


def test_expected_max_sharpe_grows_with_the_number_of_trials() -> None:
    assert expected_max_sharpe(1, 0.04) == 0.0
    assert 0 < expected_max_sharpe(10, 0.04) < expected_max_sharpe(1000, 0.04)
    # Bailey & López de Prado: N = 100 trials, V = 1/T with T = 252 -> SR0 ~ 0.16 per period.
    assert expected_max_sharpe(100, 1 / 252) == pytest.approx(0.1604, abs=2e-3)


def test_the_best_of_noise_trials_is_deflated_and_a_real_edge_is_not() -> None:
    rng = random.Random(5)
    trials = [[rng.gauss(0.0, 0.01) for _ in range(200)] for _ in range(200)]
    sharpes = [period_sharpe(t) or 0.0 for t in trials]
    best = trials[max(range(len(trials)), key=lambda i: sharpes[i])]
    luck = deflated_sharpe(best, sharpes)
    assert luck.dsr is not None and luck.dsr < 0.95
    edge = [rng.gauss(0.004, 0.01) for _ in range(200)]  # per-period Sharpe about 0.4
    real = deflated_sharpe(edge, [*sharpes[:199], period_sharpe(edge) or 0.0])
    assert real.dsr is not None and real.dsr > 0.95


def test_too_few_returns_is_undefined() -> None:
    d = deflated_sharpe([0.01, 0.02], [0.1, 0.2])
    assert d.dsr is None and "too few" in d.note
