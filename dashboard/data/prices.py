"""A strategy's markets and one market's price with the strategy's fills marked (the strategy
page's price chart)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard.data.common import Row, prob, shares, t, usd
from dashboard.data.trading import market_labels


def traded_markets(session: Session, strategy: str, limit: int = 100) -> list[Row]:
    """Return the instruments ``strategy`` has fills in, most recently traded first.

    Returns
    -------
    list[dict]
        ``instrument_id``, ``question``, ``outcome``, ``fills`` (count) and ``last_fill_ts``.
    """
    f = t("fills")
    last = func.max(f.c.ts).label("last_fill_ts")
    stmt = (
        select(f.c.instrument_id, func.count().label("fills"), last)
        .where(f.c.strategy == strategy)
        .group_by(f.c.instrument_id)
        .order_by(last.desc(), f.c.instrument_id)
        .limit(limit)
    )
    rows = [dict(m) for m in session.execute(stmt).mappings()]
    labels = market_labels(session, [r["instrument_id"] for r in rows])
    out = []
    for r in rows:
        lab = labels.get(r["instrument_id"], {})
        out.append(
            {
                "instrument_id": r["instrument_id"],
                "question": lab.get("question", r["instrument_id"]),
                "outcome": lab.get("outcome", ""),
                "fills": int(r["fills"]),
                "last_fill_ts": r["last_fill_ts"],
            }
        )
    return out


def price_chart(
    session: Session,
    strategy: str,
    instrument_id: str,
    hours: float,
    *,
    max_points: int,
    max_fills: int = 500,
) -> Row:
    """Return one instrument's price over the last ``hours`` and ``strategy``'s fills in it.

    The window ends at the newest price point or fill of the instrument (event time, so a
    simulated run works too). Prices come from ``price_history`` (thinned to ``max_points`` by
    keeping evenly spaced points and the last one), then the current ``market_tops`` row when it
    is newer. ``since_ts`` / ``until_ts`` span the data actually returned, so a chart's time axis
    starts at the first point, not before it.

    Parameters
    ----------
    session : Session
        Open session.
    strategy : str
        Strategy whose fills are marked.
    instrument_id : str
        The instrument (outcome token) charted.
    hours : float
        Window length, hours.
    max_points : int
        Most price points returned.
    max_fills : int, optional
        Most fills returned (the newest ones).

    Returns
    -------
    dict
        ``instrument_id``, ``question``, ``outcome``, ``hours``, ``since_ts``, ``until_ts``
        (None without data), ``source`` (``history``, ``top`` or ``none``), ``price``:
        ``{"ts": [...], "mid": [...], "last": [...]}`` (probabilities 0-1; ``mid`` falls back
        to the last trade, None where unknown) and ``fills``: ``[{"id", "ts", "side",
        "price", "size_shares", "fee_usd", "liquidity"}]`` oldest first.
    """
    ph, f, top = t("price_history"), t("fills"), t("market_tops")
    newest = [
        session.execute(select(func.max(ph.c.ts)).where(ph.c.instrument_id == instrument_id)),
        session.execute(
            select(func.max(f.c.ts)).where(
                f.c.strategy == strategy, f.c.instrument_id == instrument_id
            )
        ),
        session.execute(select(top.c.updated_ts).where(top.c.instrument_id == instrument_id)),
    ]
    ends = [x for x in (r.scalar() for r in newest) if x is not None]
    lab = market_labels(session, [instrument_id]).get(instrument_id, {})
    out: Row = {
        "instrument_id": instrument_id,
        "question": lab.get("question", instrument_id),
        "outcome": lab.get("outcome", ""),
        "hours": hours,
        "since_ts": None,
        "until_ts": None,
        "source": "none",
        "price": {"ts": [], "mid": [], "last": []},
        "fills": [],
    }
    if not ends:
        return out
    until = max(ends)
    since = until - hours * 3600.0
    rows = [
        tuple(r)
        for r in session.execute(
            select(ph.c.ts, ph.c.mid, ph.c.last_trade)
            .where(ph.c.instrument_id == instrument_id, ph.c.ts >= since, ph.c.ts <= until)
            .order_by(ph.c.ts)
        )
    ]
    source = "history" if rows else "none"
    if len(rows) > max_points > 1:
        step = (len(rows) - 1) / (max_points - 1)
        rows = [rows[round(i * step)] for i in range(max_points)]
    cur = session.execute(
        select(top.c.updated_ts, top.c.mid, top.c.last_trade).where(
            top.c.instrument_id == instrument_id
        )
    ).first()
    if cur is not None and cur[0] >= since and (not rows or cur[0] > rows[-1][0]):
        rows.append(tuple(cur))
        source = "history" if source == "history" else "top"
    fills = [
        dict(m)
        for m in session.execute(
            select(f.c.id, f.c.ts, f.c.side, f.c.price, f.c.size, f.c.fee, f.c.liquidity)
            .where(
                f.c.strategy == strategy,
                f.c.instrument_id == instrument_id,
                f.c.ts >= since,
                f.c.ts <= until,
            )
            .order_by(f.c.ts.desc(), f.c.id.desc())
            .limit(max_fills)
        ).mappings()
    ]
    fills.reverse()
    stamps = [r[0] for r in rows] + [x["ts"] for x in fills]
    out.update(
        since_ts=min(stamps) if stamps else None,
        until_ts=max(stamps) if stamps else None,
        source=source,
        price={
            "ts": [r[0] for r in rows],
            "mid": [prob(r[1] if r[1] is not None else r[2]) for r in rows],
            "last": [prob(r[2]) for r in rows],
        },
        fills=[
            {
                "id": x["id"],
                "ts": x["ts"],
                "side": x["side"],
                "price": prob(x["price"]),
                "size_shares": shares(x["size"]),
                "fee_usd": usd(x["fee"]),
                "liquidity": x["liquidity"],
            }
            for x in fills
        ],
    )
    return out
