"""Capital allocation: the scheduled top-N selection (70/20/10) and the bounded rebalancer.

Pure functions over hand-built or live metric tables (:class:`~services.lifecycle.criteria.Figures`
per strategy); the manager turns their result into proposals and per-strategy capital.

* :func:`select`: strategies that pass the qualification gates (strict) are ranked by composite
  score (ties: higher return, then name), and the top ``len(shares_pct)`` get those shares of
  the pool; with fewer qualified strategies the unused shares stay unallocated.
* :func:`rebalance`: every strategy gets a share proportional to its rebalancing score (the
  metrics module's composite score with weights Sharpe / win rate / P&L and no drawdown part),
  kept within ``[min_share_pct, max_share_pct]`` by water-filling: a share outside the bounds is
  fixed at the bound and the rest is shared again among the others. If the upper bound cannot
  place the whole pool (fewer than ``100 / max`` strategies) the rest stays unallocated; if the
  lower bound cannot be honoured for everyone (more than ``100 / min``), each gets an equal share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from services.lifecycle.criteria import Figures, check_figures
from services.metrics import ScoreInputs, composite_score
from services.money import MICRO
from utils.config import CompetitionConfig
from utils.graduation_config import Criteria, RebalanceWeights


@dataclass(frozen=True)
class Allocation:
    """Shares of a pool (percent) and the capital they give (micro-USD), with a reason each."""

    kind: str  # "selection" or "rebalance"
    pool: int  # micro-USD
    shares_pct: dict[str, float]
    capital: dict[str, int]
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def unallocated(self) -> int:
        """Return the part of the pool no strategy holds, micro-USD."""
        return self.pool - sum(self.capital.values())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "kind": self.kind,
            "pool": self.pool,
            "shares_pct": dict(self.shares_pct),
            "capital": dict(self.capital),
            "reasons": dict(self.reasons),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Allocation:
        """Rebuild from :meth:`to_dict`."""
        return cls(
            str(d["kind"]),
            int(d["pool"]),
            {str(k): float(v) for k, v in d["shares_pct"].items()},
            {str(k): int(v) for k, v in d["capital"].items()},
            {str(k): str(v) for k, v in (d.get("reasons") or {}).items()},
        )


def _amount(pool: int, pct: float) -> int:
    # Exact: floor(pool * pct / 100) in micro-units, pct taken at 6 decimals.
    share = Decimal(str(round(pct, 6)))
    return int((Decimal(pool) * share / 100).to_integral_value(rounding=ROUND_FLOOR))


def rank_key(name: str, fig: Figures) -> tuple[float, float, str]:
    """Sort key: higher score first, then higher return, then the name (deterministic ties)."""
    return (-fig.score, -fig.return_pct, name)


def select(
    table: dict[str, Figures],
    gates: Criteria,
    shares_pct: tuple[float, ...],
    pool_usd: Decimal,
    *,
    win_rate_min_bets: int = 0,
) -> Allocation:
    """Return the top-N selection of ``table`` (see the module docstring)."""
    pool = int(pool_usd * MICRO)
    reasons: dict[str, str] = {}
    qualified: list[str] = []
    for name, fig in table.items():
        failed = [
            c.text
            for c in check_figures(fig, gates, strict=True, win_rate_min_bets=win_rate_min_bets)
            if not c.ok
        ]
        if failed:
            reasons[name] = "not qualified: " + "; ".join(failed)
        else:
            qualified.append(name)
    qualified.sort(key=lambda n: rank_key(n, table[n]))
    shares: dict[str, float] = {n: 0.0 for n in table}
    for rank, name in enumerate(qualified, 1):
        if rank <= len(shares_pct):
            shares[name] = shares_pct[rank - 1]
            reasons[name] = (
                f"rank {rank} of {len(qualified)} qualified (score {table[name].score:.2f}): "
                f"{shares_pct[rank - 1]:g}% of the pool"
            )
        else:
            reasons[name] = (
                f"qualified, rank {rank} (score {table[name].score:.2f}): only the top "
                f"{len(shares_pct)} are funded"
            )
    if len(qualified) < len(shares_pct):
        left = sum(shares_pct[len(qualified) :])
        reasons["(unallocated)"] = (
            f"{len(qualified)} strategies qualified for {len(shares_pct)} places: {left:g}% of "
            "the pool stays unallocated"
        )
    capital = {n: _amount(pool, p) for n, p in shares.items()}
    return Allocation("selection", pool, shares, capital, reasons)


def rebalance_score(fig: Figures, weights: RebalanceWeights, comp: CompetitionConfig) -> float:
    """Return the 0-100 rebalancing score: the composite score with weights P&L (return),
    Sharpe, win rate and no drawdown part (:func:`services.metrics.composite_score`)."""
    return composite_score(
        ScoreInputs(
            fig.return_pct, fig.sharpe, fig.win_rate, fig.closed_bets, fig.max_drawdown_pct
        ),
        weights=(weights.pnl, weights.sharpe, weights.win_rate, 0.0),
        return_scale_pct=comp.return_scale_pct,
        sharpe_scale=comp.sharpe_scale,
        drawdown_scale_pct=comp.drawdown_scale_pct,
        win_rate_min_bets=comp.win_rate_min_bets,
    ).score


def bounded_shares(scores: dict[str, float], lo: float, hi: float) -> dict[str, float]:
    """Return shares (percent, summing to at most 100) proportional to ``scores`` within
    ``[lo, hi]`` (water-filling; see the module docstring)."""
    names = sorted(scores)
    n = len(names)
    if n == 0:
        return {}
    if n * lo > 100.0:
        return {k: 100.0 / n for k in names}
    fixed: dict[str, float] = {}
    while True:
        free = [k for k in names if k not in fixed]
        if not free:
            return fixed
        remaining = 100.0 - sum(fixed.values())
        total = sum(max(scores[k], 0.0) for k in free)
        share = {
            k: remaining * (max(scores[k], 0.0) / total if total > 0 else 1.0 / len(free))
            for k in free
        }
        high = [k for k in free if share[k] > hi + 1e-9]
        if high:
            for k in high:
                fixed[k] = hi
            continue
        low = [k for k in free if share[k] < lo - 1e-9]
        if low:
            for k in low:
                fixed[k] = lo
            continue
        return {**fixed, **share}


def rebalance(
    table: dict[str, Figures],
    weights: RebalanceWeights,
    comp: CompetitionConfig,
    pool_usd: Decimal,
    *,
    min_share_pct: float,
    max_share_pct: float,
) -> Allocation:
    """Return the bounded, score-proportional division of the pool among ``table``."""
    pool = int(pool_usd * MICRO)
    scores = {n: rebalance_score(f, weights, comp) for n, f in table.items()}
    shares = bounded_shares(scores, min_share_pct, max_share_pct)
    reasons = {
        n: f"rebalancing score {scores[n]:.2f}: {shares[n]:.2f}% of the pool "
        f"(bounds {min_share_pct:g}-{max_share_pct:g}%)"
        for n in table
    }
    capital = {n: _amount(pool, p) for n, p in shares.items()}
    alloc = Allocation("rebalance", pool, shares, capital, reasons)
    if alloc.unallocated > len(table):
        alloc.reasons["(unallocated)"] = (
            f"{len(table)} strategies at most {max_share_pct:g}% each: "
            f"{alloc.unallocated / MICRO:,.2f} USD stays unallocated"
        )
    return alloc
