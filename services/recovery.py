"""Restart: rebuild every portfolio from the stored ledger, restore open paper orders
(``restore_node`` builds the bot's node and restores it in one step).

The fills and settlements tables are the source of truth. Portfolios are a replay of them, so
after a clean stop or a ``kill -9`` at any moment the state equals what was committed: an order's
filled quantity is recomputed from its fills (an order row may lag its last fill by one batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from sqlalchemy.orm import Session, sessionmaker

from database import queries
from services.clock import Clock
from services.competition import shown_sharpe
from services.engine import Engine
from services.enums import Stage, StrategyStatus
from services.events import VOID_PAYOUT
from services.execution.orders import Fill, Order, OrderStatus, TimeInForce
from services.instruments import Instrument, Side, rules_from_dict
from services.money import MICRO, notional
from services.node import ClientFactory, Node, build_node
from services.order_flow import CLIENT_ORDER_PREFIX
from services.persistence import Sink
from services.strategies.base import Strategy
from utils.config import AppConfig

log = logging.getLogger(__name__)

_QUEUE_UNKNOWN = 1 << 62  # capped to the displayed size by the first book snapshot


@dataclass
class RestoreReport:
    """What a restart found in the database."""

    resumed: bool = False
    fills: int = 0
    settlements: int = 0
    open_orders: int = 0
    carried_instruments: list[Instrument] = field(default_factory=list)
    mids: dict[str, int] = field(default_factory=dict)
    last_ts: float | None = None
    unclean: bool = False


def instrument_from_row(row: dict) -> Instrument:
    """Build an Instrument from an ``instruments`` row."""
    return Instrument(
        instrument_id=row["instrument_id"],
        venue=row["venue"],
        market_id=row["market_id"],
        outcome=row["outcome"],
        tick=int(row["tick"]),
        min_size=int(row["min_size"]),
        end_ts=row["end_ts"],
        complement_id=row["complement_id"],
        event_id=row["event_id"],
        question=row["question"] or "",
        category=row["category"] or "",
        **rules_from_dict(row),
    )


def restore(engine: Engine, session_factory: sessionmaker[Session]) -> RestoreReport:
    """Load the ledger, orders, statuses and id sequences into a fresh engine."""
    rep = RestoreReport()
    with session_factory() as s:
        ids = queries.max_ids(s)
        fills = queries.load_fills(s)
        settlements = queries.load_settlements(s)
        open_orders = queries.load_open_orders(s)
        strategies = {r["name"]: r for r in queries.load_strategies(s)}
        rep.last_ts = queries.last_event_ts(s)
        needed = {f["instrument_id"] for f in fills} | {o["instrument_id"] for o in open_orders}
        inst_rows = _with_market_siblings(s, queries.load_instruments(s, needed))
        tops = {r["instrument_id"]: r for r in _load_tops(s, needed)}
        perf_state = queries.get_state(s, "performance")
        previous_run = queries.get_state(s, "run")
        saved_ts = engine.tracker.load_state(perf_state)
        since = float("-inf") if saved_ts is None else saved_ts
        history = {
            name: [
                row
                for row in queries.snapshot_history(s, name, 0.0 if saved_ts is None else since)
                if row["ts"] > since
            ]
            for name in engine.runners
        }
    engine.order_seq, engine.fill_seq, engine.settlement_seq = (
        ids["orders"],
        ids["fills"],
        ids["settlements"],
    )
    if not fills and not settlements and not open_orders and not strategies:
        return rep
    rep.resumed = True
    rep.unclean = not (isinstance(previous_run, dict) and previous_run.get("clean") is True)
    if rep.unclean:
        log.warning(
            "The previous run did not stop cleanly (killed, crashed or stopped on an error): "
            "state is rebuilt from the committed ledger; metrics since the last saved "
            "statistics are rebuilt from the persisted snapshots."
        )
        engine.sink.event(
            rep.last_ts if rep.last_ts is not None else engine.clock.now(),
            "unclean_restart",
            "Restarted after an unclean stop: the previous run was not shut down cleanly.",
            severity="warning",
            data={"previous_run": previous_run if isinstance(previous_run, dict) else None},
        )
    insts = {iid: instrument_from_row(r) for iid, r in inst_rows.items()}
    for iid, loaded in insts.items():
        engine.instruments.setdefault(iid, loaded)
    # Replay the ledger in time order; at equal times fills come before settlements.
    entries = [(f["ts"], 0, f["id"], f) for f in fills] + [
        (x["ts"], 1, x["id"], x) for x in settlements
    ]
    entries.sort(key=lambda e: (e[0], e[1], e[2]))
    filled_by_order: dict[int, int] = {}
    details = _fill_details(fills)
    for _ts, kind, _id, row in entries:
        r = engine.runners.get(row["strategy"])
        if kind == 0:
            filled_by_order[row["order_id"]] = filled_by_order.get(row["order_id"], 0) + row["size"]
        if r is None:
            continue  # a strategy removed from the config keeps its rows; it is not resumed
        if kind == 0:
            fill = Fill(
                row["id"],
                row["order_id"],
                row["strategy"],
                row["instrument_id"],
                Side(row["side"]),
                row["price"],
                row["size"],
                row["fee"],
                row["liquidity"],
                row["ts"],
            )
            r.portfolio.apply_fill(fill, insts[row["instrument_id"]])
            rep.fills += 1
        else:
            if row.get("reduction_ppm") is not None:  # a Betfair odds reduction (no payment)
                r.portfolio.reduce_odds(row["instrument_id"], row["reduction_ppm"])
                rep.settlements += 1
                continue
            payout = VOID_PAYOUT if row.get("void") else row["payout_per_share"]
            r.portfolio.settle(row["instrument_id"], payout, row["ts"], row["id"])
            if row.get("fee"):
                # Commission on a settled market's net winnings (Betfair): replayed as charged.
                inst = insts.get(row["instrument_id"])
                r.portfolio.apply_commission(row["fee"], inst.market_id if inst else None)
            rep.settlements += 1
    for row in open_orders:
        r = engine.runners.get(row["strategy"])
        inst = insts.get(row["instrument_id"])
        if r is None:
            continue  # a strategy removed from the config keeps its rows; it is not resumed
        if inst is None:
            log.warning(
                "Open order %d of %s is on instrument %s, which the database does not know; "
                "it is not restored.",
                row["id"],
                row["strategy"],
                row["instrument_id"],
            )
            continue
        filled = filled_by_order.get(row["id"], 0)
        order = Order(
            order_id=row["id"],
            strategy=row["strategy"],
            instrument_id=row["instrument_id"],
            side=Side(row["side"]),
            price=row["price"],
            size=row["size"],
            tif=TimeInForce(row["tif"]),
            post_only=bool(row["post_only"]),
            expire_ts=row.get("expire_ts"),
            order_type=row["order_type"],
            reason=row["reason"] or "",
            created_ts=row["created_ts"],
            updated_ts=row["updated_ts"],
            filled=filled,
            status=OrderStatus.OPEN if filled == 0 else OrderStatus.PARTIALLY_FILLED,
            **details.get(
                row["id"], _FillDetails(filled_notional=0, fees=0, maker_fills=0, taker_fills=0)
            ),
        )
        if order.remaining <= 0 or not order.tif.rests:
            order.status = OrderStatus.FILLED if order.remaining <= 0 else OrderStatus.CANCELLED
            engine.sink.order(order)
            continue
        if r.portfolio.check_order(order, inst) is not None:
            order.status = OrderStatus.CANCELLED
            order.reject_reason = "not funded after restart"
            engine.sink.order(order)
            continue
        stored_route = row.get("route")
        if stored_route and stored_route != engine.client_of(order.strategy).name:
            # Never re-send an order on another route (live -> paper or paper -> live); a live
            # order left at the venue is cancelled by its dead-man heartbeat.
            order.status = OrderStatus.CANCELLED
            order.reject_reason = (
                f"was working on route {stored_route!r}, not this run's "
                f"{engine.client_of(order.strategy).name!r}: not restored"
            )
            engine.sink.order(order)
            continue
        r.portfolio.reserve(order, inst)
        order.client_order_id = (
            row.get("client_order_id") or f"{CLIENT_ORDER_PREFIX}{order.order_id}"
        )
        order.venue_order_id = row.get("venue_order_id")
        order.route = row.get("route")
        engine.adopt_order(order)
        order.queue_ahead = _QUEUE_UNKNOWN
        rep.open_orders += 1
    for name, r in engine.runners.items():
        srow = strategies.get(name)
        if srow is not None:
            r.status = StrategyStatus(srow["status"] or "active")
            r.stage = Stage(srow.get("stage") or "paper")
            r.status_reason = srow["status_reason"]
            r.status_since = srow["status_since"]
        for pos_iid, pos in r.portfolio.positions.items():
            engine.sink.position(name, pos_iid, pos)
        r.portfolio.check_ledger()
        _restore_stats(engine, name, history.get(name, []))
    held = {iid for r in engine.runners.values() for iid in r.portfolio.positions}
    held |= {o.instrument_id for o in engine.all_open_orders()}
    rep.carried_instruments = [insts[i] for i in sorted(held) if i in insts]
    # Carry whole markets (both tokens; every outcome of an event) so books stay consistent.
    markets = {i.market_id for i in rep.carried_instruments}
    events = {i.event_id for i in rep.carried_instruments if i.event_id}
    for iid, row in inst_rows.items():
        if (row["market_id"] in markets or row["event_id"] in events) and iid not in held:
            rep.carried_instruments.append(insts[iid])
    for iid in held:
        top = tops.get(iid)
        if top and top.get("mid") is not None:
            rep.mids[iid] = int(top["mid"])
    rep.open_orders = len(engine.all_open_orders())
    log.info(
        "Resumed from the database: %d fills and %d settlements replayed, %d open orders, "
        "%d instruments carried over.",
        rep.fills,
        rep.settlements,
        rep.open_orders,
        len(rep.carried_instruments),
    )
    return rep


def _with_market_siblings(s: Session, rows: list[dict]) -> dict[str, dict]:
    """Return ``rows`` by instrument id plus every other token of their markets.

    A market is re-listed whole (both tokens of a binary market, every market of a neg-risk
    event) even when only one token has fills or open orders; without its sibling it could not be adopted and its positions would
    stay unsettled past the market's end.
    """
    from sqlalchemy import select

    from database.models import TABLES

    out = {r["instrument_id"]: r for r in rows}
    t = TABLES["instruments"]
    events = sorted({r["event_id"] for r in rows if r.get("event_id")})
    for start in range(0, len(events), 500):  # every outcome of a neg-risk event
        chunk = events[start : start + 500]
        for m in s.execute(select(t).where(t.c.event_id.in_(chunk))).mappings():
            out.setdefault(m["instrument_id"], dict(m))
    markets = sorted({r["market_id"] for r in out.values()})
    for start in range(0, len(markets), 500):
        chunk = markets[start : start + 500]
        for m in s.execute(select(t).where(t.c.market_id.in_(chunk))).mappings():
            out.setdefault(m["instrument_id"], dict(m))
    return out


class _FillDetails(TypedDict):
    filled_notional: int
    fees: int
    maker_fills: int
    taker_fills: int


def _fill_details(fills: list[dict]) -> dict[int, _FillDetails]:
    """Per order id: the filled notional, fees and maker/taker counts its fills add up to.

    A restored partly filled order then reports the same average price, fees and liquidity flag
    as before the restart (they are rewritten with the order row).
    """
    out: dict[int, _FillDetails] = {}
    for f in fills:
        d = out.setdefault(
            f["order_id"],
            _FillDetails(filled_notional=0, fees=0, maker_fills=0, taker_fills=0),
        )
        d["filled_notional"] += notional(f["size"], f["price"])
        d["fees"] += f["fee"]
        if f["liquidity"] == "maker":
            d["maker_fills"] += 1
        else:
            d["taker_fills"] += 1
    return out


def restored_summary(engine: Engine) -> dict[str, object]:
    """Per strategy: the state rebuilt at start, for audits and restart tests.

    ``cash``, ``positions`` (qty per instrument) and ``open_orders`` (ids) as before, plus
    ``position_details`` (qty, cost basis, realized P&L, fees), ``order_details`` (side,
    filled, average price, fees, liquidity, status per open order id) and ``metrics`` (Sharpe,
    returns counted, peak equity, max drawdown) of the performance tracker.
    """
    cfg = engine.cfg.competition
    out: dict[str, object] = {}
    for name, r in engine.runners.items():
        pf = r.portfolio
        orders = sorted(engine.open_orders(name, None), key=lambda o: o.order_id)
        st = engine.tracker.stats_for(name)
        out[name] = {
            "cash": pf.cash,
            "realized_pnl": pf.realized_pnl,
            "fees": pf.fees,
            "positions": {iid: p.qty for iid, p in sorted(pf.positions.items())},
            "position_details": {
                iid: [p.qty, p.cost_basis, p.realized_pnl, p.fees]
                for iid, p in sorted(pf.positions.items())
            },
            "open_orders": [o.order_id for o in orders],
            "order_details": {
                str(o.order_id): [
                    o.side.value,
                    o.filled,
                    o.avg_price,
                    o.fees,
                    o.liquidity,
                    o.status.value,
                ]
                for o in orders
            },
            "metrics": {
                "sharpe": shown_sharpe(st, cfg),
                "n_returns": len(st.returns_for(cfg).returns),
                "peak": st.drawdown.peak,
                "max_drawdown_pct": st.max_drawdown_pct,
            },
        }
    return out


def _restore_stats(engine: Engine, name: str, rows: list[dict]) -> None:
    """Bring the running statistics up to date with the snapshots persisted after they were
    last saved (all of them for a database without saved statistics)."""
    st = engine.tracker.stats_for(name)
    for row in rows:
        if row.get("granularity", "fine") != "fine":
            continue
        st.sample(float(row["ts"]), row["equity"] / MICRO, bool(row.get("exposure")))
        mdd = row.get("max_drawdown_pct")
        if mdd is None:
            mdd = row.get("drawdown_pct")
        st.drawdown.max_dd_pct = max(st.drawdown.max_dd_pct, float(mdd or 0.0))


def _load_tops(s: Session, ids: set[str]) -> list[dict]:
    from sqlalchemy import select

    from database.models import TABLES

    t = TABLES["market_tops"]
    if not ids:
        return []
    return [
        dict(m) for m in s.execute(select(t).where(t.c.instrument_id.in_(sorted(ids)))).mappings()
    ]


def restore_node(
    cfg: AppConfig,
    strategies: list[Strategy],
    sink: Sink,
    sessions: sessionmaker[Session],
    *,
    clock: Clock,
    wall: Callable[[], float] = time.time,
    extra_clients: Mapping[str, ClientFactory] | None = None,
    routes: Mapping[str, str] | None = None,
) -> tuple[Node, RestoreReport]:
    """Build the bot's node and bring back what the database holds: the ledger, open orders,
    statuses, and the safety states (kill switch, breakers, health, exits).

    The safety layer is restored after the ledger, and re-declares the whole chain; the data
    guard stays the node's own (the live feed's health task updates that object).
    """
    node = build_node(
        cfg, strategies, sink, clock=clock, wall=wall, extra_clients=extra_clients, routes=routes
    )
    rep = restore(node.engine, sessions)
    assert node.safety is not None
    with sessions() as session:
        node.safety.restore(lambda key: queries.get_state(session, key))
    return node, rep
