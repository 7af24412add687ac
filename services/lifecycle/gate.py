"""The capital gate (a risk control the lifecycle manager adds to the chain) and schedules.

A strategy's capital at its stage (``graduation.stages.X.capital_usd``, or the share of the pool
the selection / rebalancer gave it) limits **new entries**: an intent that adds exposure is
refused when the strategy's positions at the mark, its resting buys and the order would exceed
it. Nothing is ever sold because capital went down: reducing intents always pass.

While a strategy's route change waits (its orders and positions on the old route are not
finished yet, see ``docs/GRADUATION.md``), new entries are refused too, so nothing new is
opened on a route it is leaving.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from services.intents import Intent
from services.money import fmt_usd
from services.risk.chain import Rejection, RiskView
from services.risk.limits import adds_exposure, order_notional, strategy_exposure


class CapitalGate:
    """Refuse new entries over a strategy's stage capital, or while its route change waits.

    Parameters
    ----------
    capital_of : Callable[[str], tuple[int, str] | None]
        Strategy -> (capital in micro-units, what it is: "stage micro", "selection share"),
        or None for no limit.
    waiting : Callable[[str], str | None]
        Strategy -> why its new entries wait (a pending route change), or None.
    """

    name = "stage_capital"

    def __init__(
        self,
        capital_of: Callable[[str], tuple[int, str] | None],
        waiting: Callable[[str], str | None],
    ) -> None:
        self.capital_of = capital_of
        self.waiting = waiting

    def check(self, intent: Intent, view: RiskView) -> Rejection | None:
        """Refuse an intent that adds exposure beyond the stage capital."""
        if not adds_exposure(intent, view):
            return None
        why = self.waiting(view.strategy)
        if why is not None:
            return Rejection(self.name, why, None, None)
        cap = self.capital_of(view.strategy)
        if cap is None:
            return None
        limit, what = cap
        value = strategy_exposure(view) + order_notional(intent, view)
        if value <= limit:
            return None
        return Rejection(
            self.name,
            f"exposure {fmt_usd(value)} would exceed the {what} capital {fmt_usd(limit)}",
            fmt_usd(value),
            fmt_usd(limit),
        )


def next_run(now: float, schedule: str, hour_utc: int) -> float:
    """Return the first event time after ``now`` at ``hour_utc`` on the schedule's day.

    ``daily``: every day; ``weekly``: Mondays; ``monthly``: the 1st of the month (UTC).
    """
    t = datetime.fromtimestamp(now, UTC)
    cand = t.replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    if schedule == "daily":
        if cand <= t:
            cand += timedelta(days=1)
    elif schedule == "weekly":
        cand -= timedelta(days=cand.weekday())
        if cand <= t:
            cand += timedelta(days=7)
    else:
        cand = cand.replace(day=1)
        if cand <= t:
            days = calendar.monthrange(cand.year, cand.month)[1]
            cand += timedelta(days=days)
    return cand.timestamp()
