"""Optimization reports: JSON and a self-contained HTML page (windows in-sample vs out-of-sample,
the chosen parameters per window, the sensitivity table, the deflated Sharpe ratio, all trials)."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.backtest.report import STYLE, _table
from services.backtest.trial import MISSING


def _iso(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _obj(v: float | None) -> Any:
    return "undefined" if v is None or v == MISSING else v


def result_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Return ``backtest_results`` rows: per window, the best trial in and out of sample."""
    rows = []
    for w in doc["windows"]:
        for seg in ("in_sample", "out_of_sample"):
            r = w.get(seg)
            if r is None:
                continue
            rows.append(
                {
                    "strategy": doc["strategy"],
                    "segment": seg,
                    "window": w["window"],
                    "label": r["label"],
                    "return_pct": r["return_pct"],
                    "sharpe": r["sharpe"],
                    "max_drawdown_pct": r["max_drawdown_pct"],
                    "trades": r["trades"],
                    "fees": r["fees"],
                    "pnl": r["pnl"],
                    "params": w["best_params"],
                    "metrics": {
                        "objective": r["objective"],
                        "deflated_sharpe": w["deflated_sharpe"],
                    },
                }
            )
    return rows


def write_optimize_reports(doc: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.html``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    jpath, hpath = folder / f"{stem}.json", folder / f"{stem}.html"
    jpath.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    hpath.write_text(render(doc), encoding="utf-8")
    return jpath, hpath


def render(doc: dict[str, Any]) -> str:
    """Return the HTML page of an optimization document."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Optimization {e(str(doc.get('run_id') or ''))}</title><style>{STYLE}</style>",
        "</head><body>",
        f"<h1>Optimization {e(str(doc.get('run_id') or ''))} of {e(doc['strategy'])}</h1>",
        f"<div class='fidelity'><b>Fidelity:</b> {e(doc['fidelity_text'])}<br>",
        f"<b>Data:</b> {e(doc['data'])} from {_iso(doc['first_event_ts'])} to "
        f"{_iso(doc['last_event_ts'])}<br>",
        f"<b>Search:</b> {e(doc['method'])}, objective {e(doc['objective'])} (maximised), "
        f"seed {doc['seed']}, batch {doc['batch']}, workers {e(str(doc['workers']))}; "
        f"walk-forward {e(doc['walk_forward'])}, train/test ratio {doc['train_ratio']}; "
        f"{len(doc['trials'])} trials in {doc['wall_s']} s ({doc['trials_per_minute']} per minute)"
        "</div>",
        "<h2>Walk-forward: in sample against out of sample</h2>",
        "<p class='muted'>Each window searches its train period; the best parameters then run "
        "once on the following test period, which the search never saw. Only the "
        "out-of-sample column says anything about the future.</p>",
    ]
    rows = []
    for w in doc["windows"]:
        ins, oos = w["in_sample"], w["out_of_sample"]
        rows.append(
            [
                w["window"],
                f"{_iso(w['train'][0])} .. {_iso(w['train'][1])}",
                "-" if w["test"] is None else f"{_iso(w['test'][0])} .. {_iso(w['test'][1])}",
                ", ".join(f"{k}={v}" for k, v in w["best_params"].items()),
                _obj(ins["objective"]),
                ins["pnl"] / 1e6,
                "-" if oos is None else _obj(oos["objective"]),
                "-" if oos is None else oos["pnl"] / 1e6,
                "-" if oos is None else oos["trades"],
                "-" if oos is None else oos["label"],
                w["deflated_sharpe"]["dsr"],
            ]
        )
    parts.append(
        _table(
            [
                "window",
                "train",
                "test",
                "chosen parameters",
                "IS objective",
                "IS P&L USD",
                "OOS objective",
                "OOS P&L USD",
                "OOS fills",
                "OOS label",
                "deflated Sharpe",
            ],
            rows,
        )  # fmt: skip
    )
    s = doc["summary"]
    parts.append(
        _table(
            ["summary", "value"],
            [
                ["mean in-sample objective", _obj(s["in_sample_objective_mean"])],
                ["mean out-of-sample objective", _obj(s["out_of_sample_objective_mean"])],
                ["out-of-sample P&L USD (all windows)", s["out_of_sample_pnl_usd"]],
                ["lowest deflated Sharpe ratio", s["min_deflated_sharpe"]],
            ],
        )
    )
    parts.append("<h2>Overfitting guard: deflated Sharpe ratio</h2>")
    parts.append(
        "<p class='muted'>The probability that the chosen trial's Sharpe beats what the best of "
        "that many skill-less trials would show (Bailey and López de Prado, 2014); below 0.95 "
        "the winner is not distinguishable from luck.</p>"
    )
    parts.append(
        _table(
            [
                "window",
                "DSR",
                "per-period Sharpe",
                "expected max Sharpe (SR0)",
                "trials",
                "returns",
                "verdict",
            ],
            [
                [
                    w["window"],
                    d["dsr"],
                    d["sharpe"],
                    d["sr0"],
                    d["n_trials"],
                    d["n_returns"],
                    d["note"],
                ]
                for w in doc["windows"]
                for d in [w["deflated_sharpe"]]
            ],
        )  # fmt: skip
    )
    parts.append("<h2>Sensitivity: objective against each parameter (train periods)</h2>")
    for name, rows_ in doc["sensitivity"].items():
        parts.append(f"<h3>{e(name)}</h3>")
        parts.append(
            _table(
                ["value", "trials", "mean", "min", "max"],
                [[r["value"], r["trials"], r["mean"], r["min"], r["max"]] for r in rows_],
            )
        )
    parts.append(f"<h2>All trials ({len(doc['trials'])})</h2>")
    parts.append(
        _table(
            [
                "window",
                "parameters",
                "objective",
                "P&L USD",
                "return %",
                "Sharpe",
                "fills",
                "label",
            ],
            [
                [
                    t["window"],
                    ", ".join(f"{k}={v}" for k, v in t["params"].items()),
                    _obj(t["objective"]),
                    t["pnl"] / 1e6,
                    t["return_pct"],
                    t["sharpe"],
                    t["trades"],
                    t["label"],
                ]
                for t in doc["trials"]
            ],
        )  # fmt: skip
    )
    parts.append("</body></html>")
    return "".join(parts)
