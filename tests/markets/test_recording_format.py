"""Recording format 2 (decoded frames without hashes, zstd) replays exactly like format 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.markets.polymarket.feed import apply_to_books
from services.markets.recorder import Recorder, RecorderConfig
from services.markets.replay import ReplayFeed, recording_lines
from services.orderbook import BookStore
from tests.markets import recorded_session

pytestmark = pytest.mark.timeout(30)


def _record(directory: Path, **kw: object) -> Path:
    rec = Recorder(RecorderConfig(record=True, directory=str(directory), **kw))  # type: ignore[arg-type]
    recorded_session.record(rec)
    (path,) = rec.files
    return path


def _replay(path: Path) -> tuple[ReplayFeed, list[list[object]], BookStore]:
    feed = ReplayFeed(path)
    batches = list(feed.iter_batches())
    books = BookStore()
    for b in batches:
        apply_to_books(books, b)  # type: ignore[arg-type]
    return feed, batches, books  # type: ignore[return-value]


def test_format_2_replays_the_same_events_books_and_counters_as_format_1(tmp_path: Path) -> None:
    old = _record(tmp_path / "v1", codec="gzip", compact=False)  # the writer of older files
    new = _record(tmp_path / "v2")  # the defaults: compact, zstd
    assert old.name.endswith(".jsonl.gz") and new.name.endswith(".jsonl.zst")
    f1, b1, books1 = _replay(old)
    f2, b2, books2 = _replay(new)
    assert len(b1) > 300
    assert b2 == b1  # every event, in order, with its time
    assert f2.translator.counters == f1.translator.counters
    assert f2.translator.venue_top == f1.translator.venue_top
    assert f2.counters == f1.counters
    assert f1.translator.counters["control"] > 0 and f1.translator.counters["malformed"] > 0
    for iid in (recorded_session.YES, recorded_session.NO):
        x, y = books1.find(iid), books2.find(iid)
        assert x is not None and y is not None
        assert (x.bids, x.asks, x.ts) == (y.bids, y.asks, y.ts)
    # what format 2 drops and keeps
    lines = [json.loads(x) for x in recording_lines(new)]
    assert lines[0]["k"] == "meta" and lines[0]["v"] == 2
    raw = [x for x in lines if x["k"] == "raw"]
    assert sum("hash" in json.dumps(x) for x in raw) == 0
    assert {k for x in raw for k in x if k in ("j", "m", "b64")} == {"j", "m", "b64"}
    verbatim = sorted({x["m"] for x in raw if "m" in x})
    assert verbatim == ["42", "PING", "PONG", "{not json"], verbatim[:1]
    assert new.stat().st_size < old.stat().st_size / 2


def test_a_format_1_file_from_before_format_2_replays_like_a_new_recording(
    tmp_path: Path,
) -> None:
    """``tests/resources/recordings/session-v1.jsonl.gz`` was written by the format-1 recorder
    (main at 8ab6e8f, before format 2) from :mod:`tests.markets.recorded_session`."""
    fixture = Path(__file__).resolve().parents[1] / "resources/recordings/session-v1.jsonl.gz"
    head = json.loads(next(iter(recording_lines(fixture))))
    assert head["v"] == 1
    f1, b1, _ = _replay(fixture)
    f2, b2, _ = _replay(_record(tmp_path))
    assert b2 == b1
    assert f2.translator.counters == f1.translator.counters


def test_recording_convert_rewrites_an_old_file_that_replays_the_same(tmp_path: Path) -> None:
    from services.markets.recording_cli import main

    fixture = Path(__file__).resolve().parents[1] / "resources/recordings/session-v1.jsonl.gz"
    assert main(["convert", str(fixture), str(tmp_path / "out")]) == 0
    (converted,) = (tmp_path / "out").iterdir()
    assert converted.name == "session-v1.jsonl.zst"
    f1, b1, _ = _replay(fixture)
    f2, b2, _ = _replay(converted)
    assert b2 == b1
    assert f2.translator.counters == f1.translator.counters
    assert json.loads(next(iter(recording_lines(converted))))["v"] == 2
    assert main(["convert", str(fixture), str(tmp_path / "out")]) == 2  # never overwrites
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "o2")]) == 2
