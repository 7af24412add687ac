"""Our lean stream parser's books equal betfairlightweight's ladders at every message.

betfairlightweight (the reference Python client of Betfair's Exchange Stream API) is fed the
same lines through its ``StreamListener`` (as its ``create_historical_generator_stream`` does,
``listener.on_data`` then ``listener.snap``); after every message each runner's available to
back / lay ladders and traded ladder must equal ours, level for level, to the micro-unit.
"""

from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import pytest

from services.events import BookDelta, BookSnapshot, MarketListed, MarketResolved, TradePrint
from services.instruments import Side
from services.markets.betfair.files import StreamFileError, iter_lines, stream_files
from services.markets.betfair.replay import BetfairReplayFeed
from services.markets.betfair.translate import BetfairTranslator
from services.money import MICRO
from services.orderbook import BookStore

betfairlightweight = pytest.importorskip("betfairlightweight")
from betfairlightweight.streaming import StreamListener  # noqa: E402


def micro(x: float) -> int:
    return int(round(x * MICRO))


def test_books_equal_betfairlightweight_at_every_message(recording: Path) -> None:
    import orjson

    listener = StreamListener(max_latency=None, lightweight=True)
    listener.register_stream(0, "marketSubscription")
    tr = BetfairTranslator()
    books = BookStore()
    compared = 0
    for line in iter_lines(recording):
        assert listener.on_data(line.decode()) is not False
        for ev in tr.translate(orjson.loads(line)):
            if isinstance(ev, BookSnapshot):
                books.apply_snapshot(ev)
            elif isinstance(ev, BookDelta):
                book = books.get(ev.instrument_id)
                for side, price, size in ev.changes:
                    book.set_level(side, price, size)
        (mb,) = listener.snap()
        market = tr.markets[mb["marketId"]]
        for runner in mb["runners"]:
            iid = f"{mb['marketId']}:{runner['selectionId']}"
            book = books.get(iid)
            ex = runner["ex"]
            theirs_back = [(micro(x["price"]), micro(x["size"])) for x in ex["availableToBack"]]
            theirs_lay = [(micro(x["price"]), micro(x["size"])) for x in ex["availableToLay"]]
            assert list(book.levels(Side.BUY)) == theirs_back, iid
            assert list(book.levels(Side.SELL)) == theirs_lay, iid
            theirs_traded = {micro(x["price"]): micro(x["size"]) for x in ex["tradedVolume"]}
            ours_traded = {p: s for p, s in market.traded.get(iid, {}).items() if s}
            assert ours_traded == theirs_traded, iid
            assert market.total_matched.get(iid, 0) == micro(runner["totalMatched"] or 0)
            compared += 1
        assert market.status == mb["status"]
        assert market.in_play == mb["inplay"]
        assert market.bet_delay_s == mb["betDelay"]
    assert compared == 166 * 6


def test_the_documented_historical_generator_gives_the_same_final_book(recording: Path) -> None:
    """The path the Betfair reference documents (create_historical_generator_stream)."""
    trading = betfairlightweight.APIClient("user", "pass", app_key="key", certs="/nonexistent")
    listener = StreamListener(max_latency=None)
    stream = trading.streaming.create_historical_generator_stream(
        file_path=str(recording), listener=listener
    )
    last = None
    for market_books in stream.get_generator()():
        last = market_books[0]
    assert last is not None and last.status == "CLOSED"
    feed = BetfairReplayFeed(recording)
    events = [ev for batch in feed.event_batches() for ev in batch]
    (resolved,) = [ev for ev in events if isinstance(ev, MarketResolved)]
    winners = {f"{last.market_id}:{r.selection_id}" for r in last.runners if r.status == "WINNER"}
    assert {iid for iid, pay in resolved.payouts if pay == MICRO} == winners
    assert len(resolved.payouts) == len(last.runners) == 6


@pytest.mark.parametrize("compress", ["plain", "gz", "bz2"])
def test_plain_gzip_and_bzip2_files_give_the_same_events(
    recording: Path, tmp_path: Path, compress: str
) -> None:
    target = tmp_path / f"1.197931750{'' if compress == 'plain' else '.' + compress}"
    if compress == "plain":
        shutil.copy(recording, target)
    else:
        opener = gzip.open if compress == "gz" else bz2.open
        with opener(target, "wb") as out:
            out.write(recording.read_bytes())
    shutil.copy(
        recording.with_name("1.197931750.catalogue.json"),
        tmp_path / "1.197931750.catalogue.json",
    )
    reference = [ev for b in BetfairReplayFeed(recording).event_batches() for ev in b]
    got = [ev for b in BetfairReplayFeed(tmp_path).event_batches() for ev in b]
    assert got == reference
    listed = [ev for ev in got if isinstance(ev, MarketListed)]
    assert {i.outcome for i in listed[0].instruments} >= {"2. Sandwood Jet", "1. Paradise Mission"}
    assert sum(isinstance(ev, TradePrint) for ev in got) > 0


def test_a_file_that_is_not_a_stream_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "rec.jsonl"
    bad.write_text('{"k": "meta", "v": 1}\n')
    with pytest.raises(StreamFileError, match="not a Betfair stream file.*source: replay"):
        stream_files(bad)
    with pytest.raises(StreamFileError, match="no such file"):
        stream_files(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StreamFileError, match="no Betfair stream files"):
        stream_files(empty)
