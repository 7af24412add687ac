"""A strategy's figures since it entered its current stage, measured against the stage's capital.

The leaderboard's figures are all-time and against the portfolio's starting capital; a strategy
that enters micro live with $50 needs figures of its own stage: its P&L since the stage began
over the stage's capital. :class:`StageStats` keeps a :class:`services.competition.StrategyStats`
fed with ``capital + (equity - equity at entry)`` and the bets closed since entry, and reads the
figures with the same functions as the leaderboard (:func:`services.competition.row_metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.competition import StrategyStats, row_metrics
from services.lifecycle.criteria import Figures
from services.money import MICRO
from utils.config import CompetitionConfig


@dataclass
class StageStats:
    """Running figures of one strategy in its current stage (USD floats, metrics only).

    Parameters
    ----------
    stage : str
        The stage.
    since : float
        Event time the stage began, seconds.
    capital : int
        The stage's capital at entry, micro-USD (the base of the return).
    equity_at_entry : float
        The portfolio's equity when the stage began, USD.
    bets_at_entry : int
        Closed bets of the portfolio when the stage began (later ones count for the stage).
    """

    stage: str
    since: float
    capital: int
    equity_at_entry: float
    bets_at_entry: int
    stats: StrategyStats = field(init=False)
    bets_seen: int = field(init=False)

    def __post_init__(self) -> None:
        self.stats = StrategyStats(starting=self.capital / MICRO)
        self.bets_seen = self.bets_at_entry

    def stage_equity(self, equity: float) -> float:
        """Return the stage's equity: its capital plus the P&L since entry, USD."""
        return self.capital / MICRO + (equity - self.equity_at_entry)

    def sample(
        self, ts: float, equity: float, exposed: bool, new_bet_pnls: Sequence[float] = ()
    ) -> None:
        """Add a sample: portfolio equity (USD) at ``ts`` and the P&L of the bets closed since
        the last sample (the portfolio's ``closed_bets[bets_seen:]``, USD)."""
        if new_bet_pnls:
            self.stats.add_bets(list(new_bet_pnls))
            self.bets_seen += len(new_bet_pnls)
        self.stats.sample(ts, self.stage_equity(equity), exposed)

    def figures(self, cfg: CompetitionConfig, equity: float | None = None) -> Figures:
        """Return the figures of the stage (with the leaderboard's formulas)."""
        eq = self.stage_equity(equity) if equity is not None else self._last_equity()
        ret = (eq / self.stats.starting - 1.0) * 100.0 if self.stats.starting > 0 else 0.0
        m, score, _ev = row_metrics(self.stats, cfg, return_pct=ret, fees_usd=0.0, equity_usd=eq)
        return Figures.from_metrics(m, ret, score)

    def _last_equity(self) -> float:
        last = self.stats.daily.last if self.stats.daily.last is not None else None
        return self.stats.starting if last is None else float(last)

    def days(self, now: float) -> float:
        """Return the days spent in the stage at ``now`` (event time)."""
        return max(0.0, now - self.since) / 86_400.0

    def to_dict(self) -> dict[str, Any]:
        """Return the persisted part (closed-bet sums are rebuilt from the ledger)."""
        return {
            "stage": self.stage,
            "since": self.since,
            "capital": self.capital,
            "equity_at_entry": self.equity_at_entry,
            "bets_at_entry": self.bets_at_entry,
            "stats": self.stats.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], bet_pnls: list[float]) -> StageStats:
        """Rebuild from :meth:`to_dict` and the portfolio's closed bets (replayed ledger)."""
        st = cls(
            str(d["stage"]),
            float(d["since"]),
            int(d["capital"]),
            float(d["equity_at_entry"]),
            int(d["bets_at_entry"]),
        )
        st.stats = StrategyStats.from_dict(d["stats"])
        st.stats.add_bets(bet_pnls[st.bets_at_entry :])
        st.bets_seen = max(st.bets_at_entry, len(bet_pnls))
        return st
