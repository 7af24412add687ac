"""The backtest stage judged on the backtester's stored results (``backtest_runs``,
``backtest_results``, migration 0009; docs/BACKTESTING.md).

Which run counts: the strategy's **latest** ``bot.py backtest`` run (kind ``backtest``, segment
``full``), not the best one. Picking the best of many runs rewards running backtests until one
passes (a selection bias the optimizer's overfitting checks exist to catch); the latest one is
the strategy on the newest data and code. If that run used other parameters than the ones the
bot runs, it is stale: a blocker says so until the strategy is backtested again.

The run's figures are the leaderboard's metrics (the backtester stores
:func:`services.competition.row_metrics`), read into :class:`~services.lifecycle.criteria.Figures`
and judged against ``graduation.stages.backtest.promote_if``; the stage's ``min_days`` is the
number of days of history the run covers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from database.models import BacktestResultRow, BacktestRunRow
from services.lifecycle.criteria import Figures


@dataclass(frozen=True, slots=True)
class BacktestEvidence:
    """One strategy's latest stored backtest result."""

    run_id: int
    created_wall: float
    fidelity: str
    data: str
    span_days: float
    label: str
    params_json: str
    figures: Figures

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (Graduation page, stage transitions)."""
        return {
            "run_id": self.run_id,
            "created_wall": self.created_wall,
            "fidelity": self.fidelity,
            "data": self.data,
            "span_days": round(self.span_days, 3),
            "label": self.label,
            "figures": self.figures.to_dict(),
        }


def params_key(params: dict[str, Any]) -> str:
    """Return parameters as the backtester stores them (``backtest_results.params_json``)."""
    return json.dumps(params, default=str, sort_keys=True)


def latest_backtest(session: Session, strategy: str) -> BacktestEvidence | None:
    """Return ``strategy``'s latest backtest result, or None when it was never backtested."""
    row = session.execute(
        select(BacktestResultRow, BacktestRunRow)
        .join(BacktestRunRow, BacktestRunRow.id == BacktestResultRow.run_id)
        .where(
            BacktestResultRow.strategy == strategy,
            BacktestResultRow.segment == "full",
            BacktestRunRow.kind == "backtest",
        )
        .order_by(BacktestRunRow.created_wall.desc(), BacktestRunRow.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    res, run = row
    try:
        metrics = json.loads(res.metrics_json or "{}")
    except ValueError:
        metrics = {}
    span = 0.0
    if run.start_ts is not None and run.end_ts is not None:
        span = max(0.0, (run.end_ts - run.start_ts) / 86_400.0)
    return BacktestEvidence(
        run_id=int(run.id),
        created_wall=float(run.created_wall),
        fidelity=str(run.fidelity),
        data=str(run.data),
        span_days=span,
        label=str(res.label),
        params_json=str(res.params_json or "{}"),
        figures=Figures.from_metrics(metrics, float(res.return_pct)),
    )


class BacktestSource:
    """Read strategies' latest backtest results through short sessions of their own."""

    def __init__(self, sessions: Callable[[], Any]) -> None:
        self.sessions = sessions

    def __call__(self, names: list[str]) -> dict[str, BacktestEvidence | None]:
        """Return strategy -> its latest backtest result (None: never backtested)."""
        with self.sessions() as session:
            return {n: latest_backtest(session, n) for n in names}


def no_run_blocker(name: str) -> str:
    """Return the blocker shown when ``name`` has no backtest run."""
    return (
        f"no backtest run for {name}: run `python bot.py backtest --config CONFIG --data SOURCE "
        f"--strategies {name}` (same database)"
    )


def stale_blocker(ev: BacktestEvidence, name: str) -> str:
    """Return the blocker shown when the latest run used other parameters."""
    return (
        f"backtest run #{ev.run_id} of {name} used other parameters than the running ones: "
        f"backtest it again (`python bot.py backtest ... --strategies {name}`)"
    )
