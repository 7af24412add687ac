"""The paper-vs-live fidelity report: each live strategy against its paper twin.

A live strategy ``s`` runs beside ``s__twin``, the same class and parameters on the simulated
client, fed the same live books. Their orders are paired (same instrument, side, price and size,
created within ``PAIR_WINDOW_S`` of each other) and compared:

* fill rate: orders with any fill / orders, live and twin;
* slippage against the twin: for pairs where both filled, the live average price minus the
  twin's, in basis points of the twin's price, signed so that positive means live did worse;
* fees, live and twin (USDC), and how many live fills took their fee from the venue trade's
  ``fee_rate_bps`` (``live_fee_fills_trade_rate``) or, the trade carrying no rate, from the
  instrument's fee model (``live_fee_fills_model``);
* latency from decision to acknowledgement (live ``trade_verification`` events, median and p90);
* fills the twin got that live did not (``twin_only``) and the reverse (``live_only``).

A large ``twin_only`` count or a positive slippage means paper results for this strategy are
optimistic. Query functions take a ``Session`` (the caller owns it), as everywhere else.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from database.models import EventRow, FillRow, OrderRow
from services.execution.orders import REVERSAL

TWIN_SUFFIX = "__twin"
LIVE_ROUTE = "polymarket_live"
PAIR_WINDOW_S = 2.0
COLUMNS = (
    "strategy",
    "live_orders",
    "twin_orders",
    "paired",
    "live_fill_rate",
    "twin_fill_rate",
    "live_filled_shares",
    "twin_filled_shares",
    "slippage_vs_twin_bps",
    "live_fees_usdc",
    "twin_fees_usdc",
    "live_fee_fills_trade_rate",
    "live_fee_fills_model",
    "ack_latency_ms_median",
    "ack_latency_ms_p90",
    "twin_only_fills",
    "live_only_fills",
    "verified",
    "partial_fill",
    "failed",
    "slippage_high",
)


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 3)


def fidelity_report(session: Session) -> list[dict[str, Any]]:
    """Return one row per live strategy (any strategy with orders routed ``polymarket_live``)."""
    live_names = sorted(
        set(session.scalars(select(OrderRow.strategy).where(OrderRow.route == LIVE_ROUTE)))
    )
    return [_row(session, name) for name in live_names]


def _orders(session: Session, strategy: str) -> list[OrderRow]:
    return list(
        session.scalars(
            select(OrderRow).where(OrderRow.strategy == strategy).order_by(OrderRow.created_ts)
        )
    )


def _row(session: Session, name: str) -> dict[str, Any]:
    live = [o for o in _orders(session, name) if o.route == LIVE_ROUTE]
    twin = _orders(session, name + TWIN_SUFFIX)
    free = list(twin)
    pairs: list[tuple[OrderRow, OrderRow]] = []
    for lo in live:
        for i, to in enumerate(free):
            if (
                to.instrument_id == lo.instrument_id
                and to.side == lo.side
                and to.price == lo.price
                and to.size == lo.size
                and abs(to.created_ts - lo.created_ts) <= PAIR_WINDOW_S
            ):
                pairs.append((lo, free.pop(i)))
                break
    slips: list[float] = []
    twin_only = live_only = 0
    for lo, to in pairs:
        if lo.filled and to.filled and lo.avg_price and to.avg_price:
            d = (lo.avg_price - to.avg_price) if lo.side == "BUY" else (to.avg_price - lo.avg_price)
            slips.append(d * 10_000 / to.avg_price)
        elif to.filled and not lo.filled:
            twin_only += 1
        elif lo.filled and not to.filled:
            live_only += 1
    latencies: list[float] = []
    labels: dict[str, int] = {}
    for ev in session.scalars(
        select(EventRow).where(EventRow.kind == "trade_verification", EventRow.strategy == name)
    ):
        labels[ev.value or ""] = labels.get(ev.value or "", 0) + 1
        data = json.loads(ev.data_json or "{}")
        if data.get("ack_latency_ms") is not None:
            latencies.append(float(data["ack_latency_ms"]))

    sources: dict[str, int] = {}
    for src in session.scalars(
        select(FillRow.fee_source).where(FillRow.strategy == name, FillRow.fill_reason != REVERSAL)
    ):
        sources[src or ""] = sources.get(src or "", 0) + 1

    def rate(orders: list[OrderRow]) -> float | None:
        done = [o for o in orders if o.status != "rejected"]
        return round(sum(1 for o in done if o.filled) / len(done), 4) if done else None

    return {
        "strategy": name,
        "live_orders": len(live),
        "twin_orders": len(twin),
        "paired": len(pairs),
        "live_fill_rate": rate(live),
        "twin_fill_rate": rate(twin),
        "live_filled_shares": sum(o.filled for o in live) / 1e6,
        "twin_filled_shares": sum(o.filled for o in twin) / 1e6,
        "slippage_vs_twin_bps": round(sum(slips) / len(slips), 2) if slips else None,
        "live_fees_usdc": sum(o.fees for o in live) / 1e6,
        "twin_fees_usdc": sum(o.fees for o in twin) / 1e6,
        "live_fee_fills_trade_rate": sources.get("trade", 0),
        "live_fee_fills_model": sources.get("model", 0),
        "ack_latency_ms_median": _pct(latencies, 0.5),
        "ack_latency_ms_p90": _pct(latencies, 0.9),
        "twin_only_fills": twin_only,
        "live_only_fills": live_only,
        "verified": labels.get("VERIFIED", 0),
        "partial_fill": labels.get("PARTIAL_FILL", 0),
        "failed": labels.get("FAILED", 0),
        "slippage_high": labels.get("SLIPPAGE_HIGH", 0),
    }


def to_csv(rows: Iterable[dict[str, Any]]) -> str:
    """Return the report as CSV text (header = :data:`COLUMNS`)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in COLUMNS})
    return buf.getvalue()
