"""Competition glue: per-strategy running statistics and the leaderboard row.

The formulas live in :mod:`services.metrics` (pure functions; ``docs/METRICS.md``). This module
keeps, per strategy, what those formulas need incrementally (O(1) per sample, all-time):

* the all-time peak and **max drawdown** of equity sampled every memory snapshot (1 s by
  default), kept in ``bot_state["performance"]`` so it survives restarts;
* **hourly and daily returns** (UTC calendar periods of event time); ``competition.returns_period``
  picks which one Sharpe, Sortino and Calmar use (``auto``: daily once there are
  ``sharpe_min_returns`` daily returns, hourly before);
* **exposure time** (share of time holding a position or a resting buy);
* closed-bet sums (rebuilt from the portfolio's ledger replay at restart).

The composite score (0-100) weights normalised components, by default 40 % return, 30 % Sharpe,
20 % win rate, 10 % drawdown (see :func:`services.metrics.composite_score`).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field, replace
from typing import Any

from services.metrics import (
    PERIODS_PER_YEAR,
    BetAccumulator,
    DrawdownTracker,
    Estimate,
    ExposureClock,
    PeriodReturns,
    ScoreInputs,
    annualised_return_pct,
    calmar,
    composite_score,
    sharpe,
    sortino,
)
from utils.config import CompetitionConfig


class EquityRing:
    """A bounded in-memory series of (time, equity) samples (float64 arrays, 16 B a sample).

    Stored in the standard library's ``array('d')`` (the same 8-byte doubles as numpy's float64),
    so the replay and the engine do not import numpy for it (issue 18: about 15 MB of peak RSS).
    The arrays grow with the samples up to ``capacity`` (1.4 MB a strategy for a day of seconds),
    then the oldest sample is overwritten.
    """

    def __init__(self, capacity: int) -> None:
        self.ts = array("d")
        self.equity = array("d")
        self.capacity = capacity
        self.n = 0
        self._head = 0

    def append(self, ts: float, equity: float) -> None:
        """Add a sample, overwriting the oldest when full."""
        if self.n < self.capacity:
            self.ts.append(ts)
            self.equity.append(equity)
            self.n += 1
            self._head = self.n % self.capacity
            return
        self.ts[self._head] = ts
        self.equity[self._head] = equity
        self._head = (self._head + 1) % self.capacity

    def series(self) -> tuple[array[float], array[float]]:
        """Return (times, equities) oldest first (copies)."""
        h = self._head
        if self.n < self.capacity or h == 0:
            return self.ts[:], self.equity[:]
        return self.ts[h:] + self.ts[:h], self.equity[h:] + self.equity[:h]


@dataclass
class StrategyStats:
    """Running performance statistics of one strategy (USD floats)."""

    starting: float
    drawdown: DrawdownTracker = field(default_factory=DrawdownTracker)
    hourly: PeriodReturns = field(default_factory=lambda: PeriodReturns("hourly"))
    daily: PeriodReturns = field(default_factory=lambda: PeriodReturns("daily"))
    exposure: ExposureClock = field(default_factory=ExposureClock)
    bets: BetAccumulator = field(default_factory=BetAccumulator)
    bets_seen: int = 0
    last_ts: float | None = None

    @property
    def max_drawdown_pct(self) -> float:
        """Return the all-time maximum drawdown, percent."""
        return self.drawdown.max_dd_pct

    def sample(self, ts: float, equity: float, exposed: bool) -> None:
        """Add an equity sample at event time ``ts`` (a repeated time only updates the value)."""
        self.drawdown.update(equity)
        self.hourly.update(ts, equity)
        self.daily.update(ts, equity)
        self.exposure.update(ts, exposed)
        self.last_ts = ts

    def add_bets(self, pnls_usd: list[float]) -> None:
        """Add newly closed bets' P&L (net of fees), USD."""
        for p in pnls_usd:
            self.bets.add(p)
        self.bets_seen += len(pnls_usd)

    def returns_for(self, cfg: CompetitionConfig) -> PeriodReturns:
        """Return the period returns the ratios use under ``cfg.returns_period``."""
        if cfg.returns_period == "hourly":
            return self.hourly
        if cfg.returns_period == "daily":
            return self.daily
        return self.daily if len(self.daily.returns) >= cfg.sharpe_min_returns else self.hourly

    def to_dict(self) -> dict[str, Any]:
        """Return the persisted part (closed-bet sums are rebuilt from the ledger)."""
        return {
            "starting": self.starting,
            "peak": self.drawdown.peak,
            "max_dd_pct": self.drawdown.max_dd_pct,
            "hourly": self.hourly.to_dict(),
            "daily": self.daily.to_dict(),
            "exposure": {
                "exposed_s": self.exposure.exposed_s,
                "total_s": self.exposure.total_s,
                "last_ts": self.exposure.last_ts,
                "last_exposed": self.exposure.last_exposed,
            },
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StrategyStats:
        """Rebuild from :meth:`to_dict` output."""
        ex = d.get("exposure") or {}
        return cls(
            starting=float(d["starting"]),
            drawdown=DrawdownTracker(d.get("peak"), float(d.get("max_dd_pct") or 0.0)),
            hourly=PeriodReturns.from_dict(d["hourly"]),
            daily=PeriodReturns.from_dict(d["daily"]),
            exposure=ExposureClock(
                float(ex.get("exposed_s") or 0.0),
                float(ex.get("total_s") or 0.0),
                ex.get("last_ts"),
                bool(ex.get("last_exposed")),
            ),
            last_ts=d.get("last_ts"),
        )


@dataclass(frozen=True, slots=True)
class Ratios:
    """Sharpe, Sortino and Calmar on one return period."""

    period: str
    n_returns: int
    sharpe: Estimate | None
    sortino: Estimate | None
    calmar: float | None
    annual_return_pct: float | None


def ratios(st: StrategyStats, cfg: CompetitionConfig) -> Ratios:
    """Return the ratios of ``st`` on the period ``cfg`` selects."""
    pr = st.returns_for(cfg)
    ppy = PERIODS_PER_YEAR[pr.period]
    rets = pr.returns
    n = cfg.sharpe_min_returns
    return Ratios(
        pr.period,
        len(rets),
        sharpe(rets, ppy, n),
        sortino(rets, ppy, n),
        calmar(rets, ppy, st.max_drawdown_pct, n),
        annualised_return_pct(rets, ppy) if len(rets) >= n else None,
    )


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One line of the leaderboard (plain values, ready for terminal, DB and dashboard).

    ``metrics`` holds the full set of :func:`row_metrics` (also stored as the snapshot's
    ``metrics_json``).
    """

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
    sharpe_se: float | None = None
    evidence_pct: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(x, nd)


def shown_sharpe(st: StrategyStats, cfg: CompetitionConfig) -> float | None:
    """Return the Sharpe ratio as the leaderboard and the snapshots show it (4 decimals)."""
    rt = ratios(st, cfg)
    return _r(rt.sharpe.value if rt.sharpe else None, 4)


def row_metrics(
    st: StrategyStats,
    cfg: CompetitionConfig,
    *,
    return_pct: float,
    fees_usd: float,
    equity_usd: float,
) -> tuple[dict[str, Any], float, float]:
    """Return (metrics dict, score, evidence %) of one strategy now."""
    rt = ratios(st, cfg)
    bs = st.bets.stats()
    w = cfg.weights
    sc = composite_score(
        ScoreInputs(return_pct, rt.sharpe, bs.win_rate, bs.n, st.max_drawdown_pct),
        weights=(w.return_, w.sharpe, w.win_rate, w.drawdown),
        return_scale_pct=cfg.return_scale_pct,
        sharpe_scale=cfg.sharpe_scale,
        drawdown_scale_pct=cfg.drawdown_scale_pct,
        win_rate_min_bets=cfg.win_rate_min_bets,
    )
    m: dict[str, Any] = {
        "returns_period": rt.period,
        "n_returns": rt.n_returns,
        "min_returns": cfg.sharpe_min_returns,
        "sharpe": _r(rt.sharpe.value if rt.sharpe else None, 4),
        "sharpe_se": _r(rt.sharpe.stderr if rt.sharpe else None, 4),
        "sortino": _r(rt.sortino.value if rt.sortino else None, 4),
        "sortino_se": _r(rt.sortino.stderr if rt.sortino else None, 4),
        "calmar": _r(rt.calmar, 4),
        "annual_return_pct": _r(rt.annual_return_pct, 4),
        "max_drawdown_pct": _r(st.max_drawdown_pct),
        "drawdown_pct": _r(st.drawdown.current_pct(equity_usd)),
        "exposure_time_pct": _r(st.exposure.pct, 4),
        "fees_usd": _r(fees_usd),
        "closed_bets": bs.n,
        "wins": bs.wins,
        "losses": bs.losses,
        "win_rate": _r(bs.win_rate),
        "profit_factor": _r(bs.profit_factor, 4),
        "expectancy_usd": _r(bs.expectancy),
        "avg_win_usd": _r(bs.avg_win),
        "avg_loss_usd": _r(bs.avg_loss),
        "largest_loss_usd": _r(bs.largest_loss),
        "score_components": {k: round(v, 4) for k, v in sc.components.items()},
        "evidence_pct": sc.evidence_pct,
    }
    return m, sc.score, sc.evidence_pct


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
