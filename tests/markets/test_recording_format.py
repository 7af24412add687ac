"""Recording formats 3 (price_change messages as runs of levels), 2 (decoded frames without
hashes, zstd) and 1 (frames as text, gzip) replay exactly alike."""

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


@pytest.fixture
def every_message_as_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's price_change messages have runs of one or two levels, which the recorder
    keeps as entries; here every one in the usual shape is written as runs."""
    monkeypatch.setattr("services.markets.recording_runs._MIN_RUN_LENGTH", 0)


def test_format_3_replays_the_same_events_books_and_counters_as_format_1(
    tmp_path: Path, every_message_as_runs: None
) -> None:
    old = _record(tmp_path / "v1", codec="gzip", compact=False)  # the writer of older files
    new = _record(tmp_path / "v3")  # the defaults: compact, zstd
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
    # what formats 2 and 3 drop and keep
    lines = [json.loads(x) for x in recording_lines(new)]
    assert lines[0]["k"] == "meta" and lines[0]["v"] == 3
    raw = [x for x in lines if x["k"] == "raw"]
    assert sum("hash" in json.dumps(x) for x in raw) == 0
    assert {k for x in raw for k in x if k in ("j", "m", "b64", "p")} == {"j", "m", "b64", "p"}
    assert sum("p" in x for x in raw) > 100 and all(("p" in x) == ("r" in x) for x in raw)
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


def test_a_format_2_file_from_before_format_3_replays_like_a_new_recording(
    tmp_path: Path,
) -> None:
    """``tests/resources/recordings/session-v2.jsonl.zst`` was written by the format-2 recorder
    (main at 7f3e7bc, before format 3) from :mod:`tests.markets.recorded_session`."""
    fixture = Path(__file__).resolve().parents[1] / "resources/recordings/session-v2.jsonl.zst"
    lines = [json.loads(x) for x in recording_lines(fixture)]
    assert lines[0]["v"] == 2 and not any("p" in x for x in lines)
    assert sum("price_changes" in json.dumps(x.get("j")) for x in lines) > 100
    f2, b2, books2 = _replay(fixture)
    f3, b3, books3 = _replay(_record(tmp_path))
    assert b3 == b2
    assert f3.translator.counters == f2.translator.counters
    assert f3.translator.venue_top == f2.translator.venue_top
    assert f3.counters == f2.counters
    for iid in (recorded_session.YES, recorded_session.NO):
        x, y = books2.find(iid), books3.find(iid)
        assert x is not None and y is not None
        assert (x.bids, x.asks, x.ts) == (y.bids, y.asks, y.ts)


def test_the_default_recorder_keeps_short_runs_as_entries(tmp_path: Path) -> None:
    lines = [json.loads(x) for x in recording_lines(_record(tmp_path))]
    raw = [x for x in lines if x["k"] == "raw"]
    runs = [x["r"] for x in raw if "p" in x]
    assert lines[0]["v"] == 3 and runs
    assert all(len(r[2]) >= 2 * len(r[0]) for r in runs)  # levels >= 2 x runs
    assert sum("price_changes" in json.dumps(x.get("j")) for x in raw) > 100


def test_recording_convert_rewrites_a_format_2_file_as_runs(
    tmp_path: Path, every_message_as_runs: None
) -> None:
    from services.markets.recording_cli import main

    fixture = Path(__file__).resolve().parents[1] / "resources/recordings/session-v2.jsonl.zst"
    assert main(["convert", str(fixture), str(tmp_path / "out")]) == 0
    (converted,) = (tmp_path / "out").iterdir()
    lines = [json.loads(x) for x in recording_lines(converted)]
    assert lines[0]["v"] == 3 and sum("p" in x for x in lines) > 100
    f2, b2, _ = _replay(fixture)
    f3, b3, _ = _replay(converted)
    assert b3 == b2
    assert f3.translator.counters == f2.translator.counters
    assert f3.translator.venue_top == f2.translator.venue_top


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
    assert json.loads(next(iter(recording_lines(converted))))["v"] == 3
    assert main(["convert", str(fixture), str(tmp_path / "out")]) == 2  # never overwrites
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "o2")]) == 2
