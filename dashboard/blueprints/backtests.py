"""Backtests (``/backtests``): runs of ``bot.py backtest`` and ``bot.py optimize``, listed,
compared side by side, and their HTML reports (docs/BACKTESTING.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from dashboard import validation as v
from dashboard.blueprints.util import query
from dashboard.context import ctx
from dashboard.data import backtests
from dashboard.validation import ApiError

bp = Blueprint("backtests", __name__)

MAX_COMPARE = 6


def _ids() -> list[int]:
    raw = request.args.getlist("id")
    if not 1 <= len(raw) <= MAX_COMPARE:
        raise ApiError(400, f"give 1 to {MAX_COMPARE} run ids (?id=1&id=2)", "id")
    out: list[int] = []
    for x in raw:
        if not x.isdigit() or len(x) > 18:
            raise ApiError(400, f"run id must be a positive integer, got {x[:20]!r}", "id")
        out.append(int(x))
    return out


def _runs(ids: list[int]) -> list[dict[str, Any]]:
    with ctx().read() as s:
        runs = []
        for i in ids:
            run = backtests.get_run(s, i)
            if run is None:
                raise ApiError(404, f"unknown backtest run {i}", "id")
            runs.append(run)
        return runs


@bp.get("/backtests")
def backtests_page() -> Any:
    """Runs, newest first; tick some and compare them."""
    q = query()
    with ctx().read() as s:
        runs = backtests.list_runs(s, limit=v.limit(q, default=100), offset=v.offset(q))
    return render_template("backtests.html", runs=runs)


@bp.get("/backtests/compare")
def backtests_compare() -> Any:
    """Several runs side by side: one row per strategy and segment."""
    return render_template("backtests_compare.html", runs=_runs(_ids()))


@bp.get("/backtests/<dbid:run_id>/report")
def backtest_report(run_id: int) -> Any:
    """The run's HTML report, as written by the CLI."""
    run = _runs([run_id])[0]
    path = Path(run["report_html"])
    if path.suffix != ".html" or not path.is_file():
        raise ApiError(404, f"the report of run {run_id} is not on disk ({path})")
    resp = Response(path.read_text(encoding="utf-8"), mimetype="text/html")
    # The report is self-contained: its own <style>, inline SVG, no script at all.
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
    )
    return resp


@bp.get("/api/backtests")
def api_backtests() -> Any:
    """Runs with their results (``limit``, ``offset``)."""
    q = query()
    with ctx().read() as s:
        return jsonify(
            {"runs": backtests.list_runs(s, limit=v.limit(q, default=100), offset=v.offset(q))}
        )


@bp.get("/api/backtests/compare")
def api_backtests_compare() -> Any:
    """Several runs (``?id=1&id=2``)."""
    return jsonify({"runs": _runs(_ids())})
