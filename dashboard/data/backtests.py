"""Backtest and optimizer runs (``backtest_runs``, ``backtest_results``) as plain dicts."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from database.models import BacktestResultRow, BacktestRunRow


def _run(r: BacktestRunRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "created_wall": r.created_wall,
        "config_file": r.config_file,
        "data": r.data,
        "fidelity": r.fidelity,
        "start_ts": r.start_ts,
        "end_ts": r.end_ts,
        "strategies": [s for s in r.strategies.split(",") if s],
        "events": r.events,
        "wall_s": r.wall_s,
        "report_json": r.report_json,
        "report_html": r.report_html,
        "summary": json.loads(r.summary_json or "{}"),
    }


def _result(r: BacktestResultRow) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "strategy": r.strategy,
        "segment": r.segment,
        "window": r.window,
        "label": r.label,
        "return_pct": r.return_pct,
        "sharpe": r.sharpe,
        "max_drawdown_pct": r.max_drawdown_pct,
        "trades": r.trades,
        "fees": r.fees,
        "pnl": r.pnl,
        "params": json.loads(r.params_json or "{}"),
        "metrics": json.loads(r.metrics_json or "{}"),
    }


def list_runs(s: Session, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Return runs, newest first, each with its result rows."""
    runs = s.scalars(
        select(BacktestRunRow).order_by(BacktestRunRow.id.desc()).limit(limit).offset(offset)
    ).all()
    out = [_run(r) for r in runs]
    ids = [r["id"] for r in out]
    results: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        rows = s.scalars(
            select(BacktestResultRow)
            .where(BacktestResultRow.run_id.in_(ids))
            .order_by(BacktestResultRow.run_id, BacktestResultRow.window, BacktestResultRow.id)
        ).all()
        for row in rows:
            results[row.run_id].append(_result(row))
    for r in out:
        r["results"] = results[r["id"]]
    return out


def get_run(s: Session, run_id: int) -> dict[str, Any] | None:
    """Return one run with its results, or None."""
    row = s.get(BacktestRunRow, run_id)
    if row is None:
        return None
    out = _run(row)
    out["results"] = [
        _result(r)
        for r in s.scalars(
            select(BacktestResultRow)
            .where(BacktestResultRow.run_id == run_id)
            .order_by(BacktestResultRow.window, BacktestResultRow.id)
        ).all()
    ]
    return out
