"""A deterministic Polymarket market-channel session in the venue's shapes, for recording tests.

The messages follow ``tests/resources/polymarket/ws_messages.json`` (captured shapes): ``book``
with a ``hash``, ``price_change`` whose entries carry ``asset_id``, ``price``, ``size``, ``side``,
``hash``, ``best_bid`` and ``best_ask``, ``last_trade_price``, ``best_bid_ask``,
``tick_size_change`` and ``market_resolved``. Mixed in: array frames, ``PING``/``PONG``, text that
is not JSON, a bare JSON value, a binary frame, an unknown token, a frame with leading spaces.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

from services.instruments import FeeSchedule, Instrument
from services.markets.recorder import Recorder

YES = "55639997988870728804332826329981550462133227181325450514047940803040369884197"
NO = "65123598931044656046022316042305688301509551429363458541538023548733875100210"
MARKET = "0x4d4f7f3b2c9780175e3ff9918f2191616116c7655998523f8a6e768d3705797a"
T0 = 1_795_000_000.0


def instruments() -> list[Instrument]:
    """The two outcome tokens of the session's binary market."""
    fee = FeeSchedule(Decimal("0"), 1)
    return [
        Instrument(YES, "polymarket", MARKET, "Yes", 10_000, 5_000_000, fee, T0 + 86_400, NO),
        Instrument(NO, "polymarket", MARKET, "No", 10_000, 5_000_000, fee, T0 + 86_400, YES),
    ]


def _px(cents: int) -> str:
    return f"0.{cents:02d}" if cents < 100 else "1"


def frames(n: int = 400, seed: int = 7) -> list[tuple[float, int, str | bytes]]:
    """Return ``n`` frames (time, shard, frame) of a session on :data:`MARKET`."""
    rng = random.Random(seed)
    books: dict[str, dict[str, dict[int, str]]] = {
        YES: {"BUY": {38: "120", 39: "55.5"}, "SELL": {42: "30", 43: "80"}},
        NO: {"BUY": {57: "30", 58: "10"}, "SELL": {61: "55.5", 62: "120"}},
    }

    def book_msg(asset: str, ts_ms: int) -> dict[str, Any]:
        b = books[asset]
        return {
            "event_type": "book",
            "asset_id": asset,
            "market": MARKET,
            "bids": [{"price": _px(p), "size": s} for p, s in sorted(b["BUY"].items())],
            "asks": [{"price": _px(p), "size": s} for p, s in sorted(b["SELL"].items())],
            "timestamp": str(ts_ms),
            "hash": f"{rng.getrandbits(160):040x}",
        }

    def top(asset: str) -> tuple[str, str]:
        b = books[asset]
        bid = _px(max(b["BUY"])) if b["BUY"] else "0"
        ask = _px(min(b["SELL"])) if b["SELL"] else "0"
        return bid, ask

    out: list[tuple[float, int, str | bytes]] = []
    t = T0
    ts_ms = int(T0 * 1000)
    out.append((t, 0, json.dumps([book_msg(YES, ts_ms), book_msg(NO, ts_ms)])))
    for k in range(1, n):
        t += rng.choice((0.0, 0.013, 0.25, 1.0))
        ts_ms = int(t * 1000)
        r = rng.random()
        if k % 79 == 0:
            odd: list[str | bytes] = ["PING", "PONG", "{not json", "42", b"\xff\x00bin"]
            out.append((t, 1, odd[(k // 79 - 1) % len(odd)]))
            continue
        if r < 0.75:
            changes = []
            for _ in range(rng.randint(1, 5)):
                asset = rng.choice((YES, NO))
                side = rng.choice(("BUY", "SELL"))
                mid = 45 if asset == YES else 55
                price = rng.randint(mid - 15, mid) if side == "BUY" else rng.randint(mid + 1, 70)
                size = "0" if rng.random() < 0.3 else f"{rng.randint(1, 5000) / 10:g}"
                lvl = books[asset][side]
                if size == "0":
                    lvl.pop(price, None)
                else:
                    lvl[price] = size
                bid, ask = top(asset)
                if rng.random() < 0.05:
                    bid = _px(rng.randint(1, 99))  # a venue top that disagrees with the book
                changes.append(
                    {
                        "asset_id": asset,
                        "price": _px(price),
                        "size": size,
                        "side": side,
                        "hash": f"{rng.getrandbits(160):040x}",
                        "best_bid": bid,
                        "best_ask": ask,
                    }
                )
            msg = {
                "event_type": "price_change",
                "market": MARKET,
                "price_changes": changes,
                "timestamp": str(ts_ms),
            }
            text = json.dumps(msg, separators=(",", ":") if k % 2 else (", ", ": "))
            out.append((t, k % 3, ("  " + text) if k % 89 == 0 else text))
        elif r < 0.85:
            asset = rng.choice((YES, NO))
            out.append(
                (
                    t,
                    0,
                    json.dumps(
                        {
                            "event_type": "last_trade_price",
                            "asset_id": asset,
                            "market": MARKET,
                            "price": _px(rng.randint(35, 65)),
                            "size": f"{rng.randint(1, 900) / 10:g}",
                            "side": rng.choice(("BUY", "SELL")),
                            "fee_rate_bps": "0",
                            "timestamp": str(ts_ms),
                        }
                    ),
                )
            )
        elif r < 0.93:
            asset = rng.choice((YES, NO))
            bid, ask = top(asset)
            out.append(
                (
                    t,
                    1,
                    json.dumps(
                        {
                            "event_type": "best_bid_ask",
                            "market": MARKET,
                            "asset_id": asset,
                            "best_bid": bid,
                            "best_ask": ask,
                            "spread": "0.01",
                            "timestamp": str(ts_ms),
                        }
                    ),
                )
            )
        elif r < 0.96:
            asset = "1" + "0" * 76  # a token never listed: dropped the same way
            out.append((t, 2, json.dumps({**book_msg(YES, ts_ms), "asset_id": asset})))
        else:
            out.append((t, 0, json.dumps([book_msg(YES, ts_ms), book_msg(NO, ts_ms)])))
    t += 1.0
    out.append(
        (
            t,
            0,
            json.dumps(
                {
                    "event_type": "market_resolved",
                    "id": "500001",
                    "market": MARKET,
                    "assets_ids": [YES, NO],
                    "winning_asset_id": YES,
                    "winning_outcome": "Yes",
                    "timestamp": str(int(t * 1000)),
                }
            ),
        )
    )
    return out


def record(recorder: Recorder, n: int = 400, seed: int = 7) -> None:
    """Record the session (listing first, then every frame) and close the recorder."""
    recorder.record_instruments(T0 - 1.0, instruments())
    for t, shard, frame in frames(n, seed):
        recorder.record_raw(t, shard, frame)
    recorder.close()
