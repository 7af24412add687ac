"""Overfitting guard: the deflated Sharpe ratio (Bailey and López de Prado, 2014).

Picking the best of N trials inflates its Sharpe ratio even when no trial has an edge. The
deflated Sharpe ratio is the probability that the chosen trial's true Sharpe is above the
Sharpe one would expect from the best of N skill-less trials:

    SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))
    DSR = Phi( (SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2) )

with ``V`` the variance of the trials' Sharpe ratios, ``g`` the Euler-Mascheroni constant,
``Z`` the standard normal quantile, ``T`` the number of returns of the chosen trial and
``skew``, ``kurt`` (not excess) their moments. Sharpe ratios here are per period (not
annualised). Reference: D. H. Bailey, M. López de Prado, "The Deflated Sharpe Ratio:
Correcting for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
Management 40(5), 2014.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def period_sharpe(returns: Sequence[float]) -> float | None:
    """Return mean / sample standard deviation of per-period returns (None: < 2 or flat)."""
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns) / n
    var = sum((r - mean) ** 2 for r in returns) / (n - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var)


def moments(returns: Sequence[float]) -> tuple[float, float]:
    """Return (skewness, kurtosis) of returns (population moments; kurtosis 3 for a normal)."""
    n = len(returns)
    mean = sum(returns) / n
    m2 = sum((r - mean) ** 2 for r in returns) / n
    if m2 <= 0:
        return 0.0, 3.0
    m3 = sum((r - mean) ** 3 for r in returns) / n
    m4 = sum((r - mean) ** 4 for r in returns) / n
    return m3 / m2**1.5, m4 / m2**2


def expected_max_sharpe(n_trials: int, var_sharpe: float) -> float:
    """Return SR0, the Sharpe the best of ``n_trials`` skill-less trials reaches on average."""
    if n_trials < 2 or var_sharpe <= 0:
        return 0.0
    g = EULER_GAMMA
    return math.sqrt(var_sharpe) * (
        (1 - g) * _N.inv_cdf(1 - 1 / n_trials) + g * _N.inv_cdf(1 - 1 / (n_trials * math.e))
    )


@dataclass(frozen=True, slots=True)
class Deflated:
    """The guard's verdict on the chosen trial."""

    dsr: float | None  # probability in [0, 1]; None without enough returns
    sharpe: float | None  # the chosen trial's per-period Sharpe
    sr0: float  # the expected maximum Sharpe of skill-less trials
    n_trials: int
    n_returns: int
    note: str

    def to_dict(self) -> dict[str, float | int | str | None]:
        """Return a plain dict."""
        return {k: getattr(self, k) for k in self.__slots__}


def deflated_sharpe(best_returns: Sequence[float], trial_sharpes: Sequence[float]) -> Deflated:
    """Return the deflated Sharpe ratio of the chosen trial among ``trial_sharpes``."""
    sharpes = [s for s in trial_sharpes if s is not None and math.isfinite(s)]
    n = max(1, len(trial_sharpes))
    if len(sharpes) >= 2:
        mean = sum(sharpes) / len(sharpes)
        var = sum((s - mean) ** 2 for s in sharpes) / (len(sharpes) - 1)
    else:
        var = 0.0
    sr0 = expected_max_sharpe(n, var)
    sr = period_sharpe(best_returns)
    t = len(best_returns)
    if sr is None or t < 3:
        return Deflated(None, sr, sr0, n, t, "too few returns to judge (need 3 or more)")
    skew, kurt = moments(best_returns)
    denom = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    if denom <= 0:
        return Deflated(None, sr, sr0, n, t, "return moments make the test undefined")
    dsr = _N.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(denom))
    note = (
        "likely a real edge (DSR >= 0.95)"
        if dsr >= 0.95
        else "not distinguishable from the luck of picking the best trial (DSR < 0.95)"
    )
    return Deflated(dsr, sr, sr0, n, t, note)
