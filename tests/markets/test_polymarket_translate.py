"""Translation of market-channel messages into normalized events."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from services.events import (
    BookDelta,
    BookSnapshot,
    MarketListed,
    MarketResolved,
    TickSizeChange,
    TradePrint,
)
from services.instruments import Instrument, Side
from services.markets.polymarket.translate import Translator, dec_to_micro
from services.money import to_micro

RES = Path(__file__).resolve().parents[1] / "resources" / "polymarket"
MSGS = json.loads((RES / "ws_messages.json").read_text())
BOOK = MSGS["book"]
YES = BOOK["asset_id"]
NO = MSGS["price_change"]["price_changes"][1]["asset_id"]
MARKET = BOOK["market"]
TICK_TOKEN = MSGS["tick_size_change"]["asset_id"]


class Sink:
    def __init__(self) -> None:
        self.issues: list[tuple[str, str]] = []
        self.clean: list[str] = []

    def note_data_issue(self, instrument_id: str, reason: str, ts: float) -> None:
        self.issues.append((instrument_id, reason))

    def note_clean_update(self, instrument_id: str, ts: float) -> None:
        self.clean.append(instrument_id)


def inst(
    token: str, market: str = MARKET, tick: int = 10_000, comp: str | None = None
) -> Instrument:
    return Instrument(token, "polymarket", market, "Yes", tick, 5_000_000, complement_id=comp)


def make(sink: Sink | None = None) -> Translator:
    tr = Translator(sink=sink)
    tr.register([inst(YES, comp=NO), inst(NO, comp=YES), inst(TICK_TOKEN, market="0xother")])
    return tr


def test_book_snapshot_levels_exact_and_order_independent() -> None:
    tr = make()
    (ev,) = tr.translate_frame(json.dumps(BOOK), 100.0)
    assert isinstance(ev, BookSnapshot)
    assert ev.ts == 100.0 and ev.instrument_id == YES
    assert sorted(ev.bids) == [
        (380_000, 120_000_000),
        (390_000, 55_500_000),
        (400_000, 210_250_000),
    ]
    assert sorted(ev.asks) == [(420_000, 150_000_000), (430_000, 64_100_000), (440_000, 80_000_000)]
    assert tr.counters["type:book"] == 1 and tr.counters["events"] == 1


def test_price_change_two_assets_absolute_sizes() -> None:
    tr = make()
    evs = tr.translate_frame(json.dumps(MSGS["price_change"]), 5.0)
    assert evs == [
        BookDelta(5.0, YES, ((Side.BUY, 400_000, 0),)),
        BookDelta(5.0, NO, ((Side.SELL, 600_000, 0),)),
    ]
    assert tr.venue_top[YES] == (390_000, 420_000)
    assert tr.venue_top[NO] == (580_000, 610_000)


def test_legacy_price_change_shape() -> None:
    tr = make()
    msg = {
        "event_type": "price_change",
        "asset_id": YES,
        "market": MARKET,
        "changes": [{"price": "0.41", "side": "SELL", "size": "12"}],
    }
    (ev,) = tr.translate_frame(json.dumps(msg), 1.0)
    assert ev == BookDelta(1.0, YES, ((Side.SELL, 410_000, 12_000_000),))


def test_trade_tick_resolution_and_best_bid_ask() -> None:
    tr = make()
    (trade,) = tr.translate_frame(json.dumps(MSGS["last_trade_price"]), 2.0)
    assert trade == TradePrint(2.0, YES, 420_000, 25_300_000, Side.BUY)
    assert tr.last_trade[YES] == (420_000, 25_300_000, 2.0)
    (tick,) = tr.translate_frame(json.dumps(MSGS["tick_size_change"]), 3.0)
    assert tick == TickSizeChange(3.0, TICK_TOKEN, 1_000)
    assert tr.ticks[TICK_TOKEN] == 1_000
    assert tr.translate_frame(json.dumps(MSGS["best_bid_ask"]), 4.0) == []
    assert tr.venue_top[YES] == (390_000, 420_000)
    (res,) = tr.translate_frame(json.dumps(MSGS["market_resolved"]), 5.0)
    assert isinstance(res, MarketResolved)
    assert res.market_id == MARKET
    assert dict(res.payouts) == {YES: 1_000_000, NO: 0}
    # the same resolution again (socket repeat or REST poll) is dropped
    assert tr.translate_frame(json.dumps(MSGS["market_resolved"]), 6.0) == []
    assert tr.counters["duplicate_resolution"] == 1


def test_array_frames_and_unknown_types() -> None:
    tr = make()
    frame = json.dumps(
        [BOOK, {"event_type": "brand_new_thing"}, MSGS["price_change"], MSGS["new_market"]]
    )
    evs = tr.translate_frame(frame, 1.0)
    assert [type(e) for e in evs] == [BookSnapshot, BookDelta, BookDelta]
    assert tr.counters["unknown_type"] == 1
    assert tr.new_market_hints == 1
    assert tr.counters["messages"] == 4


def test_book_tick_size_field_updates_grid() -> None:
    tr = make()
    msg = dict(BOOK, tick_size="0.001")
    evs = tr.translate_frame(json.dumps(msg), 1.0)
    assert evs[0] == TickSizeChange(1.0, YES, 1_000)
    assert isinstance(evs[1], BookSnapshot)


def test_unknown_asset_dropped_in_strict_mode() -> None:
    tr = make()
    msg = dict(BOOK, asset_id="999")
    assert tr.translate_frame(json.dumps(msg), 1.0) == []
    assert tr.counters["unknown_asset"] == 1
    loose = Translator(strict=False)
    assert len(loose.translate_frame(json.dumps(msg), 1.0)) == 1


def test_data_issues_reported_until_clean_update() -> None:
    sink = Sink()
    tr = make(sink)
    bad = {
        "event_type": "price_change",
        "market": MARKET,
        "price_changes": [
            {"asset_id": YES, "price": "0.405", "size": "10", "side": "BUY"},  # off the 0.01 grid
            {"asset_id": NO, "price": "0.6", "size": "lots", "side": "SELL"},  # size does not parse
        ],
    }
    evs = tr.translate_frame(json.dumps(bad), 1.0)
    # the off-grid level is still applied (the venue shows it); the unparseable one is not
    assert evs == [BookDelta(1.0, YES, ((Side.BUY, 405_000, 10_000_000),))]
    assert sink.issues == [(YES, "off_grid"), (NO, "bad_size")]
    assert tr.dirty == {YES: "off_grid", NO: "bad_size"}
    assert tr.counters["issue:off_grid"] == 1 and tr.counters["issue:bad_size"] == 1
    tr.translate_frame(json.dumps(BOOK), 2.0)
    assert sink.clean == [YES]
    assert tr.dirty == {NO: "bad_size"}


def test_listing_and_accept_dedupe() -> None:
    tr = Translator()
    a = inst("1")
    (ev,) = tr.listing([a], 1.0)
    assert ev == MarketListed(1.0, (a,))
    assert tr.listing([a], 2.0) == []
    res = MarketResolved(3.0, MARKET, (("1", 1_000_000),))
    assert tr.accept([res]) == [res]
    assert tr.accept([res]) == []


MALFORMED = [
    "{not json",
    "",
    "null",
    "42",
    "[1, 2]",
    '{"event_type": "book"}',
    '{"event_type": "book", "asset_id": 5}',
    json.dumps({"event_type": "book", "asset_id": YES, "bids": "x"}),
    json.dumps({"event_type": "price_change", "price_changes": 7}),
    json.dumps({"event_type": "price_change", "price_changes": [3]}),
    json.dumps({"event_type": "tick_size_change", "asset_id": YES, "new_tick_size": "0.3"}),
    json.dumps({"event_type": "last_trade_price", "asset_id": YES, "price": "2", "size": "1"}),
    json.dumps({"event_type": "market_resolved", "market": MARKET}),
    json.dumps({"event_type": ["book"]}),
    # shape errors after fields that would change state: nothing may stick
    json.dumps({"event_type": "book", "asset_id": YES, "tick_size": "0.001", "bids": "x"}),
    json.dumps(
        {
            "event_type": "price_change",
            "price_changes": [
                {
                    "asset_id": YES,
                    "price": "0.5",
                    "size": "1",
                    "side": "BUY",
                    "best_bid": "0.5",
                    "best_ask": "0.6",
                },
                "junk",
            ],
        }
    ),
]


def test_malformed_frames_counted_not_raised() -> None:
    tr = make()
    for frame in MALFORMED:
        assert tr.translate_frame(frame, 1.0) == []
    assert tr.counters["malformed"] == len(MALFORMED)
    assert tr.counters["frames"] == len(MALFORMED)
    assert tr.counters["events"] == 0
    assert tr.ticks[YES] == 10_000 and tr.venue_top == {}


decimal_strings = st.builds(
    lambda whole, frac: f"{whole}.{frac}" if frac is not None else str(whole),
    st.integers(min_value=0, max_value=10**9),
    st.none() | st.text(alphabet="0123456789", min_size=0, max_size=9),
)


@given(decimal_strings)
def test_dec_to_micro_matches_to_micro(s: str) -> None:
    assert dec_to_micro(s) == to_micro(s)
    assert dec_to_micro(s) == int((Decimal(s) * 1_000_000).to_integral_value("ROUND_HALF_UP"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from([YES, NO, MARKET, "0.5", "BUY", "SELL", "-1", "1e9"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "event_type",
                    "asset_id",
                    "market",
                    "price",
                    "size",
                    "side",
                    "bids",
                    "asks",
                    "price_changes",
                    "changes",
                    "new_tick_size",
                    "tick_size",
                    "assets_ids",
                    "winning_asset_id",
                    "best_bid",
                    "best_ask",
                    "x",
                ]
            ),
            children,
            max_size=8,
        )
    ),
    max_leaves=25,
)
event_types = st.sampled_from(
    [
        "book",
        "price_change",
        "last_trade_price",
        "tick_size_change",
        "best_bid_ask",
        "market_resolved",
        "new_market",
        "other",
    ]
)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(event_types, json_values), max_size=4), st.text(max_size=30))
def test_fuzz_parser_never_raises(msgs: list[tuple[str, object]], garbage: str) -> None:
    tr = make()
    shaped = []
    for etype, body in msgs:
        shaped.append(dict(body, event_type=etype) if isinstance(body, dict) else body)
    frames = [
        json.dumps(shaped),
        json.dumps(shaped[0]) if shaped else "{}",
        garbage,
        json.dumps(shaped).encode(),
    ]
    for frame in frames:
        evs = tr.translate_frame(frame, 1.0)
        for ev in evs:
            assert ev.ts == 1.0
            if isinstance(ev, (BookSnapshot, BookDelta)):
                levels = (
                    (ev.bids + ev.asks)
                    if isinstance(ev, BookSnapshot)
                    else [(p, s) for _side, p, s in ev.changes]
                )
                assert all(0 < p < 1_000_000 and s >= 0 for p, s in levels)
    c = tr.counters
    assert c["frames"] == 4
    # every message is accounted for: translated, ignored as an unknown type, or counted as bad
    typed = sum(v for k, v in c.items() if k.startswith("type:"))
    assert c["messages"] == typed + c["unknown_type"] + c["malformed"]


def test_cached_sizes_translate_as_a_fresh_translator_would() -> None:
    """The size cache (issue 18) never changes an event or a data issue: a long-lived translator
    and a fresh one per message agree on sizes that repeat, bad sizes and over-precise ones."""
    import random

    rng = random.Random(5)
    sizes = ["10", "10.5", "0", "120.25", "abc", "-3", "1e3", "0.1234567", "", "7.000001"]
    long_sink = Sink()
    long_lived = make(long_sink)
    for i in range(400):
        entries = [
            {
                "asset_id": rng.choice((YES, NO)),
                "price": rng.choice(("0.4", "0.41", "0.405")),
                "size": rng.choice(sizes),
                "side": rng.choice(("BUY", "SELL")),
            }
            for _ in range(rng.randrange(1, 4))
        ]
        frame = json.dumps(
            {"event_type": "price_change", "market": MARKET, "price_changes": entries}
        )
        fresh_sink = Sink()
        before = len(long_sink.issues)
        assert long_lived.translate_frame(frame, float(i)) == make(fresh_sink).translate_frame(
            frame, float(i)
        )
        assert long_sink.issues[before:] == fresh_sink.issues
    assert "abc" not in long_lived._sizes and long_lived._sizes["10.5"] == 10_500_000


class _EntryByEntry(Translator):
    """The specification of ``price_change``: every entry checked and parsed on its own, in
    order, through the general level parser, with no cache. The fast translator (per-asset runs,
    price grids, size cache; issue 18) must give exactly its events, data issues and state."""

    def _price_change(self, msg, ts, out):  # type: ignore[no-untyped-def]
        from services.markets.polymarket.translate import _SIDES, _MalformedError

        entries = msg.get("price_changes")
        top = msg.get("asset_id")
        if entries is None:
            entries = msg.get("changes")
            if top is None:
                raise _MalformedError("price_change")
        if type(entries) is not list:
            raise _MalformedError("price_changes")
        per_asset: dict[str, list[tuple[Side, int, int]]] = {}
        issues: dict[str, list[str]] = {}
        skipped: set[str] = set()
        tops: dict[str, tuple[int | None, int | None]] = {}
        for e in entries:
            if type(e) is not dict:
                raise _MalformedError("entry")
            asset = e.get("asset_id", top)
            if asset not in per_asset:
                if asset in skipped:
                    continue
                if not self._known(asset):
                    skipped.add(asset)
                    continue
                per_asset[asset] = []
            bad = issues.setdefault(asset, [])
            side = _SIDES.get(e.get("side"))
            if side is None:
                bad.append("bad_level")
            else:
                level = self._level(asset, e.get("price"), e.get("size"), bad)
                if level is not None:
                    per_asset[asset].append((side, *level))
            if "best_bid" in e or "best_ask" in e:
                tops[asset] = (
                    self._opt_price(e.get("best_bid")),
                    self._opt_price(e.get("best_ask")),
                )
        self.venue_top.update(tops)
        for asset, changes in per_asset.items():
            if changes:
                out.append(BookDelta(ts, asset, tuple(changes)))
            if asset in issues or asset in self.dirty:
                self._quality(asset, issues.get(asset, []), ts)


def test_fast_price_change_equals_the_entry_by_entry_specification() -> None:
    """A long random session of ``price_change`` messages (runs of one asset and interleaved
    assets, unknown and malformed assets, bad sides, off-grid and out-of-range prices, removals
    at off-grid prices, bad sizes, missing and bad best prices) with tick changes between them
    (``book`` and ``tick_size_change``): the same events, counters, issues, dirty set and venue
    tops as the specification, message by message."""
    import random

    rng = random.Random(18)
    fast_sink, spec_sink = Sink(), Sink()
    fast, spec = make(fast_sink), _EntryByEntry(sink=spec_sink)
    spec.register([inst(YES, comp=NO), inst(NO, comp=YES), inst(TICK_TOKEN, market="0xother")])
    assets = [YES, YES, YES, YES, NO, NO, NO, TICK_TOKEN, "999"]
    prices = [
        "0.4",
        "0.41",
        "0.405",
        "0.001",
        "0.99",
        "0",
        "1",
        "1.5",
        "abc",
        "",
        0.4,
        None,
        "0.4100",
    ]
    sizes = ["10", "10.5", "0", "120.25", "abc", "-3", "0.1234567", "", None, 7, "7.000001"]
    sides = ["BUY", "SELL", "buy", "sell", "X", None]
    tops = ["0.4", "0.41", "", "abc", None, "2"]
    for i in range(3000):
        r = rng.random()
        if r < 0.04:
            tok = rng.choice((YES, NO, TICK_TOKEN))
            msg: object = {
                "event_type": "book",
                "asset_id": tok,
                "market": MARKET,
                "tick_size": rng.choice(("0.01", "0.001", "0.005")),
                "bids": [{"price": "0.4", "size": "10"}],
                "asks": [{"price": "0.6", "size": "10"}],
            }
        elif r < 0.06:
            msg = {
                "event_type": "tick_size_change",
                "asset_id": rng.choice((YES, NO, TICK_TOKEN)),
                "market": MARKET,
                "old_tick_size": "0.01",
                "new_tick_size": rng.choice(("0.01", "0.001")),
            }
        else:
            run = rng.choice(assets)
            entries: list[object] = []
            for _ in range(rng.randrange(1, 9)):
                if rng.random() < 0.4:
                    run = rng.choice(assets) if rng.random() > 0.01 else rng.choice(("", None, 5))
                e: dict[str, object] = {
                    "price": rng.choice(prices),
                    "size": rng.choice(sizes),
                    "side": rng.choice(sides),
                }
                if run is not None or rng.random() < 0.5:
                    e["asset_id"] = run
                if rng.random() < 0.7:
                    e["best_bid"] = rng.choice(tops)
                if rng.random() < 0.6:
                    e["best_ask"] = rng.choice(tops)
                if rng.random() < 0.1:
                    del e["side"]
                entries.append(e)
            if rng.random() < 0.01:
                entries.append("not an entry")
            msg = {"event_type": "price_change", "market": MARKET, "price_changes": entries}
            if rng.random() < 0.1:
                msg["asset_id"] = rng.choice((YES, NO))
            if rng.random() < 0.05:
                msg["changes"] = msg.pop("price_changes")
        frame = json.dumps(msg)
        a, b = len(fast_sink.issues), len(spec_sink.issues)
        assert fast.translate_frame(frame, float(i)) == spec.translate_frame(frame, float(i)), msg
        assert fast_sink.issues[a:] == spec_sink.issues[b:], msg
        assert fast.venue_top == spec.venue_top and fast.dirty == spec.dirty, msg
    assert fast.counters == spec.counters
    assert fast_sink.clean == spec_sink.clean
    assert list(fast.venue_top.items()) == list(spec.venue_top.items())
    assert fast.dirty == spec.dirty and fast.ticks == spec.ticks
    c = fast.counters
    assert c["type:price_change"] > 2000 and c["malformed"] > 20 and c["unknown_asset"] > 300
    assert c["issue:off_grid"] > 100 and c["issue:bad_size"] > 300 and c["events"] > 1500
