"""Seeded fuzz of the data gate on mutated Polymarket market-channel frames (issue 12).

Each session is one token of the captured market (``tests/resources/polymarket/ws_messages.json``)
with its own translator, book and validator, wired as the live feed wires them. Frames are built in
the captured shapes (``book``, ``price_change`` with ``price_changes[]``, ``tick_size_change``,
``last_trade_price``, ``best_bid_ask``) around a random walk on the current tick grid, then
mutated: off-grid prices, tick changes between 0.001, 0.01 and 0.1, unparseable sizes and prices,
missing keys, wrong types, foreign asset ids, truncated or duplicated frames.

After every frame the invariant is checked: ``can_trade`` says yes only if every level of the book
lies on the instrument's current ladder (the instrument as the engine holds it: the listing,
replaced on every ``TickSizeChange``). Any exception from translation, book application or the
gate counts as a crash.

``run(frames, seed)`` is used by ``tests/monitors/test_off_grid_books.py`` (a few thousand
frames) and by ``benchmarks/fuzz_off_grid.py`` (100,000 frames, printed figures).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import traceback
from dataclasses import dataclass, field
from typing import Any

from services.events import TickSizeChange
from services.instruments import Instrument
from services.markets.polymarket.feed import apply_to_books
from services.markets.polymarket.translate import Translator
from services.monitors.data_validation import DataValidator
from services.orderbook import BookStore
from tests.execution.pm_stream import MARKET, MSGS, NO_TOKEN, TOKEN, instrument
from utils.polymarket_config import ValidationConfig

MICRO = 1_000_000
TICKS = ("0.01", "0.001")
PERMISSIVE = ValidationConfig(min_depth_usd=0, check_venue_top=False, require_two_sided=False)
"""Only the data checks can block: a tradable book is as common as the frames allow."""


@dataclass
class FuzzResult:
    """What a fuzz run found."""

    frames: int = 0
    sessions: int = 0
    tradable_checks: int = 0
    off_grid_tradable: int = 0  # frames after which an off-grid book was tradable
    off_grid_books: int = 0  # sessions (books) that were tradable while off-grid at least once
    off_grid_blocked: int = 0  # frames after which an off-grid book was (rightly) refused
    crashes: int = 0
    examples: list[str] = field(default_factory=list)


class _Healthy:
    """A live connection that just received the frame being checked."""

    def __init__(self) -> None:
        self.last: float | None = None

    def is_healthy(self, instrument_id: str) -> bool:
        return True

    def last_message_ts(self, instrument_id: str) -> float | None:
        return self.last


def _fmt(micro: int) -> str:
    """Format a micro amount as the venue does (``0.505``, ``120``, no trailing zeros)."""
    whole, frac = divmod(micro, MICRO)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:06d}".rstrip("0")


class _Session:
    """One token's stream: frames in the captured shapes, mutated at random."""

    def __init__(self, rng: random.Random, config: ValidationConfig) -> None:
        self.rng = rng
        tick = rng.choice(TICKS)
        self.inst: Instrument = instrument(tick)
        self.tr = Translator()
        self.books = BookStore()
        self.status = _Healthy()
        self.validator = DataValidator(
            config,
            self.books,
            status=self.status,
            ticks=self.tr.ticks,
            venue_top=self.tr.venue_top,
        )
        self.tr.sink = self.validator
        self.tr.register([self.inst])
        self.tick = self.inst.tick  # what the frames believe the tick is
        self.mid = rng.randrange(50_000, 950_001, 1_000)
        self.ms = int(MSGS["book"]["timestamp"])
        self.had_tradable_off_grid = False

    # ------------------------------------------------------------------ prices
    def _price(self, side: str = "") -> int:
        """A price near the mid on the frames' grid: below it for bids, above it for asks."""
        r = self.rng
        tick = self.tick
        k = r.randint(1, 8) if side else r.randint(-8, 8)
        p = self.mid + (-k if side == "BUY" else k) * tick
        p = max(tick, min(MICRO - tick, p - p % tick))
        if r.random() < 0.04:
            p += r.choice((tick // 2, tick // 10 or 1, 5_000, 500, 1))  # off the grid
        return p

    def _level(self, side: str = "") -> dict[str, Any]:
        size = _fmt(self.rng.randint(1, 50_000) * 10_000)
        return {"price": _fmt(self._price(side)), "size": size}

    def _walk(self) -> None:
        step = self.rng.randint(-3, 3) * self.tick
        self.mid = max(2 * self.tick, min(MICRO - 2 * self.tick, self.mid + step))

    # ------------------------------------------------------------------ frames
    def _book(self) -> dict[str, Any]:
        msg = copy.deepcopy(MSGS["book"])
        r = self.rng
        n_bid, n_ask = r.randint(0, 6), r.randint(0, 6)
        bids = sorted({self._price("BUY") for _ in range(n_bid)})
        asks = sorted({self._price("SELL") for _ in range(n_ask)}, reverse=True)
        msg["bids"] = [{"price": _fmt(p), "size": _fmt(r.randint(1, 9_000) * 10_000)} for p in bids]
        msg["asks"] = [{"price": _fmt(p), "size": _fmt(r.randint(1, 9_000) * 10_000)} for p in asks]
        msg["tick_size"] = _fmt(self.tick)
        return msg

    def _change(self) -> dict[str, Any]:
        r = self.rng
        entries = []
        template = MSGS["price_change"]["price_changes"][0]
        for _ in range(r.randint(1, 3)):
            side = r.choice(("BUY", "SELL"))
            lvl = self._level(side)
            if r.random() < 0.3:
                lvl["size"] = "0"
            e = {**template, "asset_id": TOKEN, **lvl, "side": side}
            e["best_bid"] = _fmt(self._price("BUY"))
            e["best_ask"] = _fmt(self._price("SELL"))
            entries.append(e)
        return {
            "event_type": "price_change",
            "market": MARKET,
            "timestamp": str(self.ms),
            "price_changes": entries,
        }

    def _tick_change(self) -> dict[str, Any]:
        new = self.rng.choice(("0.01", "0.001", "0.01", "0.001", "0.1", "0.0001", "0.03", "0"))
        msg = {
            **MSGS["tick_size_change"],
            "asset_id": TOKEN,
            "market": MARKET,
            "old_tick_size": _fmt(self.tick),
            "new_tick_size": new,
        }
        if new in TICKS:
            self.tick = int(round(float(new) * MICRO))
        return msg

    def _trade(self) -> dict[str, Any]:
        return {**MSGS["last_trade_price"], "asset_id": TOKEN, **self._level(), "side": "BUY"}

    def _bba(self) -> dict[str, Any]:
        return {
            **MSGS["best_bid_ask"],
            "asset_id": TOKEN,
            "best_bid": _fmt(self._price("BUY")),
            "best_ask": _fmt(self._price("SELL")),
        }

    def frame(self) -> list[str]:
        """Return the next frame(s) as sent (a duplicated frame is sent twice)."""
        r = self.rng
        self.ms += r.randint(1, 500)
        self._walk()
        x = r.random()
        if x < 0.14:
            msg = self._book()
        elif x < 0.72:
            msg = self._change()
        elif x < 0.80:
            msg = self._tick_change()
        elif x < 0.90:
            msg = self._trade()
        else:
            msg = self._bba()
        msg["timestamp"] = str(self.ms)
        if r.random() < 0.3:
            _mutate(r, msg)
        data = json.dumps([msg] if r.random() < 0.1 else msg)
        if r.random() < 0.02:
            data = data[: r.randrange(len(data))]
        return [data, data] if r.random() < 0.03 else [data]


_BAD_VALUES: tuple[Any, ...] = (
    None,
    "",
    "abc",
    "-1",
    "1e400",
    "NaN",
    "Infinity",
    "0.5.1",
    0.505,
    5,
    True,
    [],
    {},
    "0.0000001",
    "1.2",
    "0.505",
    "0.4051",
    "0.9995",
    "0.0005",
)


def _mutate(r: random.Random, msg: dict[str, Any]) -> None:
    """Apply one random mutation to a message in place."""
    targets: list[dict[str, Any]] = [msg]
    for key in ("bids", "asks", "price_changes"):
        if isinstance(msg.get(key), list):
            targets.extend(x for x in msg[key] if isinstance(x, dict))
    t = r.choice(targets)
    kind = r.randrange(9)
    if kind <= 2 and t is not msg:  # a level's price or size
        t[r.choice(("price", "size", "price"))] = r.choice(_BAD_VALUES)
    elif kind == 3 and t:
        del t[r.choice(list(t))]
    elif kind == 4:
        t["asset_id"] = r.choice((NO_TOKEN, "", 123, None, "x" * 80))
    elif kind == 5:
        msg["event_type"] = r.choice(("book", "price_change", "tick_size_change", "nope", None))
    elif kind == 6:
        key = r.choice(("tick_size", "new_tick_size", "best_bid", "best_ask", "price"))
        t[key] = r.choice(("0.01", "0.001", "0.1", *_BAD_VALUES))
    elif kind == 7:
        for key in ("bids", "asks", "price_changes"):
            if isinstance(msg.get(key), list) and msg[key]:
                msg[key].append(copy.deepcopy(r.choice(msg[key])))
    else:
        key = r.choice(("bids", "asks", "price_changes", "changes"))
        msg[key] = r.choice(({}, "x", [1, None, []], None))


def off_grid_level(books: BookStore, inst: Instrument) -> int | None:
    """Return a price of the instrument's book that is off its ladder, or None."""
    book = books.find(inst.instrument_id)
    if book is None:
        return None
    for levels in (book.bids, book.asks):
        for p in levels:
            if not inst.on_grid(p):
                return p
    return None


def run(
    frames: int, seed: int = 0, config: ValidationConfig = PERMISSIVE, examples: int = 3
) -> FuzzResult:
    """Send ``frames`` mutated frames through translator, book and gate; check the invariant."""
    rng = random.Random(seed)
    res = FuzzResult()
    s: _Session | None = None
    left = 0
    while res.frames < frames:
        if s is None or left <= 0:
            s = _Session(rng, config)
            left = rng.randint(10, 60)
            res.sessions += 1
        for data in s.frame():
            res.frames += 1
            left -= 1
            t = s.ms / 1000
            s.status.last = t
            try:
                events = s.tr.translate_frame(data, t)
                apply_to_books(s.books, events)
                for ev in events:  # the engine's instrument follows every tick-size change
                    if isinstance(ev, TickSizeChange) and ev.instrument_id == TOKEN:
                        s.inst = dataclasses.replace(s.inst, tick=ev.tick)
                ok, _why = s.validator.can_trade(TOKEN, t)
            except Exception:  # noqa: BLE001 - a crash is what the fuzz counts
                res.crashes += 1
                if len(res.examples) < examples:
                    res.examples.append(f"crash on {data[:200]!r}\n{traceback.format_exc()}")
                s = None
                break
            bad = off_grid_level(s.books, s.inst)
            if ok:
                res.tradable_checks += 1
            if bad is None:
                continue
            if not ok:
                res.off_grid_blocked += 1
                continue
            res.off_grid_tradable += 1
            if not s.had_tradable_off_grid:
                s.had_tradable_off_grid = True
                res.off_grid_books += 1
            if len(res.examples) < examples:
                res.examples.append(
                    f"tradable with level {bad} off the {s.inst.tick}-micro grid after {data[:300]}"
                )
    return res
