"""Order flow: intents become orders, go to the strategy's execution client, and what the client
reports (order events) is applied to portfolios and storage. Mixed into
:class:`services.engine.Engine`, which owns the state named below.

Order of effects (it keeps paper runs identical to a direct call into the matcher): the engine
drains the clients' events after ``submit`` and ``cancel``, so a paper fill is in the portfolio
before the strategy's next intent; a strategy hears about its fills after the market event that
caused them (``_deferred``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from services.bus import EventBus
from services.enums import MarketState
from services.execution.client import ExecutionClient, OrderEvent, OrderEventKind
from services.execution.orders import Fill, Order, OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.intents import Intent
from services.money import MICRO
from services.orderbook import BookStore
from services.persistence import Sink
from services.risk.chain import RiskChain, RiskEnv, RiskView
from services.runner import StrategyRunner

log = logging.getLogger("services.engine")

CLIENT_ORDER_PREFIX = "msb-"
"""Client order ids are this prefix and the order id (unique in one database)."""


class OrderFlow:
    """Submit, cancel and the application of execution events (needs the attributes below)."""

    clock: Any
    sink: Sink
    bus: EventBus
    risk: RiskChain
    risk_env: RiskEnv | None
    safety: Any
    books: BookStore
    instruments: dict[str, Instrument]
    live: set[str]
    market_state: dict[str, MarketState]
    runners: dict[str, StrategyRunner]
    orders: dict[int, Order]
    order_seq: int
    fill_seq: int
    order_listeners: list[Callable[[Order], None]]
    _open: dict[str, dict[int, Order]]
    _route: dict[str, ExecutionClient]
    clients: dict[str, ExecutionClient]
    _inbox: list[OrderEvent]
    _deferred: list[tuple[StrategyRunner, Fill]]

    def available(self, strategy: str, instrument_id: str, side: Side, price: int) -> int:
        """Return a level's size not yet consumed by ``strategy``."""
        return self._route[strategy].available(
            strategy, self.books.find(instrument_id), side, price
        )

    def open_orders(self, strategy: str, instrument_id: str | None) -> list[Order]:
        """Return a strategy's working orders (oldest first), optionally on one instrument."""
        return [
            o
            for o in self._open.get(strategy, {}).values()
            if o.active and (instrument_id is None or o.instrument_id == instrument_id)
        ]

    def all_open_orders(self) -> list[Order]:
        """Return every strategy's working orders."""
        return [o for d in self._open.values() for o in d.values() if o.active]

    def submit(self, intent: Intent) -> Order | None:
        """Risk-check an intent, turn it into an order and send it to the strategy's client.

        Returns the order (its status is whatever the client reported so far: a paper order may
        already be filled, a live one is usually still pending), or None if refused before an
        order existed (unknown instrument, market not open, risk chain).
        """
        r = self.runners[intent.strategy]
        now = self.clock.now()
        inst = self.instruments.get(intent.instrument_id)
        if inst is None or intent.instrument_id not in self.live:
            self._reject_event(intent, now, f"instrument {intent.instrument_id} is not live")
            return None
        state = self.market_state.get(inst.market_id)
        if state is not None:
            self._reject_event(
                intent,
                now,
                f"market {inst.market_id} is {state.value.replace('_', ' ')}: no orders",
                control="market_status",
            )
            return None
        price = intent.price
        tif = intent.tif
        order_type = "limit"
        if price is None:
            order_type = "market"
            price = inst.market_price(intent.side)
            if tif is TimeInForce.GTC:
                tif = TimeInForce.FAK
        view = RiskView(
            now,
            inst,
            self.books.find(inst.instrument_id),
            r.portfolio,
            r.strategy.kind,
            r.status,
            price,
            r.name,
            self.risk_env,
        )
        rej = self.risk.check(intent, view)
        if rej is not None:
            # The safety layer throttles repeats of one (strategy, control) refusal.
            skipped = 0 if self.safety is None else self.safety.rejection_gate(r.name, rej, now)
            if skipped is not None:
                self.bus.event(
                    now,
                    "risk_rejection",
                    rej.message,
                    severity="warning",
                    strategy=r.name,
                    instrument_id=intent.instrument_id,
                    value=rej.value,
                    limit=rej.limit,
                    data={
                        "control": rej.control,
                        "side": intent.side.value,
                        "size": intent.size,
                        "suppressed": skipped,
                    },
                )
            return None
        self.order_seq += 1
        order = Order(
            order_id=self.order_seq,
            strategy=r.name,
            instrument_id=inst.instrument_id,
            side=intent.side,
            price=price,
            size=intent.size,
            tif=tif,
            post_only=intent.post_only,
            order_type=order_type,
            reason=intent.reason,
            created_ts=now,
            updated_ts=now,
            reduce_only=intent.reduce_only,
            client_order_id=f"{CLIENT_ORDER_PREFIX}{self.order_seq}",
            route=self._route[r.name].name,
            expire_ts=intent.expire_ts if tif is TimeInForce.GTD else None,
        )
        if intent.persist:
            order.extra["persist"] = True
        problem = r.portfolio.check_order(order, inst)
        if problem is not None:
            order.status = OrderStatus.REJECTED
            order.reject_reason = problem
            self.sink.order(order)
            return order
        r.portfolio.reserve(order, inst)
        self.sink.order(order)
        self.orders[order.order_id] = order
        self._open[r.name][order.order_id] = order
        self._route[r.name].submit(order, now)
        if self._inbox:
            self._drain()
        return order

    def cancel(self, strategy: str, order_id: int, reason: str) -> bool:
        """Request a cancel of one of a strategy's orders (the outcome arrives as an event)."""
        o = self.orders.get(order_id)
        if o is None or o.strategy != strategy or not o.active:
            return False
        ok = self._route[strategy].cancel(o, self.clock.now(), reason or "cancelled by strategy")
        if self._inbox:
            self._drain()
        return ok

    def cancel_orders(
        self,
        reason: str,
        *,
        strategy: str | None = None,
        side: Side | None = None,
        instrument_id: str | None = None,
    ) -> int:
        """Request cancels of working orders matching the filters; return how many were asked."""
        n = 0
        orders = self.open_orders(strategy, None) if strategy else self.all_open_orders()
        for o in orders:
            if (side is None or o.side is side) and (
                instrument_id is None or o.instrument_id == instrument_id
            ):
                n += self.cancel(o.strategy, o.order_id, reason)
        return n

    # ================================================================== execution events
    def _drain(self) -> None:
        """Apply what the execution clients reported, in the order they reported it."""
        inbox = self._inbox
        while inbox:
            batch = inbox[:]
            inbox.clear()
            for ev in batch:
                self._apply(ev)

    def _apply(self, ev: OrderEvent) -> None:
        order = ev.order
        r = self.runners.get(order.strategy)
        if r is None:
            log.error(
                "Execution event %s for order %d of unknown strategy %s ignored.",
                ev.kind.value,
                order.order_id,
                order.strategy,
                extra={"strategy": order.strategy, "order": order.order_id},
            )
            return
        pf = r.portfolio
        if ev.fill is not None:
            fill = replace(ev.fill, fill_id=self._next_fill_id())
            inst = self.instruments[order.instrument_id]
            pf.release(order)
            pf.apply_fill(fill, inst)
            if order.active and order.remaining > 0:
                pf.reserve(order, inst)
            self.sink.fill(fill)
            self.sink.order(order)
            self.sink.position(r.name, fill.instrument_id, pf.positions.get(fill.instrument_id))
            self._deferred.append((r, fill))
        else:
            if not order.active:
                pf.release(order)
            self.sink.order(order)
            if ev.kind is OrderEventKind.REJECTED:
                self.bus.event(
                    ev.ts,
                    "order_rejected",
                    f"{order.strategy}: order {order.order_id} rejected by "
                    f"{self._route[order.strategy].name}: {ev.reason}",
                    severity="warning",
                    strategy=order.strategy,
                    instrument_id=order.instrument_id,
                    data={"order_id": order.order_id, "client_order_id": order.client_order_id},
                )
        if not order.active:
            self._open.get(order.strategy, {}).pop(order.order_id, None)
        for fn in self.order_listeners:
            fn(order)

    def adopt_order(self, order: Order) -> None:
        """Take an order that was working before a restart back into the books and its client."""
        self.orders[order.order_id] = order
        self._open.setdefault(order.strategy, {})[order.order_id] = order
        # The order goes back to the client it was sent to (a strategy's route may have been
        # changed by a stage transition); the strategy's route follows it (set_route waits for
        # working orders to finish, so they are never on two clients).
        client = self.clients.get(order.route or "")
        if client is not None:
            self._route[order.strategy] = client
        self._route[order.strategy].restore(order)

    def _flush_deferred(self) -> None:
        while self._deferred:
            batch, self._deferred = self._deferred, []
            for r, fill in batch:
                # A reversal (a live trade MATCHED, then FAILED) is not a new trade.
                r.call("on_fill_reversed" if fill.is_reversal else "on_fill", fill)

    def _reject_event(
        self, intent: Intent, now: float, message: str, control: str = "instrument"
    ) -> None:
        self.bus.event(
            now,
            "risk_rejection",
            message,
            severity="warning",
            strategy=intent.strategy,
            instrument_id=intent.instrument_id,
            data={"control": control, "side": intent.side.value, "size": intent.size},
        )

    def _next_fill_id(self) -> int:
        self.fill_seq += 1
        return self.fill_seq

    # ================================================================== reconciliation
    def reconcile(self) -> list[str]:
        """Compare the engine's working orders and filled quantities with each client's report.

        Returns one sentence per difference (empty when they agree): an order the venue works
        that the engine does not know, one the engine thinks is working that the venue does not
        hold, or a filled quantity that differs. Live clients call this after every reconnect;
        for the paper client it is always empty.
        """
        out: list[str] = []
        clients = {id(c): c for c in self._route.values()}
        for c in clients.values():
            rep = c.report()
            venue_open = {o.order_id for o in rep.open_orders}
            mine = {
                o.order_id
                for name, orders in self._open.items()
                if self._route[name] is c
                for o in orders.values()
                if o.active
            }
            for oid in sorted(venue_open - mine):
                out.append(f"{c.name}: the venue works order {oid}, which the engine does not")
            for oid in sorted(mine - venue_open):
                out.append(
                    f"{c.name}: the engine thinks order {oid} works; the venue has no such order"
                )
            for oid, filled in sorted(rep.filled.items()):
                o = self.orders.get(oid)
                if o is not None and o.filled != filled:
                    out.append(
                        f"{c.name}: order {oid} filled {filled / MICRO:,.2f} at the venue, "
                        f"{o.filled / MICRO:,.2f} in the engine"
                    )
        return out
