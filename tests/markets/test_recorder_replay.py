"""Recording a live session and replaying it rebuilds exactly the same events and books."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.events import (
    BookDelta,
    BookSnapshot,
    MarketEvent,
    MarketListed,
    MarketResolved,
    MarketStatus,
    TickSizeChange,
    TradePrint,
)
from services.instruments import FeeSchedule, Instrument, Side
from services.markets.polymarket.config import DiscoveryConfig, PolymarketConfig, ValidationConfig
from services.markets.polymarket.feed import PolymarketFeed, apply_to_books
from services.markets.recorder import (
    Recorder,
    RecorderConfig,
    RecordingFeed,
    event_from_dict,
    event_to_dict,
)
from services.markets.replay import ReplayFeed
from services.orderbook import BookStore
from tests.markets.fake_polymarket import FakePolymarket, FeedPump

pytestmark = pytest.mark.timeout(30)

INST = Instrument(
    "tok-1",
    "sim",
    "m-1",
    "Yes",
    10_000,
    5_000_000,
    FeeSchedule(Decimal("0.04"), 1),
    1_800_000_000.0,
    "tok-2",
    "ev-1",
    "Q?",
    "c",
)


def test_event_codec_round_trip() -> None:
    events: list[MarketEvent] = [
        MarketListed(1.5, (INST,)),
        BookSnapshot(2.0, "tok-1", ((400_000, 10_000_000),), ((420_000, 5_000_000),)),
        BookDelta(2.5, "tok-1", ((Side.BUY, 410_000, 1_000_000), (Side.SELL, 420_000, 0))),
        TradePrint(3.0, "tok-1", 420_000, 2_000_000, Side.BUY),
        TradePrint(3.1, "tok-1", 420_000, 2_000_000, None),
        TickSizeChange(4.0, "tok-1", 1_000),
        MarketStatus(5.0, "m-1", "closed"),
        MarketResolved(6.0, "m-1", (("tok-1", 1_000_000), ("tok-2", 0))),
    ]
    for ev in events:
        assert event_from_dict(json.loads(json.dumps(event_to_dict(ev)))) == ev


def _books_equal(a: BookStore, b: BookStore, ids: list[str]) -> None:
    for iid in ids:
        x, y = a.find(iid), b.find(iid)
        assert x is not None and y is not None, iid
        assert (x.bids, x.asks, x.ts) == (y.bids, y.asks, y.ts), iid


@pytest.mark.asyncio
async def test_record_live_session_then_replay_identical_books(tmp_path: Path) -> None:
    fake = FakePolymarket(seed=5)
    await fake.start()
    recorder = Recorder(
        RecorderConfig(record=True, directory=str(tmp_path), rotate_mb=0.002), source="polymarket"
    )
    cfg = PolymarketConfig(
        gamma_url=fake.gamma_url,
        clob_url=fake.clob_url,
        ws_url=fake.ws_url,
        max_tokens_per_connection=5,
        ping_interval_s=0.1,
        silence_timeout_s=0.5,
        reconnect_backoff_min_s=0.02,
        reconnect_backoff_max_s=0.05,
        seed=2,
        discovery=DiscoveryConfig(refresh_interval_s=0.1),
    )
    feed = PolymarketFeed(
        cfg, validation=ValidationConfig(cross_checks_per_round=0), recorder=recorder
    )
    pump = FeedPump(feed)
    try:
        await pump.until(lambda: len(feed.watched()) == 12 and len(feed.books) == 12)
        fake.duplicate_deltas = True
        await fake.step(150)
        fake.array_mode = True
        await fake.drop_connections()  # three shards reconnect and re-snapshot
        await pump.until(lambda: sum(s.reconnects for s in feed.shards.shards) == 3)
        await pump.until(lambda: all(feed.is_healthy(t) for t in feed.watched()))
        await fake.step(150)
        await fake.send_malformed()
        await fake.change_tick(fake.tokens()[2], 1_000)
        await fake.resolve(fake.markets[0]["conditionId"], 0)
        await fake.resolve(fake.markets[1]["conditionId"], 1, via_ws=False)
        await pump.until(lambda: sum(isinstance(e, MarketResolved) for e in pump.events) == 2)
        await fake.step(50)
        await asyncio.sleep(0.1)
    finally:
        await pump.stop()
        await fake.stop()
    await recorder.aclose()
    live_events = pump.events
    assert len(recorder.files) > 2  # rotated by size
    listings = sum(isinstance(e, MarketListed) for e in live_events)
    assert listings == 1
    # every frame, the listing and the resolution noticed through Gamma
    assert recorder.records == feed.translator.counters["frames"] + listings + 1

    replay = ReplayFeed(tmp_path)
    replayed: list[MarketEvent] = []
    async for batch in replay.batches():
        replayed.extend(batch)
    assert replayed == live_events
    books = BookStore()
    apply_to_books(books, replayed)
    _books_equal(books, feed.books, list(feed.translator.instruments))
    assert replay.translator.counters == feed.translator.counters
    assert replay.counters["bad_records"] == 0


class ListFeed:
    """A minimal in-memory feed standing in for the simulator."""

    name = "sim"

    def __init__(self, batches: list[list[MarketEvent]]) -> None:
        self._batches = batches

    async def batches(self) -> AsyncIterator[list[MarketEvent]]:
        for b in self._batches:
            yield b

    async def close(self) -> None:
        return None

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        return None


def _sim_batches(n: int, t0: float = 1_000.0) -> list[list[MarketEvent]]:
    out: list[list[MarketEvent]] = [
        [
            MarketListed(t0, (INST,)),
            BookSnapshot(t0, "tok-1", ((400_000, 9_000_000),), ((430_000, 9_000_000),)),
        ]
    ]
    for k in range(1, n):
        out.append(
            [
                BookDelta(t0 + k, "tok-1", ((Side.BUY, 400_000 + (k % 3) * 10_000, k * 10_000),)),
                TradePrint(t0 + k, "tok-1", 430_000, 10_000, Side.BUY),
            ]
        )
    out.append([MarketResolved(t0 + n, "m-1", (("tok-1", 1_000_000), ("tok-2", 0)))])
    return out


@pytest.mark.asyncio
async def test_simulator_output_records_and_replays(tmp_path: Path) -> None:
    batches = _sim_batches(200)
    recorder = Recorder(RecorderConfig(record=True, directory=str(tmp_path)), source="sim")
    wrapped = RecordingFeed(ListFeed(batches), recorder)
    seen = [b async for b in wrapped.batches()]
    recorder.close()
    assert seen == batches and wrapped.name == "sim"
    replayed = list(ReplayFeed(tmp_path).iter_batches())
    assert replayed == batches
    assert ReplayFeed(tmp_path).instruments() == [INST]


@pytest.mark.asyncio
async def test_replay_paces_by_speed(tmp_path: Path) -> None:
    recorder = Recorder(RecorderConfig(record=True, directory=str(tmp_path)), source="sim")
    for b in _sim_batches(5):
        recorder.record_events(b)
    recorder.close()
    t0 = time.monotonic()
    n = [b async for b in ReplayFeed(tmp_path, speed=25.0).batches()]
    elapsed = time.monotonic() - t0
    assert len(n) == 6
    assert 0.18 <= elapsed < 1.0  # 5 s of market time at 25x


def test_day_rotation_and_merge_across_files(tmp_path: Path) -> None:
    recorder = Recorder(RecorderConfig(record=True, directory=str(tmp_path)), source="sim")
    midnight = 1_795_305_600.0  # 2026-11-22 00:00:00 UTC
    batches = _sim_batches(6, t0=midnight - 3)
    for b in batches:
        recorder.record_events(b)
    recorder.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2
    assert names[0].startswith("sim-20261121-235957") and names[1].startswith("sim-20261122-")
    assert list(ReplayFeed(sorted(tmp_path.iterdir(), reverse=True)).iter_batches()) == batches
    # the second day's file alone lists its instruments first (repeated metadata)
    day2 = list(ReplayFeed(tmp_path / names[1]).iter_batches())
    assert day2[0] == [MarketListed(midnight, (INST,))]
    assert day2[1:] == batches[3:]


def test_disabled_recorder_writes_nothing(tmp_path: Path) -> None:
    recorder = Recorder(RecorderConfig(record=False, directory=str(tmp_path / "rec")))
    recorder.record_raw(1.0, 0, "{}")
    recorder.record_events(_sim_batches(2)[0])
    recorder.close()
    assert not (tmp_path / "rec").exists() and recorder.records == 0


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_truncated_and_corrupt_files_replay_what_they_hold(tmp_path: Path, codec: str) -> None:
    recorder = Recorder(
        RecorderConfig(record=True, directory=str(tmp_path), codec=codec),  # type: ignore[arg-type]
        source="sim",
    )
    batches = _sim_batches(400 if codec == "gzip" else 2_000)  # zstd: several blocks
    for b in batches:
        recorder.record_events(b)
    recorder.close()
    (path,) = list(tmp_path.iterdir())
    data = path.read_bytes()
    # a crash mid-write (zstd decodes whole blocks of up to 128 KB: cut into the last one)
    path.write_bytes(data[: len(data) // 2 if codec == "gzip" else len(data) - 50])
    with gzip.open(tmp_path / "extra.jsonl.gz", "wt") as fh:
        fh.write('{"k": "normalized", "t": 5000, "n": 0, "events": [{"type": "nope"}]}\n')
        fh.write("not json\n")
    replay = ReplayFeed(tmp_path)
    got = list(replay.iter_batches())
    assert 0 < len(got) < len(batches)
    assert got == batches[: len(got)]
    assert replay.counters["truncated_files"] == 1
    assert replay.counters["bad_records"] == 2


def test_raw_records_keep_frames_verbatim(tmp_path: Path) -> None:
    """Format 1 (``compact: false, codec: gzip``): the writer of older recordings."""
    recorder = Recorder(
        RecorderConfig(record=True, directory=str(tmp_path), codec="gzip", compact=False)
    )
    recorder.record_instruments(10.0, [INST])
    recorder.record_raw(11.0, 3, '{"event_type": "book", "asset_id": "tok-1", "bids": []}')
    recorder.record_raw(12.0, 3, b"\xff\x00 binary")
    recorder.close()
    (path,) = list(tmp_path.iterdir())
    with gzip.open(path, "rt") as fh:
        lines: list[dict[str, Any]] = [json.loads(x) for x in fh]
    assert [x["k"] for x in lines] == ["meta", "instruments", "raw", "raw"]
    assert lines[2] == {
        "k": "raw",
        "t": 11.0,
        "n": 1,
        "s": 3,
        "m": '{"event_type": "book", "asset_id": "tok-1", "bids": []}',
    }
    replay = ReplayFeed(path)
    out = list(replay.iter_batches())
    assert out[0] == [MarketListed(10.0, (INST,))]
    assert out[1] == [BookSnapshot(11.0, "tok-1", (), ())]
    assert replay.translator.counters["malformed"] == 1


# ============================================================================ issue 11
BETFAIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "betfair" / "1.197931750"


@pytest.mark.skipif(not BETFAIR.is_file(), reason="shared real data not present")
def test_replay_refuses_a_file_it_cannot_read() -> None:
    from services.markets.replay import ReplayFileError

    with pytest.raises(ReplayFileError, match="Betfair Exchange stream file"):
        ReplayFeed([BETFAIR])


def test_replay_refuses_missing_files_empty_dirs_and_foreign_json(tmp_path: Path) -> None:
    from services.markets.replay import ReplayFileError

    with pytest.raises(ReplayFileError, match="no such file"):
        ReplayFeed([tmp_path / "nope.jsonl.gz"])
    with pytest.raises(ReplayFileError, match="no recording files"):
        ReplayFeed([tmp_path])
    raw = tmp_path / "frames.jsonl"
    raw.write_text('{"event_type": "book", "asset_id": "1"}\n')
    with pytest.raises(ReplayFileError, match="raw Polymarket WebSocket messages"):
        ReplayFeed([raw])
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"not gzip at all")  # recognised by content, not by its name
    with pytest.raises(ReplayFileError, match="its first line is not a JSON record"):
        ReplayFeed([bad])
    bad.write_bytes(b"\x1f\x8b\x08\x00 corrupt gzip")
    with pytest.raises(ReplayFileError, match="not a readable compressed file"):
        ReplayFeed([bad])
