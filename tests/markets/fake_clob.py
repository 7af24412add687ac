"""A local fake CLOB V2 venue: the fake Polymarket plus authenticated order entry and the user
channel, with fault injection. Tests only; listens on 127.0.0.1.

It serves what the official SDK ``polymarket-client`` (0.14) calls, with the shapes its models
parse (``polymarket/models/clob/{order_response,account,cancel,user_events}.py``) and the paths
its actions use (``polymarket/_internal/actions/...``):

* ``GET /auth/api-keys`` (L2 HMAC headers checked), ``POST /auth/api-key`` (L1: returns creds);
* ``GET /markets-by-token/{token}`` -> ``{"condition_id"}``; ``GET /clob-markets/{condition}``
  -> ``{"t": [{"t": token}], "mts": tick, "nr": neg_risk, "fd": {"r", "e"}}``;
* ``POST /order``, ``POST /orders`` (batches of up to 15): the ``SignedOrder`` payload
  (``order.makerAmount/takerAmount`` in base units of 1e-6, ``orderType`` GTC/GTD/FOK/FAK,
  ``postOnly``), matched against the fake's books; answers ``{"success", "errorMsg", "orderID",
  "status", "makingAmount", "takingAmount", "tradeIDs", "transactionsHashes"}`` with the
  venue's error messages (post-only crossing, FOK/FAK not filled, balance, minimum size);
* ``DELETE /order`` ``{"orderID"}``, ``DELETE /orders`` ``[ids]``, ``DELETE /cancel-all`` ->
  ``{"canceled": [...], "not_canceled": {id: reason}}``;
* ``GET /data/orders``, ``GET /data/trades`` -> ``{"data": [...], "next_cursor": "LTE="}``;
* ``POST /v1/heartbeats`` ``{"heartbeat_id"}`` -> ``{"heartbeat_id"}``: once armed, no heartbeat
  for ``heartbeat_timeout_s`` cancels every open order (the dead-man switch);
* ``GET /balance-allowance?asset_type=COLLATERAL|CONDITIONAL&token_id=`` ->
  ``{"balance": "<base units>", "allowances": {exchange: "<base units>"}}``;
* WebSocket ``/ws/user``: first frame ``{"type": "user", "auth": {"apiKey", "secret",
  "passphrase"}, "markets": [...]}``; then ``order`` (PLACEMENT, UPDATE, CANCELLATION) and
  ``trade`` (MATCHED -> MINED -> CONFIRMED, or MATCHED -> RETRYING -> FAILED) messages with
  ``event_type``, as the reference describes (``../shared/reference/polymarket.md``).

Fault injection: :meth:`reject_next` (a venue error message), :meth:`fail_next` (any status,
e.g. 425 or 429 with ``Retry-After``), :meth:`delay_next` (a request that hangs: a timeout),
``fail_trades`` (the next N trades go MATCHED then FAILED), :meth:`fill_resting` (a partial or
full maker fill), :meth:`drop_user_sockets`, ``mute_user`` (messages silently lost),
``heartbeat_timeout_s`` (expiry cancels everything).

Run standalone: ``python -m tests.markets.fake_clob --port 0`` prints ``FAKE_POLYMARKET_URL=``,
``FAKE_POLYMARKET_WS=`` and ``FAKE_CLOB_USER_WS=`` lines, the test API credentials on ``FAKE_CLOB_CREDS=`` (JSON) and the
throwaway wallet key the fake accepts on ``FAKE_CLOB_PRIVATE_KEY=`` (docs/GOING_LIVE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from aiohttp import WSMsgType, web

from tests.markets.fake_polymarket import MICRO, FakePolymarket, fmt, now_ms

END_CURSOR = "LTE="
FOK_MSG = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_MSG = (
    "no orders found to match with FAK order. "
    "FAK orders are partially filled or killed if no match is found."
)
POST_ONLY_CROSS_MSG = "invalid post-only order: order crosses book"
POST_ONLY_MODE_MSG = "post-only mode: only post-only orders and cancels are allowed"
BALANCE_MSG = "not enough balance / allowance"
EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE = "0xe2222d279d744050d28e00520010520000310F59"

TEST_PRIVATE_KEY = "0x" + "4f" * 32  # a throwaway key for the fake only
TEST_CREDS = {
    "apiKey": "00000000-fake-4000-8000-000000000001",
    "secret": base64.urlsafe_b64encode(b"fake-clob-secret-0123456789abcd").decode(),
    "passphrase": "fake-passphrase-0123456789",
}


def hmac_signature(secret: str, ts: str, method: str, path: str, body: str | None) -> str:
    """Return the L2 signature the venue expects (HMAC-SHA256 of ts+method+path+body)."""
    msg = f"{ts}{method}{path}" + (body or "")
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    return base64.urlsafe_b64encode(hmac.new(key, msg.encode(), hashlib.sha256).digest()).decode()


@dataclass
class VenueOrder:
    """An order the fake venue holds (micro prices and sizes)."""

    id: str
    token: str
    market: str
    side: str  # BUY / SELL
    price: int
    size: int
    order_type: str
    post_only: bool
    owner: str
    maker: str
    created: int
    expiration: int = 0
    matched: int = 0
    status: str = "LIVE"
    trades: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.size - self.matched


@dataclass
class VenueTrade:
    """A trade touching one of the account's orders."""

    id: str
    token: str
    market: str
    side: str  # the taker's side
    price: int
    size: int
    taker_order_id: str
    trader_side: str  # TAKER (our order took) or MAKER (our resting order was hit)
    maker_orders: list[dict[str, Any]]
    owner: str
    status: str = "MATCHED"
    match_time: int = 0
    fee: int = 0
    our_order: str = ""
    our_side: str = ""
    fee_rate_bps: str = "0"  # the taker's rate, as the venue reports it on the trade


