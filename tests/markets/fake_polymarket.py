"""A local fake Polymarket for tests: Gamma + CLOB REST and the market-channel WebSocket.

Serves fixture markets (``tests/resources/polymarket/``) on 127.0.0.1 with one aiohttp app:

* Gamma ``GET /markets`` (``active``, ``closed``, ``limit``, ``offset``, ``order``, ``ascending``,
  ``tag_id``, ``include_tag``), ``GET /markets/{id}``, ``GET /events``. As on the real Gamma, a
  market object has no ``category`` and its nested ``events`` carry no tags; the market's tags
  (those of its event in ``events.json``) are added only with ``include_tag=true``;
* CLOB ``GET /book``, ``POST /books``, ``GET /midpoint``, ``GET /price``, ``GET /prices-history``
  (``market``, ``startTs``, ``endTs``, ``fidelity`` in minutes; ``{"history": [{"t", "p"}]}``:
  a deterministic path per token between the market's ``startDate`` and ``endDate``, the NO
  token the complement of YES; https://docs.polymarket.com/api-reference/markets/get-prices-history);
* Data API ``GET /trades`` (``market`` = condition id, ``limit``, ``offset``, ``takerOnly``):
  one taker trade every ``trade_interval_s`` of the market's life up to now, newest first, in
  the documented shape (https://docs.polymarket.com/api-reference/core/get-trades-for-a-user-or-markets);
* WebSocket ``/ws/market``: a ``book`` per token on subscribe, ``PING``/``PONG``, dynamic
  ``operation`` subscribe/unsubscribe, then scripted or random-walk ``price_change`` (both tokens
  of a binary market in one message, as the venue does), ``best_bid_ask``, ``last_trade_price``,
  ``tick_size_change`` and ``market_resolved``.

Fault knobs: :meth:`FakePolymarket.drop_connections`, :meth:`FakePolymarket.silence_connections`,
:meth:`FakePolymarket.send_malformed`, ``array_mode``, ``duplicate_deltas``, ``out_of_order``,
:meth:`FakePolymarket.fail_next` (429/425/500 answers with optional ``Retry-After``), :meth:`FakePolymarket.truncate_next`
(a 200 whose JSON body is cut short), ``request_delay_s`` (slow answers) and ``clock`` (the
fake's "now" for history).

Run standalone for end-to-end tests::

    python -m tests.markets.fake_polymarket --port 0 --walk-interval 0.05

It prints ``FAKE_POLYMARKET_URL=http://127.0.0.1:PORT`` and ``FAKE_POLYMARKET_WS=ws://...`` and
serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import random
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).resolve().parents[1] / "resources" / "polymarket"
MICRO = 1_000_000


def fmt(micro: int) -> str:
    """Format micro-units as the venue does (``"0.5"``, ``"120"``, ``"55.25"``)."""
    d = (Decimal(micro) / MICRO).normalize()
    return format(d, "f")


def _iso_ts(value: Any) -> float | None:
    if not value:
        return None
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def now_ms() -> str:
    """Return the venue-style millisecond timestamp string."""
    return str(int(time.time() * 1000))


@dataclass
class FakeBook:
    """The fake's true book of one token (micro prices and sizes)."""

    token: str
    market: str
    tick: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    assets: set[str] = field(default_factory=set)
    custom: bool = False
    silent: bool = False


