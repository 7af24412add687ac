"""Performance snapshots: every second in memory (bounded), every ``snapshot_interval_s`` and
hourly to the database, with retention for the fine-grained rows.

The running statistics (all-time peak and max drawdown, period returns, exposure time) are saved
as ``bot_state["performance"]`` every hour of event time and at shutdown, and restored at start
(``services.recovery``), so every metric is the same before and after a clean restart.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from services.competition import (
    EquityRing,
    LeaderboardRow,
    StrategyStats,
    row_metrics,
    status_label,
)
from services.money import MICRO
from utils.config import CompetitionConfig

STATE_INTERVAL_S = 3600.0
"""Event-time seconds between saves of the running statistics (and at shutdown)."""

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
        self.next_state = float("-inf")
        # The leaderboard is built from the last sample when someone reads it (the terminal at
        # its wall-clock refresh, a persisted snapshot), not at every sample: at --speed max the
        # rows of most samples were never read (issue 18).
        self._rows: list[LeaderboardRow] = []
        self._rows_ts: float | None = None
        self._sample_ts: float | None = None
        self._extras: dict[str, tuple[int, int, int, int, int, int]] = {}
        self._engine: Engine | None = None
        # Per strategy, the last row_metrics result with everything it was computed from, and
        # the last metrics_json with the metrics dict it encodes (see _row_metrics; issue 18).
        self._metrics_memo: dict[str, tuple[Any, ...]] = {}
        self._json_memo: dict[str, tuple[dict[str, Any], str]] = {}

    @property
    def latest(self) -> list[LeaderboardRow]:
        """Return the ranked leaderboard as of the last sample (built on first read)."""
        if self._engine is not None and self._rows_ts != self._sample_ts:
            self._build_rows(self._engine)
        return self._rows

    def stats_for(self, name: str) -> StrategyStats:
        """Return (creating) a strategy's statistics."""
        st = self.stats.get(name)
        if st is None:
            cap = self.per_strategy.get(name, self.capital) / MICRO
            st = self.stats[name] = StrategyStats(starting=cap)
            self.rings[name] = EquityRing(self._capacity)
        return st

    def state(self) -> dict[str, Any]:
        """Return the ``bot_state["performance"]`` record (running statistics per strategy)."""
        return {name: st.to_dict() for name, st in sorted(self.stats.items())}

    def load_state(self, d: Any) -> float | None:
        """Restore running statistics saved by :meth:`state`; return the newest sample time."""
        if not isinstance(d, dict):
            return None
        newest: float | None = None
        for name, v in d.items():
            if not isinstance(v, dict):
                continue
            self.stats_for(str(name))
            st = self.stats[str(name)] = StrategyStats.from_dict(v)
            if st.last_ts is not None:
                newest = st.last_ts if newest is None else max(newest, st.last_ts)
        return newest

    def _build_rows(self, engine: Engine) -> None:
        cfg = self.cfg
        fields: list[dict[str, Any]] = []
        for r in engine.runners.values():
            sample = self._extras.get(r.name)
            if sample is None:
                continue  # a strategy added after the last sample
            pf = r.portfolio
            st = self.stats_for(r.name)
            equity_m, market_value, unreal, cash, realized, fees = sample
            equity = equity_m / MICRO
            return_pct = (equity / st.starting - 1.0) * 100.0
            metrics, score, evidence = self._row_metrics(r.name, st, equity_m, fees)
            fields.append(
                {
                    "strategy": r.name,
                    "score": score,
                    "equity": equity,
                    "cash": cash / MICRO,
                    "return_pct": return_pct,
                    "realized_pnl": realized / MICRO,
                    "unrealized_pnl": unreal / MICRO,
                    "fees": fees / MICRO,
                    "exposure": market_value / MICRO,
                    "sharpe": metrics["sharpe"],
                    "win_rate": pf.win_rate,
                    "max_drawdown_pct": st.max_drawdown_pct,
                    "drawdown_pct": st.drawdown.current_pct(equity),
                    "trades": pf.fill_count,
                    "round_trips": pf.round_trips,
                    "status": status_label(cfg, return_pct, r.status),
                    "strategy_status": r.status,
                    "sharpe_se": metrics["sharpe_se"],
                    "evidence_pct": evidence,
                    "metrics": metrics,
                }
            )
        # Ranked as rank_rows ranks (score, then return, then name), each row built once with
        # its rank instead of built and copied (a frozen dataclass of 21 fields; issue 18).
        fields.sort(key=lambda f: (-f["score"], -f["return_pct"], f["strategy"]))
        self._rows = [LeaderboardRow(rank=i, **f) for i, f in enumerate(fields, 1)]
        self._rows_ts = self._sample_ts

    def _row_metrics(
        self, name: str, st: StrategyStats, equity_m: int, fees: int
    ) -> tuple[dict[str, Any], float, float]:
        """Return ``row_metrics`` of a strategy, reusing the last result while nothing it reads
        has changed (issue 18: a persisted snapshot every ``snapshot_interval_s`` recomputed
        ratios, score and bet statistics of strategies that had not moved since the last one).

        ``row_metrics`` reads: the config (frozen), the sample's equity and fees (integers; the
        return and the USD figures are computed from them and ``st.starting`` exactly as below),
        the period returns' lists (they only grow: a list's length pins its content; a restored
        or replaced list is another object), the drawdown's peak and maximum, the exposure share
        and the closed-bet sums (their count pins them: ``BetAccumulator.add`` is the only
        change). Objects are compared by identity, numbers by value (a tuple compares an element
        with itself as equal, so an unchanged NaN object matches: the same inputs, the same
        result). No key number can turn from 0.0 into -0.0 while equal: the peak and the maximum
        drawdown only change when they grow, the exposure share is a quotient of non-negatives.
        """
        cfg = self.cfg
        hourly, daily, bets = st.hourly.returns, st.daily.returns, st.bets
        key = (
            equity_m,
            fees,
            st.starting,
            len(hourly),
            len(daily),
            bets.n,
            st.drawdown.peak,
            st.drawdown.max_dd_pct,
            st.exposure.pct,
        )
        memo = self._metrics_memo.get(name)
        if (
            memo is not None
            and memo[0] is cfg
            and memo[1] is hourly
            and memo[2] is daily
            and memo[3] is bets
            and memo[4] == key
        ):
            return memo[5]  # type: ignore[no-any-return]
        equity = equity_m / MICRO
        return_pct = (equity / st.starting - 1.0) * 100.0
        out = row_metrics(st, cfg, return_pct=return_pct, fees_usd=fees / MICRO, equity_usd=equity)
        self._metrics_memo[name] = (cfg, hourly, daily, bets, key, out)
        return out

    def _metrics_json(self, name: str, metrics: dict[str, Any]) -> str:
        """Return ``json.dumps(metrics, sort_keys=True)``, reusing the last text while the row
        carries the same metrics dict (a reused ``_row_metrics`` result; rows are read-only)."""
        memo = self._json_memo.get(name)
        if memo is not None and memo[0] is metrics:
            return memo[1]
        text = json.dumps(metrics, sort_keys=True)
        self._json_memo[name] = (metrics, text)
        return text

    def due(self, now: float) -> bool:
        """Return whether a memory snapshot is due."""
        return now >= self.next_memory

    def tick(self, now: float, engine: Engine, force_persist: bool = False) -> None:
        """Sample equities, refresh the leaderboard and persist rows that are due."""
        cfg = self.cfg
        persist = force_persist or now >= self.next_persist
        hourly = cfg.hourly_snapshots and (now >= self.next_hourly)
        extras: dict[str, tuple[int, int, int, int, int, int]] = {}
        stats, rings = self.stats, self.rings
        value_of = engine.market_value
        for name, r in engine.runners.items():
            pf = r.portfolio
            st = stats.get(name)
            if st is None:
                st = self.stats_for(name)
            positions = pf.positions
            market_value = value_of(pf)
            cash = pf.cash
            equity_m = cash + market_value
            equity = equity_m / MICRO
            st.sample(now, equity, bool(positions) or pf.reserved_cash > 0)
            if st.bets_seen < len(pf.closed_bets):
                new = pf.closed_bets[st.bets_seen :]
                for bet in new:
                    engine.sink.closed_bet(name, bet)
                st.add_bets([b.pnl / MICRO for b in new])
            rings[name].append(now, equity)
            unreal = (
                market_value - sum(p.cost_basis for p in positions.values())
                if positions
                else market_value
            )
            extras[name] = (equity_m, market_value, unreal, cash, pf.realized_pnl, pf.fees)
        self._extras = extras
        self._engine = engine
        self._sample_ts = now
        if persist or hourly:
            for row in self.latest:
                pf = engine.runners[row.strategy].portfolio
                equity_m, market_value, unreal = self._extras[row.strategy][:3]
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
                    "max_drawdown_pct": row.max_drawdown_pct,
                    "metrics_json": self._metrics_json(row.strategy, row.metrics),
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
        if force_persist or now >= self.next_state:
            engine.sink.state("performance", self.state(), now)
            self.next_state = now + STATE_INTERVAL_S
        self.next_memory = now + cfg.memory_snapshot_interval_s
        if persist:
            self.next_persist = now + cfg.snapshot_interval_s
        if hourly:
            self.next_hourly = now + 3600.0
        if now >= self.next_prune:
            if self.next_prune != float("-inf"):
                engine.sink.prune("fine", now - cfg.fine_retention_h * 3600.0)
            self.next_prune = now + 3600.0
