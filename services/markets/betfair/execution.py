"""The live Betfair execution client: orders through Betfair's Betting API (betfairlightweight).

Behind the same :class:`~services.execution.client.ExecutionClient` boundary as every client:
``submit``, ``cancel`` and the polling of the bets' state run on one worker thread (Betfair's
API is blocking HTTP), and what Betfair answered reaches the engine as order events on the
engine's own thread, in ``on_time`` (due on every batch while anything is in flight or working).

Betfair Betting API (API-NG, JSON-RPC ``SportsAPING/v1.0/...``) shapes used here:

* ``placeOrders(marketId, instructions=[{orderType: LIMIT, selectionId, handicap, side: BACK |
  LAY, limitOrder: {size, price, persistenceType: LAPSE | PERSIST[, timeInForce:
  FILL_OR_KILL, minFillSize]}, customerOrderRef}], customerRef)`` -> ``{status, errorCode,
  instructionReports: [{status, errorCode, betId, sizeMatched, averagePriceMatched,
  orderStatus}]}``;
* ``cancelOrders(marketId, instructions=[{betId}])`` -> ``{status, instructionReports:
  [{status, errorCode, sizeCancelled}]}``;
* ``listCurrentOrders(betIds=[...] | customerOrderRefs=[...])`` -> ``{currentOrders: [{betId,
  status: EXECUTABLE | EXECUTION_COMPLETE, sizeMatched, averagePriceMatched, sizeRemaining,
  sizeLapsed, sizeCancelled, sizeVoided, customerOrderRef}], moreAvailable}``.

Fills are the increases of ``sizeMatched`` (polled with ``listCurrentOrders`` every
``poll_interval_s``; the place report's own ``sizeMatched`` is the first), at the increase's
average price (``averagePriceMatched`` weighted by size, rounded to the micro-unit). A
placement whose HTTP call failed (timeout, 5xx) is not assumed lost: the client looks the order
up by its ``customerOrderRef`` on the next poll, and rejects it only if Betfair does not know it.

With the order stream on (:meth:`BetfairExecutionClient.on_order_change`, fed by
:mod:`services.markets.betfair.order_stream`), each ``uo`` (unmatched order) entry of an ``ocm``
message carries the same cumulative figures (``sm`` size matched, ``avp`` average price matched,
``status`` E / EC, ``rfo`` the customerOrderRef): it is applied exactly like a polled row, so a
fill seen by both the stream and a poll counts once. While the stream is up the client does not
poll the bets it knows; when the stream drops polling resumes, and after every (re)connect one
poll catches up with what matched while nobody was listening.

The kill switch's :meth:`BetfairExecutionClient.cancel_everything` is one ``cancelOrders`` without a
market id ("If marketId and betId aren't supplied all bets are cancelled", API-NG reference and
betfairlightweight ``Betting.cancel_orders``); what it cancelled is read back by a poll.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from services.execution.client import ExecutionClient, ExecutionReport, OrderEvent, OrderEventKind
from services.execution.orders import Order, OrderStatus, TimeInForce
from services.instruments import Instrument, Side
from services.money import MICRO

log = logging.getLogger(__name__)


class BettingApi(Protocol):
    """The calls of ``betfairlightweight.APIClient(...).betting`` the client uses."""

    def place_orders(self, market_id: str, instructions: list[dict[str, Any]], **kw: Any) -> Any:
        """Place orders (``SportsAPING/v1.0/placeOrders``)."""

    def cancel_orders(
        self,
        market_id: str | None = None,
        instructions: list[dict[str, Any]] | None = None,
        **kw: Any,
    ) -> Any:
        """Cancel orders (``SportsAPING/v1.0/cancelOrders``; no market: every bet)."""

    def list_current_orders(self, **kw: Any) -> Any:
        """List current orders (``SportsAPING/v1.0/listCurrentOrders``)."""


def _units(x: float | None) -> int:
    return int(round((x or 0.0) * MICRO))


def _amount(micro: int) -> float:
    return round(micro / MICRO, 2)


def place_instruction(order: Order, inst: Instrument) -> dict[str, Any]:
    """Return Betfair's ``PlaceInstruction`` for an order (a back is the SELL side on odds)."""
    _, selection, *hc = inst.instrument_id.split(":")
    limit: dict[str, Any] = {
        "size": _amount(order.size),
        "price": round(order.price / MICRO, 2),
        "persistenceType": "PERSIST" if order.extra.get("persist") else "LAPSE",
    }
    if order.tif is TimeInForce.FOK:
        limit["timeInForce"] = "FILL_OR_KILL"
    elif order.tif is TimeInForce.FAK:
        limit["timeInForce"] = "FILL_OR_KILL"
        limit["minFillSize"] = _amount(inst.lot)  # fill and kill: any size fills
    return {
        "orderType": "LIMIT",
        "selectionId": int(selection),
        "handicap": float(hc[0]) if hc else 0.0,
        "side": "BACK" if order.side is Side.SELL else "LAY",
        "limitOrder": limit,
        "customerOrderRef": order.client_order_id,
    }


