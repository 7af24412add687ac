"""The live Betfair feed through betfairlightweight's stream client against a fake Stream API.

A TLS server on 127.0.0.1 (``fake_stream.py``) speaks the Exchange Stream API protocol and
streams the shared recording; the feed must give the engine exactly the events the replay of
the same file gives, survive a dropped connection by resubscribing with the last ``clk``, record
a stream file that ``betfair_replay`` plays back identically, and stop on a refused login.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.events import MarketEvent
from services.markets.betfair.files import iter_lines
from services.markets.betfair.live import BetfairStreamError, BetfairStreamFeed
from services.markets.betfair.replay import BetfairReplayFeed
from utils.betfair_config import BetfairConfig

betfairlightweight = pytest.importorskip("betfairlightweight")
pytest.importorskip("cryptography")
from tests.markets.betfair.fake_stream import FakeStream  # noqa: E402


def _client(session: str = "tok") -> object:
    client = betfairlightweight.APIClient("user", "pass", app_key="key", certs="/nonexistent")
    client.set_session_token(session)
    return client


async def _collect(feed: BetfairStreamFeed, want: int) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    try:
        async with asyncio.timeout(30):
            async for batch in feed.batches():
                out.extend(batch)
                if feed.counters["mcm"] >= want:
                    break
    finally:
        await feed.close()
    return out


def _replayed(recording: Path) -> list[MarketEvent]:
    return [ev for b in BetfairReplayFeed(recording).event_batches() for ev in b]


def _strip_names(events: list[MarketEvent]) -> list[MarketEvent]:
    # The replay reads runner names from the catalogue beside the file; the stream has none.
    from dataclasses import replace

    from services.events import MarketListed

    return [
        replace(ev, instruments=tuple(replace(i, outcome="", question="") for i in ev.instruments))
        if isinstance(ev, MarketListed)
        else ev
        for ev in events
    ]


def test_live_feed_equals_the_replay_and_resumes_after_a_drop(
    recording: Path, tmp_path: Path
) -> None:
    lines = [x.decode() for x in iter_lines(recording)]
    server = FakeStream(lines, tmp_path)
    server.drop_after = 60  # the connection drops after 60 messages
    cfg = BetfairConfig.model_validate(
        {"stream": {"host": f"127.0.0.1:{server.port}", "event_type_ids": ["4339"]}}
    )
    rec = tmp_path / "rec"
    feed = BetfairStreamFeed(cfg, record_dir=rec, client=_client())
    try:
        events = asyncio.run(_collect(feed, len(lines)))
    finally:
        server.close()
    assert feed.counters["reconnects"] == 1
    first, second = server.subscriptions
    assert first["marketFilter"]["eventTypeIds"] == ["4339"]
    assert first["marketDataFilter"]["fields"][0] == "EX_ALL_OFFERS"
    assert (second["initialClk"], second["clk"]) == ("init-1", "60")
    assert _strip_names(events) == _strip_names(_replayed(recording))
    (recorded,) = sorted(rec.iterdir())
    assert _replayed(recorded) == events  # the recording is a stream file the replay plays


def test_a_refused_login_stops_the_feed(recording: Path, tmp_path: Path) -> None:
    server = FakeStream([next(iter_lines(recording)).decode()], tmp_path)
    cfg = BetfairConfig.model_validate({"stream": {"host": f"127.0.0.1:{server.port}"}})
    feed = BetfairStreamFeed(cfg, client=_client(session="expired"))
    try:
        with pytest.raises(BetfairStreamError, match="INVALID_SESSION_INFORMATION"):
            asyncio.run(_collect(feed, 1))
    finally:
        server.close()
