"""Backtest reports: a JSON result and a self-contained HTML page (no scripts, no CDN).

The HTML page shows the fidelity level and its assumptions first, then per strategy: the metrics
table (from the leaderboard's metrics module, ``services.metrics``) with the recommendation
label, equity and drawdown curves (inline SVG), monthly returns, P&L per market, and the trade
list with each order's reason.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.backtest.run import BacktestResult
from services.money import MICRO

MAX_CURVE_POINTS = 1500
MAX_TRADES_SHOWN = 2000


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def market_pnl(res: BacktestResult) -> dict[str, dict[str, int]]:
    """Return strategy -> market id -> P&L in micro-units (fills, fees and settlements)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in res.fills:
        mkt = res.instruments.get(f["instrument_id"], {}).get("market_id", f["instrument_id"])
        value = f["price"] * f["size"] // MICRO
        cash = -value if f["side"] == "BUY" else value
        out[f["strategy"]][mkt] += cash - f["fee"]
    for s in res.settlements:
        mkt = res.instruments.get(s["instrument_id"], {}).get("market_id", s["instrument_id"])
        out[s["strategy"]][mkt] += s["amount"] - (s.get("fee") or 0)
    return {k: dict(v) for k, v in out.items()}


def monthly_returns(series: list[dict[str, Any]], start_usd: float) -> list[tuple[str, float]]:
    """Return (``YYYY-MM``, return %) from an equity series (equity in micro-units)."""
    months: dict[str, float] = {}
    for p in series:
        months[datetime.fromtimestamp(p["ts"], UTC).strftime("%Y-%m")] = p["equity"] / MICRO
    out: list[tuple[str, float]] = []
    prev = start_usd
    for month, eq in months.items():
        out.append((month, (eq / prev - 1.0) * 100.0 if prev else 0.0))
        prev = eq
    return out


def to_dict(
    res: BacktestResult, *, config_file: str = "", run_id: int | None = None
) -> dict[str, Any]:
    """Return the JSON result of a backtest."""
    pnl = market_pnl(res)
    strategies: dict[str, Any] = {}
    for name, fig in res.strategies.items():
        series = res.equity.get(name, [])
        strategies[name] = {
            **fig,
            "monthly_returns_pct": monthly_returns(series, fig["starting_capital_usd"]),
            "market_pnl_usd": {
                m: v / MICRO for m, v in sorted(pnl.get(name, {}).items(), key=lambda kv: kv[1])
            },
            "equity_curve": [
                [p["ts"], p["equity"] / MICRO, p.get("drawdown_pct") or 0.0] for p in series
            ],
        }
    return {
        "kind": "backtest",
        "run_id": run_id,
        "config": config_file,
        "fidelity": res.source.kind,
        "fidelity_text": res.source.fidelity,
        "data": str(res.source.path),
        "assumptions": res.assumptions,
        "window": {"start": _iso(res.start_ts), "end": _iso(res.end_ts)},
        "first_event": _iso(res.first_event_ts),
        "last_event": _iso(res.last_event_ts),
        "events": res.events,
        "wall_s": round(res.wall_s, 3),
        "events_per_s": round(res.events_per_s, 1),
        "event_counts": res.event_counts,
        "strategies": strategies,
        "trades": [
            {
                **f,
                "reason": res.orders.get(f["order_id"], {}).get("reason"),
                "time": _iso(f["ts"]),
            }
            for f in res.fills
        ],
    }


