"""The live Polymarket execution client: real orders behind the execution-client boundary.

The engine routes a live strategy here exactly as it routes a paper one to the simulated client.
``submit`` and ``cancel`` return at once; the venue's answers arrive later (the order response,
then user-channel messages) and reach the engine as :class:`OrderEvent` values.

* Orders submitted in one engine step are signed by the SDK and posted together (batches of up
  to 15). Prices must lie on the instrument's tick and sizes reach its minimum, or the order is
  refused locally. Live-only checks run before posting: order notional, per-market exposure,
  the venue's USDC balance and allowance, and post-only mode after a 425.
* A fill is **provisional** while its trade is MATCHED (or MINED/RETRYING): it counts in the
  position at once and is listed in :attr:`provisional`. CONFIRMED makes it final. FAILED emits
  a **reversal**: a fill of the opposite side, same size and price, fee refunded (a negative
  fee), ``venue_fill_id`` ``<trade id>:reversal`` — a new ledger row, so nothing is erased.
* Unfilled orders are cancelled after ``live.order_timeout_s`` (per strategy overrides).
* When an order is finished and none of its trades is provisional, it is labelled VERIFIED,
  PARTIAL_FILL, FAILED or SLIPPAGE_HIGH (average fill worse than the decision price by more than
  ``live.slippage_high_pct``); the label goes to ``order.extra["verification"]`` and to the
  ``on_verified`` callback (an audit event).
* :meth:`refresh` reads the venue's open orders and trades over REST (after every user-channel
  reconnect, at start, on the reconciliation timer) and repairs what messages missed.
* ``dry_run``: orders are built and signed, never posted; they are acknowledged locally with a
  ``dry-`` venue id and never fill.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.execution.client import ExecutionClient, ExecutionReport, OrderEvent, OrderEventKind
from services.execution.orders import REVERSAL, Fill, Order, OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.markets.polymarket.live.venue import ClobVenue, PlaceResult, VenueCallError
from services.money import MICRO, notional, taker_fee
from services.orderbook import BookStore
from utils.live_config import LiveConfig

log = logging.getLogger(__name__)

GTD_SECURITY_THRESHOLD_S = 60
"""Polymarket expires a GTD order one minute before its signed ``expiration`` ("GTD orders
expire one minute before their stated expiration as a security threshold. To set an effective
lifetime of N seconds, use now + 60 + N", docs.polymarket.com/trading/place-orders), so the
client signs ``expiry + 60``."""
GTD_MIN_LIFETIME_S = 120
"""The shortest GTD lifetime the venue takes: the signed expiration must be at least three
minutes ahead (same page; the SDK refuses less: ``_MIN_EXPIRATION_BUFFER_S = 180`` in
``polymarket/_internal/actions/orders/limit.py``), minus the 60 s threshold."""
GTD_EXPIRY_TOLERANCE_S = 5.0
"""A venue cancellation of a GTD order this close to (or after) its expiry is its expiry."""

PROVISIONAL = frozenset({"MATCHED", "MINED", "RETRYING", "MATCHED_NOT_BROADCASTED"})
VERIFIED, PARTIAL_FILL, FAILED, SLIPPAGE_HIGH = (
    "VERIFIED",
    "PARTIAL_FILL",
    "FAILED",
    "SLIPPAGE_HIGH",
)


@dataclass
class TradeRec:
    """One venue trade applied to one of our orders."""

    trade_id: str
    order_id: int
    size: int
    price: int
    fee: int
    liquidity: str
    status: str
    ts: float
    reversed: bool = False
    fee_source: str = "model"  # "trade": from the trade's fee_rate_bps; "model": the fee model


@dataclass
class LiveOrderInfo:
    """What the client keeps per order beyond the engine's fields (fidelity, verification)."""

    decision_wall: float
    ref_price: int
    ack_wall: float | None = None
    accepted_ts: float | None = None
    expected_fill: int | None = None  # FAK/FOK: what the placement answer said matched
    cancel_wanted: str | None = None
    restored: bool = False  # working before a restart: its stored fills are already applied
    cancel_sent: bool = False
    failed_trades: int = 0
    label: str | None = None
    trades: list[str] = field(default_factory=list)


class LivePolymarketClient(ExecutionClient):
    """Live execution on Polymarket through the official SDK.

    Parameters
    ----------
    venue : ClobVenue
        The SDK wrapper (rate limits, retries).
    books : BookStore
        The node's books (read only: the decision price for slippage).
    instruments : dict[str, Instrument]
        The node's instrument registry (tick, minimum size, fees).
    cfg : LiveConfig
        Live settings (dry run, timeouts, live-only limits).
    clock : Callable[[], float]
        The engine's clock (fill and event times).
    wall : Callable[[], float]
        Wall time for latency figures only.
    """

    watches_market_data = False

    def __init__(
        self,
        venue: ClobVenue,
        books: BookStore,
        instruments: dict[str, Instrument],
        cfg: LiveConfig,
        *,
        clock: Callable[[], float] = time.time,
        wall: Callable[[], float] = time.time,
        name: str = "polymarket_live",
    ) -> None:
        super().__init__()
        self.name = name
        self.clob = venue
        self.books = books
        self.instruments = instruments
        self.cfg = cfg
        self._clock = clock
        self._wall = wall
        self.orders: dict[int, Order] = {}
        self.info: dict[int, LiveOrderInfo] = {}
        self.by_venue: dict[str, Order] = {}
        self.trades: dict[tuple[str, int], TradeRec] = {}
        self.filled: dict[int, int] = {}
        self._pending: list[Order] = []
        self._flush_scheduled = False
        self._pending_cancels: list[Order] = []
        self._cancel_scheduled = False
        self.kill_cancelled = 0  # orders the venue confirmed cancelled since the kill switch
        self._tasks: set[asyncio.Task[Any]] = set()
        self.next_due = float("inf")
        self.balance: int | None = None  # venue USDC, micro (refreshed by reconciliation)
        self.allowance: int | None = None
        self.killed = False
        self.on_verified: Callable[[Order, str, dict[str, Any]], None] | None = None
        self.on_problem: Callable[[str, str], None] | None = None
        self.latencies_ms: list[float] = []
        self.position_cost: Callable[[str, str], int] | None = None  # (strategy, market) -> micro
        self.held: Callable[[str, str], int] | None = None  # (strategy, instrument) -> micro

    # ================================================================== orders
    def submit(self, order: Order, now: float) -> None:
        """Check, then queue the order for signing and posting in this engine step."""
        inst = self.instruments.get(order.instrument_id)
        book = self.books.find(order.instrument_id)
        ref = order.price
        if book is not None:
            best = book.best_ask() if order.side is Side.BUY else book.best_bid()
            if best is not None:
                ref = best
        self.orders[order.order_id] = order
        self.info[order.order_id] = LiveOrderInfo(self._wall(), ref)
        problem = self._live_checks(order, inst)
        if problem is not None:
            self._reject(order, now, problem)
            return
        self._pending.append(order)
        self._schedule_flush()

    def _live_checks(self, order: Order, inst: Instrument | None) -> str | None:
        if self.killed and not order.reduce_only:
            return "live trading stopped by the kill switch"
        if inst is None:
            return f"unknown instrument {order.instrument_id}"
        if order.price % inst.tick or not inst.tick <= order.price <= MICRO - inst.tick:
            return f"price {order.price / MICRO} is not on the tick grid {inst.tick / MICRO}"
        if order.size < inst.min_size:
            return f"size {order.size / MICRO} is below the market minimum {inst.min_size / MICRO}"
        if order.tif is TimeInForce.GTD:
            if order.expire_ts is None:
                return "a GTD order needs expire_ts"
            lifetime = order.expire_ts - self._clock()
            if lifetime < GTD_MIN_LIFETIME_S:
                return (
                    f"GTD expiry {lifetime:.0f} s ahead is too near: Polymarket needs at least "
                    f"{GTD_MIN_LIFETIME_S} s (it expires orders {GTD_SECURITY_THRESHOLD_S} s "
                    "before the signed expiration, which must be 180 s ahead)"
                )
        if order.post_only and not order.tif.rests:
            return f"post-only is allowed with GTC or GTD only, not {order.tif.value}"
        if self.clob.post_only_mode() and not order.post_only:
            return "the venue restarted (425): only post-only orders are accepted for a while"
        value = notional(order.size, order.price)
        cap = int(self.cfg.max_order_usd * MICRO)
        if value > cap:
            return f"live check: order notional {value / MICRO:.2f} above max_order_usd {cap / MICRO:.2f}"
        if order.side is Side.BUY:
            exposure = value + sum(
                notional(o.remaining, o.price)
                for o in self.open_orders(order.strategy)
                if o.side is Side.BUY
                and o.order_id != order.order_id
                and self._market(o) == inst.market_id
            )
            if self.position_cost is not None:
                exposure += self.position_cost(order.strategy, inst.market_id)
            limit = int(self.cfg.max_market_exposure_usd * MICRO)
            if exposure > limit:
                return (
                    f"live check: exposure in market {inst.market_id} would be "
                    f"{exposure / MICRO:.2f}, above max_market_exposure_usd {limit / MICRO:.2f}"
                )
            if not self.cfg.dry_run and self.balance is not None:
                committed = sum(
                    notional(o.remaining, o.price)
                    for o in self.open_orders()
                    if o.side is Side.BUY and o.order_id != order.order_id
                )
                if value + committed > self.balance:
                    return (
                        f"live check: venue balance {self.balance / MICRO:.2f} USDC cannot pay "
                        f"{value / MICRO:.2f} (open buys hold {committed / MICRO:.2f})"
                    )
                if self.allowance is not None and value > self.allowance:
                    return (
                        f"live check: exchange allowance {self.allowance / MICRO:.2f} USDC is "
                        f"below {value / MICRO:.2f}; approve USDC (docs/GOING_LIVE.md)"
                    )
        return None

    def venue_expiration(self, o: Order) -> int | None:
        """Return the ``expiration`` to sign for a GTD order (unix seconds), None otherwise.

        The engine-clock expiry becomes wall time (the same lifetime from now), rounded up to
        the second, plus the venue's 60 s security threshold.
        """
        if o.tif is not TimeInForce.GTD or o.expire_ts is None:
            return None
        wall_expiry = self._wall() + (o.expire_ts - self._clock())
        return math.ceil(wall_expiry) + GTD_SECURITY_THRESHOLD_S

    def _market(self, o: Order) -> str | None:
        inst = self.instruments.get(o.instrument_id)
        return inst.market_id if inst is not None else None

    def cancel(self, order: Order, now: float, reason: str) -> bool:
        """Request a cancel (sent at EMERGENCY priority); False if the order is finished."""
        if not order.active:
            return False
        info = self.info.get(order.order_id)
        if order in self._pending:
            self._pending.remove(order)
            self._finish(order, OrderStatus.CANCELLED, now, reason)
            return True
        if info is None:
            return False
        if info.cancel_wanted is None:
            info.cancel_wanted = reason
        if order.venue_order_id is not None and not info.cancel_sent:
            info.cancel_sent = True
            self._queue_cancel(order)
        return True

    def _queue_cancel(self, order: Order) -> None:
        """Cancels requested in one engine step go out in one request (the kill switch's)."""
        self._pending_cancels.append(order)
        if not self._cancel_scheduled:
            self._cancel_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_cancels)

    def _start_cancels(self) -> None:
        self._cancel_scheduled = False
        batch, self._pending_cancels = self._pending_cancels, []
        if batch:
            self._spawn(self._cancel(batch), "live-cancel")

    def cancel_all(self, now: float, reason: str, strategy: str | None = None) -> int:
        """Cancel every working order (of one strategy); all of them in one venue request."""
        orders = self.open_orders(strategy)
        n = 0
        for o in list(orders):
            if o in self._pending:
                self._pending.remove(o)
                self._finish(o, OrderStatus.CANCELLED, now, reason)
                n += 1
                continue
            info = self.info[o.order_id]
            info.cancel_wanted = info.cancel_wanted or reason
            n += 1
        sendable = [
            o
            for o in orders
            if o.active and o.venue_order_id is not None and not self.info[o.order_id].cancel_sent
        ]
        for o in sendable:
            self.info[o.order_id].cancel_sent = True
            self._queue_cancel(o)
        return n

    async def kill(self, reason: str) -> int:
        """The kill switch: refuse new orders and cancel everything at the venue in one request.

        Returns how many orders the venue reported cancelled. The caller stops the heartbeat
        afterwards (the venue would then cancel anything a failed request left).
        """
        self.killed = True
        now = self._clock()
        for o in list(self._pending):
            self._pending.remove(o)
            self._finish(o, OrderStatus.CANCELLED, now, reason)
        if self.cfg.dry_run:
            for o in self.open_orders():
                self._finish(o, OrderStatus.CANCELLED, now, reason)
            return 0
        ids = await self.clob.cancel_all()
        now = self._clock()
        for vid in ids:
            hit = self.by_venue.get(vid)
            if hit is not None and hit.active:
                self._finish(hit, OrderStatus.CANCELLED, now, reason)
        # Cancels the kill switch already sent order by order (one batch) count too.
        await self.drain()
        return len(ids) + self.kill_cancelled

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        """Return the orders working (or on their way) at the venue."""
        return [
            o
            for o in self.orders.values()
            if o.active and (strategy is None or o.strategy == strategy)
        ]

    def restore(self, order: Order) -> None:
        """Take back an order that was working before a restart (checked by the next refresh)."""
        self.orders[order.order_id] = order
        info = LiveOrderInfo(self._wall(), order.price, accepted_ts=self._clock(), restored=True)
        self.info[order.order_id] = info
        if order.venue_order_id:
            self.by_venue[order.venue_order_id] = order
        self.filled[order.order_id] = order.filled
        self._sync_due()

    def report(self) -> ExecutionReport:
        """Return the venue's view (as last heard) for the engine's reconciliation."""
        return ExecutionReport(self.name, self.open_orders(), dict(self.filled))

    @property
    def provisional(self) -> list[TradeRec]:
        """Return the fills counted in positions whose trade is not CONFIRMED yet."""
        return [t for t in self.trades.values() if t.status in PROVISIONAL and not t.reversed]

    # ================================================================== time
    def on_time(self, now: float) -> None:
        """Cancel orders left unfilled past their timeout."""
        for o in self.open_orders():
            info = self.info.get(o.order_id)
            if info is None or info.accepted_ts is None or info.cancel_wanted is not None:
                continue
            if o.tif is TimeInForce.GTD:
                # The strategy chose the lifetime; the venue expires it. Should its message be
                # lost, the client cancels it itself once the expiry has passed.
                if o.expire_ts is not None and now >= o.expire_ts + GTD_EXPIRY_TOLERANCE_S:
                    self.cancel(o, now, f"GTD order expired at {o.expire_ts:.3f}")
                continue
            limit = self.cfg.order_timeout_per_strategy_s.get(o.strategy, self.cfg.order_timeout_s)
            if now >= info.accepted_ts + limit:
                self.cancel(o, now, f"order timeout: unfilled after {limit:g} s")
        self._sync_due()

    def housekeeping(self, now: float) -> None:
        """Forget finished orders whose trades are final (storage keeps them)."""
        keep_ids = {t.order_id for t in self.provisional}
        for oid, o in list(self.orders.items()):
            if not o.active and oid not in keep_ids and self.info[oid].label is not None:
                del self.orders[oid]
                if o.venue_order_id:
                    self.by_venue.pop(o.venue_order_id, None)

    def _sync_due(self) -> None:
        due = float("inf")
        for o in self.open_orders():
            info = self.info.get(o.order_id)
            if info is None or info.accepted_ts is None or info.cancel_wanted is not None:
                continue
            if o.tif is TimeInForce.GTD:
                if o.expire_ts is not None:
                    due = min(due, o.expire_ts + GTD_EXPIRY_TOLERANCE_S)
                continue
            limit = self.cfg.order_timeout_per_strategy_s.get(o.strategy, self.cfg.order_timeout_s)
            due = min(due, info.accepted_ts + limit)
        self.next_due = due

    # ================================================================== posting
    def _schedule_flush(self) -> None:
        if self._flush_scheduled:
            return
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if batch:
            self._spawn(self._post(batch), "live-post")

    async def _post(self, batch: list[Order]) -> None:
        signed: list[Any] = []
        ready: list[Order] = []
        for o in batch:
            if not o.active:
                continue
            try:
                signed.append(await self.clob.sign(o, self.venue_expiration(o)))
                ready.append(o)
            except VenueCallError as exc:
                self._reject(o, self._clock(), f"signing failed: {exc}")
            except Exception as exc:  # noqa: BLE001 - the SDK's validation errors: refuse, say why
                self._reject(o, self._clock(), f"the SDK refused to build the order: {exc}")
        if not ready:
            return
        if self.cfg.dry_run:
            for o, s in zip(ready, signed, strict=True):
                self.clob.signed_dry_run.append(
                    {
                        "order_id": o.order_id,
                        "token": s.token_id,
                        "side": s.side,
                        "maker_amount": s.maker_amount,
                        "taker_amount": s.taker_amount,
                        "order_type": s.order_type,
                        "signer": s.signer,
                    }
                )
                log.info(
                    "Dry run: order %d signed (%s %s %s @ %s), not posted.",
                    o.order_id,
                    o.strategy,
                    o.side.value,
                    o.size / MICRO,
                    o.price / MICRO,
                    extra={"strategy": o.strategy, "order": o.order_id},
                )
                self._accepted(o, PlaceResult(True, f"dry-{o.client_order_id}", "live"))
            return
        try:
            results = await self.clob.post(signed)
        except VenueCallError as exc:
            now = self._clock()
            for o in ready:
                self._reject(o, now, f"not posted: {exc}")
            if "acceptance unknown" in str(exc):
                self._problem(
                    "order_unknown",
                    f"{len(ready)} order(s) got no answer; the next reconciliation cancels them "
                    "if the venue took them",
                )
            return
        for o, r in zip(ready, results, strict=True):
            if r.ok:
                self._accepted(o, r)
            else:
                self._reject(o, self._clock(), f"{r.code}: {r.message}")

    def _accepted(self, o: Order, r: PlaceResult) -> None:
        now = self._clock()
        info = self.info[o.order_id]
        info.ack_wall = self._wall()
        self.latencies_ms.append((info.ack_wall - info.decision_wall) * 1000.0)
        info.accepted_ts = now
        o.venue_order_id = r.venue_order_id
        self.by_venue[r.venue_order_id] = o
        self.filled.setdefault(o.order_id, o.filled)
        if o.active:
            o.status = OrderStatus.PARTIALLY_FILLED if o.filled else OrderStatus.OPEN
            o.updated_ts = now
            self._emit(OrderEvent(OrderEventKind.ACCEPTED, o, now))
        if o.tif in (TimeInForce.FOK, TimeInForce.FAK):
            info.expected_fill = r.matched
            self._fak_done(o)
        if info.cancel_wanted is not None and o.active and not info.cancel_sent:
            info.cancel_sent = True
            self._queue_cancel(o)
        self._sync_due()

    def _fak_done(self, o: Order) -> None:
        """A FAK/FOK whose placement fills have all arrived: the rest is gone."""
        info = self.info[o.order_id]
        if info.expected_fill is None or not o.active:
            return
        if o.filled >= info.expected_fill:
            self._finish(o, OrderStatus.CANCELLED, self._clock(), f"{o.tif.value}: rest killed")

    async def _cancel(self, orders: list[Order]) -> None:
        if self.cfg.dry_run:
            now = self._clock()
            for o in orders:
                self._finish(o, OrderStatus.CANCELLED, now, self.info[o.order_id].cancel_wanted)
            return
        ids = [o.venue_order_id for o in orders if o.venue_order_id]
        try:
            done, refused = await self.clob.cancel([i for i in ids if i])
        except VenueCallError as exc:
            for o in orders:
                self.info[o.order_id].cancel_sent = False
            self._problem("cancel_failed", f"cancel of {len(ids)} order(s) failed: {exc}")
            return
        now = self._clock()
        if self.killed:
            self.kill_cancelled += len(done)
        for vid in done:
            hit = self.by_venue.get(vid)
            if hit is not None and hit.active:
                why = self.info[hit.order_id].cancel_wanted
                expired = (why or "").startswith("GTD order expired")
                self._finish(hit, OrderStatus.CANCELLED, now, why, expired)
        for vid, why in refused.items():
            log.info("Venue did not cancel %s: %s.", vid, why)

    # ================================================================== user channel
    def on_user_message(self, ev: Any) -> None:
        """Apply one parsed user-channel event (SDK ``UserOrderEvent`` / ``UserTradeEvent``)."""
        if ev.type == "trade":
            self._on_trade(ev.payload)
        elif ev.type == "order":
            self._on_order(ev.payload)

    def _on_order(self, p: Any) -> None:
        o = self.by_venue.get(str(p.id))
        if o is None or not o.active:
            return
        if p.order_event_type == "CANCELLATION":
            now = self._clock()
            if self._expired(o, now):
                self._finish(
                    o, OrderStatus.CANCELLED, now, f"GTD order expired at {o.expire_ts:.3f}", True
                )
                return
            reason = self.info[o.order_id].cancel_wanted or f"cancelled by the venue ({p.status})"
            self._finish(o, OrderStatus.CANCELLED, now, reason)

    def _expired(self, o: Order, now: float) -> bool:
        """Return whether a GTD order has reached its expiry (a venue cancel is its expiry)."""
        return (
            o.tif is TimeInForce.GTD
            and o.expire_ts is not None
            and now >= o.expire_ts - GTD_EXPIRY_TOLERANCE_S
        )

    def _mine(self, p: Any) -> list[tuple[Order, int, int, str, Decimal | None]]:
        """Return (order, size, price, liquidity, fee rate bps) for each of our orders in one
        trade. The rate is the one the venue reports for our side: the trade's ``fee_rate_bps``
        for the taker, the maker order's own for a maker (SDK ``ClobTrade`` / ``MakerOrder``
        and ``UserTradePayload`` / ``UserTradeMakerOrder``); None when the message has none."""
        mine: list[tuple[Order, int, int, str, Decimal | None]] = []
        taker = self.by_venue.get(str(p.taker_order_id))
        if taker is not None and str(p.trader_side or "TAKER") == "TAKER":
            bps = getattr(p, "fee_rate_bps", None)
            mine.append((taker, _micro(p.size), _micro(p.price), "taker", bps))
        for m in p.maker_orders or ():
            o = self.by_venue.get(str(m.order_id))
            if o is not None:
                bps = getattr(m, "fee_rate_bps", None)
                mine.append((o, _micro(m.matched_amount), _micro(m.price), "maker", bps))
        return mine

    def fill_fee(
        self, o: Order, size: int, price: int, liq: str, bps: Decimal | None
    ) -> tuple[int, str]:
        """Return (fee, source) of one fill of ours.

        With the trade's ``fee_rate_bps`` the fee is ``shares * bps / 10000 * (p * (1 - p)) **
        exponent`` (the venue's curve, reference "Fees and order rules"; the exponent from the
        market's fee schedule), rounded like every fee; without it the instrument's fee model
        decides (makers pay nothing).
        """
        inst = self.instruments.get(o.instrument_id)
        if bps is not None:
            exponent = inst.fees.exponent if inst is not None else 1
            return taker_fee(size, price, Decimal(bps) / 10_000, exponent), "trade"
        if inst is None or liq != "taker":
            return 0, "model"
        return inst.fees.taker_fee(size, price), "model"

    def _on_trade(self, p: Any) -> None:
        """Fills from one trade: ours as taker, or as a maker in ``maker_orders``."""
        for o, size, price, liq, bps in self._mine(p):
            self._trade_status(o, str(p.id), size, price, liq, str(p.status), bps)

    def _seed_restored(self, trades: list[Any]) -> None:
        """After a restart, mark the venue trades already in the ledger as known.

        A restored order's stored ``filled`` quantity came from its earliest trades; those are
        recorded without a fill event, the later ones (missed while the bot was down) apply.
        """
        left: dict[int, int] = {}
        for t in sorted(trades, key=lambda t: (t.matched_at, str(t.id))):
            for o, size, price, liq, bps in self._mine(t):
                info = self.info.get(o.order_id)
                key = (str(t.id), o.order_id)
                if info is None or not info.restored or key in self.trades:
                    continue
                room = left.setdefault(o.order_id, o.filled)
                if room >= size:
                    left[o.order_id] = room - size
                    fee, source = self.fill_fee(o, size, price, liq, bps)
                    self.trades[key] = TradeRec(
                        str(t.id),
                        o.order_id,
                        size,
                        price,
                        fee,
                        liq,
                        str(t.status),
                        self._clock(),
                        fee_source=source,
                    )
                    info.trades.append(str(t.id))
        for info in self.info.values():
            info.restored = False

    def apply_rest_trade(self, t: Any) -> bool:
        """Apply a trade read over REST (``ClobTrade``); return whether it changed anything."""
        before = len(self.trades), sum(1 for r in self.trades.values() if r.reversed)
        self._on_trade(t)
        after = len(self.trades), sum(1 for r in self.trades.values() if r.reversed)
        return before != after

    def _trade_status(
        self,
        o: Order,
        trade_id: str,
        size: int,
        price: int,
        liq: str,
        status: str,
        bps: Decimal | None = None,
    ) -> None:
        key = (trade_id, o.order_id)
        rec = self.trades.get(key)
        now = self._clock()
        if rec is None:
            if status == "FAILED":
                self.info[o.order_id].failed_trades += 1
                self._maybe_verify(o)
                return
            size = min(size, o.size - o.filled)
            if size <= 0:
                return
            fee, source = self.fill_fee(o, size, price, liq, bps)
            rec = TradeRec(
                trade_id, o.order_id, size, price, fee, liq, status, now, fee_source=source
            )
            self.trades[key] = rec
            self.info[o.order_id].trades.append(trade_id)
            self._fill(o, rec, now)
            if o.tif in (TimeInForce.FOK, TimeInForce.FAK):
                self._fak_done(o)
        else:
            if rec.reversed or rec.status == status:
                return
            rec.status = status
            if status == "FAILED":
                self._reverse(o, rec, now)
        self._maybe_verify(o)

    def _fill(self, o: Order, rec: TradeRec, now: float) -> None:
        self._venue_fill(
            o, rec.price, rec.size, rec.fee, rec.liquidity, now, rec.trade_id, self.filled,
            fill_reason="provisional" if rec.status in PROVISIONAL else "confirmed",
            fee_source=rec.fee_source,
        )  # fmt: skip
        self._sync_due()

    def _reverse(self, o: Order, rec: TradeRec, now: float) -> None:
        """A trade FAILED after MATCHED: undo its fill with an opposite ledger row."""
        if o.side is Side.BUY and self.held is not None:
            have = self.held(o.strategy, o.instrument_id)
            if have < rec.size:
                # The shares were sold meanwhile: the ledger cannot give back what it no longer
                # holds. Keep the fill, say so; reconciliation sees the token difference.
                rec.reversed = True
                self.info[o.order_id].failed_trades += 1
                self._problem(
                    "trade_failed",
                    f"{o.strategy}: trade {rec.trade_id} of order {o.order_id} FAILED after "
                    f"MATCHED but {have / MICRO:,.2f} of {rec.size / MICRO:,.2f} shares are "
                    "still held: not reversed; check the position against the venue",
                )
                return
        rec.reversed = True
        self.info[o.order_id].failed_trades += 1
        o.filled -= rec.size
        o.filled_notional -= notional(rec.size, rec.price)
        o.fees -= rec.fee
        o.updated_ts = now
        if o.status is OrderStatus.FILLED:
            # The venue consumed the order; the failed part is not working again.
            o.status = OrderStatus.CANCELLED
            o.reject_reason = f"trade {rec.trade_id} failed"
        self.filled[o.order_id] = o.filled
        opposite = Side.SELL if o.side is Side.BUY else Side.BUY
        fill = Fill(
            0,
            o.order_id,
            o.strategy,
            o.instrument_id,
            opposite,
            rec.price,
            rec.size,
            -rec.fee,
            rec.liquidity,
            now,
            venue_fill_id=f"{rec.trade_id}:reversal",
            fill_reason=REVERSAL,
            fee_source=rec.fee_source,
        )
        kind = OrderEventKind.PARTIALLY_FILLED if o.active else OrderEventKind.CANCELLED
        self._emit(OrderEvent(kind, o, now, fill=fill, reason=f"trade {rec.trade_id} failed"))
        self._problem(
            "trade_failed",
            f"{o.strategy}: trade {rec.trade_id} of order {o.order_id} FAILED after MATCHED; "
            f"{rec.size / MICRO:,.2f} shares at {rec.price / MICRO:.4f} reversed",
        )

    # ================================================================== outcomes
    def _reject(self, o: Order, now: float, reason: str) -> None:
        o.status = OrderStatus.REJECTED
        o.reject_reason = reason
        o.updated_ts = now
        self._emit(OrderEvent(OrderEventKind.REJECTED, o, now, reason=reason))
        self._maybe_verify(o)

    def _finish(
        self,
        o: Order,
        status: OrderStatus,
        now: float,
        reason: str | None,
        expired: bool = False,
    ) -> None:
        if not o.active:
            return
        o.status = status
        o.reject_reason = reason
        o.updated_ts = now
        kind = (
            OrderEventKind.CANCELLED if status is OrderStatus.CANCELLED else OrderEventKind.REJECTED
        )
        if expired:
            o.extra["expired"] = True
            kind = OrderEventKind.EXPIRED
        self._emit(OrderEvent(kind, o, now, reason=reason))
        self._maybe_verify(o)
        self._sync_due()

    def _maybe_verify(self, o: Order) -> None:
        """Label a finished order once none of its trades is provisional."""
        info = self.info.get(o.order_id)
        if info is None or info.label is not None or o.active:
            return
        recs = [self.trades[(t, o.order_id)] for t in info.trades]
        if any(r.status in PROVISIONAL and not r.reversed for r in recs):
            return
        detail: dict[str, Any] = {"order_id": o.order_id, "filled": o.filled, "size": o.size}
        label: str
        if o.status is OrderStatus.REJECTED or info.failed_trades:
            label = FAILED
        elif o.filled == 0:
            if o.tif is not TimeInForce.FOK:
                info.label = "UNFILLED"  # cancelled or timed out before any fill: no label
                return
            label = FAILED
        elif o.filled < o.size:
            label = PARTIAL_FILL
        else:
            label = VERIFIED
        if o.filled and info.ref_price:
            avg = o.avg_price or o.price
            worse = avg - info.ref_price if o.side is Side.BUY else info.ref_price - avg
            pct = float(Decimal(worse) * 100 / Decimal(info.ref_price))
            detail["slippage_pct"] = round(pct, 4)
            detail["decision_price"] = info.ref_price
            detail["avg_price"] = avg
            if pct > self.cfg.slippage_high_pct and label in (VERIFIED, PARTIAL_FILL):
                label = SLIPPAGE_HIGH
        if info.ack_wall is not None:
            detail["ack_latency_ms"] = round((info.ack_wall - info.decision_wall) * 1000.0, 3)
        info.label = label
        o.extra["verification"] = label
        if self.on_verified is not None:
            self.on_verified(o, label, detail)

    # ================================================================== reconciliation
    async def refresh(self, reason: str) -> list[str]:
        """Read open orders and trades over REST and repair the local view.

        Returns one sentence per difference: a venue order the bot does not know (it is
        cancelled), a local order the venue no longer works (marked cancelled), a trade the
        user channel missed (applied, counted as repaired, not as a difference).
        """
        if self.cfg.dry_run:
            return []
        out: list[str] = []
        venue_open = await self.clob.open_orders()
        trades = await self.clob.trades()
        self._seed_restored(trades)
        repaired = sum(1 for t in trades if self.apply_rest_trade(t))
        if repaired:
            log.warning(
                "%d trade update(s) missed by the user channel were applied (%s).", repaired, reason
            )
        open_ids = {str(o.id) for o in venue_open}
        unknown = [
            vid for vid in open_ids if vid not in self.by_venue or not self.by_venue[vid].active
        ]
        for vid in sorted(unknown):
            out.append(
                f"{self.name}: the venue works order {vid}, which the bot does not know (cancelled)"
            )
        if unknown:
            try:
                await self.clob.cancel(sorted(unknown))
            except VenueCallError as exc:
                out.append(f"{self.name}: cancelling unknown venue orders failed: {exc}")
        now = self._clock()
        for o in self.open_orders():
            if o.venue_order_id is None or o.venue_order_id.startswith("dry-"):
                continue
            if o.venue_order_id not in open_ids:
                if self._expired(o, now):
                    # Expired at the venue (its message missed): not a difference.
                    self._finish(
                        o,
                        OrderStatus.CANCELLED,
                        now,
                        f"GTD order expired at {o.expire_ts:.3f}",
                        True,
                    )
                    continue
                out.append(
                    f"{self.name}: order {o.order_id} ({o.strategy}) is not open at the venue "
                    f"({reason}); marked cancelled"
                )
                self._finish(o, OrderStatus.CANCELLED, now, f"not open at the venue ({reason})")
        for vo in venue_open:
            hit = self.by_venue.get(str(vo.id))
            if hit is not None and hit.active:
                matched = int(Decimal(vo.size_matched) * MICRO)
                if matched != hit.filled:
                    out.append(
                        f"{self.name}: order {hit.order_id} matched {matched / MICRO:,.2f} at "
                        f"the venue, {hit.filled / MICRO:,.2f} in the bot"
                    )
        self.balance, self.allowance = await self.clob.collateral()
        return out

    # ================================================================== internals
    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("Live task %s failed: %s", task.get_name(), exc, exc_info=exc)
            self._problem("live_task_failed", f"task {task.get_name()} failed: {exc}")

    def _problem(self, kind: str, message: str) -> None:
        log.warning("%s", message)
        if self.on_problem is not None:
            self.on_problem(kind, message)

    async def drain(self) -> None:
        """Wait for every request in flight (tests and shutdown)."""
        while self._tasks or self._flush_scheduled or self._cancel_scheduled:
            await asyncio.sleep(0)
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel requests in flight."""
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _micro(v: Any) -> int:
    return int(Decimal(str(v)) * MICRO)
