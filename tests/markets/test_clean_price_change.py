"""The live feed's fast path for clean ``price_change`` messages (issue 18, fifth round):
``Translator._clean_price_change`` gives exactly what the ordinary path
(``translate_message`` -> ``_price_change``) gives, on random clean, dirty and malformed
messages, as frames (``translate_frame``) and decoded (``translate_decoded``, format 2)."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from services.instruments import Instrument
from services.markets.polymarket.translate import Translator
from tests.markets.test_price_change_runs import (
    MARKET,
    NO,
    OTHER,
    SIZES,
    TOPS,
    UNKNOWN,
    YES,
    Sink,
    _message,
)

NEW = "3" * 77  # registered between messages: its grid starts empty


class Fast(Translator):
    """Counts the messages the fast path translated."""

    fast = 0

    def _clean_price_change(self, msg: dict[str, Any], ts: float) -> Any:
        out = super()._clean_price_change(msg, ts)
        self.fast += out is not None
        return out


class Ordinary(Translator):
    """The ordinary path only: the fast path always declines."""

    def _clean_price_change(self, msg: dict[str, Any], ts: float) -> Any:
        return None


def _pair() -> tuple[Fast, Sink, Ordinary, Sink]:
    insts = [
        Instrument(YES, "polymarket", MARKET, "Yes", 10_000, 5_000_000, complement_id=NO),
        Instrument(NO, "polymarket", MARKET, "No", 10_000, 5_000_000, complement_id=YES),
        Instrument(OTHER, "polymarket", "0xother", "Yes", 1_000, 5_000_000),
    ]
    fs, os_ = Sink(), Sink()
    fast, ordinary = Fast(sink=fs), Ordinary(sink=os_)
    fast.register(insts)
    ordinary.register(insts)
    return fast, fs, ordinary, os_


def _state(tr: Translator, sink: Sink) -> Any:
    """Everything the two paths may change, caches included (same content, same order)."""
    return (
        dict(tr.counters),
        list(tr.venue_top.items()),
        list(tr.dirty.items()),
        dict(tr.ticks),
        list(sink.log),
        list(tr._sizes.items()),
        list(tr._px.items()),
        {k: list(v.items()) for k, v in tr._grids.items()},
    )


JUNK: list[Any] = [None, 1, 0.4, True, [], {}, ["x"], "", "abc", "0.4", "-1", "BUY", "buy"]


def _damage(rng: random.Random, msg: dict[str, Any]) -> None:
    """Make one message dirty or malformed in a random way (or leave it clean)."""
    r = rng.random()
    entries = msg["price_changes"]
    if r < 0.35 or not entries:
        return
    e = rng.choice(entries)
    if r < 0.55:
        e[rng.choice(["asset_id", "price", "size", "side", "best_bid", "best_ask"])] = rng.choice(
            JUNK
        )
    elif r < 0.65:
        e.pop(rng.choice(["asset_id", "price", "size", "side", "best_bid", "best_ask"]))
    elif r < 0.7:
        entries.insert(rng.randrange(len(entries) + 1), rng.choice(JUNK))
    elif r < 0.75:
        msg["asset_id"] = rng.choice([YES, NO, UNKNOWN, 5, None])
    elif r < 0.8:
        msg["price_changes"] = rng.choice(JUNK)
    elif r < 0.85:
        e["size"] = rng.choice([str(rng.randrange(1, 10**6) / 100), rng.choice(SIZES)])
    elif r < 0.9:
        e["asset_id"] = NEW
    elif r < 0.95:
        e["best_bid"] = rng.choice(TOPS + [None, 0.41, "0.410"])
    else:
        e["price"] = rng.choice(["0.4100", "0.43", "0.999", "0.0001", "1.5"])


def test_fast_path_translates_as_the_ordinary_path_on_a_random_session() -> None:
    """3,000 random ``price_change`` messages (one and several entries per asset, unknown and
    late-registered assets, a second tick, bad and new sizes and prices, missing fields,
    entries that are not objects, a top-level asset, junk best prices) between ``book``,
    ``tick_size_change`` and ``best_bid_ask`` messages, half as frames and half decoded: the
    same events after every message, and the same counters, venue tops, dirty set, ticks,
    quality transitions and parse caches."""
    rng = random.Random(5)
    fast, fs, ordinary, os_ = _pair()
    for i in range(3000):
        ts = 1_795_000_000.0 + i
        r = rng.random()
        msg: Any
        if r < 0.03:
            msg = {
                "event_type": "book",
                "asset_id": rng.choice((YES, NO, OTHER, NEW)),
                "market": MARKET,
                "tick_size": rng.choice(("0.01", "0.001")),
                "bids": [{"price": "0.4", "size": "10"}],
                "asks": [{"price": "0.6", "size": "10"}],
            }
        elif r < 0.05:
            msg = {
                "event_type": "tick_size_change",
                "asset_id": rng.choice((YES, NO, OTHER)),
                "market": MARKET,
                "new_tick_size": rng.choice(("0.01", "0.001")),
            }
        elif r < 0.06 and NEW not in fast.instruments:
            new = Instrument(NEW, "polymarket", "0xnew", "Yes", 10_000, 5_000_000)
            fast.register([new])
            ordinary.register([new])
            continue
        else:
            msg = _message(rng)
            for e in msg["price_changes"]:
                if rng.random() < 0.3:
                    e["hash"] = "ab" * 20  # the live shape carries a hash per entry
            _damage(rng, msg)
        if rng.random() < 0.5:
            frame = json.dumps(msg)
            got, expected = fast.translate_frame(frame, ts), ordinary.translate_frame(frame, ts)
        else:
            got = fast.translate_decoded(copy.deepcopy(msg), ts)
            expected = ordinary.translate_decoded(msg, ts)
        assert got == expected, msg
        assert _state(fast, fs) == _state(ordinary, os_), msg
    c = fast.counters
    assert c["type:price_change"] > 2000 and c["malformed"] > 100 and c["unknown_asset"] > 20
    assert c["issue:off_grid"] > 20 and c["issue:bad_size"] > 50 and c["issue:bad_price"] > 50
    assert fs.log and any(kind == "clean" for kind, *_ in fs.log)  # dirty assets cleaned
    # both paths ran: clean messages took the fast one
    assert 800 < fast.fast < c["type:price_change"] - 500


def test_a_clean_message_after_a_dirty_one_clears_the_data_issue() -> None:
    fast, fs, ordinary, os_ = _pair()
    dirty = {
        "event_type": "price_change",
        "market": MARKET,
        "price_changes": [
            {"asset_id": YES, "price": "0.405", "size": "10", "side": "BUY"},
            {"asset_id": YES, "price": "0.4", "size": "10", "side": "BUY"},
        ],
    }
    clean = {
        "event_type": "price_change",
        "market": MARKET,
        "price_changes": [
            {"asset_id": YES, "price": "0.4", "size": "12", "side": "SELL", "best_bid": "0.4"},
            {"asset_id": NO, "price": "0.6", "size": "12", "side": "BUY", "best_ask": "0.61"},
        ],
    }
    for tr in (fast, ordinary):
        tr.translate_frame(json.dumps(clean), 0.5)  # the grids learn 0.4 and 0.6 (general path)
        tr.translate_frame(json.dumps(dirty), 1.0)
        assert YES in tr.dirty
        events = tr.translate_frame(json.dumps(clean), 2.0)
        assert [(e.instrument_id, e.changes) for e in events] == [
            (YES, ((tr_side("SELL"), 400_000, 12_000_000),)),
            (NO, ((tr_side("BUY"), 600_000, 12_000_000),)),
        ]
        assert not tr.dirty and tr.venue_top == {YES: (400_000, None), NO: (None, 610_000)}
    assert fast.fast == 1
    assert fs.log == os_.log == [("issue", YES, "off_grid", 1.0), ("clean", YES, "", 2.0)]
    assert fast.counters == ordinary.counters


def tr_side(name: str) -> Any:
    from services.markets.polymarket.translate import _SIDES

    return _SIDES[name]
