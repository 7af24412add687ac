"""Real-shaped Polymarket market-channel messages, translated by the production Translator.

The message shapes come from the captured frames in ``tests/resources/polymarket/
ws_messages.json`` (``book``, ``price_change`` with ``price_changes[]`` entries carrying
``best_bid``/``best_ask``, ``last_trade_price``): a test states a scenario in prices and sizes,
this helper writes the frames the venue would send and returns the normalized events the live
feed and the replay would produce from them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.events import MarketEvent
from services.instruments import FeeSchedule, Instrument, Side
from services.markets.polymarket.translate import Translator

RES = Path(__file__).resolve().parents[1] / "resources" / "polymarket"
MSGS: dict[str, Any] = json.loads((RES / "ws_messages.json").read_text())
TOKEN: str = MSGS["book"]["asset_id"]
NO_TOKEN: str = MSGS["price_change"]["price_changes"][1]["asset_id"]
MARKET: str = MSGS["book"]["market"]


def instrument(tick: str = "0.01", rate: str = "0.072") -> Instrument:
    """Return the YES instrument of the captured market (the book message's token)."""
    return Instrument(
        instrument_id=TOKEN,
        venue="polymarket",
        market_id=MARKET,
        outcome="Yes",
        tick=int(Decimal(tick) * 1_000_000),
        min_size=5_000_000,
        fees=FeeSchedule(rate=Decimal(rate)),
        complement_id=NO_TOKEN,
    )


def _fmt(x: str | Decimal) -> str:
    return format(Decimal(str(x)).normalize(), "f")


class Stream:
    """Writes venue frames for one token and translates them like the live feed does."""

    def __init__(self, tick: str = "0.01") -> None:
        self.inst = instrument(tick)
        self.translator = Translator()
        self.translator.register([self.inst])
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.ms = int(MSGS["book"]["timestamp"])
        self.frames: list[str] = []

    def _ts(self) -> float:
        self.ms += 100
        return self.ms / 1000

    def _translate(self, msg: dict[str, Any]) -> list[MarketEvent]:
        frame = json.dumps(msg)
        self.frames.append(frame)
        return self.translator.translate_frame(frame, self.ms / 1000)

    def book(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> list[MarketEvent]:
        """Send a ``book`` snapshot (levels listed best last, as captures show them)."""
        msg = copy.deepcopy(MSGS["book"])
        self.bids = {Decimal(p): Decimal(s) for p, s in bids}
        self.asks = {Decimal(p): Decimal(s) for p, s in asks}
        msg["bids"] = [{"price": _fmt(p), "size": _fmt(s)} for p, s in sorted(self.bids.items())]
        msg["asks"] = [
            {"price": _fmt(p), "size": _fmt(s)} for p, s in sorted(self.asks.items(), reverse=True)
        ]
        msg["tick_size"] = _fmt(Decimal(self.inst.tick) / 1_000_000)
        msg["timestamp"] = str(self.ms)
        self._ts()
        return self._translate(msg)

    def change(self, *changes: tuple[Side, str, str]) -> list[MarketEvent]:
        """Send one ``price_change`` with (side, price, new size) entries."""
        self._ts()
        entries = []
        for side, price, size in changes:
            levels = self.bids if side is Side.BUY else self.asks
            p, s = Decimal(price), Decimal(size)
            if s == 0:
                levels.pop(p, None)
            else:
                levels[p] = s
            entries.append(
                {"asset_id": TOKEN, "price": _fmt(p), "size": _fmt(s), "side": side.value}
            )
        bb = _fmt(max(self.bids)) if self.bids else "0"
        ba = _fmt(min(self.asks)) if self.asks else "0"
        template = MSGS["price_change"]["price_changes"][0]
        msg = {
            "event_type": "price_change",
            "market": MARKET,
            "timestamp": str(self.ms),
            "price_changes": [{**template, **e, "best_bid": bb, "best_ask": ba} for e in entries],
        }
        return self._translate(msg)

    def trade(self, price: str, size: str, taker: Side) -> list[MarketEvent]:
        """Send a ``last_trade_price`` print (``side`` is the taker's side)."""
        self._ts()
        msg = {
            **MSGS["last_trade_price"],
            "price": _fmt(price),
            "size": _fmt(size),
            "side": taker.value,
            "timestamp": str(self.ms),
        }
        return self._translate(msg)

    def tick_change(self, new: str) -> list[MarketEvent]:
        """Send a ``tick_size_change`` (the captured message's shape) to ``new``."""
        self._ts()
        old = _fmt(Decimal(self.inst.tick) / 1_000_000)
        msg = {
            **MSGS["tick_size_change"],
            "asset_id": TOKEN,
            "market": MARKET,
            "old_tick_size": old,
            "new_tick_size": new,
            "timestamp": str(self.ms),
        }
        self.inst = dataclasses.replace(self.inst, tick=int(Decimal(new) * 1_000_000))
        return self._translate(msg)
