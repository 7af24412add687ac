"""Performance snapshots: every second in memory (bounded), every ``snapshot_interval_s`` and
hourly to the database, with retention for the fine-grained rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.competition import (
    EquityRing,
    LeaderboardRow,
    StrategyStats,
    composite_score,
    rank_rows,
    status_label,
)
from services.money import MICRO
from utils.config import CompetitionConfig

if TYPE_CHECKING:
    from services.engine import Engine


class PerformanceTracker:
    """Samples every strategy's equity on the clock and keeps the leaderboard current."""

    def __init__(
        self, cfg: CompetitionConfig, capital: int, per_strategy: dict[str, int] | None = None
    ) -> None:
        self.cfg = cfg
        self.capital = capital
        self.per_strategy = dict(per_strategy or {})
        self.stats: dict[str, StrategyStats] = {}
        self.rings: dict[str, EquityRing] = {}
        self._capacity = max(2, int(cfg.memory_window_h * 3600 / cfg.memory_snapshot_interval_s))
        self.next_memory = float("-inf")
        self.next_persist = float("-inf")
        self.next_hourly = float("-inf")
        self.next_prune = float("-inf")
        self.latest: list[LeaderboardRow] = []

    def stats_for(self, name: str) -> StrategyStats:
        """Return (creating) a strategy's statistics."""
        st = self.stats.get(name)
        if st is None:
            cap = self.per_strategy.get(name, self.capital) / MICRO
            st = self.stats[name] = StrategyStats(starting=cap, peak=cap)
            self.rings[name] = EquityRing(self._capacity)
        return st

    def due(self, now: float) -> bool:
        """Return whether a memory snapshot is due."""
        return now >= self.next_memory

    def tick(self, now: float, engine: Engine, force_persist: bool = False) -> None:
        """Sample equities, refresh the leaderboard and persist rows that are due."""
        cfg = self.cfg
        persist = force_persist or now >= self.next_persist
        hourly = cfg.hourly_snapshots and (now >= self.next_hourly)
        rows: list[LeaderboardRow] = []
        extras: dict[str, tuple[int, int, int]] = {}
        for r in engine.runners.values():
            pf = r.portfolio
            st = self.stats_for(r.name)
            market_value = pf.market_value(engine.mark)
            equity_m = pf.cash + market_value
            equity = equity_m / MICRO
            st.sample(equity)
            self.rings[r.name].append(now, equity)
            if persist:
                st.add_return(equity)
            unreal = market_value - sum(p.cost_basis for p in pf.positions.values())
            return_pct = (equity / st.starting - 1.0) * 100.0
            sharpe = st.sharpe(cfg.snapshot_interval_s, cfg.sharpe_min_returns)
            score = composite_score(cfg, return_pct, sharpe, pf.win_rate, st.max_drawdown_pct)
            rows.append(
                LeaderboardRow(
                    rank=0,
                    strategy=r.name,
                    score=score,
                    equity=equity,
                    cash=pf.cash / MICRO,
                    return_pct=return_pct,
                    realized_pnl=pf.realized_pnl / MICRO,
                    unrealized_pnl=unreal / MICRO,
                    fees=pf.fees / MICRO,
                    exposure=market_value / MICRO,
                    sharpe=sharpe,
                    win_rate=pf.win_rate,
                    max_drawdown_pct=st.max_drawdown_pct,
                    drawdown_pct=st.current_drawdown_pct(equity),
                    trades=pf.fill_count,
                    round_trips=pf.round_trips,
                    status=status_label(cfg, return_pct, r.status),
                    strategy_status=r.status,
                )
            )
            extras[r.name] = (equity_m, market_value, unreal)
        self.latest = rank_rows(rows)
        if persist or hourly:
            for row in self.latest:
                pf = engine.runners[row.strategy].portfolio
                equity_m, market_value, unreal = extras[row.strategy]
                base = {
                    "strategy": row.strategy,
                    "ts": now,
                    "equity": equity_m,
                    "cash": pf.cash,
                    "realized_pnl": pf.realized_pnl,
                    "unrealized_pnl": unreal,
                    "fees": pf.fees,
                    "exposure": market_value,
                    "equity_liquidation": engine.liquidation_value(pf),
                    "return_pct": row.return_pct,
                    "drawdown_pct": row.drawdown_pct,
                    "sharpe": row.sharpe,
                    "win_rate": row.win_rate,
                    "trades": row.trades,
                    "round_trips": row.round_trips,
                    "score": row.score,
                    "rank": row.rank,
                    "status": row.status,
                }
                if persist:
                    engine.sink.snapshot({**base, "granularity": "fine"})
                if hourly:
                    engine.sink.snapshot({**base, "granularity": "hourly"})
            engine.sink.state(
                "engine",
                {
                    "event_ts": now,
                    "events_processed": engine.events_processed,
                    "live_instruments": len(engine.live),
                },
                now,
            )
        self.next_memory = now + cfg.memory_snapshot_interval_s
        if persist:
            self.next_persist = now + cfg.snapshot_interval_s
        if hourly:
            self.next_hourly = now + 3600.0
        if now >= self.next_prune:
            if self.next_prune != float("-inf"):
                engine.sink.prune("fine", now - cfg.fine_retention_h * 3600.0)
            self.next_prune = now + 3600.0