class FakePolymarket:
    """The fake venue. ``await start()`` returns the base URL.

    Parameters
    ----------
    fixture_dir : Path
        Directory with ``markets.json`` and ``events.json``.
    seed : int
        Seed of the random walk.
    walk_interval_s : float | None
        Seconds between random-walk steps; None: only scripted changes.
    """

    def __init__(
        self,
        fixture_dir: Path = FIXTURES,
        *,
        seed: int = 7,
        walk_interval_s: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.markets: list[dict[str, Any]] = json.loads((fixture_dir / "markets.json").read_text())
        self.events: list[dict[str, Any]] = json.loads((fixture_dir / "events.json").read_text())
        self.rng = random.Random(seed)
        self.walk_interval_s = walk_interval_s
        self.host = host
        self.port = port
        self.books: dict[str, FakeBook] = {}
        self.complement: dict[str, str] = {}
        self.clients: set[_Client] = set()
        self.array_mode = False
        self.duplicate_deltas = False
        self.out_of_order = False
        self.rest_faults: dict[str, deque[tuple[int, str | None]]] = {}
        self.truncations: dict[str, int] = {}
        self.request_delay_s = 0.0
        self.clock: Any = time.time
        self.trade_interval_s = 3600
        self.request_log: list[tuple[str, int]] = []
        self.subscribe_log: list[list[str]] = []
        self.connections = 0
        self.sent_frames = 0
        self.sent_messages: dict[str, int] = {}
        self._held: str | None = None
        self._runner: web.AppRunner | None = None
        self._walk: asyncio.Task[None] | None = None
        self.base_url = ""
        for m in self.markets:
            self._seed_books(m)

    # ------------------------------------------------------------------ setup
    @property
    def gamma_url(self) -> str:
        return self.base_url

    @property
    def clob_url(self) -> str:
        return self.base_url

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws/market"

    def _tokens(self, m: dict[str, Any]) -> list[str]:
        try:
            toks = json.loads(m["clobTokenIds"])
        except (ValueError, KeyError):
            return []
        return [str(t) for t in toks] if isinstance(toks, list) else []

    def _seed_books(self, m: dict[str, Any]) -> None:
        toks = self._tokens(m)
        if len(toks) != 2 or m.get("closed"):
            return
        tick = int(Decimal(str(m["orderPriceMinTickSize"])) * MICRO)
        p = int(Decimal(json.loads(m["outcomePrices"])[0]) * MICRO) // tick * tick
        p = min(max(p, 4 * tick), MICRO - 4 * tick)
        yes = FakeBook(toks[0], m["conditionId"], tick)
        no = FakeBook(toks[1], m["conditionId"], tick)
        for k in range(1, 6):
            size = (100 + 37 * k) * MICRO + 250_000 * k
            bid, ask = p - k * tick, p + k * tick
            if bid >= tick:
                yes.bids[bid] = size
                no.asks[MICRO - bid] = size
            if ask <= MICRO - tick:
                yes.asks[ask] = size + MICRO
                no.bids[MICRO - ask] = size + MICRO
        self.books[yes.token], self.books[no.token] = yes, no
        self.complement[yes.token], self.complement[no.token] = no.token, yes.token

    def market_of(self, token: str) -> dict[str, Any] | None:
        for m in self.markets:
            if token in self._tokens(m):
                return m
        return None

    def tokens(self) -> list[str]:
        """Return every token with a live book."""
        return list(self.books)

    async def start(self) -> str:
        """Start serving; return the base URL."""
        app = web.Application(middlewares=[self._faults])
        app.router.add_get("/markets", self._gamma_markets)
        app.router.add_get("/markets/{id}", self._gamma_market)
        app.router.add_get("/events", self._gamma_events)
        app.router.add_get("/book", self._book)
        app.router.add_post("/books", self._books)
        app.router.add_get("/midpoint", self._midpoint)
        app.router.add_get("/price", self._price)
        app.router.add_get("/prices-history", self._history)
        app.router.add_get("/trades", self._trades)
        app.router.add_get("/ws/market", self._ws)
        self.add_routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}"
        if self.walk_interval_s is not None:
            self._walk = asyncio.create_task(self._walk_loop(), name="fake-polymarket-walk")
        return self.base_url

    def add_routes(self, app: web.Application) -> None:
        """Hook for subclasses (the fake CLOB V2 venue adds order entry and the user channel)."""

    async def stop(self) -> None:
        """Stop the walk, close sockets and the server."""
        if self._walk is not None:
            self._walk.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._walk
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                await c.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ REST
    def fail_next(self, path: str, *statuses: int, retry_after: str | None = None) -> None:
        """Answer the next requests to ``path`` with these statuses (in order)."""
        q = self.rest_faults.setdefault(path, deque())
        for s in statuses:
            q.append((s, retry_after))

    def truncate_next(self, path: str, n: int = 1) -> None:
        """Answer the next ``n`` requests to ``path`` with a 200 whose JSON is cut in half."""
        self.truncations[path] = self.truncations.get(path, 0) + n

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if self.request_delay_s:
            await asyncio.sleep(self.request_delay_s)
        if self.truncations.get(path):
            self.truncations[path] -= 1
            self.request_log.append((path, 200))
            full = await handler(request)
            body = full.body if isinstance(full.body, bytes) else b"{}"
            return web.Response(
                body=body[: max(1, len(body) // 2)], content_type="application/json"
            )
        q = self.rest_faults.get(path)
        if q is None and path.startswith("/markets/"):
            q = self.rest_faults.get("/markets/{id}")
        if q:
            status, retry = q.popleft()
            self.request_log.append((path, status))
            headers = {"Retry-After": retry} if retry is not None else {}
            return web.json_response({"error": "injected"}, status=status, headers=headers)
        resp = await handler(request)
        self.request_log.append((path, resp.status))
        return resp

    async def _gamma_markets(self, request: web.Request) -> web.Response:
        q = request.query
        rows = list(self.markets)
        if q.get("closed") == "false":
            rows = [m for m in rows if not m.get("closed")]
        elif q.get("closed") == "true":
            rows = [m for m in rows if m.get("closed")]
        if q.get("active") == "true":
            rows = [m for m in rows if m.get("active")]
        if "tag_id" in q:
            rows = [m for m in rows if any(str(t["id"]) == q["tag_id"] for t in self._tags(m))]
        if q.get("include_tag") == "true":
            rows = [{**m, "tags": self._tags(m)} for m in rows]
        order = q.get("order")
        if order:
            rows.sort(key=lambda m: m.get(order) or 0, reverse=q.get("ascending") != "true")
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        return web.json_response(rows[offset : offset + limit])

    def _tags(self, market: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the tags of a market's events (from ``events.json``)."""
        ids = {str(e.get("id")) for e in market.get("events", [])}
        return [t for e in self.events if str(e.get("id")) in ids for t in e.get("tags", [])]

    async def _gamma_market(self, request: web.Request) -> web.Response:
        for m in self.markets:
            if m["id"] == request.match_info["id"]:
                return web.json_response(m)
        return web.json_response({"error": "not found"}, status=404)

    async def _gamma_events(self, request: web.Request) -> web.Response:
        out = []
        for ev in self.events:
            e = copy.deepcopy(ev)
            e["markets"] = [m for m in self.markets if m["events"][0]["id"] == ev["id"]]
            if request.query.get("closed") == "false" and all(
                m.get("closed") for m in e["markets"]
            ):
                continue
            out.append(e)
        return web.json_response(out)

    def book_body(self, token: str) -> dict[str, Any]:
        """Return the book of a token in the venue's shape (best level last on each side)."""
        b = self.books[token]
        return {
            "market": b.market,
            "asset_id": token,
            "timestamp": now_ms(),
            "hash": f"0x{self.rng.getrandbits(160):040x}",
            "bids": [{"price": fmt(p), "size": fmt(s)} for p, s in sorted(b.bids.items())],
            "asks": [
                {"price": fmt(p), "size": fmt(s)} for p, s in sorted(b.asks.items(), reverse=True)
            ],
            "tick_size": fmt(b.tick),
            "last_trade_price": "0.5",
        }

    async def _book(self, request: web.Request) -> web.Response:
        token = request.query.get("token_id", "")
        if token not in self.books:
            return web.json_response(
                {"error": "No orderbook exists for the requested token id"}, status=404
            )
        body = self.book_body(token)
        body.update({"min_order_size": "5", "neg_risk": False})
        return web.json_response(body)

    async def _books(self, request: web.Request) -> web.Response:
        items = await request.json()
        return web.json_response(
            [self.book_body(i["token_id"]) for i in items if i.get("token_id") in self.books]
        )

    async def _midpoint(self, request: web.Request) -> web.Response:
        b = self.books.get(request.query.get("token_id", ""))
        if b is None or b.best_bid() is None or b.best_ask() is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"mid": fmt((b.best_bid() + b.best_ask()) // 2)})  # type: ignore[operator]

    async def _price(self, request: web.Request) -> web.Response:
        b = self.books.get(request.query.get("token_id", ""))
        if b is None:
            return web.json_response({"error": "not found"}, status=404)
        p = b.best_bid() if request.query.get("side", "BUY").upper() == "BUY" else b.best_ask()
        return web.json_response({"price": fmt(p or 0)})

    def _life(self, m: dict[str, Any]) -> tuple[int, int]:
        """Return the market's [start, end) in epoch seconds, ending now if it is still open."""
        start = int(_iso_ts(m.get("startDate")) or 0)
        end = _iso_ts(m.get("endDate"))
        now = int(self.clock())
        return start, int(min(end, now)) if end is not None else now

    def yes_price(self, token: str, t: int) -> Decimal:
        """Return the YES token's price at ``t``: a deterministic path in [0.05, 0.95]."""
        m = self.market_of(token)
        yes = json.loads(m["clobTokenIds"])[0] if m else token
        h = int(yes[-6:]) if yes[-6:].isdigit() else sum(map(ord, yes))
        step = (t // 3600 + h) % 90
        return Decimal(5 + step) / 100

    def price_at(self, token: str, t: int) -> Decimal:
        """Return a token's price at ``t`` (NO is the complement of YES)."""
        m = self.market_of(token)
        p = self.yes_price(token, t)
        if m is not None and json.loads(m["clobTokenIds"])[1] == token:
            return 1 - p
        return p

    async def _history(self, request: web.Request) -> web.Response:
        q = request.query
        token = q.get("market", "")
        m = self.market_of(token)
        if m is None:
            return web.json_response({"error": "market not found"}, status=400)
        start, end = self._life(m)
        fid = int(q.get("fidelity", "1")) * 60
        t0 = max(start, int(q.get("startTs", start)))
        t1 = min(end, int(q.get("endTs", end)))
        t = t0 + (-t0) % fid
        pts = []
        while t < t1:
            pts.append({"t": t, "p": float(self.price_at(token, t))})
            t += fid
        return web.json_response({"history": pts})

    async def _trades(self, request: web.Request) -> web.Response:
        q = request.query
        cid = q.get("market", "")
        m = next((x for x in self.markets if x["conditionId"] == cid), None)
        if m is None:
            return web.json_response([])
        start, end = self._life(m)
        tokens = json.loads(m["clobTokenIds"])
        outcomes = json.loads(m["outcomes"])
        iv = self.trade_interval_s
        offset, limit = int(q.get("offset", 0)), min(10_000, int(q.get("limit", 100)))
        if offset > 10_000:
            return web.json_response({"error": "offset too large"}, status=400)
        last = end - 1 - ((end - 1 - start) % iv)
        out = []
        for k in range(offset, offset + limit):
            t = last - k * iv
            if t < start:
                break
            i = (t // iv) % 2
            out.append(
                {
                    "proxyWallet": f"0x{(t * 7919) % (1 << 160):040x}",
                    "side": "BUY" if (t // iv) % 3 else "SELL",
                    "asset": tokens[i],
                    "conditionId": cid,
                    "size": 10 + (t // iv) % 40,
                    "price": float(self.price_at(tokens[i], t)),
                    "timestamp": t,
                    "title": m["question"],
                    "slug": m["slug"],
                    "eventSlug": m["slug"],
                    "outcome": outcomes[i],
                    "outcomeIndex": i,
                    "transactionHash": f"0x{(t * 104729) % (1 << 256):064x}",
                }
            )
        return web.json_response(out)

    # ------------------------------------------------------------------ WebSocket
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        client = _Client(ws)
        self.clients.add(client)
        self.connections += 1
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "PING":
                    if not client.silent:
                        await ws.send_str("PONG")
                    continue
                try:
                    req = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(req, dict):
                    continue
                ids = [str(a) for a in req.get("assets_ids", [])]
                op = req.get("operation")
                if op == "unsubscribe":
                    client.assets.difference_update(ids)
                    continue
                if op is None:
                    client.assets = set(ids)
                    client.custom = bool(req.get("custom_feature_enabled"))
                else:
                    client.assets.update(ids)
                self.subscribe_log.append(ids)
                books = [
                    {"event_type": "book", **self.book_body(a)} for a in ids if a in self.books
                ]
                if self.array_mode and books:
                    await self._send(client, json.dumps(books))
                else:
                    for b in books:
                        await self._send(client, json.dumps(b))
        finally:
            self.clients.discard(client)
        return ws

    async def _send(self, client: _Client, text: str) -> None:
        if client.silent or client.ws.closed:
            return
        try:
            await client.ws.send_str(text)
            self.sent_frames += 1
        except (ConnectionError, RuntimeError):
            pass

    async def broadcast(
        self, messages: list[dict[str, Any]], assets: set[str], custom_only: bool = False
    ) -> None:
        """Send messages to every client subscribed to any of ``assets``."""
        if not messages:
            return
        frames = [json.dumps(messages)] if self.array_mode else [json.dumps(m) for m in messages]
        for c in list(self.clients):
            if not c.assets & assets or (custom_only and not c.custom) or c.silent:
                continue
            for m in messages:
                kind = m.get("event_type", "")
                self.sent_messages[kind] = self.sent_messages.get(kind, 0) + 1
            for f in frames:
                await self._send(c, f)

    async def send_raw(self, text: str) -> None:
        """Send one raw frame to every client (malformed-frame injection)."""
        for c in list(self.clients):
            await self._send(c, text)

    async def send_malformed(self) -> None:
        """Send a set of broken frames: bad JSON, wrong shapes, unknown types, bad values."""
        tok = next(iter(self.books))
        for text in (
            "{not json",
            "[1, 2, 3]",
            json.dumps({"event_type": "book"}),
            json.dumps({"event_type": "mystery_event", "asset_id": tok}),
            json.dumps({"no_event_type": True}),
            json.dumps({"event_type": "price_change", "market": "0x0", "price_changes": "nope"}),
        ):
            await self.send_raw(text)

    async def drop_connections(self) -> None:
        """Close every WebSocket connection from the server side."""
        for c in list(self.clients):
            with contextlib.suppress(Exception):
                await c.ws.close(code=1011, message=b"injected drop")

    def silence_connections(self) -> None:
        """Make every open connection go silent (no data, no PONG); new ones behave."""
        for c in self.clients:
            c.silent = True

    # ------------------------------------------------------------------ market activity
    def _entry(self, token: str, side: str, price: int, size: int) -> dict[str, Any]:
        b = self.books[token]
        bb, ba = b.best_bid(), b.best_ask()
        return {
            "asset_id": token,
            "price": fmt(price),
            "size": fmt(size),
            "side": side,
            "hash": f"{self.rng.getrandbits(160):040x}",
            "best_bid": fmt(bb) if bb is not None else "0",
            "best_ask": fmt(ba) if ba is not None else "0",
        }

    async def set_level(
        self, token: str, side: str, price: int, size: int, mirror: bool = True
    ) -> dict[str, Any]:
        """Set one level (and the mirrored level of the complement) and broadcast the change."""
        entries = []
        for tok, sd, px in self._mirrored(token, side, price, mirror):
            levels = self.books[tok].bids if sd == "BUY" else self.books[tok].asks
            if size:
                levels[px] = size
            else:
                levels.pop(px, None)
            entries.append(self._entry(tok, sd, px, size))
        msg = {
            "event_type": "price_change",
            "market": self.books[token].market,
            "timestamp": now_ms(),
            "price_changes": entries,
        }
        await self._emit_delta(msg, {e["asset_id"] for e in entries})
        return msg

    def _mirrored(
        self, token: str, side: str, price: int, mirror: bool
    ) -> list[tuple[str, str, int]]:
        out = [(token, side, price)]
        other = self.complement.get(token)
        if mirror and other is not None:
            out.append((other, "SELL" if side == "BUY" else "BUY", MICRO - price))
        return out

    async def _emit_delta(self, msg: dict[str, Any], assets: set[str]) -> None:
        text_msgs = [msg]
        if self.out_of_order:
            if self._held is None:
                self._held = json.dumps(msg)
                return
            held, self._held = self._held, None
            await self.broadcast(text_msgs, assets)
            for c in list(self.clients):
                if c.assets & assets:
                    await self._send(c, held)
            return
        await self.broadcast(text_msgs, assets)
        if self.duplicate_deltas:
            await self.broadcast(text_msgs, assets)
        bba = []
        for a in assets:
            b = self.books[a]
            bb, ba = b.best_bid(), b.best_ask()
            bba.append(
                {
                    "event_type": "best_bid_ask",
                    "market": b.market,
                    "asset_id": a,
                    "best_bid": fmt(bb) if bb else "0",
                    "best_ask": fmt(ba) if ba else "0",
                    "spread": fmt((ba or 0) - (bb or 0)),
                    "timestamp": now_ms(),
                }
            )
        await self.broadcast(bba, assets, custom_only=True)

    async def step(self, n: int = 1) -> None:
        """Make ``n`` random-walk changes (levels near the top, occasional trades)."""
        yes_tokens = [t for t in self.books if self._is_yes(t)]
        for _ in range(n):
            tok = self.rng.choice(yes_tokens)
            b = self.books[tok]
            side = self.rng.choice(("BUY", "SELL"))
            bb, ba = b.best_bid(), b.best_ask()
            if bb is None or ba is None:
                continue
            k = self.rng.randint(0, 3)
            if side == "BUY":
                price = bb - k * b.tick if k else min(bb + b.tick, ba - b.tick)
            else:
                price = ba + k * b.tick if k else max(ba - b.tick, bb + b.tick)
            if not b.tick <= price <= MICRO - b.tick:
                continue
            levels = b.bids if side == "BUY" else b.asks
            remove = price in levels and len(levels) > 2 and self.rng.random() < 0.25
            size = 0 if remove else self.rng.randint(500, 50_000) * 10_000
            await self.set_level(tok, side, price, size)
            if self.rng.random() < 0.1:
                await self.trade(
                    tok,
                    ba if side == "BUY" else bb,
                    self.rng.randint(1, 50) * MICRO,
                    "BUY" if side == "BUY" else "SELL",
                )

    def _is_yes(self, token: str) -> bool:
        m = self.market_of(token)
        return m is not None and self._tokens(m)[0] == token

    async def _walk_loop(self) -> None:
        assert self.walk_interval_s is not None
        while True:
            await asyncio.sleep(self.walk_interval_s)
            await self.step()

    async def trade(self, token: str, price: int, size: int, side: str) -> None:
        """Broadcast a ``last_trade_price`` print."""
        b = self.books[token]
        await self.broadcast(
            [
                {
                    "event_type": "last_trade_price",
                    "asset_id": token,
                    "market": b.market,
                    "price": fmt(price),
                    "size": fmt(size),
                    "side": side,
                    "fee_rate_bps": "0",
                    "timestamp": now_ms(),
                    "transaction_hash": f"0x{self.rng.getrandbits(256):064x}",
                }
            ],
            {token},
        )

    async def change_tick(self, token: str, new_tick: int) -> None:
        """Change a token's tick size and broadcast ``tick_size_change``."""
        b = self.books[token]
        old, b.tick = b.tick, new_tick
        await self.broadcast(
            [
                {
                    "event_type": "tick_size_change",
                    "asset_id": token,
                    "market": b.market,
                    "old_tick_size": fmt(old),
                    "new_tick_size": fmt(new_tick),
                    "timestamp": now_ms(),
                }
            ],
            {token},
        )

    async def resolve(self, condition_id: str, winner_index: int, via_ws: bool = True) -> None:
        """Settle a market in Gamma and, if ``via_ws``, announce ``market_resolved``."""
        m = next(m for m in self.markets if m["conditionId"] == condition_id)
        toks = self._tokens(m)
        prices = ["1" if i == winner_index else "0" for i in range(len(toks))]
        m.update(
            {
                "closed": True,
                "acceptingOrders": False,
                "outcomePrices": json.dumps(prices),
                "umaResolutionStatus": "resolved",
            }
        )
        if via_ws:
            outcomes = json.loads(m["outcomes"])
            await self.broadcast(
                [
                    {
                        "event_type": "market_resolved",
                        "id": m["id"],
                        "market": condition_id,
                        "assets_ids": toks,
                        "winning_asset_id": toks[winner_index],
                        "winning_outcome": outcomes[winner_index],
                        "timestamp": now_ms(),
                    }
                ],
                set(toks),
                custom_only=True,
            )

    def add_market(self, raw: dict[str, Any]) -> None:
        """List a new Gamma market (with books seeded from its outcome prices)."""
        self.markets.append(raw)
        self._seed_books(raw)


class FeedPump:
    """Test harness: consumes a feed's batches in a task and waits for conditions."""

    def __init__(self, feed: Any) -> None:
        self.feed = feed
        self.events: list[Any] = []
        self.batches = 0
        self.task = asyncio.create_task(self._run(), name="feed-pump")

    async def _run(self) -> None:
        async for batch in self.feed.batches():
            self.batches += 1
            self.events.extend(batch)

    async def until(self, predicate: Any, timeout: float = 5.0, what: str = "condition") -> None:
        """Wait until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not predicate():
            if self.task.done():
                self.task.result()
                raise AssertionError(f"feed ended before {what}")
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Close the feed and wait for the consumer to end."""
        await self.feed.close()
        await asyncio.wait_for(self.task, 5.0)


def books_match(fake: FakePolymarket, books: Any, tokens: Any = None) -> bool:
    """Return whether a BookStore holds exactly the fake's true books for ``tokens``."""
    for tok in tokens if tokens is not None else fake.books:
        b = books.find(tok)
        fb = fake.books[tok]
        if b is None or b.bids != fb.bids or b.asks != fb.asks:
            return False
    return True


async def _serve(args: argparse.Namespace) -> None:
    fake = FakePolymarket(seed=args.seed, walk_interval_s=args.walk_interval, port=args.port)
    url = await fake.start()
    print(f"FAKE_POLYMARKET_URL={url}", flush=True)
    print(f"FAKE_POLYMARKET_WS={fake.ws_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="Local fake Polymarket (tests only).")
    ap.add_argument("--port", type=int, default=0, help="TCP port (0 = random)")
    ap.add_argument("--seed", type=int, default=7, help="random-walk seed")
    ap.add_argument(
        "--walk-interval", type=float, default=0.05, help="seconds between random price changes"
    )
    asyncio.run(_serve(ap.parse_args()))


if __name__ == "__main__":
    main()
