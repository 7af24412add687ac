"""A fake Betfair Betting API (JSON-RPC over HTTP on 127.0.0.1) with fault injection.

It answers ``SportsAPING/v1.0/placeOrders``, ``cancelOrders`` and ``listCurrentOrders`` in the
shapes of Betfair's API-NG reference (``PlaceExecutionReport``, ``CancelExecutionReport``,
``CurrentOrderSummaryReport``), checks what a real exchange checks (session token header, odds
on the ladder, minimum stake, persistence type, side), and matches bets only when the test says
so (:meth:`FakeBetfair.match`), or at once for a fraction of each bet (``match_at_once``).

Order stream: every change of a bet is also pushed to ``listeners`` as an ``ocm`` message in
the Exchange Stream API's shape (``oc`` -> ``orc`` -> ``uo``; betfairlightweight
``streaming/cache.py`` ``UnmatchedOrder``); ``fake_stream.FakeStream(orders=...)`` serves them
on an ``orderSubscription``. ``certlogin`` answers a certificate login with the session token.
``cancelOrders`` without a market id cancels every bet (the API's cancel-all).

Faults: ``http_errors`` (the next requests get HTTP 500 before anything happens),
``lose_answers`` (the next placements go through at the exchange but the HTTP answer is a 503,
so the client cannot know), ``refuse`` (the next placements fail with an error code).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.ladder import BETFAIR_ODDS
from services.money import MICRO


@dataclass
class Bet:
    bet_id: str
    market_id: str
    selection_id: int
    side: str
    price: float
    size: float
    persistence: str
    ref: str
    matched: float = 0.0
    cancelled: float = 0.0
    lapsed: float = 0.0

    @property
    def remaining(self) -> float:
        return round(self.size - self.matched - self.cancelled - self.lapsed, 2)

    def uo(self) -> dict[str, Any]:
        """The bet as an order-stream ``uo`` entry (cumulative figures)."""
        out: dict[str, Any] = {
            "id": self.bet_id, "p": self.price, "s": self.size,
            "side": "B" if self.side == "BACK" else "L",
            "status": "E" if self.remaining > 0 else "EC",
            "pt": "P" if self.persistence == "PERSIST" else "L", "ot": "L",
            "pd": 1796295600000, "sm": self.matched, "sr": self.remaining, "sl": self.lapsed,
            "sc": self.cancelled, "sv": 0.0, "rfo": self.ref, "rfs": "",
        }  # fmt: skip
        if self.matched:
            out["avp"], out["md"] = self.price, 1796295601000
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "betId": self.bet_id,
            "marketId": self.market_id,
            "selectionId": self.selection_id,
            "handicap": 0.0,
            "priceSize": {"price": self.price, "size": self.size},
            "bspLiability": 0.0,
            "side": self.side,
            "status": "EXECUTABLE" if self.remaining > 0 else "EXECUTION_COMPLETE",
            "persistenceType": self.persistence,
            "orderType": "LIMIT",
            "placedDate": "2026-12-03T11:00:00.000Z",
            "averagePriceMatched": self.price if self.matched else 0.0,
            "sizeMatched": self.matched,
            "sizeRemaining": self.remaining,
            "sizeLapsed": self.lapsed,
            "sizeCancelled": self.cancelled,
            "sizeVoided": 0.0,
            "regulatorCode": "MALTA LOTTERIES AND GAMBLING AUTHORITY",
            "customerOrderRef": self.ref,
        }


@dataclass
class FakeBetfair:
    """The exchange's state and the test's levers."""

    session_token: str = "fake-session"
    match_at_once: float = 0.0
    http_errors: int = 0
    lose_answers: int = 0
    refuse: list[str] = field(default_factory=list)
    bets: dict[str, Bet] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _seq: int = 1000
    lock: threading.RLock = field(default_factory=threading.RLock)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    _clk: int = 0

    def match(self, bet_id: str, size: float) -> None:
        """Match ``size`` more of a bet (a counterparty arrived)."""
        with self.lock:
            b = self.bets[bet_id]
            b.matched = round(b.matched + min(size, b.remaining), 2)
            self._changed([b])

    def suspend(self) -> None:
        """Lapse every LAPSE bet's unmatched part (the market suspended)."""
        with self.lock:
            changed = []
            for b in self.bets.values():
                if b.persistence == "LAPSE" and b.remaining > 0:
                    b.lapsed = round(b.lapsed + b.remaining, 2)
                    changed.append(b)
            self._changed(changed)

    def ocm(self, bets: list[Bet], ct: str | None = None) -> dict[str, Any]:
        """Return an order change message for ``bets`` (grouped by market and runner)."""
        with self.lock:
            self._clk += 1
            markets: dict[str, dict[int, list[dict[str, Any]]]] = {}
            for b in bets:
                markets.setdefault(b.market_id, {}).setdefault(b.selection_id, []).append(b.uo())
            msg: dict[str, Any] = {
                "op": "ocm", "clk": f"clk-{self._clk}", "pt": 1796295600000 + self._clk,
                "oc": [
                    {"id": m, "orc": [{"id": sel, "hc": 0.0, "uo": uos} for sel, uos in r.items()]}
                    for m, r in markets.items()
                ],
            }  # fmt: skip
            if ct is not None:
                msg["ct"] = ct
            if ct == "SUB_IMAGE":
                msg["initialClk"] = "init-orders"
            return msg

    def _changed(self, bets: list[Bet]) -> None:
        if bets and self.listeners:
            msg = self.ocm(bets)
            for send in list(self.listeners):
                send(msg)

    # ------------------------------------------------------------------ JSON-RPC
    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        with self.lock:
            self.calls.append(method)
            if self.http_errors:
                self.http_errors -= 1
                return 500, None
            name = method.removeprefix("SportsAPING/v1.0/")
            if name == "placeOrders":
                result = self._place(params)
                if self.lose_answers:
                    self.lose_answers -= 1
                    return 503, None
                return 200, result
            if name == "cancelOrders":
                return 200, self._cancel(params)
            if name == "listCurrentOrders":
                return 200, self._list(params)
            return 200, {"error": {"code": -32601, "message": "DSC-0021"}}

    def _place(self, params: dict[str, Any]) -> dict[str, Any]:
        market_id = params["marketId"]
        reports = []
        for ins in params["instructions"]:
            lo = ins["limitOrder"]
            code = None
            if self.refuse:
                code = self.refuse.pop(0)
            elif ins.get("orderType") != "LIMIT" or ins.get("side") not in ("BACK", "LAY"):
                code = "INVALID_ORDER_TYPE"
            elif not BETFAIR_ODDS.contains(int(round(lo["price"] * MICRO))):
                code = "INVALID_ODDS"
            elif lo["size"] < 1.0:
                code = "INVALID_BET_SIZE"
            elif lo.get("persistenceType") not in ("LAPSE", "PERSIST"):
                code = "INVALID_PERSISTENCE_TYPE"
            elif len(ins.get("customerOrderRef", "")) > 32:
                code = "INVALID_CUSTOMER_ORDER_REF"
            if code is not None:
                reports.append({"status": "FAILURE", "errorCode": code, "instruction": ins})
                continue
            self._seq += 1
            bet = Bet(
                str(self._seq), market_id, ins["selectionId"], ins["side"], lo["price"],
                lo["size"], lo["persistenceType"], ins.get("customerOrderRef", ""),
            )  # fmt: skip
            bet.matched = round(bet.size * self.match_at_once, 2)
            if lo.get("timeInForce") == "FILL_OR_KILL":
                bet.cancelled = round(bet.size - bet.matched, 2)
            self.bets[bet.bet_id] = bet
            self._changed([bet])
            reports.append(
                {
                    "status": "SUCCESS",
                    "instruction": ins,
                    "betId": bet.bet_id,
                    "placedDate": "2026-12-03T11:00:00.000Z",
                    "averagePriceMatched": bet.price if bet.matched else 0.0,
                    "sizeMatched": bet.matched,
                    "orderStatus": "EXECUTABLE" if bet.remaining > 0 else "EXECUTION_COMPLETE",
                }
            )
        failed = any(r["status"] == "FAILURE" for r in reports)
        out: dict[str, Any] = {
            "customerRef": params.get("customerRef"),
            "status": "FAILURE" if failed else "SUCCESS",
            "marketId": market_id,
            "instructionReports": reports,
        }
        if failed:
            out["errorCode"] = "BET_ACTION_ERROR"
        return out

    def _cancel(self, params: dict[str, Any]) -> dict[str, Any]:
        reports = []
        if not params.get("instructions"):  # cancel all (on one market, or everywhere)
            market = params.get("marketId")
            gone = [b for b in self.bets.values()
                    if b.remaining > 0 and (market is None or b.market_id == market)]  # fmt: skip
            for b in gone:
                b.cancelled = round(b.cancelled + b.remaining, 2)
            self._changed(gone)
            return {"status": "SUCCESS", "marketId": market, "instructionReports": []}
        for ins in params.get("instructions") or ():
            b = self.bets.get(str(ins["betId"]))
            if b is None or b.remaining <= 0:
                reports.append({"status": "FAILURE", "errorCode": "BET_TAKEN_OR_LAPSED",
                                "instruction": ins})  # fmt: skip
                continue
            done = b.remaining
            b.cancelled = round(b.cancelled + done, 2)
            self._changed([b])
            reports.append({"status": "SUCCESS", "instruction": ins, "sizeCancelled": done,
                            "cancelledDate": "2026-12-03T11:00:01.000Z"})  # fmt: skip
        failed = any(r["status"] == "FAILURE" for r in reports)
        return {
            "status": "FAILURE" if failed else "SUCCESS",
            "marketId": params.get("marketId"),
            "instructionReports": reports,
            **({"errorCode": "BET_ACTION_ERROR"} if failed else {}),
        }

    def _list(self, params: dict[str, Any]) -> dict[str, Any]:
        ids = set(map(str, params.get("betIds") or ()))
        refs = set(params.get("customerOrderRefs") or ())
        rows = [
            b.summary()
            for b in self.bets.values()
            if (not ids or b.bet_id in ids) and (not refs or b.ref in refs)
        ]
        return {"currentOrders": rows, "moreAvailable": False}


def serve(fake: FakeBetfair) -> tuple[ThreadingHTTPServer, str]:
    """Start the fake on a free port of 127.0.0.1; return the server and its API base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path.endswith("/certlogin"):  # identity: certificate login (form data)
                data = json.dumps({"sessionToken": fake.session_token, "loginStatus": "SUCCESS"})
                self._send(200, data.encode())
                return
            body = json.loads(raw)
            result: Any
            if self.headers.get("X-Authentication") != fake.session_token:
                code, result = 200, {"error": {"code": -32099, "data": {"APINGException": {
                    "errorCode": "INVALID_SESSION_INFORMATION"}}}}  # fmt: skip
                payload: dict[str, Any] = {"jsonrpc": "2.0", "id": body.get("id"), **result}
            else:
                code, result = fake.handle(body["method"], body.get("params") or {})
                payload = {"jsonrpc": "2.0", "id": body.get("id"), "result": result}
            self._send(code, json.dumps(payload).encode())

        def _send(self, code: int, data: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="fake-betfair", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"
