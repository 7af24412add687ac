"""The engine's side of storage: domain objects in, rows for the single DB writer out.

The engine never waits for the database: it hands rows to the writer thread
(``database.writer.DbWriter``), which commits them in batches. ``NullSink`` drops everything
(benchmarks, pure unit tests).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from services.bus import AuditEvent
from services.events import VOID_PAYOUT
from services.execution.orders import Fill, Order, Settlement
from services.instruments import Instrument, rules_to_dict
from services.portfolio import ClosedBet, Position


class Writer(Protocol):
    """The subset of ``DbWriter`` the sink uses."""

    def insert(self, table: str, row: dict[str, Any]) -> None: ...
    def upsert(self, table: str, row: dict[str, Any]) -> None: ...
    def delete(self, table: str, key: dict[str, Any]) -> None: ...


class Sink:
    """Turn engine objects into rows. Subclass NullSink overrides everything as a no-op."""

    def __init__(self, writer: Writer) -> None:
        self.w = writer
        # Last prices written to price_history per instrument (skip unchanged points).
        self._last_prices: dict[str, tuple[int | None, ...]] = {}

    def backlog(self) -> int:
        """Return the writer's queued operations (0 when the writer cannot say)."""
        fn = getattr(self.w, "backlog", None)
        return int(fn()) if fn is not None else 0

    def order(self, o: Order) -> None:
        """Insert or update an order row."""
        self.w.upsert(
            "orders",
            {
                "id": o.order_id,
                "strategy": o.strategy,
                "instrument_id": o.instrument_id,
                "side": o.side.value,
                "order_type": o.order_type,
                "tif": o.tif.value,
                "post_only": o.post_only,
                "price": o.price,
                "size": o.size,
                "filled": o.filled,
                "avg_price": o.avg_price,
                "fees": o.fees,
                "status": o.status.value,
                "reason": o.reason,
                "reject_reason": o.reject_reason,
                "liquidity": o.liquidity,
                "created_ts": o.created_ts,
                "updated_ts": o.updated_ts,
                "client_order_id": o.client_order_id or None,
                "venue_order_id": o.venue_order_id,
                "route": o.route,
                "expire_ts": o.expire_ts,
            },
        )

    def fill(self, f: Fill) -> None:
        """Insert a fill row."""
        self.w.insert(
            "fills",
            {
                "id": f.fill_id,
                "order_id": f.order_id,
                "strategy": f.strategy,
                "instrument_id": f.instrument_id,
                "side": f.side.value,
                "price": f.price,
                "size": f.size,
                "fee": f.fee,
                "liquidity": f.liquidity,
                "ts": f.ts,
                "venue_fill_id": f.venue_fill_id or None,
                "fill_reason": f.fill_reason,
                "fee_source": f.fee_source,
            },
        )

    def settlement(self, s: Settlement) -> None:
        """Insert a settlement row."""
        self.w.insert(
            "settlements",
            {
                "id": s.settlement_id,
                "strategy": s.strategy,
                "instrument_id": s.instrument_id,
                "size": s.size,
                "payout_per_share": (
                    None if s.void or s.reduction_ppm is not None else s.payout_per_share
                ),
                "void": s.void,
                "reduction_ppm": s.reduction_ppm,
                "amount": s.amount,
                "fee": s.fee,
                "ts": s.ts,
            },
        )

    def position(self, strategy: str, iid: str, pos: Position | None) -> None:
        """Upsert a position, or delete it when flat (``pos`` None or qty 0)."""
        if pos is None or pos.qty == 0:
            self.w.delete("positions", {"strategy": strategy, "instrument_id": iid})
            return
        self.w.upsert(
            "positions",
            {
                "strategy": strategy,
                "instrument_id": iid,
                "qty": pos.qty,
                "cost_basis": pos.cost_basis,
                "realized_pnl": pos.realized_pnl,
                "fees": pos.fees,
                "opened_ts": pos.opened_ts,
                "updated_ts": pos.updated_ts,
            },
        )

    def instrument(
        self,
        inst: Instrument,
        status: str,
        ts: float,
        payout: int | None = None,
        resolved_ts: float | None = None,
    ) -> None:
        """Upsert an instrument's metadata and status."""
        self.w.upsert(
            "instruments",
            {
                "instrument_id": inst.instrument_id,
                "venue": inst.venue,
                "market_id": inst.market_id,
                "event_id": inst.event_id,
                "outcome": inst.outcome,
                "question": inst.question,
                "category": inst.category,
                "tick": inst.tick,
                "min_size": inst.min_size,
                **rules_to_dict(inst),
                "end_ts": inst.end_ts,
                "complement_id": inst.complement_id,
                "status": status,
                "payout": None if payout == VOID_PAYOUT else payout,
                "void": payout == VOID_PAYOUT,
                "listed_ts": ts,
                "resolved_ts": resolved_ts,
            },
        )

    def strategy(self, row: dict[str, Any]) -> None:
        """Upsert a strategies row."""
        self.w.upsert("strategies", row)

    def closed_bet(self, strategy: str, bet: ClosedBet) -> None:
        """Upsert a closed bet (idempotent: a restart writes the replayed bets again)."""
        self.w.upsert(
            "closed_bets",
            {
                "strategy": strategy,
                "group_id": bet.group_id,
                "closed_ts": bet.closed_ts,
                "opened_ts": bet.opened_ts,
                "cost": bet.cost,
                "proceeds": bet.proceeds,
                "fees": bet.fees,
                "pnl": bet.pnl,
                "closed_by": bet.closed_by,
                "order_id": bet.order_id,
            },
        )

    def snapshot(self, row: dict[str, Any]) -> None:
        """Insert a performance snapshot row."""
        self.w.insert("performance_snapshots", row)

    def top(self, row: dict[str, Any]) -> None:
        """Upsert a market_tops row."""
        self.w.upsert("market_tops", row)

    def price_point(self, row: dict[str, Any]) -> None:
        """Add a price_history point, unless its prices equal the instrument's previous one.

        An upsert: two points of one instrument at the same book time keep the newer prices.
        """
        key = (row["mid"], row["last_trade"])
        if self._last_prices.get(row["instrument_id"]) == key:
            return
        self._last_prices[row["instrument_id"]] = key
        self.w.upsert("price_history", row)

    def state(self, key: str, value: Any, ts: float) -> None:
        """Upsert a bot_state key with a JSON value."""
        self.w.upsert("bot_state", {"key": key, "value_json": json.dumps(value), "updated_ts": ts})

    def prune(self, granularity: str, older_than_ts: float) -> None:
        """Delete snapshot rows of ``granularity`` older than ``older_than_ts`` (retention)."""
        call = getattr(self.w, "call", None)
        if call is None:
            return
        from database.queries import prune_price_history, prune_snapshots

        call(lambda session: prune_snapshots(session, granularity, older_than_ts))
        if granularity == "fine":
            # The price history follows the fine snapshots' retention.
            call(lambda session: prune_price_history(session, older_than_ts))

    def audit(self, ev: AuditEvent) -> None:
        """Store a published audit event (the database sink's subscription to the event bus)."""
        self.event(
            ev.ts,
            ev.kind,
            ev.message,
            severity=ev.severity,
            strategy=ev.strategy,
            instrument_id=ev.instrument_id,
            value=ev.value,
            limit=ev.limit,
            data=ev.data,
        )

    def event(
        self,
        ts: float,
        kind: str,
        message: str,
        *,
        severity: str = "info",
        strategy: str | None = None,
        instrument_id: str | None = None,
        value: str | None = None,
        limit: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Insert an audit-log event."""
        self.w.insert(
            "events",
            {
                "ts": ts,
                "kind": kind,
                "severity": severity,
                "strategy": strategy,
                "instrument_id": instrument_id,
                "message": message,
                "value": value,
                "limit_value": limit,
                "data_json": json.dumps(data) if data else None,
            },
        )


class _NullWriter:
    def insert(self, table: str, row: dict[str, Any]) -> None:
        return None

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        return None

    def delete(self, table: str, key: dict[str, Any]) -> None:
        return None


class OpWriter:
    """A ``Writer`` that hands every operation, in order, to ``op`` instead of storing it.

    ``op(kind, table, row)`` gets ``kind`` "i" (insert), "u" (upsert), "p" (update) or "d"
    (delete, ``row`` being the key). Subclasses keep, hash or count the operations: the
    exactness benchmark (``benchmarks/row_hash.py``) and tests that compare the rows two
    runs hand to storage.
    """

    def op(self, kind: str, table: str, row: dict[str, Any]) -> None:
        raise NotImplementedError

    def insert(self, table: str, row: dict[str, Any]) -> None:
        self.op("i", table, row)

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        self.op("u", table, row)

    def update(self, table: str, row: dict[str, Any]) -> None:
        self.op("p", table, row)

    def delete(self, table: str, key: dict[str, Any]) -> None:
        self.op("d", table, key)

    def backlog(self) -> int:
        return 0


class NullSink(Sink):
    """A sink that stores nothing (benchmarks and unit tests)."""

    def __init__(self) -> None:
        super().__init__(_NullWriter())