class FakeClob(FakePolymarket):
    """The fake venue with order entry. ``await start()`` returns the base URL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.creds = dict(TEST_CREDS)
        self.orders: dict[str, VenueOrder] = {}
        self.trades: dict[str, VenueTrade] = {}
        self.collateral = 1_000 * MICRO
        self.allowance = 10**15
        self.token_balance: dict[str, int] = {}
        self.confirm_delay_s = 0.05
        self.fail_trades = 0
        self.mute_user = False
        self.heartbeat_timeout_s = 10.0
        self.heartbeat_armed = False
        self.last_heartbeat = 0.0
        self.heartbeat_id = ""
        self.heartbeats = 0
        self.heartbeat_expiries = 0
        self.post_only_until = 0.0
        self.user_clients: set[web.WebSocketResponse] = set()
        self.user_connections = 0
        self.posted: list[dict[str, Any]] = []
        self.cancel_requests: list[tuple[str, float]] = []
        self._rejects: deque[str] = deque()
        self._delays: dict[str, deque[float]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._hb_task: asyncio.Task[None] | None = None
        self.trade_fee_bps: str | None = None  # override the rate reported on taker trades
        self.omit_fee_rate = False  # user-channel trade messages without fee_rate_bps
        self.time_shift_s = 0.0  # added to the venue's clock (tests move GTD expiry forward)
        self.expired: list[str] = []  # GTD orders the venue expired

    # ------------------------------------------------------------------ setup
    @property
    def user_ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws/user"

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._delay_mw)
        r = app.router
        r.add_get("/auth/api-keys", self._api_keys)
        r.add_post("/auth/api-key", self._create_key)
        r.add_get("/auth/derive-api-key", self._create_key)
        r.add_get("/markets-by-token/{token}", self._market_by_token)
        r.add_get("/clob-markets/{cond}", self._clob_market)
        r.add_post("/order", self._post_order)
        r.add_post("/orders", self._post_orders)
        r.add_delete("/order", self._cancel_one)
        r.add_delete("/orders", self._cancel_many)
        r.add_delete("/cancel-all", self._cancel_all)
        r.add_get("/data/orders", self._open_orders)
        r.add_get("/data/trades", self._list_trades)
        r.add_post("/v1/heartbeats", self._heartbeat)
        r.add_get("/balance-allowance", self._balance)
        r.add_get("/ws/user", self._user_ws)

    async def start(self) -> str:
        url = await super().start()
        self._hb_task = asyncio.create_task(self._heartbeat_watch(), name="fake-clob-heartbeat")
        return url

    async def stop(self) -> None:
        if self._hb_task is not None:
            self._hb_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._hb_task
        for t in list(self._tasks):
            t.cancel()
        for ws in list(self.user_clients):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
        await super().stop()

    def venue_now(self) -> float:
        """Return the venue's clock (wall time plus ``time_shift_s``)."""
        return time.time() + self.time_shift_s

    async def expire_due(self) -> None:
        """Expire GTD orders as the venue does: one minute before the signed ``expiration``
        (docs.polymarket.com/trading/place-orders, the GTD security threshold)."""
        now = self.venue_now()
        for vo in self.open_orders_list():
            if vo.order_type == "GTD" and vo.expiration and now >= vo.expiration - 60:
                vo.status = "CANCELED"
                self.expired.append(vo.id)
                await self._push_order(vo, "CANCELLATION")

    # ------------------------------------------------------------------ fault knobs
    def reject_next(self, message: str) -> None:
        """Refuse the next order with this venue error message (``success: false``)."""
        self._rejects.append(message)

    def delay_next(self, path: str, seconds: float) -> None:
        """Hold the next request to ``path`` this long before answering (a timeout)."""
        self._delays.setdefault(path, deque()).append(seconds)

    async def drop_user_sockets(self) -> None:
        """Close every user-channel socket from the server side."""
        for ws in list(self.user_clients):
            with contextlib.suppress(Exception):
                await ws.close(code=1011, message=b"injected drop")

    def open_orders_list(self) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.status == "LIVE"]

    @web.middleware
    async def _delay_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        q = self._delays.get(request.path)
        delay = q.popleft() if q else 0.0
        # The venue acts on the request; only its answer is late (or lost with the client).
        resp: web.StreamResponse = await asyncio.shield(handler(request))
        if delay:
            await asyncio.sleep(delay)
        return resp

    # ------------------------------------------------------------------ auth
    async def _auth(self, request: web.Request) -> str | None:
        """Check the L2 headers; return an error text, or None when valid."""
        h = request.headers
        if h.get("POLY_API_KEY") != self.creds["apiKey"]:
            return "Unauthorized/Invalid api key"
        if h.get("POLY_PASSPHRASE") != self.creds["passphrase"]:
            return "Unauthorized/Invalid passphrase"
        body = await request.text() if request.can_read_body else None
        path = request.path
        want = hmac_signature(
            self.creds["secret"], h.get("POLY_TIMESTAMP", ""), request.method, path, body or None
        )
        if not hmac.compare_digest(want, h.get("POLY_SIGNATURE", "")):
            return "Unauthorized/Invalid signature"
        return None

    async def _guard(self, request: web.Request) -> web.Response | None:
        err = await self._auth(request)
        if err is not None:
            return web.json_response({"error": err}, status=401)
        return None

    async def _api_keys(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        return web.json_response({"apiKeys": [self.creds["apiKey"]]})

    async def _create_key(self, request: web.Request) -> web.Response:
        if not request.headers.get("POLY_SIGNATURE"):
            return web.json_response({"error": "missing L1 signature"}, status=401)
        return web.json_response(self.creds)

    # ------------------------------------------------------------------ metadata
    def _market_by_cond(self, cond: str) -> dict[str, Any] | None:
        for m in self.markets:
            if str(m.get("conditionId", "")).lower() == cond.lower():
                return m
        return None

    async def _market_by_token(self, request: web.Request) -> web.Response:
        m = self.market_of(request.match_info["token"])
        if m is None:
            return web.json_response({"error": "market not found"}, status=404)
        return web.json_response({"condition_id": m["conditionId"]})

    async def _clob_market(self, request: web.Request) -> web.Response:
        m = self._market_by_cond(request.match_info["cond"])
        if m is None:
            return web.json_response({"error": "market not found"}, status=404)
        fs = m.get("feeSchedule") or {}
        body: dict[str, Any] = {
            "t": [{"t": t} for t in self._tokens(m)],
            "mts": str(m["orderPriceMinTickSize"]),
            "nr": bool(m.get("negRisk")),
        }
        if m.get("feesEnabled") and fs:
            body["fd"] = {"r": str(fs.get("rate", 0)), "e": str(fs.get("exponent", 1))}
        return web.json_response(body)

    def _fee_bps(self, token: str) -> Decimal:
        """The market's taker rate in basis points (``feeSchedule.rate`` * 10,000)."""
        if self.trade_fee_bps is not None:
            return Decimal(self.trade_fee_bps)
        m = self.market_of(token) or {}
        fs = m.get("feeSchedule") or {}
        if not m.get("feesEnabled") or not fs:
            return Decimal(0)
        return Decimal(str(fs.get("rate", 0))) * 10_000

    def _fee(self, token: str, size: int, price: int) -> int:
        m = self.market_of(token) or {}
        fs = m.get("feeSchedule") or {}
        rate = self._fee_bps(token) / 10_000
        if not rate:
            return 0
        p = Decimal(price) / MICRO
        exp = int(Decimal(str(fs.get("exponent", 1))))
        fee = (Decimal(size) / MICRO) * rate * (p * (1 - p)) ** exp
        return int(fee.quantize(Decimal("0.00001"), ROUND_HALF_EVEN) * MICRO)

    # ------------------------------------------------------------------ orders
    async def _post_order(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        payload = await request.json()
        return web.json_response(await self._place(payload))

    async def _post_orders(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        payload = await request.json()
        if not isinstance(payload, list) or not 1 <= len(payload) <= 15:
            return web.json_response({"error": "1 to 15 orders per batch"}, status=400)
        return web.json_response([await self._place(p) for p in payload])

    def _error(self, msg: str) -> dict[str, Any]:
        return {
            "success": False,
            "errorMsg": msg,
            "orderID": "",
            "status": "",
            "makingAmount": "",
            "takingAmount": "",
        }

    async def _place(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.posted.append(payload)
        o = payload["order"]
        if payload.get("owner") != self.creds["apiKey"]:
            return self._error("the order owner has to be the owner of the API KEY")
        if self._rejects:
            return self._error(self._rejects.popleft())
        token = str(o["tokenId"])
        m = self.market_of(token)
        if m is None or token not in self.books:
            return self._error("the market is not yet ready to process new orders")
        side = "BUY" if o["side"] in ("BUY", 0, "0") else "SELL"
        maker_amt, taker_amt = int(o["makerAmount"]), int(o["takerAmount"])
        shares = taker_amt if side == "BUY" else maker_amt
        usdc = maker_amt if side == "BUY" else taker_amt
        if shares <= 0:
            return self._error("invalid order amounts")
        # The limit price the amounts encode (BUY: at most, SELL: at least), on the tick grid.
        tick = self.books[token].tick
        raw = Decimal(usdc) * MICRO / Decimal(shares)
        price = int(raw) // tick * tick if side == "BUY" else -(-int(raw) // tick) * tick
        otype = payload.get("orderType", "GTC")
        post_only = bool(payload.get("postOnly"))
        if time.time() < self.post_only_until and not post_only:
            return self._error(POST_ONLY_MODE_MSG)
        expiration = int(o.get("expiration") or 0)
        if otype == "GTD" and expiration < self.venue_now() + 180:
            # "the expiration must be at least 3 minutes in the future" (place-orders page)
            return self._error("invalid expiration: must be at least 3 minutes in the future")
        if otype != "GTD" and expiration:
            return self._error("only GTD orders may carry an expiration")
        min_size = int(Decimal(str(m.get("orderMinSize", 0))) * MICRO)
        if otype in ("GTC", "GTD") and shares < min_size:
            return self._error(
                f"Size ({fmt(shares)}) lower than the minimum: {m.get('orderMinSize')}"
            )
        book = self.books[token]
        levels = sorted(book.asks.items()) if side == "BUY" else sorted(book.bids.items())[::-1]
        crosses = [(px, sz) for px, sz in levels if (px <= price if side == "BUY" else px >= price)]
        if post_only and crosses:
            return self._error(POST_ONLY_CROSS_MSG)
        available = sum(sz for _, sz in crosses)
        if otype == "FOK" and available < shares:
            return self._error(FOK_MSG)
        if otype == "FAK" and available == 0:
            return self._error(FAK_MSG)
        cost = sum(min(sz, shares) * px for px, sz in crosses) // MICRO if side == "BUY" else 0
        if side == "BUY" and (cost > self.collateral or usdc > self.allowance):
            return self._error(f"{BALANCE_MSG}: balance {fmt(self.collateral)}")
        if side == "SELL" and self.token_balance.get(token, 0) < shares:
            return self._error(f"{BALANCE_MSG}: token balance too low")
        oid = "0x" + hashlib.sha256(f"{o['salt']}{o['signature']}".encode()).hexdigest()
        vo = VenueOrder(
            oid,
            token,
            book.market,
            side,
            price,
            shares,
            otype,
            post_only,
            self.creds["apiKey"],
            str(o.get("maker", "")),
            int(time.time()),
            expiration,
        )
        self.orders[oid] = vo
        trade_ids: list[str] = []
        making = taking = 0
        left = shares
        for px, sz in crosses:
            if left <= 0:
                break
            q = min(sz, left)
            left -= q
            await self.set_level(token, "SELL" if side == "BUY" else "BUY", px, sz - q)
            t = self._new_trade(vo, px, q, "TAKER", [self._ext_maker(token, side, px, q)])
            trade_ids.append(t.id)
            making += q * px // MICRO if side == "BUY" else q
            taking += q if side == "BUY" else q * px // MICRO
        vo.matched = shares - left
        if otype in ("FOK", "FAK") or vo.remaining == 0:
            vo.status = "MATCHED" if vo.matched else "CANCELED"
        status = "matched" if vo.matched else "live"
        if vo.status == "LIVE":
            await self._push_order(vo, "PLACEMENT")
        for tid in trade_ids:
            await self._push_trade(self.trades[tid])
            self._spawn(self._settle(tid))
        return {
            "success": True,
            "errorMsg": "",
            "orderID": oid,
            "status": status,
            "makingAmount": fmt(making) if making else "",
            "takingAmount": fmt(taking) if taking else "",
            "tradeIDs": trade_ids,
            "transactionsHashes": [],
        }

    def _ext_maker(self, token: str, side: str, px: int, q: int) -> dict[str, Any]:
        return {
            "order_id": f"0xext{next(self._ids):060x}",
            "owner": "someone-else",
            "maker_address": "0x" + "11" * 20,
            "matched_amount": fmt(q),
            "price": fmt(px),
            "fee_rate_bps": "0",
            "asset_id": token,
            "side": "SELL" if side == "BUY" else "BUY",
            "outcome": "Yes",
        }

    def _new_trade(
        self,
        vo: VenueOrder,
        px: int,
        q: int,
        role: str,
        makers: list[dict[str, Any]],
        taker_id: str | None = None,
    ) -> VenueTrade:
        tid = f"trade-{next(self._ids)}"
        taker_side = vo.side if role == "TAKER" else ("SELL" if vo.side == "BUY" else "BUY")
        t = VenueTrade(
            tid,
            vo.token,
            vo.market,
            taker_side,
            px,
            q,
            taker_id or vo.id,
            role,
            makers,
            self.creds["apiKey"],
            match_time=int(time.time()),
            fee=self._fee(vo.token, q, px) if role == "TAKER" else 0,
            our_order=vo.id,
            our_side=vo.side,
            fee_rate_bps=f"{self._fee_bps(vo.token).normalize():f}" if role == "TAKER" else "0",
        )
        self.trades[tid] = t
        vo.trades.append(tid)
        self._book_trade(t, +1)
        return t

    def _book_trade(self, t: VenueTrade, sign: int) -> None:
        """Move balances for (sign=+1) or back for (sign=-1) a trade of our order."""
        cash = t.size * t.price // MICRO
        if t.our_side == "BUY":
            self.collateral -= sign * (cash + t.fee)
            self.token_balance[t.token] = self.token_balance.get(t.token, 0) + sign * t.size
        else:
            self.collateral += sign * (cash - t.fee)
            self.token_balance[t.token] = self.token_balance.get(t.token, 0) - sign * t.size

    async def fill_resting(self, order_id: str, size: int) -> VenueTrade:
        """A taker from elsewhere hits our resting order for ``size`` (micro shares)."""
        vo = self.orders[order_id]
        q = min(size, vo.remaining)
        maker = {
            "order_id": vo.id,
            "owner": self.creds["apiKey"],
            "maker_address": vo.maker,
            "matched_amount": fmt(q),
            "price": fmt(vo.price),
            "fee_rate_bps": "0",
            "asset_id": vo.token,
            "side": vo.side,
            "outcome": "Yes",
        }
        t = self._new_trade(vo, vo.price, q, "MAKER", [maker], taker_id=f"0xext{next(self._ids)}")
        vo.matched += q
        if vo.remaining == 0:
            vo.status = "MATCHED"
        await self._push_trade(t)
        await self._push_order(vo, "UPDATE")
        self._spawn(self._settle(t.id))
        return t

    async def _settle(self, tid: str) -> None:
        t = self.trades[tid]
        failing = self.fail_trades > 0
        if failing:
            self.fail_trades -= 1
        await asyncio.sleep(self.confirm_delay_s)
        t.status = "RETRYING" if failing else "MINED"
        await self._push_trade(t)
        await asyncio.sleep(self.confirm_delay_s)
        t.status = "FAILED" if failing else "CONFIRMED"
        if failing:
            self._book_trade(t, -1)
        await self._push_trade(t)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ cancels
    async def _cancel_ids(self, ids: list[str], reason: str = "CANCELED") -> dict[str, Any]:
        canceled, not_canceled = [], {}
        for oid in ids:
            vo = self.orders.get(oid)
            self.cancel_requests.append((oid, time.time()))
            if vo is None:
                not_canceled[oid] = "order not found"
            elif vo.status != "LIVE":
                not_canceled[oid] = "order can't be found - already canceled or matched"
            else:
                vo.status = reason
                canceled.append(oid)
                await self._push_order(vo, "CANCELLATION")
        return {"canceled": canceled, "not_canceled": not_canceled}

    async def _cancel_one(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        body = await request.json()
        return web.json_response(await self._cancel_ids([str(body.get("orderID", ""))]))

    async def _cancel_many(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        body = await request.json()
        return web.json_response(await self._cancel_ids([str(x) for x in body]))

    async def _cancel_all(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        return web.json_response(await self._cancel_ids([o.id for o in self.open_orders_list()]))

    # ------------------------------------------------------------------ reads
    def open_order_body(self, vo: VenueOrder) -> dict[str, Any]:
        return {
            "id": vo.id,
            "status": vo.status,
            "owner": vo.owner,
            "maker_address": vo.maker,
            "market": vo.market,
            "asset_id": vo.token,
            "side": vo.side,
            "original_size": fmt(vo.size),
            "size_matched": fmt(vo.matched),
            "price": fmt(vo.price),
            "outcome": "Yes",
            "expiration": str(vo.expiration),
            "order_type": vo.order_type,
            "associate_trades": list(vo.trades),
            "created_at": vo.created,
        }

    def trade_body(self, t: VenueTrade) -> dict[str, Any]:
        return {
            "id": t.id,
            "taker_order_id": t.taker_order_id,
            "market": t.market,
            "asset_id": t.token,
            "side": t.side,
            "size": fmt(t.size),
            "fee_rate_bps": t.fee_rate_bps,
            "price": fmt(t.price),
            "status": t.status,
            "match_time": str(t.match_time),
            "last_update": str(int(time.time())),
            "outcome": "Yes",
            "bucket_index": 0,
            "owner": t.owner,
            "maker_address": "0x" + "22" * 20,
            "transaction_hash": "0x" + "ab" * 32 if t.status in ("MINED", "CONFIRMED") else None,
            "maker_orders": t.maker_orders,
            "trader_side": t.trader_side,
        }

    async def _open_orders(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        data = [self.open_order_body(o) for o in self.open_orders_list()]
        return web.json_response({"data": data, "next_cursor": END_CURSOR, "count": len(data)})

    async def _list_trades(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        data = [self.trade_body(t) for t in self.trades.values()]
        return web.json_response({"data": data, "next_cursor": END_CURSOR, "count": len(data)})

    async def _balance(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        q = request.query
        if q.get("asset_type") == "CONDITIONAL":
            bal = self.token_balance.get(q.get("token_id", ""), 0)
        else:
            bal = self.collateral
        allow = str(self.allowance)
        return web.json_response(
            {"balance": str(bal), "allowances": {EXCHANGE: allow, NEG_RISK_EXCHANGE: allow}}
        )

    # ------------------------------------------------------------------ heartbeat
    async def _heartbeat(self, request: web.Request) -> web.Response:
        if (bad := await self._guard(request)) is not None:
            return bad
        body = await request.json()
        got = str(body.get("heartbeat_id", ""))
        if self.heartbeat_armed and got != self.heartbeat_id:
            return web.json_response(
                {"error_msg": "Invalid Heartbeat ID", "heartbeat_id": self.heartbeat_id},
                status=400,
            )
        self.heartbeat_armed = True
        self.last_heartbeat = time.monotonic()
        self.heartbeats += 1
        self.heartbeat_id = f"hb-{next(self._ids)}"
        return web.json_response({"heartbeat_id": self.heartbeat_id})

    async def _heartbeat_watch(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            await self.expire_due()
            if (
                self.heartbeat_armed
                and time.monotonic() - self.last_heartbeat > self.heartbeat_timeout_s
            ):
                self.heartbeat_armed = False
                self.heartbeat_id = ""
                self.heartbeat_expiries += 1
                await self._cancel_ids([o.id for o in self.open_orders_list()])

    # ------------------------------------------------------------------ user channel
    async def _user_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.user_connections += 1
        authed = False
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "PING":
                    await ws.send_str("PONG")
                    continue
                try:
                    req = json.loads(msg.data)
                except ValueError:
                    continue
                if not authed:
                    auth = req.get("auth") if isinstance(req, dict) else None
                    if (
                        req.get("type") != "user"
                        or not isinstance(auth, dict)
                        or auth.get("apiKey") != self.creds["apiKey"]
                        or auth.get("secret") != self.creds["secret"]
                        or auth.get("passphrase") != self.creds["passphrase"]
                    ):
                        await ws.close(code=4001, message=b"unauthorized")
                        break
                    authed = True
                    self.user_clients.add(ws)
        finally:
            self.user_clients.discard(ws)
        return ws

    async def _push(self, body: dict[str, Any]) -> None:
        if self.mute_user:
            return
        text = json.dumps(body)
        for ws in list(self.user_clients):
            if ws.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text)

    async def _push_order(self, vo: VenueOrder, kind: str) -> None:
        body = {"event_type": "order", "type": kind, "timestamp": now_ms()}
        body.update(self.open_order_body(vo))
        body["created_at"] = str(vo.created)
        await self._push(body)

    async def _push_trade(self, t: VenueTrade) -> None:
        body = {"event_type": "trade", "type": "TRADE", "timestamp": now_ms()}
        body.update(self.trade_body(t))
        if self.omit_fee_rate:
            del body["fee_rate_bps"]
        await self._push(body)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeClob(seed=args.seed, walk_interval_s=args.walk_interval, port=args.port)
    if args.heartbeat_timeout is not None:
        fake.heartbeat_timeout_s = args.heartbeat_timeout
    url = await fake.start()
    print(f"FAKE_POLYMARKET_URL={url}", flush=True)
    print(f"FAKE_POLYMARKET_WS={fake.ws_url}", flush=True)
    print(f"FAKE_CLOB_USER_WS={fake.user_ws_url}", flush=True)
    print(f"FAKE_CLOB_CREDS={json.dumps(fake.creds)}", flush=True)
    print(f"FAKE_CLOB_PRIVATE_KEY={TEST_PRIVATE_KEY}", flush=True)  # a throwaway test key
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="Local fake CLOB V2 venue (tests only).")
    ap.add_argument("--port", type=int, default=0, help="TCP port (0 = random)")
    ap.add_argument("--seed", type=int, default=7, help="random-walk seed")
    ap.add_argument("--walk-interval", type=float, default=None, help="random-walk step, s")
    ap.add_argument("--heartbeat-timeout", type=float, default=None, help="dead-man timeout, s")
    asyncio.run(_serve(ap.parse_args()))


if __name__ == "__main__":
    main()
