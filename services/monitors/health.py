"""Strategy health monitor: disable a strategy that keeps misbehaving.

Checked on the engine clock every ``health.check_interval_s`` for every strategy that is not
already disabled. A strategy is disabled (its resting orders cancelled, the reason stored on the
strategy and as an ``auto_disable`` event) when, with the defaults:

* it lost **more than** 10 % of its day-start equity today;
* it has **5** consecutive losing bets (counted since a person last enabled/resumed it);
* its drawdown from its peak is **more than** 20 %;
* its win rate is **under** 40 % after **at least** 20 closed bets (since the last enable).

The monitor is pure: :meth:`HealthMonitor.check` takes a :class:`StrategyMeasure` and returns a
:class:`HealthVerdict` or None; the safety layer applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.measures import StrategyMeasure, at_least_pct, more_than_pct, pct
from services.money import fmt_usd
from utils.safety_config import HealthConfig


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    """Why a strategy must be disabled."""

    rule: str
    message: str
    value: str
    limit: str


@dataclass
class Baseline:
    """Counters at the moment a person last enabled/resumed the strategy."""

    wins: int = 0
    losses: int = 0
    streak: int = 0
    since_ts: float | None = None


class HealthMonitor:
    """Applies :class:`HealthConfig` to strategy measures."""

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        self.baselines: dict[str, Baseline] = {}
        self.next_check = float("-inf")

    def due(self, now: float) -> bool:
        """Return whether a check is due (and schedule the next one)."""
        if not self.cfg.enabled or now < self.next_check:
            return False
        self.next_check = now + self.cfg.check_interval_s
        return True

    def rebase(self, m: StrategyMeasure, now: float) -> None:
        """Count streaks and win rate from now on (a person enabled or resumed the strategy)."""
        self.baselines[m.name] = Baseline(m.wins, m.losses, m.consecutive_losses, now)

    def check(self, m: StrategyMeasure) -> HealthVerdict | None:
        """Return the first rule the strategy breaks, or None."""
        out = self.check_all(m)
        return out[0] if out else None

    def check_all(self, m: StrategyMeasure) -> list[HealthVerdict]:
        """Return every rule the strategy breaks, in rule order."""
        cfg = self.cfg
        out: list[HealthVerdict] = []
        base = self.baselines.get(m.name) or Baseline()
        # The quality rules (loss streak, win rate) only judge a strategy that is losing money.
        losing = cfg.quality_rules_min_loss_pct is None or (
            m.starting > 0
            and at_least_pct(m.total_loss, m.starting, cfg.quality_rules_min_loss_pct)
        )
        if cfg.max_daily_loss_pct is not None and more_than_pct(
            m.day_loss, m.day_start, cfg.max_daily_loss_pct
        ):
            v = f"{pct(m.day_loss, m.day_start):.2f}%"
            lim = f"{cfg.max_daily_loss_pct:.2f}%"
            out.append(
                HealthVerdict(
                    "daily_loss",
                    f"lost {v} ({fmt_usd(m.day_loss)}) today, more than health.max_daily_loss_pct {lim}",
                    v,
                    lim,
                )
            )
        streak = (
            m.consecutive_losses - base.streak
            if m.consecutive_losses >= base.streak
            else (m.consecutive_losses)
        )
        limit = cfg.streak_limit(m.kind)
        if limit is not None and streak >= limit and losing:
            out.append(
                HealthVerdict(
                    "consecutive_losses",
                    f"{streak} consecutive losses reached the {m.kind} limit {limit} "
                    "(health.max_consecutive_losses)",
                    str(streak),
                    str(limit),
                )
            )
        if cfg.max_drawdown_pct is not None and more_than_pct(
            m.drawdown, m.peak, cfg.max_drawdown_pct
        ):
            v = f"{pct(m.drawdown, m.peak):.2f}%"
            lim = f"{cfg.max_drawdown_pct:.2f}%"
            out.append(
                HealthVerdict(
                    "drawdown", f"drawdown {v} is more than health.max_drawdown_pct {lim}", v, lim
                )
            )
        wins = max(0, m.wins - base.wins)
        n = wins + max(0, m.losses - base.losses)
        # wins / n * 100 < min  <=>  wins * 100 < min * n  (exact at the boundary)
        if (
            cfg.min_win_rate_pct is not None
            and losing
            and n >= cfg.min_trades_for_win_rate
            and wins * 100 * 1_000_000 < round(cfg.min_win_rate_pct * 1_000_000) * n
        ):
            v = f"{wins / n * 100:.2f}%"
            lim = f"{cfg.min_win_rate_pct:.2f}%"
            out.append(
                HealthVerdict(
                    "win_rate",
                    f"win rate {v} over {n} closed bets is under health.min_win_rate_pct {lim}",
                    v,
                    lim,
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the ``bot_state["health"]`` record."""
        return {
            name: {"wins": b.wins, "losses": b.losses, "streak": b.streak, "since_ts": b.since_ts}
            for name, b in sorted(self.baselines.items())
        }

    def load(self, d: dict[str, Any] | None) -> None:
        """Restore baselines from :meth:`to_dict` output."""
        if not isinstance(d, dict):
            return
        self.baselines = {
            str(k): Baseline(
                int(v.get("wins", 0)),
                int(v.get("losses", 0)),
                int(v.get("streak", 0)),
                v.get("since_ts"),
            )
            for k, v in d.items()
            if isinstance(v, dict)
        }
