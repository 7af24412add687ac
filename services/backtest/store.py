"""Backtest and optimizer runs in the database (``backtest_runs``, ``backtest_results``).

The CLI writes one run row and one result row per strategy (per segment for the optimizer) with
a short session of its own, as ``bot.py control`` does: a backtest never goes through the bot's
writer and never touches its trading tables.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from database.engine import make_engine, make_session_factory, migrate
from database.models import BacktestResultRow, BacktestRunRow

ReportWriter = Callable[[int], tuple[Path, Path]]
"""Write the reports of run ``id`` and return (json path, html path)."""


def save_run(
    url: str,
    *,
    kind: str,
    doc: dict[str, Any],
    results: list[dict[str, Any]],
    write_reports: ReportWriter,
    busy_timeout_ms: int = 5000,
) -> tuple[int, Path, Path]:
    """Insert the run and its results, write the reports named by the run id; return both.

    ``results`` rows have ``strategy, segment, window, label, return_pct, sharpe,
    max_drawdown_pct, trades, fees, pnl, params, metrics``.
    """
    migrate(url)
    engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        sessions = make_session_factory(engine)
        with sessions.begin() as s:
            run = BacktestRunRow(
                kind=kind,
                created_wall=time.time(),
                config_file=str(doc.get("config") or ""),
                data=str(doc.get("data") or ""),
                fidelity=str(doc.get("fidelity") or ""),
                start_ts=doc.get("first_event_ts"),
                end_ts=doc.get("last_event_ts"),
                strategies=",".join(sorted({r["strategy"] for r in results})),
                events=int(doc.get("events") or 0),
                wall_s=float(doc.get("wall_s") or 0.0),
                summary_json=json.dumps(doc.get("summary") or {}, default=str),
            )
            s.add(run)
            s.flush()
            run_id = int(run.id)
            jpath, hpath = write_reports(run_id)
            run.report_json, run.report_html = str(jpath), str(hpath)
            for r in results:
                s.add(
                    BacktestResultRow(
                        run_id=run_id,
                        strategy=r["strategy"],
                        segment=r.get("segment", "full"),
                        window=int(r.get("window", 0)),
                        label=r["label"],
                        return_pct=float(r["return_pct"]),
                        sharpe=r.get("sharpe"),
                        max_drawdown_pct=float(r.get("max_drawdown_pct") or 0.0),
                        trades=int(r.get("trades") or 0),
                        fees=int(r.get("fees") or 0),
                        pnl=int(r.get("pnl") or 0),
                        params_json=json.dumps(r.get("params") or {}, default=str, sort_keys=True),
                        metrics_json=json.dumps(r.get("metrics") or {}, default=str),
                    )
                )
        return run_id, jpath, hpath
    finally:
        engine.dispose()


def result_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the result rows of a backtest document (one per strategy, segment ``full``)."""
    out = []
    for name, s in doc["strategies"].items():
        out.append(
            {
                "strategy": name,
                "segment": "full",
                "label": s["label"],
                "return_pct": s["return_pct"],
                "sharpe": s["sharpe"],
                "max_drawdown_pct": s["max_drawdown_pct"],
                "trades": s["trades"],
                "fees": s["fees"],
                "pnl": s["pnl"],
                "params": s.get("params") or {},
                "metrics": s.get("metrics") or {},
            }
        )
    return out