def write_reports(doc: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.html`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    jpath = folder / f"{stem}.json"
    hpath = folder / f"{stem}.html"
    jpath.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    hpath.write_text(render_html(doc), encoding="utf-8")
    return jpath, hpath


# ------------------------------------------------------------------------------------ HTML
def _svg_curve(
    points: list[tuple[float, float]],
    *,
    width: int = 720,
    height: int = 180,
    color: str = "#2563eb",
    label: str = "",
) -> str:
    if len(points) < 2:
        return "<p class='muted'>not enough points for a curve</p>"
    step = max(1, len(points) // MAX_CURVE_POINTS)
    pts = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    xr = (x1 - x0) or 1.0
    pad = 4
    coords = " ".join(
        f"{pad + (x - x0) / xr * (width - 2 * pad):.1f},"
        f"{pad + (1 - (y - y0) / (y1 - y0)) * (height - 2 * pad):.1f}"
        for x, y in zip(xs, ys, strict=True)
    )
    return (
        f"<svg width='{width}' height='{height}' role='img' aria-label='{html.escape(label)}'>"
        f"<rect width='100%' height='100%' fill='#f8fafc'/>"
        f"<polyline fill='none' stroke='{color}' stroke-width='1.5' points='{coords}'/>"
        f"<text x='6' y='14' font-size='11'>{y1:,.2f}</text>"
        f"<text x='6' y='{height - 6}' font-size='11'>{y0:,.2f}</text></svg>"
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#0f172a;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #cbd5e1;padding:3px 8px;text-align:left}
th{background:#f1f5f9}.muted{color:#64748b}
.label{font-weight:700;padding:2px 8px;border-radius:4px}
.EXCELLENT{background:#bbf7d0}.GOOD{background:#d9f99d}.MARGINAL{background:#fef08a}
.FAILED{background:#fecaca}.fidelity{background:#e0f2fe;padding:8px 12px;border-radius:6px}
"""


def render_html(doc: dict[str, Any]) -> str:
    """Return the HTML page of a backtest (or an optimization) result document."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Backtest {html.escape(str(doc.get('run_id') or ''))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Backtest report {html.escape(str(doc.get('run_id') or ''))}</h1>",
        f"<div class='fidelity'><b>Fidelity:</b> {html.escape(doc['fidelity_text'])}<br>",
        f"<b>Data:</b> {html.escape(doc['data'])}; events {doc['first_event']} to "
        f"{doc['last_event']} ({doc['events']:,} events, {doc['wall_s']} s, "
        f"{doc['events_per_s']:,.0f} events/s)<br><b>Assumptions:</b> ",
        html.escape("; ".join(f"{k}: {v}" for k, v in doc["assumptions"].items())),
        "</div>",
    ]
    if doc.get("event_counts"):
        parts.append("<h2>Audit events</h2>")
        parts.append(_table(["kind", "count"], sorted(doc["event_counts"].items())))
    parts.append("<h2>Summary</h2>")
    rows = []
    for name, s in doc["strategies"].items():
        rows.append(
            [
                name,
                s["label"],
                s["return_pct"],
                s["sharpe"],
                s["max_drawdown_pct"],
                s["trades"],
                s["fees"] / MICRO,
                s["equity_usd"],
            ]
        )
    parts.append(
        _table(
            [
                "strategy",
                "label",
                "return %",
                "Sharpe",
                "max DD %",
                "fills",
                "fees USD",
                "equity USD",
            ],
            rows,
        )
    )
    for name, s in doc["strategies"].items():
        parts.append(
            f"<h2>{html.escape(name)} <span class='label {s['label']}'>{s['label']}</span></h2>"
        )
        m = s.get("metrics") or {}
        parts.append(
            _table(["metric", "value"], [[k, v] for k, v in m.items() if not isinstance(v, dict)])
        )
        curve = s.get("equity_curve") or []
        parts.append("<h3>Equity (USD)</h3>")
        parts.append(_svg_curve([(p[0], p[1]) for p in curve], label=f"{name} equity"))
        parts.append("<h3>Drawdown (%)</h3>")
        parts.append(
            _svg_curve([(p[0], -p[2]) for p in curve], color="#dc2626", label=f"{name} drawdown")
        )
        parts.append("<h3>Monthly returns</h3>")
        parts.append(_table(["month", "return %"], [list(r) for r in s["monthly_returns_pct"]]))
        mp = list(s["market_pnl_usd"].items())
        parts.append(f"<h3>P&amp;L per market ({len(mp)} markets)</h3>")
        shown = mp if len(mp) <= 40 else mp[:20] + [("...", None)] + mp[-20:]
        parts.append(_table(["market", "P&L USD"], [list(r) for r in shown]))
    trades = doc.get("trades") or []
    parts.append(f"<h2>Trades ({len(trades):,} fills)</h2>")
    if len(trades) > MAX_TRADES_SHOWN:
        parts.append(
            f"<p class='muted'>The first {MAX_TRADES_SHOWN:,} are shown; the JSON has all.</p>"
        )
    parts.append(
        _table(
            [
                "time",
                "strategy",
                "instrument",
                "side",
                "price",
                "shares",
                "fee USD",
                "liq.",
                "reason",
            ],
            [
                [
                    t["time"],
                    t["strategy"],
                    t["instrument_id"],
                    t["side"],
                    t["price"] / MICRO,
                    t["size"] / MICRO,
                    t["fee"] / MICRO,
                    t.get("liquidity"),
                    t.get("reason"),
                ]
                for t in trades[:MAX_TRADES_SHOWN]
            ],
        )
    )
    parts.append("</body></html>")
    return "".join(parts)
