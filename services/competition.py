"""Competition metrics and the leaderboard.

Per strategy, incrementally (O(1) per snapshot, all-time):

* **return %**: equity (marked at the mid) over starting capital, minus one;
* **max drawdown %**: the largest peak-to-trough fall of equity, sampled every memory snapshot;
* **Sharpe**: mean over standard deviation of the equity returns between persisted snapshots
  (every ``snapshot_interval_s`` of event time), annualised with ``sqrt(seconds_per_year /
  snapshot_interval_s)`` on a 365-day year (prediction markets trade around the clock), risk-free
  rate 0. ``None`` until 30 returns exist or while equity has not moved;
* **win rate**: winning closed bets over closed bets (see ``services.portfolio``).

The composite score (0–100) weights normalised components, by default 40 % return, 30 % Sharpe,
20 % win rate, 10 % drawdown:

* return: ``clip((r + R) / 2R)`` with ``R = return_scale_pct`` (so 0 % return scores 0.5);
* Sharpe: ``clip((s + S) / 2S)`` with ``S = sharpe_scale``; 0.5 while undefined;
* win rate: as a fraction; 0.5 before the first closed bet;
* drawdown: ``1 - clip(dd / D)`` with ``D = drawdown_scale_pct``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from utils.config import CompetitionConfig

SECONDS_PER_YEAR = 365.0 * 24 * 3600


class EquityRing:
    """A bounded in-memory series of (time, equity) samples (float64 arrays, 16 B a sample)."""

    def __init__(self, capacity: int) -> None:
        self.ts = np.zeros(capacity, dtype=np.float64)
        self.equity = np.zeros(capacity, dtype=np.float64)
        self.capacity = capacity
        self.n = 0
        self._head = 0

    def append(self, ts: float, equity: float) -> None:
        """Add a sample, overwriting the oldest when full."""
        self.ts[self._head] = ts
        self.equity[self._head] = equity
        self._head = (self._head + 1) % self.capacity
        self.n = min(self.n + 1, self.capacity)

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (times, equities) oldest first."""
        if self.n < self.capacity:
            return self.ts[: self.n].copy(), self.equity[: self.n].copy()
        idx = np.r_[self._head : self.capacity, 0 : self._head]
        return self.ts[idx], self.equity[idx]


@dataclass(slots=True)
class StrategyStats:
    """Incremental performance statistics of one strategy."""

    starting: float
    peak: float
    max_drawdown_pct: float = 0.0
    last_persist_equity: float | None = None
    n_returns: int = 0
    mean_ret: float = 0.0
    m2_ret: float = 0.0

    def sample(self, equity: float) -> None:
        """Update peak and drawdown with a new equity sample (USD)."""
        if equity > self.peak:
            self.peak = equity
        elif self.peak > 0:
            dd = (self.peak - equity) / self.peak * 100.0
            if dd > self.max_drawdown_pct:
                self.max_drawdown_pct = dd

    def add_return(self, equity: float) -> None:
        """Add the return since the previous persisted snapshot (Welford update)."""
        prev = self.last_persist_equity
        self.last_persist_equity = equity
        if prev is None or prev <= 0:
            return
        r = equity / prev - 1.0
        self.n_returns += 1
        delta = r - self.mean_ret
        self.mean_ret += delta / self.n_returns
        self.m2_ret += delta * (r - self.mean_ret)

    def current_drawdown_pct(self, equity: float) -> float:
        """Return the fall from the peak right now, percent."""
        return (self.peak - equity) / self.peak * 100.0 if self.peak > 0 else 0.0

    def sharpe(self, interval_s: float, min_returns: int = 30) -> float | None:
        """Return the annualised Sharpe ratio, or None if undefined."""
        if self.n_returns < max(2, min_returns):
            return None
        var = self.m2_ret / (self.n_returns - 1)
        if var <= 1e-18:
            return None
        return self.mean_ret / math.sqrt(var) * math.sqrt(SECONDS_PER_YEAR / interval_s)


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One line of the leaderboard (plain values, ready for terminal, DB and dashboard)."""

    rank: int
    strategy: str
    score: float
    equity: float
    cash: float
    return_pct: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float
    exposure: float
    sharpe: float | None
    win_rate: float | None
    max_drawdown_pct: float
    drawdown_pct: float
    trades: int
    round_trips: int
    status: str
    strategy_status: str


def _clip01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def composite_score(
    cfg: CompetitionConfig,
    return_pct: float,
    sharpe: float | None,
    win_rate: float | None,
    max_drawdown_pct: float,
) -> float:
    """Return the 0–100 composite score (see the module docstring)."""
    w = cfg.weights
    total_w = w.return_ + w.sharpe + w.win_rate + w.drawdown
    if total_w <= 0:
        return 0.0
    r = _clip01((return_pct + cfg.return_scale_pct) / (2 * cfg.return_scale_pct))
    s = 0.5 if sharpe is None else _clip01((sharpe + cfg.sharpe_scale) / (2 * cfg.sharpe_scale))
    wr = 0.5 if win_rate is None else win_rate
    dd = 1.0 - _clip01(max_drawdown_pct / cfg.drawdown_scale_pct)
    score = (w.return_ * r + w.sharpe * s + w.win_rate * wr + w.drawdown * dd) / total_w
    return round(100.0 * score, 2)


def status_label(cfg: CompetitionConfig, return_pct: float, strategy_status: str) -> str:
    """Return WINNING / MARGINAL / LOSING, or PAUSED / DISABLED for stopped strategies."""
    if strategy_status == "paused":
        return "PAUSED"
    if strategy_status == "disabled":
        return "DISABLED"
    if return_pct >= cfg.winning_return_pct:
        return "WINNING"
    if return_pct <= cfg.losing_return_pct:
        return "LOSING"
    return "MARGINAL"


def rank_rows(rows: list[LeaderboardRow]) -> list[LeaderboardRow]:
    """Sort by score (then return) and assign ranks 1..n."""
    ordered = sorted(rows, key=lambda r: (-r.score, -r.return_pct, r.strategy))
    return [replace(r, rank=i) for i, r in enumerate(ordered, 1)]
