"""Format-3 ``price_change`` columns (issue 18): the encoding is lossless for the translator, and
``Translator.translate_runs`` (fast path in C loops, or expansion) gives exactly what the general
path gives for the message, on random clean, dirty and malformed input."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from services.instruments import Instrument
from services.markets.polymarket.translate import Translator
from services.markets.recording_runs import expand_price_change_runs, price_change_runs
from services.markets.replay import ReplayFeed

YES = "55639997988870728804332826329981550462133227181325450514047940803040369884197"
NO = "65123598931044656046022316042305688301509551429363458541538023548733875100210"
OTHER = "7" * 77  # another market, its own tick
UNKNOWN = "9" * 77
MARKET = "0x4d4f7f3b2c9780175e3ff9918f2191616116c7655998523f8a6e768d3705797a"


class Sink:
    def __init__(self) -> None:
        self.log: list[tuple[str, str, str, float]] = []

    def note_data_issue(self, instrument_id: str, reason: str, ts: float) -> None:
        self.log.append(("issue", instrument_id, reason, ts))

    def note_clean_update(self, instrument_id: str, ts: float) -> None:
        self.log.append(("clean", instrument_id, "", ts))


class Counting(Translator):
    """Counts the messages that took the fast path."""

    fast = 0

    def _commit_runs(self, *args: Any) -> Any:  # type: ignore[override]
        self.fast += 1
        return super()._commit_runs(*args)


def _translator() -> tuple[Counting, Sink]:
    sink = Sink()
    tr = Counting(sink=sink)
    tr.register(
        [
            Instrument(YES, "polymarket", MARKET, "Yes", 10_000, 5_000_000, complement_id=NO),
            Instrument(NO, "polymarket", MARKET, "No", 10_000, 5_000_000, complement_id=YES),
            Instrument(OTHER, "polymarket", "0xother", "Yes", 1_000, 5_000_000),
        ]
    )
    return tr, sink


def _state(tr: Translator, sink: Sink) -> Any:
    return (
        dict(tr.counters),
        list(tr.venue_top.items()),
        dict(tr.dirty),
        dict(tr.ticks),
        list(sink.log),
    )


PRICES = ["0.4", "0.41", "0.42", "0.5", "0.59", "0.405", "0.001", "0", "1", "abc", "", "0.4100"]
SIZES = ["10", "10.5", "0", "120.25", "7.000001", "3", "abc", "-3", "0.1234567", ""]
TOPS = ["0.4", "0.41", "0.6", "", "abc", "2"]


def _entry(rng: random.Random, asset: str) -> dict[str, Any]:
    e: dict[str, Any] = {
        "asset_id": asset,
        "price": rng.choice(PRICES[:5]) if rng.random() < 0.85 else rng.choice(PRICES),
        "size": rng.choice(SIZES[:6]) if rng.random() < 0.9 else rng.choice(SIZES),
        "side": rng.choice(("BUY", "SELL")),
        "best_bid": rng.choice(TOPS[:3]) if rng.random() < 0.9 else rng.choice(TOPS),
        "best_ask": rng.choice(TOPS[:3]) if rng.random() < 0.9 else rng.choice(TOPS),
    }
    return e


def _message(rng: random.Random) -> dict[str, Any]:
    entries = []
    asset = rng.choice((YES, NO))
    bb, ba = rng.choice(TOPS[:3]), rng.choice(TOPS[:3])
    for _ in range(rng.randrange(1, 12)):
        r = rng.random()
        if r < 0.25:
            asset = rng.choice(
                (YES, NO, YES, NO, OTHER, UNKNOWN) if rng.random() < 0.1 else (YES, NO)
            )
        if rng.random() < 0.2:
            bb, ba = rng.choice(TOPS[:3]), rng.choice(TOPS[:3])
        e = _entry(rng, asset)
        e["best_bid"], e["best_ask"] = bb, ba
        entries.append(e)
    msg = {"event_type": "price_change", "market": MARKET, "price_changes": entries}
    if rng.random() < 0.7:
        msg["timestamp"] = str(rng.randrange(10**12, 10**13))
    return msg


def test_runs_are_lossless_and_refuse_other_shapes() -> None:
    rng = random.Random(3)
    for _ in range(500):
        msg = _message(rng)
        split = price_change_runs(msg, 0)
        assert split is not None
        head, cols = split
        assert json.loads(json.dumps(cols)) == cols  # plain JSON
        assert expand_price_change_runs(*json.loads(json.dumps(split))) == msg
        assert sum(cols[1]) == len(msg["price_changes"]) == len(cols[2])
    base = _message(random.Random(1))
    for change in (
        lambda m: m.__setitem__("asset_id", YES),
        lambda m: m.__setitem__("changes", []),
        lambda m: m.__setitem__("event_type", "book"),
        lambda m: m.__setitem__("price_changes", []),
        lambda m: m["price_changes"][0].__setitem__("side", "buy"),
        lambda m: m["price_changes"][0].__setitem__("price", 0.4),
        lambda m: m["price_changes"][0].__setitem__("size", None),
        lambda m: m["price_changes"][0].__setitem__("extra", "1"),
        lambda m: m["price_changes"][0].pop("best_ask"),
        lambda m: m["price_changes"].append("not an entry"),
    ):
        msg = copy.deepcopy(base)
        change(msg)
        assert price_change_runs(msg, 0) is None, msg
    assert price_change_runs([base], 0) is None
    one_level_runs = {
        "event_type": "price_change",
        "price_changes": [_entry(random.Random(2), YES), _entry(random.Random(2), NO)],
    }
    assert price_change_runs(one_level_runs) is None  # the recorder keeps short runs as entries
    assert price_change_runs(one_level_runs, 0) is not None
    assert price_change_runs(base) is None or len(base["price_changes"]) >= 2 * len(
        price_change_runs(base, 0)[1][0]  # type: ignore[index]
    )


def test_runs_translate_exactly_as_the_message_on_a_random_session() -> None:
    """3,000 random messages (runs of one asset and interleaved assets, unknown assets, another
    tick, invalid and off-grid prices, bad sizes, bad best prices) with ``book`` and
    ``tick_size_change`` messages between them, and a check of every message's events, data
    issues, counters, venue tops and dirty set."""
    rng = random.Random(18)
    runs_tr, runs_sink = _translator()
    msg_tr, msg_sink = _translator()
    for i in range(3000):
        ts = 1_795_000_000.0 + i
        r = rng.random()
        if r < 0.03:
            other: dict[str, Any] = {
                "event_type": "book",
                "asset_id": rng.choice((YES, NO, OTHER)),
                "market": MARKET,
                "tick_size": rng.choice(("0.01", "0.001")),
                "bids": [{"price": "0.4", "size": "10"}],
                "asks": [{"price": "0.6", "size": "10"}],
            }
        elif r < 0.05:
            other = {
                "event_type": "tick_size_change",
                "asset_id": rng.choice((YES, NO, OTHER)),
                "market": MARKET,
                "new_tick_size": rng.choice(("0.01", "0.001")),
            }
        else:
            msg = _message(rng)
            split = price_change_runs(msg, 0)
            assert split is not None
            head, cols = json.loads(json.dumps(split))  # as the replay reads it
            expected = msg_tr.translate_decoded(msg, ts)
            got = runs_tr.translate_runs(head, cols, ts)
            assert got == expected, msg
            assert _state(runs_tr, runs_sink) == _state(msg_tr, msg_sink), msg
            continue
        assert runs_tr.translate_decoded(other, ts) == msg_tr.translate_decoded(other, ts)
    assert _state(runs_tr, runs_sink) == _state(msg_tr, msg_sink)
    c = runs_tr.counters
    assert c["type:price_change"] > 2500 and c["unknown_asset"] > 20
    assert c["issue:off_grid"] > 50 and c["issue:bad_size"] > 50 and c["issue:bad_price"] > 50
    # both paths ran: clean messages took the fast one (no entry dicts built)
    assert 500 < runs_tr.fast < c["type:price_change"] - 500 and msg_tr.fast == 0


@pytest.mark.parametrize("seed", range(4))
def test_malformed_columns_are_refused_without_changes_or_translate_as_expanded(
    seed: int,
) -> None:
    """Random damage to stored columns (types, lengths, counts, side letters, values): either
    :func:`expand_price_change_runs` refuses them and ``translate_runs`` raises ``ValueError``
    having changed nothing, or both give what the expanded message gives."""
    rng = random.Random(seed)
    runs_tr, runs_sink = _translator()
    msg_tr, msg_sink = _translator()
    refused = accepted = 0
    junk: list[Any] = [None, 1, 1.5, True, "x", "", [], {}, ["B"], -1, 0, "BS", [1, 2], "0.4"]
    for i in range(1500):
        ts = float(i)
        msg = _message(rng)
        split = price_change_runs(msg, 0)
        assert split is not None
        head, cols = json.loads(json.dumps(split))
        for _ in range(rng.randrange(0, 3)):
            k = rng.randrange(8)
            if k == 7:
                head = rng.choice([None, [], {"event_type": "book"}, head, {}])
                continue
            col = cols[k]
            if type(col) is list and col and rng.random() < 0.6:
                col[rng.randrange(len(col))] = rng.choice(junk)
            elif type(col) is list and rng.random() < 0.5:
                col.append(rng.choice(junk)) if rng.random() < 0.5 else col.pop() if col else None
            else:
                cols[k] = rng.choice(junk)
        if rng.random() < 0.05:
            cols = rng.choice([cols[:6], [*cols, []], None, {}, "x"])
        before = _state(runs_tr, runs_sink)
        try:
            expanded = expand_price_change_runs(head, cols)
        except (ValueError, TypeError):
            with pytest.raises(ValueError):
                runs_tr.translate_runs(head, cols, ts)
            assert _state(runs_tr, runs_sink) == before
            refused += 1
            continue
        accepted += 1
        assert runs_tr.translate_runs(head, cols, ts) == msg_tr.translate_decoded(expanded, ts)
        assert _state(runs_tr, runs_sink) == _state(msg_tr, msg_sink)
    assert refused > 300 and accepted > 300 and runs_tr.fast > 50


def test_a_damaged_runs_record_is_counted_and_skipped_by_the_replay(tmp_path: Path) -> None:
    inst = {
        "instrument_id": YES,
        "venue": "polymarket",
        "market_id": MARKET,
        "outcome": "Yes",
        "tick": 10_000,
        "min_size": 5_000_000,
    }
    head = {"event_type": "price_change", "market": MARKET}
    good = [[YES], [1], "B", ["0.4"], ["10"], ["0.4"], ["0.6"]]
    lines = [
        {"k": "meta", "v": 3, "source": "polymarket", "part": 0, "t": 1.0},
        {"k": "instruments", "t": 1.0, "n": 0, "instruments": [inst]},
        {"k": "raw", "t": 2.0, "n": 1, "s": 0, "p": head, "r": good},
        {"k": "raw", "t": 3.0, "n": 2, "s": 0, "p": head, "r": [[YES], [2], "B", ["0.4"]]},
        {"k": "raw", "t": 4.0, "n": 3, "s": 0, "p": head},
        {"k": "raw", "t": 5.0, "n": 4, "s": 0, "p": head, "r": good},
    ]
    path = tmp_path / "rec.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    feed = ReplayFeed(path)
    batches = list(feed.iter_batches())
    assert [type(b[0]).__name__ for b in batches] == ["MarketListed", "BookDelta", "BookDelta"]
    assert feed.counters["bad_records"] == 2 and feed.counters["records"] == 5
    assert feed.translator.counters["type:price_change"] == 2


class _LevelByLevel(Counting):
    """The specification of a ``book`` message's levels: each checked on its own through the
    general level parser (the loop of ``Translator._levels`` without its whole-list fast path)."""

    def _levels(self, asset: str, raw: Any, issues: list[str]) -> Any:
        from services.markets.polymarket.translate import _MalformedError

        if raw is None:
            return ()
        if type(raw) is not list:
            raise _MalformedError("levels")
        out = []
        for lvl in raw:
            if type(lvl) is not dict:
                issues.append("bad_level")
                continue
            level = self._level(asset, lvl.get("price"), lvl.get("size"), issues)
            if level is not None:
                out.append(level)
        return tuple(out)


def test_book_levels_fast_path_equals_the_level_by_level_specification() -> None:
    """Random ``book`` messages (clean levels at known prices, new sizes, bad, off-grid and
    out-of-range prices, negative and bad sizes, levels that are not objects or lack a field,
    tick changes) between price changes that fill the price grids: the same events, issues and
    state as the specification."""
    rng = random.Random(7)
    sink_a, sink_b = Sink(), Sink()
    fast, spec = Counting(sink=sink_a), _LevelByLevel(sink=sink_b)
    for tr in (fast, spec):
        tr.register(_translator()[0].instruments.values())
    level_junk: list[Any] = [
        "x",
        None,
        {"price": "0.4"},
        {"size": "1"},
        {"price": [1], "size": "1"},
    ]
    for i in range(3000):
        ts = float(i)
        if rng.random() < 0.5:
            msg: Any = _message(rng)
        else:
            levels: list[Any] = []
            for _ in range(rng.randrange(0, 8)):
                if rng.random() < 0.03:
                    levels.append(rng.choice(level_junk))
                else:
                    levels.append(
                        {
                            "price": rng.choice(PRICES[:5])
                            if rng.random() < 0.9
                            else rng.choice(PRICES),
                            "size": rng.choice(SIZES[:6])
                            if rng.random() < 0.8
                            else (
                                str(rng.randrange(1, 10**6) / 100)
                                if rng.random() < 0.7
                                else rng.choice(SIZES)
                            ),
                        }
                    )
            msg = {
                "event_type": "book",
                "asset_id": rng.choice((YES, NO, OTHER)),
                "market": MARKET,
                "bids": levels,
                "asks": list(reversed(levels)),
            }
            if rng.random() < 0.1:
                msg["tick_size"] = rng.choice(("0.01", "0.001"))
        assert fast.translate_decoded(msg, ts) == spec.translate_decoded(msg, ts), msg
        assert _state(fast, sink_a) == _state(spec, sink_b), msg
    c = fast.counters
    assert c["type:book"] > 1200 and c["issue:bad_level"] > 20 and c["issue:off_grid"] > 50
