"""Polymarket market-channel JSON -> normalized events (the only place that knows the format).

The live feed and the replay feed both call :class:`Translator`, so a recording replays through
exactly the code that built the live books. Bad input never raises: frames that are not JSON,
messages of the wrong shape and unknown event types are counted and skipped; levels with prices off
the tick grid or sizes that do not parse are reported as data issues for the instrument, which the
data validator turns into a trading block until a clean update arrives (an off-grid level that
reached the book keeps it blocked until the book holds none: the validator checks the book itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, Protocol, TypeGuard

from services.events import (
    BookDelta,
    BookSnapshot,
    Level,
    MarketEvent,
    MarketListed,
    MarketResolved,
    TickSizeChange,
    TradePrint,
)
from services.instruments import Instrument, Side
from services.markets.recording_runs import expand_price_change_runs, run_columns
from services.money import MICRO, MoneyParseError, to_micro

_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL, "buy": Side.BUY, "sell": Side.SELL}
_PRICE_CACHE_MAX = 65_536
_SIZE_CACHE_MAX = 65_536  # level sizes repeat (round lots, a level re-sent): parsed once
_PARSE_ERRORS = (MoneyParseError, ArithmeticError, TypeError, ValueError)
_SCALE = tuple(10 ** (6 - n) for n in range(7))
_CONTROL = frozenset({"PING", "PONG", b"PING", b"PONG"})
_NO_ASSET = object()  # "no entry read yet" in a price_change message
_PRICE_OF = itemgetter("price")
_SIZE_OF = itemgetter("size")

try:  # orjson parses market-channel frames about 2-3x faster; the stdlib is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads


_LETTER_SIDES = {"B": Side.BUY, "S": Side.SELL}  # side letters of format-3 columns


class QualitySink(Protocol):
    """Receives data-quality transitions per instrument (the data validator implements this)."""

    def note_data_issue(self, instrument_id: str, reason: str, ts: float) -> None:
        """Record that a message for the instrument carried bad data."""
        ...

    def note_clean_update(self, instrument_id: str, ts: float) -> None:
        """Record that a clean message arrived after an issue."""
        ...


class _MalformedError(Exception):
    """A message does not have the shape of its event type."""


def dec_to_micro(value: Any) -> int:
    """Convert a venue decimal (``"0.53"``, ``".48"``, ``"120"``) to micro-units, exactly.

    Plain decimal strings with at most 6 decimals take an integer fast path that gives the same
    result as :func:`services.money.to_micro`; anything else goes through ``to_micro``.

    Raises
    ------
    MoneyParseError, ArithmeticError, TypeError, ValueError
        If the value is not a finite decimal number.
    """
    if type(value) is str:
        i = value.find(".")
        if i < 0:
            if value.isdigit() and value.isascii():
                return int(value) * MICRO
        else:
            n = len(value) - i - 1
            if n <= 6:
                digits = value[:i] + value[i + 1 :]
                if digits.isdigit() and digits.isascii():
                    return int(digits) * _SCALE[n]
    elif type(value) is bool or value is None:
        raise TypeError(f"not a decimal: {value!r}")
    return to_micro(value)


class Translator:
    """Stateful translator of market-channel frames for one session (live or replay).

    Parameters
    ----------
    sink : QualitySink | None
        Gets data-issue / clean-update transitions per instrument.
    strict : bool
        Drop messages about tokens that were never registered (counted as ``unknown_asset``),
        so the engine never sees a book before its ``MarketListed``.
    """

    def __init__(self, sink: QualitySink | None = None, strict: bool = True) -> None:
        self.sink = sink
        self.strict = strict
        self.counters: dict[str, int] = {
            "frames": 0,
            "messages": 0,
            "events": 0,
            "malformed": 0,
            "unknown_type": 0,
            "unknown_asset": 0,
            "control": 0,
            "duplicate_resolution": 0,
        }
        self.instruments: dict[str, Instrument] = {}
        self.ticks: dict[str, int] = {}
        self.dirty: dict[str, str] = {}
        self.venue_top: dict[str, tuple[int | None, int | None]] = {}
        self.last_trade: dict[str, tuple[int, int, float]] = {}
        self.resolved: set[str] = set()
        self.new_market_hints = 0
        self._market_tokens: dict[str, list[str]] = {}
        self._px: dict[str, int] = {}
        self._sizes: dict[str, int] = {}  # size string -> micro-units, only valid sizes
        # tick (None: no grid) -> {price string: micro price} of prices valid on that grid
        self._grids: dict[int | None, dict[str, int]] = {}
        handlers: dict[str, Callable[[dict[str, Any], float, list[MarketEvent]], None]] = {
            "book": self._book,
            "price_change": self._price_change,
            "last_trade_price": self._trade,
            "tick_size_change": self._tick,
            "best_bid_ask": self._best_bid_ask,
            "market_resolved": self._resolved_msg,
            "new_market": self._new_market,
        }
        self._handlers = {k: (h, "type:" + k) for k, h in handlers.items()}
        for k in handlers:
            self.counters["type:" + k] = 0

    # ------------------------------------------------------------------ registry
    def register(self, instruments: Iterable[Instrument]) -> list[Instrument]:
        """Add instruments to the registry and return those that were not known before."""
        new: list[Instrument] = []
        for inst in instruments:
            if inst.instrument_id in self.instruments:
                continue
            self.instruments[inst.instrument_id] = inst
            self.ticks[inst.instrument_id] = inst.tick
            self._market_tokens.setdefault(inst.market_id, []).append(inst.instrument_id)
            new.append(inst)
        return new

    def listing(self, instruments: Iterable[Instrument], ts: float) -> list[MarketEvent]:
        """Register instruments and return a ``MarketListed`` for the new ones (or nothing)."""
        new = self.register(instruments)
        if not new:
            return []
        self.counters["events"] += 1
        return [MarketListed(ts=ts, instruments=tuple(new))]

    def market_tokens(self, market_id: str) -> list[str]:
        """Return the registered token ids of a market."""
        return list(self._market_tokens.get(market_id, ()))

    def accept(self, events: Iterable[MarketEvent]) -> list[MarketEvent]:
        """Pass normalized events from other sources (discovery, recordings) through the state.

        Listings register instruments (already known ones are dropped), tick changes update the
        grid, and a resolution of an already resolved market is dropped, exactly as for events
        translated from frames.
        """
        out: list[MarketEvent] = []
        for ev in events:
            if isinstance(ev, MarketListed):
                out.extend(self.listing(ev.instruments, ev.ts))
            elif isinstance(ev, MarketResolved):
                if ev.market_id in self.resolved:
                    self.counters["duplicate_resolution"] += 1
                    continue
                self.resolved.add(ev.market_id)
                out.append(ev)
            else:
                if isinstance(ev, TickSizeChange):
                    self.ticks[ev.instrument_id] = ev.tick
                out.append(ev)
        return out

    # ------------------------------------------------------------------ frames
    def translate_frame(self, data: str | bytes, ts: float) -> list[MarketEvent]:
        """Translate one WebSocket frame (a JSON object or array of objects) received at ``ts``."""
        c = self.counters
        c["frames"] += 1
        if len(data) == 4 and data in _CONTROL:
            c["control"] += 1
            return []
        try:
            obj = _loads(data)
        except (ValueError, TypeError, RecursionError):
            c["messages"] += 1  # an undecodable frame counts as one bad message
            c["malformed"] += 1
            return []
        if type(obj) is dict and obj.get("event_type") == "price_change":
            fast = self._clean_price_change(obj, ts)
            if fast is not None:
                return fast
        out: list[MarketEvent] = []  # _translate_obj, inlined (one call fewer per frame)
        if type(obj) is list:
            for msg in obj:
                self.translate_message(msg, ts, out)
        else:
            self.translate_message(obj, ts, out)
        return out

    def translate_decoded(self, obj: Any, ts: float) -> list[MarketEvent]:
        """Translate one frame already decoded from JSON (a recording in format 2 stores frames
        decoded): exactly what :meth:`translate_frame` does after its parse."""
        self.counters["frames"] += 1
        if type(obj) is dict and obj.get("event_type") == "price_change":
            fast = self._clean_price_change(obj, ts)
            if fast is not None:
                return fast
        return self._translate_obj(obj, ts)

    def _clean_price_change(self, msg: dict[str, Any], ts: float) -> list[MarketEvent] | None:
        """A ``price_change`` message whose every entry is clean, translated in one function;
        None, having changed nothing the general path would not change, for any other.

        Clean: no top-level ``asset_id``, a list of entry dicts, each holding a registered
        ``asset_id`` whose tick's price grid exists, a known ``side``, a ``price`` string already
        known valid on that grid and a valid ``size``. That is the live feed's usual message
        (issue 18): it skips the per-message dispatch (``translate_message``, the handler
        table), the issue bookkeeping and one call per asset for the venue's best prices.
        Exactly what ``translate_message`` gives for it: the same events, counters, venue tops,
        size cache and quality transitions (``tests/markets/test_clean_price_change.py``).

        The size cache is the only state touched before the message is known clean: sizes are
        parsed and cached entry by entry in order, as the general path does, and a message left
        half way has cached only sizes the general path would cache in the same order.
        """
        entries = msg.get("price_changes")
        if type(entries) is not list or msg.get("asset_id") is not None:
            return None
        instruments = self.instruments
        ticks = self.ticks
        grids = self._grids
        sizes = self._sizes
        sides = _SIDES
        per: dict[str, list[tuple[Side, int, int]]] = {}
        tops: dict[str, dict[str, Any]] = {}
        cur: Any = _NO_ASSET
        changes: list[tuple[Side, int, int]] = []
        grid: dict[str, int] = {}
        try:
            for e in entries:
                asset = e["asset_id"]  # not a dict, a field missing: TypeError, KeyError
                if asset != cur:
                    found = per.get(asset)
                    if found is None:
                        if asset not in instruments:
                            return None
                        found = per[asset] = []
                    g = grids.get(ticks.get(asset))
                    if g is None:
                        return None
                    cur, changes, grid = asset, found, g
                side = sides[e["side"]]
                p = grid[e["price"]]  # only strings valid on the grid are keys
                size_s = e["size"]
                size = sizes.get(size_s)
                if size is None:
                    size = self._size(size_s)  # caches it when valid
                    if size < 0:
                        return None
                changes.append((side, p, size))
                if "best_bid" in e or "best_ask" in e:
                    tops[asset] = e
        except (KeyError, TypeError):  # unhashable values too: the general path reports them
            return None
        c = self.counters
        c["messages"] += 1
        if tops:  # each asset's last entry with best prices, as _price_change reads them
            px = self._px
            venue_top = self.venue_top
            for asset, e in tops.items():
                bb, ba = e.get("best_bid"), e.get("best_ask")
                vb = px.get(bb) if type(bb) is str else None
                va = px.get(ba) if type(ba) is str else None
                venue_top[asset] = (
                    vb if vb is not None else self._opt_price(bb),
                    va if va is not None else self._opt_price(ba),
                )
        out: list[MarketEvent] = []
        dirty = self.dirty
        for asset, chg in per.items():
            out.append(BookDelta(ts, asset, tuple(chg)))
            if asset in dirty:
                self._quality(asset, [], ts)
        c["type:price_change"] += 1
        c["events"] += len(out)
        return out

    def translate_runs(self, head: Any, runs: Any, ts: float) -> list[MarketEvent]:
        """Translate a ``price_change`` message stored as columns (a format-3 recording):
        exactly ``translate_decoded(expand_price_change_runs(head, runs), ts)``.

        When every run is of a registered asset, all of one tick, and every level is clean
        (side known, price in the grid cache of that tick, size valid), the message is
        translated with the per-level work in C (``map``, ``zip``, slices); otherwise it is
        expanded and takes the general path. The two agree on every input
        (``tests/markets/test_price_change_runs.py``).

        Raises
        ------
        ValueError
            If ``head`` and ``runs`` are not what a recorder writes (nothing was changed).
        """
        if type(head) is dict and head.get("event_type") == "price_change":
            try:
                cols = run_columns(runs)
            except (ValueError, TypeError):
                cols = None
            if cols is not None and cols[0]:
                levels = self._clean_levels(cols)
                if levels is not None:
                    return self._commit_runs(cols, levels, ts)
        return self.translate_decoded(expand_price_change_runs(head, runs), ts)

    def _clean_levels(self, cols: tuple[Any, ...]) -> list[tuple[Side, int, int]] | None:
        """Every level as (side, price, size) when all are clean, else None. Changes nothing
        but the size cache (valid sizes only, as the general path does)."""
        assets = cols[0]
        try:
            if not all(map(self.instruments.__contains__, assets)):
                return None
            ticks = set(map(self.ticks.get, assets))
            if len(ticks) != 1:
                return None
            grid = self._grids.get(ticks.pop())
            if grid is None:
                return None
            ps = list(map(grid.get, cols[3]))  # only strings are keys: others give None
            if None in ps:
                return None
            size_cache = self._sizes
            zs = list(map(size_cache.get, cols[4]))
        except TypeError:  # an unhashable asset, price or size: the general path reports it
            return None
        if None in zs:
            for i, z in enumerate(zs):
                if z is None:
                    z = self._size(cols[4][i])  # caches it when valid
                    if z < 0:
                        return None
                    zs[i] = z
        sd = list(map(_LETTER_SIDES.get, cols[2]))
        if None in sd:
            return None
        return list(zip(sd, ps, zs, strict=True))  # type: ignore[arg-type]

    def _commit_runs(
        self, cols: tuple[Any, ...], levels: list[tuple[Side, int, int]], ts: float
    ) -> list[MarketEvent]:
        c = self.counters
        c["frames"] += 1
        c["messages"] += 1
        assets, counts = cols[0], cols[1]
        out: list[MarketEvent] = []
        if len(assets) == 1:
            per = {assets[0]: levels}
        else:
            per = {}
            i = 0
            for asset, k in zip(assets, counts, strict=True):
                chg = per.get(asset)
                if chg is None:
                    per[asset] = levels[i : i + k]
                else:
                    chg.extend(levels[i : i + k])
                i += k
        # every entry carries best prices: each asset's last run holds the ones that count
        px = self._px
        venue_top = self.venue_top
        for asset, (bb, ba) in dict(
            zip(assets, zip(cols[5], cols[6], strict=True), strict=True)
        ).items():
            venue_top[asset] = self._top_prices(px, bb, ba)
        dirty = self.dirty
        for asset, chg in per.items():
            out.append(BookDelta(ts, asset, tuple(chg)))
            if asset in dirty:
                self._quality(asset, [], ts)
        c["type:price_change"] += 1
        c["events"] += len(out)
        return out

    def _translate_obj(self, obj: Any, ts: float) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        if type(obj) is list:
            for msg in obj:
                self.translate_message(msg, ts, out)
        else:
            self.translate_message(obj, ts, out)
        return out

    def translate_message(self, msg: Any, ts: float, out: list[MarketEvent]) -> None:
        """Translate one decoded message, appending its events to ``out``; never raises."""
        c = self.counters
        c["messages"] += 1
        if type(msg) is not dict:
            c["malformed"] += 1
            return
        etype = msg.get("event_type")
        entry = self._handlers.get(etype) if type(etype) is str else None
        if entry is None:
            c["malformed" if etype is None else "unknown_type"] += 1
            return
        handler, key = entry
        n = len(out)
        try:
            handler(msg, ts, out)
        except (_MalformedError, KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
            del out[n:]
            c["malformed"] += 1
            return
        c[key] += 1
        if len(out) > n:
            c["events"] += len(out) - n

    # ------------------------------------------------------------------ helpers
    def _known(self, asset: Any) -> TypeGuard[str]:
        if type(asset) is not str or not asset:
            raise _MalformedError("asset_id")
        if asset in self.instruments or not self.strict:
            return True
        self.counters["unknown_asset"] += 1
        return False

    def _price(self, value: Any) -> int:
        if type(value) is str:
            p = self._px.get(value)
            if p is None:
                p = dec_to_micro(value)
                if len(self._px) >= _PRICE_CACHE_MAX:
                    self._px.clear()
                self._px[value] = p
            return p
        return dec_to_micro(value)

    def _top_prices(self, px: dict[str, int], bb: Any, ba: Any) -> tuple[int | None, int | None]:
        """The venue's best bid and ask of an entry or run: cached prices first, else parsed."""
        vb = px.get(bb) if type(bb) is str else None
        va = px.get(ba) if type(ba) is str else None
        return (
            vb if vb is not None else self._opt_price(bb),
            va if va is not None else self._opt_price(ba),
        )

    def _opt_price(self, value: Any) -> int | None:
        if value is None or value == "":
            return None
        try:
            return self._price(value)
        except _PARSE_ERRORS:
            return None

    def _level(self, asset: str, price: Any, size: Any, issues: list[str]) -> Level | None:
        try:
            p = self._price(price)
        except _PARSE_ERRORS:
            issues.append("bad_price")
            return None
        if not 0 < p < MICRO:
            issues.append("bad_price")
            return None
        try:
            s = dec_to_micro(size)
        except _PARSE_ERRORS:
            issues.append("bad_size")
            return None
        if s < 0:
            issues.append("bad_size")
            return None
        tick = self.ticks.get(asset)
        if s and tick and (p % tick or p < tick or p > MICRO - tick):
            issues.append("off_grid")  # removing an off-grid level (size 0) cleans the book
        return p, s

    def _quality(self, asset: str, issues: list[str], ts: float) -> None:
        if issues:
            reason = issues[0]
            c = self.counters
            for r in issues:
                k = "issue:" + r
                c[k] = c.get(k, 0) + 1
            self.dirty[asset] = reason
            if self.sink is not None:
                self.sink.note_data_issue(asset, reason, ts)
        elif asset in self.dirty:
            del self.dirty[asset]
            if self.sink is not None:
                self.sink.note_clean_update(asset, ts)

    def _levels(self, asset: str, raw: Any, issues: list[str]) -> tuple[Level, ...]:
        if raw is None:
            return ()
        if type(raw) is not list:
            raise _MalformedError("levels")
        grid = self._grids.get(self.ticks.get(asset))
        if grid is not None and raw:
            # Every level clean (a dict, its price already known valid on this grid, its size
            # valid): read in C loops, as the loop below would (issue 18).
            try:
                ps = list(map(grid.get, map(_PRICE_OF, raw)))
                zs = list(map(self._sizes.get, map(_SIZE_OF, raw))) if None not in ps else None
            except (TypeError, KeyError):  # not a dict, a field missing, unhashable: the loop
                zs = None
            if zs is not None:
                if None in zs:
                    for i, z in enumerate(zs):
                        if z is None:
                            zs[i] = self._size(raw[i]["size"])  # caches it when valid
                if min(zs) >= 0:  # type: ignore[type-var,operator]
                    return tuple(zip(ps, zs, strict=True))  # type: ignore[arg-type]
        out: list[Level] = []
        for lvl in raw:
            if type(lvl) is not dict:
                issues.append("bad_level")
                continue
            level = self._level(asset, lvl.get("price"), lvl.get("size"), issues)
            if level is not None:
                out.append(level)
        return tuple(out)

    # ------------------------------------------------------------------ handlers
    def _book(self, msg: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        asset = msg.get("asset_id")
        if not self._known(asset):
            return
        bids_raw = msg.get("bids", msg.get("buys"))
        asks_raw = msg.get("asks", msg.get("sells"))
        for raw in (bids_raw, asks_raw):  # check the shape before touching any state
            if raw is not None and type(raw) is not list:
                raise _MalformedError("levels")
        tick_raw = msg.get("tick_size")
        if tick_raw is not None and tick_raw != "":
            tick = self._tick_value(tick_raw)
            known = self.ticks.get(asset)
            if known != tick:
                self.ticks[asset] = tick
                if known is not None:  # a change missed while disconnected
                    out.append(TickSizeChange(ts=ts, instrument_id=asset, tick=tick))
        issues: list[str] = []
        bids = self._levels(asset, bids_raw, issues)
        asks = self._levels(asset, asks_raw, issues)
        out.append(BookSnapshot(ts=ts, instrument_id=asset, bids=bids, asks=asks))
        self.venue_top.pop(asset, None)
        self._quality(asset, issues, ts)

    def _price_change(self, msg: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        entries = msg.get("price_changes")
        top_asset = msg.get("asset_id")
        if entries is None:
            entries = msg.get("changes")  # pre-2025-09 shape: one asset per message
            if top_asset is None:
                raise _MalformedError("price_change")
        if type(entries) is not list:
            raise _MalformedError("price_changes")
        per_asset: dict[str, list[tuple[Side, int, int]]] = {}
        issues: dict[str, list[str]] = {}
        skipped: set[Any] | None = None
        sizes = self._sizes
        ticks = self.ticks
        grids = self._grids
        instruments = self.instruments
        sides = _SIDES
        # the entry holding each asset's last venue-reported best prices (read once, at the end)
        tops: dict[str, dict[str, Any]] = {}
        # Entries of one asset usually follow each other: its changes list and price grid are
        # looked up when the asset differs from the previous entry's, not per entry (issue 18).
        cur: Any = _NO_ASSET
        changes: list[tuple[Side, int, int]] = []
        grid: dict[str, int] = {}
        tick: int | None = None
        for e in entries:
            if type(e) is not dict:
                raise _MalformedError("price_changes entry")
            asset: Any = e.get("asset_id", top_asset)
            if asset != cur:
                found = per_asset.get(asset)
                if found is None:
                    if type(asset) is str and asset in instruments:  # the usual case, inlined
                        found = per_asset[asset] = []
                    elif skipped is not None and asset in skipped:
                        continue
                    elif not self._known(asset):
                        if skipped is None:
                            skipped = set()
                        skipped.add(asset)
                        continue
                    else:
                        found = per_asset[asset] = []
                cur, changes = asset, found
                tick = ticks.get(asset)
                g = grids.get(tick)
                if g is None:
                    g = grids[tick] = {}
                grid = g
            side = sides.get(e.get("side"))  # type: ignore[arg-type]
            price_s = e.get("price")
            # grid: price strings already known to be valid prices on this tick grid
            p = grid.get(price_s) if type(price_s) is str else None
            if p is None or side is None:
                bad = issues.setdefault(asset, [])
                level = None if side is None else self._level(asset, price_s, e.get("size"), bad)
                if side is None:
                    bad.append("bad_level")
                elif type(price_s) is str:
                    v = self._px.get(price_s)
                    if (
                        v is not None
                        and 0 < v < MICRO
                        and not (tick and (v % tick or v < tick or v > MICRO - tick))
                    ):
                        if len(grid) >= _PRICE_CACHE_MAX:
                            grid.clear()
                        grid[price_s] = v
                if level is not None:
                    changes.append((side, level[0], level[1]))  # type: ignore[arg-type]
            else:
                size_s = e.get("size")
                size = sizes.get(size_s) if type(size_s) is str else None
                if size is None:
                    size = self._size(size_s)
                if size < 0:
                    issues.setdefault(asset, []).append("bad_size")
                else:
                    changes.append((side, p, size))
            if "best_bid" in e or "best_ask" in e:
                tops[asset] = e
        if tops:
            px = self._px
            venue_top = self.venue_top
            for asset, e in tops.items():
                bb, ba = e.get("best_bid"), e.get("best_ask")
                venue_top[asset] = self._top_prices(px, bb, ba)
        dirty = self.dirty
        for asset, chg in per_asset.items():
            if chg:
                out.append(BookDelta(ts, asset, tuple(chg)))
            if asset in issues or asset in dirty:
                self._quality(asset, issues.get(asset, []), ts)

    def _size(self, size_s: Any) -> int:
        """A level size in micro-units, or -1 when it does not parse (valid string sizes are
        cached: they repeat)."""
        size = -1
        if type(size_s) is str:  # inlined fast path of dec_to_micro
            i = size_s.find(".")
            if i < 0:
                if size_s.isdigit() and size_s.isascii():
                    size = int(size_s) * MICRO
            elif len(size_s) - i <= 7:
                digits = size_s[:i] + size_s[i + 1 :]
                if digits.isdigit() and digits.isascii():
                    size = int(digits) * _SCALE[len(size_s) - i - 1]
        if size < 0:
            try:
                size = dec_to_micro(size_s)
            except _PARSE_ERRORS:
                return -1
        if size >= 0 and type(size_s) is str:
            sizes = self._sizes
            if len(sizes) >= _SIZE_CACHE_MAX:
                sizes.clear()
            sizes[size_s] = size
        return size

    def _trade(self, msg: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        asset = msg.get("asset_id")
        if not self._known(asset):
            return
        price = self._price(msg["price"])
        size = dec_to_micro(msg.get("size", "0"))
        if not 0 < price < MICRO or size < 0:
            raise _MalformedError("trade")
        aggressor = _SIDES.get(msg.get("side"))  # type: ignore[arg-type]
        self.last_trade[asset] = (price, size, ts)
        out.append(
            TradePrint(ts=ts, instrument_id=asset, price=price, size=size, aggressor=aggressor)
        )

    @staticmethod
    def _tick_value(raw: Any) -> int:
        tick = dec_to_micro(raw)
        if tick <= 0 or tick >= MICRO or MICRO % tick:
            raise _MalformedError("tick size")
        return tick

    def _tick(self, msg: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        asset = msg.get("asset_id")
        if not self._known(asset):
            return
        tick = self._tick_value(msg["new_tick_size"])
        self.ticks[asset] = tick
        out.append(TickSizeChange(ts=ts, instrument_id=asset, tick=tick))

    def _best_bid_ask(self, msg: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        asset = msg.get("asset_id")
        if not self._known(asset):
            return
        self.venue_top[asset] = (
            self._opt_price(msg.get("best_bid")),
            self._opt_price(msg.get("best_ask")),
        )

    def _resolved_msg(self, msg: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        market = msg.get("market")
        winner = msg.get("winning_asset_id")
        if type(market) is not str or not market or type(winner) is not str or not winner:
            raise _MalformedError("market_resolved")
        assets = msg.get("assets_ids")
        if assets is None:
            assets = self.market_tokens(market)
        if type(assets) is not list or any(type(a) is not str for a in assets):
            raise _MalformedError("assets_ids")
        if winner not in assets:
            assets = [*assets, winner]
        if self.strict and not any(a in self.instruments for a in assets):
            self.counters["unknown_asset"] += 1
            return
        if market in self.resolved:
            self.counters["duplicate_resolution"] += 1
            return
        self.resolved.add(market)
        payouts = tuple((a, MICRO if a == winner else 0) for a in assets)
        out.append(MarketResolved(ts=ts, market_id=market, payouts=payouts))

    def _new_market(self, msg: dict[str, Any], ts: float, out: list[MarketEvent]) -> None:
        # Discovery owns the universe (filters); a new market only hints that a refresh is due.
        self.new_market_hints += 1
