"""Query helpers of the Graduation page: stages, eligibility, approvals, transitions, allocation,
and the closed-bet P&L distribution (plain dicts for pages, the JSON API and charts)."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.data.common import Row, t, usd
from database.queries import get_state


def view(s: Session) -> Row:
    """Return what the bot last published on the lifecycle (``bot_state["graduation_view"]``)."""
    v = get_state(s, "graduation_view")
    if not isinstance(v, dict):
        return {"strategies": {}, "proposal": None, "allocation": None}
    return v


def transitions(s: Session, strategy: str | None = None, limit: int = 100) -> list[Row]:
    """Return stage transitions, newest first (figures decoded, capital in USD)."""
    tb = t("stage_transitions")
    q = select(tb).order_by(tb.c.ts.desc(), tb.c.id.desc()).limit(limit)
    if strategy is not None:
        q = q.where(tb.c.strategy == strategy)
    out = []
    for r in s.execute(q).mappings():
        d = dict(r)
        d["capital_usd"] = usd(d.pop("capital"))
        raw = d.pop("figures_json")
        try:
            d["figures"] = json.loads(raw) if raw else None
        except ValueError:
            d["figures"] = None
        f = (d["figures"] or {}).get("figures") or {}
        d["summary"] = _summary(f)
        out.append(d)
    return out


def _summary(f: dict[str, Any]) -> str:
    if not f:
        return ""
    parts = [f"return {f.get('return_pct', 0):.2f}%"]
    sh = f.get("sharpe")
    parts.append(f"Sharpe {sh['value']:.2f} ± {sh['stderr']:.2f}" if sh else "Sharpe -")
    wr = f.get("win_rate")
    parts.append(f"win rate {wr * 100:.1f}%" if wr is not None else "win rate -")
    parts.append(f"max DD {f.get('max_drawdown_pct', 0):.2f}%")
    parts.append(f"{f.get('closed_bets', 0)} bets")
    return ", ".join(parts)


def rows(v: Row) -> list[Row]:
    """Return one row per strategy of a :func:`view`, with USD capital and sorted by stage."""
    order = {"full": 0, "mini": 1, "micro": 2, "paper": 3, "backtest": 4}
    out = []
    for name, d in v.get("strategies", {}).items():
        r = dict(d, strategy=name, capital_usd=usd(d.get("capital")))
        out.append(r)
    out.sort(key=lambda r: (order.get(r["stage"], 9), r["strategy"]))
    return out


def allocation(v: Row) -> Row:
    """Return the allocation pie: capital per strategy (USD) with its stage, plus unallocated."""
    labels, values = [], []
    alloc = v.get("allocation")
    for r in rows(v):
        if r.get("capital_usd") is None:
            continue
        labels.append(f"{r['strategy']} ({r['stage']})")
        values.append(round(r["capital_usd"], 2))
    if alloc:
        left = (alloc["pool"] - sum(alloc["capital"].values())) / 1e6
        if left > 0.005:
            labels.append("unallocated pool")
            values.append(round(left, 2))
    return {"labels": labels, "values": values, "kind": (alloc or {}).get("kind")}


def pnl_distribution(s: Session, bins: int = 20, limit: int = 20_000) -> Row:
    """Return a histogram of closed-bet P&L (USD, net of fees): bin edges, wins and losses.

    The newest ``limit`` bets are counted; a bet at exactly 0 counts as a loss (as the win rate).
    """
    tb = t("closed_bets")
    pnls = [
        p / 1e6 for (p,) in s.execute(select(tb.c.pnl).order_by(tb.c.closed_ts.desc()).limit(limit))
    ]
    if not pnls:
        return {"edges": [], "wins": [], "losses": [], "n": 0}
    lo, hi = min(pnls), max(pnls)
    if math.isclose(lo, hi):
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    wins, losses = [0] * bins, [0] * bins
    for p in pnls:
        i = min(int((p - lo) / width), bins - 1)
        if p > 0:
            wins[i] += 1
        else:
            losses[i] += 1
    edges = [round(lo + i * width, 4) for i in range(bins + 1)]
    return {"edges": edges, "wins": wins, "losses": losses, "n": len(pnls)}