@dataclass
class _Bet:
    order: Order
    matched: int = 0  # stake matched so far, micro
    matched_value: int = 0  # sum of stake * odds matched, micro
    placing: bool = True
    unknown: str = ""  # the placement's outcome is unknown (transport error): why
    cancel_reason: str | None = None
    cancelling: bool = False  # a cancelOrders call is in flight


class BetfairExecutionClient(ExecutionClient):
    """Live orders on Betfair through betfairlightweight's Betting API.

    Parameters
    ----------
    instruments : dict[str, Instrument]
        The node's instrument registry.
    betting : BettingApi
        ``betfairlightweight.APIClient(...).betting`` (logged in), or a test double.
    poll_interval_s : float
        Seconds (event time; wall time in a live session) between ``listCurrentOrders`` polls.
    """

    venue = "betfair"

    def __init__(
        self,
        instruments: dict[str, Instrument],
        betting: BettingApi,
        *,
        poll_interval_s: float = 1.0,
        name: str = "betfair",
    ) -> None:
        super().__init__()
        self.name = name
        self.instruments = instruments
        self.betting = betting
        self.poll_interval_s = poll_interval_s
        self._bets: dict[int, _Bet] = {}
        self._by_bet_id: dict[str, int] = {}
        self._filled: dict[int, int] = {}
        self._answers: queue.SimpleQueue[Callable[[float], None]] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="betfair-api")
        self._inflight = 0
        self._lock = threading.Lock()
        self._next_poll: float = 0.0
        self._fill_seq = 0
        self._force_poll = False
        self.stream_up = False
        self.errors = 0

    # ------------------------------------------------------------------ interface
    def submit(self, order: Order, now: float) -> None:
        """Send ``placeOrders`` on the worker thread; the outcome arrives as events."""
        inst = self.instruments.get(order.instrument_id)
        if inst is None or inst.venue != "betfair":
            order.status, order.updated_ts = OrderStatus.REJECTED, now
            order.reject_reason = f"{order.instrument_id} is not a Betfair runner"
            self._emit(OrderEvent(OrderEventKind.REJECTED, order, now, reason=order.reject_reason))
            return
        if order.tif is TimeInForce.GTD:
            # Betfair's LIMIT orders have no expiry (timeInForce is FILL_OR_KILL or nothing):
            # a GTD placed as a plain bet would never expire, so it is refused.
            order.status, order.updated_ts = OrderStatus.REJECTED, now
            order.reject_reason = "Betfair has no good-til-date bets: place GTC and cancel it"
            self._emit(OrderEvent(OrderEventKind.REJECTED, order, now, reason=order.reject_reason))
            return
        self._bets[order.order_id] = _Bet(order)
        instruction = place_instruction(order, inst)
        self._call(
            lambda: self.betting.place_orders(
                inst.market_id,
                [instruction],
                customer_ref=order.client_order_id,
                lightweight=True,
            ),
            lambda res, err, now: self._placed(order.order_id, res, err, now),
        )

    def cancel(self, order: Order, now: float, reason: str) -> bool:
        """Send ``cancelOrders`` for a working bet (after its placement is known)."""
        bet = self._bets.get(order.order_id)
        if bet is None:
            return False
        bet.cancel_reason = reason
        if not bet.placing and order.venue_order_id:
            self._send_cancel(bet)
        return True

    def open_orders(self, strategy: str | None = None) -> list[Order]:
        """Return the bets this client believes are working."""
        return [
            b.order for b in self._bets.values() if strategy is None or b.order.strategy == strategy
        ]

    def report(self) -> ExecutionReport:
        """Return the working bets and the stake matched of every bet seen."""
        return ExecutionReport(self.name, self.open_orders(), dict(self._filled))

    def on_time(self, now: float) -> None:
        """Apply Betfair's answers (as events), and poll the working bets when due."""
        while True:
            try:
                apply = self._answers.get_nowait()
            except queue.Empty:
                break
            apply(now)
        if self._bets and now >= self._next_poll and self._inflight == 0:
            self._next_poll = now + self.poll_interval_s
            if self._force_poll or not self.stream_up:
                self._force_poll = False
                self._poll()
            elif any(b.unknown for b in self._bets.values()):
                self._poll(refs_only=True)
        self.next_due = float("-inf") if (self._bets or self._inflight) else float("inf")

    def close(self) -> None:
        """Stop the worker thread (pending calls finish first)."""
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------ order stream
    def set_stream(self, up: bool) -> None:
        """The order stream connected (``up``) or dropped: poll once now either way."""
        self.stream_up = up
        if self._bets:  # nothing working: nothing to catch up with
            self._poll_soon()

    def on_order_change(self, msg: dict[str, Any], now: float) -> None:
        """Apply one ``ocm`` message of the order stream (engine thread)."""
        for oc in msg.get("oc") or ():
            for orc in oc.get("orc") or ():
                for uo in orc.get("uo") or ():
                    bet_id = str(uo.get("id", ""))
                    oid = self._by_bet_id.get(bet_id)
                    if oid is None and uo.get("rfo"):
                        oid = self._oid_by_ref(str(uo["rfo"]))
                    if oid is None or oid not in self._bets:
                        continue  # not ours, or already finished
                    self._apply(
                        oid, bet_id, _units(uo.get("sm")), uo.get("avp"), uo.get("status") == "EC",
                        now,
                    )  # fmt: skip

    def cancel_everything(self, reason: str) -> int:
        """Cancel every bet on the account in one ``cancelOrders`` call; return how many of
        ours were working. Their end is read back by the poll that follows."""
        for bet in self._bets.values():
            bet.cancel_reason = reason
        n = len(self._bets)
        self._call(
            lambda: self.betting.cancel_orders(lightweight=True),
            lambda res, err, now: self._cancelled_all(res, err),
        )
        return n

    def _cancelled_all(self, res: Any, err: BaseException | None) -> None:
        if err is not None or (res or {}).get("status") != "SUCCESS":
            self.errors += 1
            log.error(
                "Cancel-all on Betfair failed (%s); cancelling bet by bet.",
                err or (res or {}).get("errorCode"),
            )
            for bet in list(self._bets.values()):
                if not bet.placing and bet.order.venue_order_id:
                    self._send_cancel(bet)
        self._poll_soon()

    def _poll_soon(self) -> None:
        self._force_poll = True
        self._next_poll = 0.0

    def _oid_by_ref(self, ref: str) -> int | None:
        for oid, b in self._bets.items():
            if b.order.client_order_id == ref:
                return oid
        return None

    def _apply(
        self, oid: int, bet_id: str, size: int, avg: float | None, complete: bool, now: float
    ) -> None:
        """Apply a bet's cumulative state (a polled row or a stream ``uo``)."""
        bet = self._bets[oid]
        o = bet.order
        if bet.unknown or bet.placing:  # the placement went through (answer lost or not yet)
            bet.unknown, bet.placing = "", False
            o.venue_order_id = bet_id
            self._by_bet_id[bet_id] = oid
            o.status = OrderStatus.OPEN
            self._emit(OrderEvent(OrderEventKind.ACCEPTED, o, now))
        self._matched(bet, size, avg, now)
        if oid in self._bets and complete:
            why = bet.cancel_reason or "Betfair: the rest lapsed or was cancelled"
            self._finish(oid, OrderStatus.CANCELLED, why, now)
        elif oid in self._bets and bet.cancel_reason is not None and not bet.cancelling:
            self._send_cancel(bet)

    # ------------------------------------------------------------------ worker
    def _call(
        self, fn: Callable[[], Any], then: Callable[[Any, BaseException | None, float], None]
    ) -> None:
        with self._lock:
            self._inflight += 1
        self.next_due = float("-inf")

        def run() -> None:
            try:
                res, err = fn(), None
            except Exception as exc:  # noqa: BLE001 - any failure is an answer the engine must see
                res, err = None, exc
            self._answers.put(lambda now: self._done(then, res, err, now))

        self._pool.submit(run)

    def _done(
        self,
        then: Callable[[Any, BaseException | None, float], None],
        res: Any,
        err: BaseException | None,
        now: float,
    ) -> None:
        with self._lock:
            self._inflight -= 1
        then(res, err, now)

    # ------------------------------------------------------------------ answers (engine thread)
    def _placed(self, oid: int, res: Any, err: BaseException | None, now: float) -> None:
        bet = self._bets.get(oid)
        if bet is None:
            return
        o = bet.order
        if err is not None and not bet.placing:  # the order stream already saw the bet
            self.errors += 1
            return
        if err is not None:
            self.errors += 1
            bet.unknown = f"{type(err).__name__}: {err}"
            log.warning(
                "Placing order %s on Betfair failed in transport (%s); looking it up by its "
                "customer reference on the next poll.",
                o.client_order_id,
                bet.unknown,
            )
            self._poll_soon()
            return
        reports = (res or {}).get("instructionReports") or []
        report = reports[0] if reports else {}
        if not bet.placing and o.venue_order_id:  # the order stream saw the bet first
            if report.get("status") == "SUCCESS":
                self._apply(
                    oid, o.venue_order_id, _units(report.get("sizeMatched")),
                    report.get("averagePriceMatched"),
                    report.get("orderStatus") == "EXECUTION_COMPLETE", now,
                )  # fmt: skip
            return
        if (res or {}).get("status") != "SUCCESS" or report.get("status") != "SUCCESS":
            code = report.get("errorCode") or (res or {}).get("errorCode") or "UNKNOWN"
            self._finish(oid, OrderStatus.REJECTED, f"Betfair refused the bet: {code}", now)
            return
        bet.placing = False
        o.venue_order_id = str(report["betId"])
        self._by_bet_id[o.venue_order_id] = oid
        o.status = OrderStatus.OPEN
        self._emit(OrderEvent(OrderEventKind.ACCEPTED, o, now))
        self._matched(
            bet, _units(report.get("sizeMatched")), report.get("averagePriceMatched"), now
        )
        if oid in self._bets and report.get("orderStatus") == "EXECUTION_COMPLETE":
            self._finish(oid, OrderStatus.CANCELLED, "Betfair: not matched, lapsed or killed", now)
        elif oid in self._bets and bet.cancel_reason is not None:
            self._send_cancel(bet)

    def _matched(self, bet: _Bet, size: int, avg: float | None, now: float) -> None:
        """Emit a fill for the increase of the matched stake (at the increase's average odds)."""
        o = bet.order
        if size <= bet.matched:
            return
        value = size * _units(avg) // MICRO
        inc, inc_value = size - bet.matched, max(0, value - bet.matched_value)
        price = (inc_value * MICRO + inc // 2) // inc if inc_value else _units(avg)
        bet.matched, bet.matched_value = size, value
        self._fill_seq += 1
        fill_id = f"{o.venue_order_id}-{self._fill_seq}"
        self._venue_fill(o, price, inc, 0, "taker", now, fill_id, self._filled)
        done = o.status is OrderStatus.FILLED
        if done:
            self._bets.pop(o.order_id, None)

    def _send_cancel(self, bet: _Bet) -> None:
        o = bet.order
        bet.cancelling = True
        inst = self.instruments[o.instrument_id]
        bet_id = o.venue_order_id
        self._call(
            lambda: self.betting.cancel_orders(
                inst.market_id, [{"betId": bet_id}], lightweight=True
            ),
            lambda res, err, now: self._cancelled(o.order_id, res, err, now),
        )

    def _cancelled(self, oid: int, res: Any, err: BaseException | None, now: float) -> None:
        bet = self._bets.get(oid)
        if bet is None:
            return
        bet.cancelling = False
        if err is not None or (res or {}).get("status") != "SUCCESS":
            self.errors += 1
            log.warning(
                "Cancelling order %s on Betfair failed (%s); the next poll says what is left.",
                bet.order.client_order_id,
                err or (res or {}).get("errorCode"),
            )
            self._poll_soon()
            return
        self._finish(oid, OrderStatus.CANCELLED, bet.cancel_reason or "cancelled", now)

    def _poll(self, *, refs_only: bool = False) -> None:
        bet_ids = [
            b.order.venue_order_id
            for b in self._bets.values()
            if b.order.venue_order_id and not refs_only
        ]
        refs = [b.order.client_order_id for b in self._bets.values() if b.unknown]
        if bet_ids:
            self._call(
                lambda: self.betting.list_current_orders(bet_ids=bet_ids, lightweight=True),
                lambda res, err, now: self._polled(res, err, now, by_ref=False),
            )
        if refs:
            self._call(
                lambda: self.betting.list_current_orders(
                    customer_order_refs=refs, lightweight=True
                ),
                lambda res, err, now: self._polled(res, err, now, by_ref=True, refs=refs),
            )

    def _polled(
        self,
        res: Any,
        err: BaseException | None,
        now: float,
        *,
        by_ref: bool,
        refs: list[str] | None = None,
    ) -> None:
        if err is not None:
            self.errors += 1
            log.warning("Polling Betfair's current orders failed (%s); retrying.", err)
            return
        seen: set[str] = set()
        by_ref_id = {b.order.client_order_id: oid for oid, b in self._bets.items()}
        for row in (res or {}).get("currentOrders") or ():
            oid = (
                by_ref_id.get(row.get("customerOrderRef", ""))
                if by_ref
                else self._by_bet_id.get(str(row.get("betId")))
            )
            if oid is None or oid not in self._bets:
                continue
            seen.add(self._bets[oid].order.client_order_id)
            self._apply(
                oid, str(row.get("betId")), _units(row.get("sizeMatched")),
                row.get("averagePriceMatched"), row.get("status") == "EXECUTION_COMPLETE", now,
            )  # fmt: skip
        if by_ref:
            for ref in refs or ():
                oid = by_ref_id.get(ref)
                if ref not in seen and oid is not None and oid in self._bets:
                    why = self._bets[oid].unknown
                    self._finish(
                        oid,
                        OrderStatus.REJECTED,
                        f"placement failed ({why}); Betfair has no such bet",
                        now,
                    )

    def _finish(self, oid: int, status: OrderStatus, reason: str, now: float) -> None:
        bet = self._bets.pop(oid, None)
        if bet is None:
            return
        o = bet.order
        o.status, o.updated_ts = status, now
        o.reject_reason = o.reject_reason or reason
        kind = (
            OrderEventKind.REJECTED if status is OrderStatus.REJECTED else OrderEventKind.CANCELLED
        )
        self._emit(OrderEvent(kind, o, now, reason=reason))
