"""Positions, orders and fills with market labels and current prices, as plain dicts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dashboard.data.common import Row, escape_like, prob, shares, t, usd, zone_of
from database.models import OPEN_ORDER_STATUSES
from database.queries import load_instruments
from services.money import MICRO


@dataclass(frozen=True)
class OrderFilter:
    """Filters of the order log (None: no filter).

    ``status`` is one of ``database.models.ORDER_STATUSES`` or ``"open"`` (every status that can
    still fill); ``market`` matches the instrument id, market id or question (substring).
    """

    strategy: str | None = None
    status: str | None = None
    side: str | None = None
    market: str | None = None
    limit: int = 100
    offset: int = 0


def market_labels(session: Session, ids: Iterable[str]) -> dict[str, Row]:
    """Return ``{instrument_id: {"question", "outcome", "market_id", "status", "odds",
    "currency"}}`` for ``ids`` (``odds``: prices are decimal odds, as on Betfair)."""
    out: dict[str, Row] = {}
    for r in load_instruments(session, ids):
        out[r["instrument_id"]] = {
            "question": r["question"] or r["market_id"],
            "outcome": r["outcome"],
            "market_id": r["market_id"],
            "status": r["status"],
            "odds": (r.get("ladder") or "uniform") != "uniform",
            "currency": r.get("currency") or "USDC",
        }
    return out


def odds_fields(side: str, size: int, price: int | None, lab: Row) -> Row:
    """Return what an order or fill on an odds ladder shows: back/lay, odds, stake, liability.

    On an odds ladder a SELL is a back and a BUY a lay (``docs/ENGINE.md``); a lay's liability
    is ``stake * (odds - 1)``. Empty for probability instruments.
    """
    if not lab.get("odds"):
        return {}
    lay = side == "BUY"
    liability = None
    if price is not None:
        liability = size * (price - MICRO) // MICRO if lay else size
    return {
        "odds": True,
        "bet_side": "LAY" if lay else "BACK",
        "currency": lab.get("currency", ""),
        "liability": usd(liability),
    }


def mids(session: Session, ids: Iterable[str]) -> dict[str, int | None]:
    """Return the latest mid (micro-USDC) of each instrument in ``ids`` from ``market_tops``."""
    wanted = sorted(set(ids))
    tb = t("market_tops")
    out: dict[str, int | None] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stmt = select(tb.c.instrument_id, tb.c.mid, tb.c.last_trade).where(
            tb.c.instrument_id.in_(chunk)
        )
        for iid, mid, last in session.execute(stmt):
            out[iid] = mid if mid is not None else last
    return out


def positions(session: Session, zones: tuple[float, ...], strategy: str | None = None) -> list[Row]:
    """Return open positions valued at the latest mid.

    Returns
    -------
    list[dict]
        Keys: ``strategy``, ``instrument_id``, ``question``, ``outcome``, ``side`` (LONG /
        SHORT), ``size_shares``, ``entry_price``, ``current_price`` (None without a quote),
        ``cost_usd``, ``value_usd``, ``unrealized_pnl_usd``, ``pnl_pct``,
        ``realized_pnl_usd``, ``fees_usd``, ``zone`` (``risk.zones`` name of the current
        price, else of the entry price), ``opened_ts``, ``updated_ts``.
    """
    tb = t("positions")
    stmt = select(tb).order_by(tb.c.strategy, tb.c.instrument_id)
    if strategy is not None:
        stmt = stmt.where(tb.c.strategy == strategy)
    rows = [dict(m) for m in session.execute(stmt).mappings()]
    ids = {r["instrument_id"] for r in rows}
    labels = market_labels(session, ids)
    marks = mids(session, ids)
    out: list[Row] = []
    for r in rows:
        qty, cost = r["qty"], r["cost_basis"]
        mid = marks.get(r["instrument_id"])
        lab = labels.get(r["instrument_id"], {})
        odds = bool(lab.get("odds"))
        if odds:  # payout units are worth units / odds; the entry odds are units / stake
            value = None if not mid else qty * MICRO // mid
            entry = None if not cost else qty / cost
        else:
            value = None if mid is None else qty * mid // MICRO
            entry = None if qty == 0 else cost / qty
        pnl = None if value is None else value - cost
        out.append(
            {
                "strategy": r["strategy"],
                "instrument_id": r["instrument_id"],
                "question": lab.get("question", r["instrument_id"]),
                "outcome": lab.get("outcome", ""),
                "side": ("BACK" if qty >= 0 else "LAY")
                if odds
                else ("LONG" if qty >= 0 else "SHORT"),
                "size_shares": shares(abs(qty)),
                "entry_price": entry,
                "current_price": prob(mid),
                "odds": odds,
                "currency": lab.get("currency", "USDC"),
                # What the position loses if it goes wrong: a back its stake, a lay its payout.
                "liability": usd(abs(cost) if qty >= 0 else abs(qty) - abs(cost)) if odds else None,
                "cost_usd": usd(cost),
                "value_usd": usd(value),
                "unrealized_pnl_usd": usd(pnl),
                "pnl_pct": None if pnl is None or not cost else pnl / abs(cost) * 100.0,
                "realized_pnl_usd": usd(r["realized_pnl"]),
                "fees_usd": usd(r["fees"]),
                "zone": zone_of(prob(mid) if mid is not None else entry, zones),
                "opened_ts": r["opened_ts"],
                "updated_ts": r["updated_ts"],
            }
        )
    return out


def _order_stmt(f: OrderFilter) -> Select[tuple[object, ...]]:
    tb = t("orders")
    stmt = select(tb)
    if f.strategy:
        stmt = stmt.where(tb.c.strategy == f.strategy)
    if f.status == "open":
        stmt = stmt.where(tb.c.status.in_(OPEN_ORDER_STATUSES))
    elif f.status:
        stmt = stmt.where(tb.c.status == f.status)
    if f.side:
        stmt = stmt.where(tb.c.side == f.side)
    if f.market:
        inst = t("instruments")
        pattern = f"%{escape_like(f.market)}%"
        matching = select(inst.c.instrument_id).where(
            inst.c.instrument_id.like(pattern, escape="\\")
            | inst.c.market_id.like(pattern, escape="\\")
            | inst.c.question.like(pattern, escape="\\")
        )
        stmt = stmt.where(tb.c.instrument_id.in_(matching))
    return stmt


def orders(session: Session, f: OrderFilter) -> list[Row]:
    """Return the order log, newest first, filtered and paged by ``f``.

    Returns
    -------
    list[dict]
        Keys: ``id``, ``created_ts``, ``updated_ts``, ``strategy``, ``instrument_id``,
        ``question``, ``outcome``, ``side``, ``order_type``, ``tif``, ``expire_ts`` (a GTD
        order's expiry, engine-clock seconds; else None), ``post_only``, ``price``,
        ``size_shares``, ``filled_shares``, ``fill_pct``, ``avg_price``, ``status``,
        ``liquidity``, ``fees_usd``, ``reason``, ``reject_reason``.
    """
    tb = t("orders")
    stmt = _order_stmt(f).order_by(tb.c.id.desc()).limit(f.limit).offset(f.offset)
    rows = [dict(m) for m in session.execute(stmt).mappings()]
    labels = market_labels(session, {r["instrument_id"] for r in rows})
    checks = verification_labels(session, rows)
    return [{**_order_row(r, labels), "verification": checks.get(r["id"])} for r in rows]


def verification_labels(session: Session, rows: list[Row]) -> dict[int, str]:
    """Return the live trade-verification label (VERIFIED, PARTIAL_FILL, FAILED, SLIPPAGE_HIGH)
    of each order in ``rows`` that has one, from the ``trade_verification`` events the live
    client records (paper orders have none)."""
    live = [r for r in rows if r.get("route") not in (None, "", "paper")]
    if not live:
        return {}
    ev = t("events")
    ids = {r["id"] for r in live}
    stmt = select(ev.c.data_json).where(
        ev.c.kind == "trade_verification",
        ev.c.instrument_id.in_({r["instrument_id"] for r in live}),
    )
    out: dict[int, str] = {}
    for (raw,) in session.execute(stmt.order_by(ev.c.id)):
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            continue
        oid = data.get("order_id")
        if isinstance(oid, int) and oid in ids and isinstance(data.get("label"), str):
            out[oid] = data["label"]
    return out


def _order_row(r: Row, labels: dict[str, Row]) -> Row:
    lab = labels.get(r["instrument_id"], {})
    return {
        "id": r["id"],
        "created_ts": r["created_ts"],
        "updated_ts": r["updated_ts"],
        "strategy": r["strategy"],
        "instrument_id": r["instrument_id"],
        "question": lab.get("question", r["instrument_id"]),
        "outcome": lab.get("outcome", ""),
        "side": r["side"],
        "order_type": r["order_type"],
        "tif": r["tif"],
        "expire_ts": r.get("expire_ts"),
        "post_only": bool(r["post_only"]),
        "price": prob(r["price"]),
        "size_shares": shares(r["size"]),
        "filled_shares": shares(r["filled"]),
        "fill_pct": (r["filled"] / r["size"] * 100.0) if r["size"] else 0.0,
        "avg_price": prob(r["avg_price"]),
        "status": r["status"],
        "liquidity": r["liquidity"],
        "fees_usd": usd(r["fees"]),
        "reason": r["reason"],
        "reject_reason": r["reject_reason"],
        **odds_fields(r["side"], r["size"], r["price"], lab),
    }


def open_orders(session: Session, strategy: str, limit: int = 100) -> list[Row]:
    """Return ``strategy``'s newest ``limit`` resting orders (statuses that can still fill)."""
    return orders(session, OrderFilter(strategy=strategy, status="open", limit=limit))


def count_orders(session: Session, f: OrderFilter) -> int:
    """Return how many orders match ``f`` (ignoring its limit and offset)."""
    stmt = select(func.count()).select_from(_order_stmt(f).subquery())
    return int(session.execute(stmt).scalar() or 0)


def fills(
    session: Session,
    *,
    strategy: str | None = None,
    limit: int = 100,
    offset: int = 0,
    after_id: int | None = None,
) -> list[Row]:
    """Return fills newest first, each with the reason its order was placed.

    Returns
    -------
    list[dict]
        Keys: ``id``, ``ts``, ``order_id``, ``strategy``, ``instrument_id``, ``question``,
        ``outcome``, ``side``, ``price``, ``size_shares``, ``notional_usd``, ``fee_usd``,
        ``liquidity``, ``order_type``, ``reason``.
    """
    f, o = t("fills"), t("orders")
    stmt = select(f, o.c.reason, o.c.order_type).join(o, o.c.id == f.c.order_id)
    if strategy is not None:
        stmt = stmt.where(f.c.strategy == strategy)
    if after_id is not None:
        stmt = stmt.where(f.c.id > after_id)
    stmt = stmt.order_by(f.c.id.desc()).limit(limit).offset(offset)
    rows = [dict(m) for m in session.execute(stmt).mappings()]
    labels = market_labels(session, {r["instrument_id"] for r in rows})
    out = []
    for r in rows:
        lab = labels.get(r["instrument_id"], {})
        out.append(
            {
                "id": r["id"],
                "ts": r["ts"],
                "order_id": r["order_id"],
                "strategy": r["strategy"],
                "instrument_id": r["instrument_id"],
                "question": lab.get("question", r["instrument_id"]),
                "outcome": lab.get("outcome", ""),
                "side": r["side"],
                "price": prob(r["price"]),
                "size_shares": shares(r["size"]),
                "notional_usd": r["price"] * r["size"] / MICRO / MICRO,
                **odds_fields(r["side"], r["size"], r["price"], lab),
                "fee_usd": usd(r["fee"]),
                "liquidity": r["liquidity"],
                "order_type": r["order_type"],
                "reason": r["reason"],
            }
        )
    return out


def fill_by_id(session: Session, fill_id: int) -> Row | None:
    """Return one fill row (raw columns) or None."""
    tb = t("fills")
    m = session.execute(select(tb).where(tb.c.id == fill_id)).mappings().first()
    return dict(m) if m is not None else None


def instrument_exists(session: Session, instrument_id: str) -> bool:
    """Return whether ``instrument_id`` is a known instrument."""
    tb = t("instruments")
    stmt = select(tb.c.instrument_id).where(tb.c.instrument_id == instrument_id)
    return session.execute(stmt).first() is not None


def open_instruments(session: Session, limit: int = 500) -> list[Row]:
    """Return listed (open) instruments with labels, for pickers: newest listings first."""
    tb = t("instruments")
    stmt = (
        select(tb.c.instrument_id, tb.c.question, tb.c.outcome, tb.c.market_id)
        .where(tb.c.status == "open")
        .order_by(tb.c.listed_ts.desc())
        .limit(limit)
    )
    return [dict(m) for m in session.execute(stmt).mappings()]
