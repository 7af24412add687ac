"""Figures over a trailing window, for the weekly selection and the rebalancer.

The leaderboard's figures are all-time: a strategy that earned well a year ago and loses now
would keep its place. Selection ranks on the last ``selection.window_days`` of event time
instead, computed from what the bot stored: the equity curve (``performance_snapshots``) and the
bets closed in the window (``closed_bets``), fed through the leaderboard's own formulas
(:class:`services.competition.StrategyStats`, :func:`services.competition.row_metrics`). The
return is measured from the equity at the window's start (the last snapshot at or before it, or
the first one inside it for a younger strategy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from database.models import ClosedBetRow, PerformanceSnapshotRow
from services.competition import StrategyStats, row_metrics
from services.lifecycle.criteria import Figures
from services.money import MICRO
from utils.config import CompetitionConfig


def window_figures(
    session: Session,
    names: Iterable[str],
    start_ts: float,
    end_ts: float,
    cfg: CompetitionConfig,
) -> dict[str, Figures]:
    """Return each strategy's figures over ``[start_ts, end_ts]`` (event time); a strategy with
    no snapshot in the window is left out (nothing to judge)."""
    snap = PerformanceSnapshotRow
    out: dict[str, Figures] = {}
    for name in names:
        base = session.execute(
            select(snap.ts, snap.equity, snap.fees)
            .where(snap.strategy == name, snap.ts <= start_ts)
            .order_by(snap.ts.desc())
            .limit(1)
        ).first()
        rows = session.execute(
            select(snap.ts, snap.equity, snap.exposure, snap.fees)
            .where(snap.strategy == name, snap.ts > start_ts, snap.ts <= end_ts)
            .order_by(snap.ts)
        ).all()
        if not rows:
            continue
        first_eq, first_fees = (base[1], base[2]) if base is not None else (rows[0][1], rows[0][3])
        st = StrategyStats(starting=first_eq / MICRO)
        if base is not None:
            st.sample(float(base[0]), first_eq / MICRO, False)
        for ts, eq, exposure, _fees in rows:
            st.sample(float(ts), eq / MICRO, bool(exposure))
        pnls = session.execute(
            select(ClosedBetRow.pnl)
            .where(
                ClosedBetRow.strategy == name,
                ClosedBetRow.closed_ts > start_ts,
                ClosedBetRow.closed_ts <= end_ts,
            )
            .order_by(ClosedBetRow.closed_ts)
        ).scalars()
        st.add_bets([p / MICRO for p in pnls])
        last_eq = rows[-1][1] / MICRO
        ret = (last_eq / st.starting - 1.0) * 100.0 if st.starting > 0 else 0.0
        fees = (rows[-1][3] - first_fees) / MICRO
        m, score, _ev = row_metrics(st, cfg, return_pct=ret, fees_usd=fees, equity_usd=last_eq)
        out[name] = Figures.from_metrics(m, ret, score)
    return out


class WindowSource:
    """Trailing-window figures through short sessions of their own (the bot sets one)."""

    def __init__(self, sessions: Callable[[], Any]) -> None:
        self.sessions = sessions

    def __call__(
        self, names: list[str], start_ts: float, end_ts: float, cfg: CompetitionConfig
    ) -> dict[str, Figures]:
        """Return :func:`window_figures` of ``names``."""
        with self.sessions() as session:
            return window_figures(session, names, start_ts, end_ts, cfg)
