"""One data gate for live, replay and backtest, measuring depth where strategies trade (issue 11)."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
from pathlib import Path

import pytest

from services.clock import SimClock
from services.events import BookSnapshot
from services.execution.orders import TimeInForce
from services.feeds import DataGuard, DataGuardControl, make_feed
from services.instruments import Side
from services.markets.polymarket.config import ValidationConfig
from services.markets.polymarket.feed import apply_to_books
from services.markets.recorder import instrument_to_dict
from services.money import to_micro
from services.monitors.data_validation import DataValidator, StreamStatus
from services.orderbook import BookStore
from services.risk.chain import RiskView
from services.strategies.base import Intent
from tests.execution.pm_stream import TOKEN, Stream
from utils.config import AppConfig

ROOT = Path(__file__).resolve().parents[2]
L1 = ROOT.parent / "shared" / "data" / "polymarket_l1" / "quotes_2026-07-10.csv.gz"


class Healthy:
    """The live feed's connection status on a healthy socket that just received a message."""

    def __init__(self) -> None:
        self.last: float | None = None

    def is_healthy(self, instrument_id: str) -> bool:
        return True

    def last_message_ts(self, instrument_id: str) -> float | None:
        return self.last


def session() -> Stream:
    """A real-shaped session: the captured book, a normal update, a crossing, the venue's fix."""
    s = Stream()
    s.book(
        [(".38", "120"), (".39", "55.5"), (".40", "210.25")],
        [(".42", "150"), (".43", "64.1"), (".44", "80")],
    )
    s.change((Side.BUY, ".41", "30"))
    s.change((Side.SELL, ".40", "25"))  # crossed: the ask arrives before the bids it matched go
    s.change((Side.BUY, ".41", "5"), (Side.BUY, ".40", "210.25"), (Side.SELL, ".40", "0"))
    return s


def write_recording(path: Path, s: Stream) -> None:
    t0 = s.frames and json.loads(s.frames[0])["timestamp"]
    lines = [
        {"k": "meta", "v": 1, "source": "polymarket"},
        {
            "k": "instruments",
            "t": int(t0) / 1000 - 1,
            "n": 0,
            "instruments": [instrument_to_dict(s.inst)],
        },
    ]
    for n, frame in enumerate(s.frames, start=1):
        msg = json.loads(frame)
        lines.append({"k": "raw", "t": int(msg["timestamp"]) / 1000, "n": n, "s": 0, "m": frame})
    with gzip.open(path, "wt") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")


def replay_config(path: Path) -> AppConfig:
    return AppConfig.model_validate(
        {"market_data": {"source": "replay", "replay_paths": [str(path)], "speed": "max"}}
    )


async def replay_decisions(cfg: AppConfig) -> tuple[list[tuple[bool, str | None]], DataGuard]:
    books = BookStore()
    bundle = make_feed(cfg, 0.0, books, SimClock(0.0))
    assert bundle.validator is not None
    out = []
    async for batch in bundle.feed.batches():
        apply_to_books(books, batch)
        if books.find(TOKEN) is not None:
            out.append(bundle.validator.can_trade(TOKEN, batch[-1].ts))
    await bundle.feed.close()
    guard = DataGuard()
    guard.validator = bundle.validator  # as services/app.py wires it
    return out, guard


def live_decisions(s: Stream) -> list[tuple[bool, str | None]]:
    """The live feed's validator (connection healthy) on the same frames."""
    books = BookStore()
    status = Healthy()
    from services.markets.polymarket.translate import Translator

    tr = Translator()
    v = DataValidator(
        ValidationConfig(), books, status=status, ticks=tr.ticks, venue_top=tr.venue_top
    )
    tr.sink = v
    tr.register([s.inst])
    out = []
    for frame in s.frames:
        t = int(json.loads(frame)["timestamp"]) / 1000
        status.last = t
        apply_to_books(books, tr.translate_frame(frame, t))
        out.append(v.can_trade(TOKEN, t))
    return out


def test_replay_refuses_an_order_on_a_crossed_book_exactly_as_live_did(tmp_path: Path) -> None:
    s = session()
    path = tmp_path / "session.jsonl.gz"
    write_recording(path, s)
    replayed, guard = asyncio.run(replay_decisions(replay_config(path)))
    live = live_decisions(s)
    assert live == [(True, None), (True, None), (False, "crossed_book"), (True, None)]
    assert replayed == live
    # The risk-chain control built on the replay's validator refuses an order at the crossing.
    books = guard.validator.books  # type: ignore[union-attr]
    books.apply_snapshot(
        BookSnapshot(10.0, TOKEN, ((410_000, 10_000_000),), ((400_000, 10_000_000),))
    )
    intent = Intent("mm", TOKEN, Side.BUY, 10_000_000, 400_000, TimeInForce.GTC, False, "t")
    view = RiskView(10.0, s.inst, books.find(TOKEN), None, "maker", "active", 400_000)  # type: ignore[arg-type]
    rej = DataGuardControl(guard).check(intent, view)
    assert rej is not None and rej.value == "crossed_book" and rej.control == "data_guard"


def test_every_source_gets_a_validator_on_the_engine_books(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl.gz"
    write_recording(path, session())
    books = BookStore()
    for cfg in (replay_config(path), AppConfig.model_validate({"market_data": {"source": "sim"}})):
        bundle = make_feed(cfg, 0.0, books, SimClock(0.0))
        assert bundle.validator is not None and bundle.validator.books is books


def test_a_quiet_book_on_a_flowing_stream_is_not_stale() -> None:
    books = BookStore()
    books.apply_snapshot(
        BookSnapshot(100.0, "t", ((400_000, 100_000_000),), ((420_000, 100_000_000),))
    )
    stream = StreamStatus()
    v = DataValidator(ValidationConfig(freshness_threshold_s=5), books, status=stream)
    stream.note(130.0)  # other instruments kept the stream busy
    assert v.can_trade("t", 131.0) == (True, None)
    assert v.can_trade("t", 140.0) == (False, "stale_book")  # the stream itself went quiet


# ============================================================================ thin depth
def test_thin_depth_measures_the_touch_not_the_mid() -> None:
    s = Stream()
    books = BookStore()
    v = DataValidator(ValidationConfig(check_venue_top=False), books, ticks=s.translator.ticks)
    # A real-shaped wide book: 2,005 shares at the best bid, the ask 25 ticks away.
    apply_to_books(
        books, s.book([(".04", "300"), (".05", "2005")], [(".30", "150"), (".31", "80")])
    )
    assert v.can_trade(TOKEN, s.ms / 1000) == (True, None)
    # Thin where a strategy trades: 0.50 USDC within 5 ticks of the best bid, depth far away does not count.
    apply_to_books(books, s.book([(".10", "50000"), (".20", "2.5")], [(".40", "150")]))
    assert v.can_trade(TOKEN, s.ms / 1000) == (False, "thin_depth")


def test_a_thin_book_refuses_entries_but_lets_an_exit_through() -> None:
    """Thin is a liquidity state, not bad data: a reducing order's limit protects it, and
    refusing it trapped a position every 2 s for 1.6 h in a default run (issue 10)."""
    s = Stream()
    books = BookStore()
    guard = DataGuard()
    guard.validator = DataValidator(
        ValidationConfig(check_venue_top=False), books, ticks=s.translator.ticks
    )
    apply_to_books(books, s.book([(".10", "50000"), (".20", "2.5")], [(".40", "150")]))
    now = s.ms / 1000
    view = RiskView(now, s.inst, books.find(TOKEN), None, "directional", "active", 200_000)  # type: ignore[arg-type]
    entry = Intent("mr", TOKEN, Side.BUY, 10_000_000, 400_000, TimeInForce.FAK, False, "t")
    exit_ = Intent(
        "mr", TOKEN, Side.SELL, 10_000_000, 200_000, TimeInForce.FAK, False, "t", reduce_only=True
    )
    gate = DataGuardControl(guard)
    rej = gate.check(entry, view)
    assert rej is not None and rej.value == "thin_depth"
    assert gate.check(exit_, view) is None
    assert guard.entry_refusal(TOKEN, now) == "thin_depth"  # what StrategyContext.trusted asks
    # Data that cannot be trusted refuses the exit too: its prices are wrong, not just thin.
    apply_to_books(books, s.book([(".45", "500")], [(".40", "500")]))
    rej = gate.check(exit_, view)
    assert rej is not None and rej.value == "crossed_book"
    guard.validator = None
    guard.allows_new_positions, guard.status = False, "critical"
    assert guard.entry_refusal(TOKEN, now) == "data pipeline is critical"
    assert gate.check(exit_, view) is None


@pytest.mark.skipif(not L1.is_file(), reason="shared real data not present")
def test_real_top_of_book_quotes_with_deep_touches_are_never_thin() -> None:
    """Real Polymarket quotes (one day, 0.001-tick prices): 100,000 shares at each touch."""
    books = BookStore()
    v = DataValidator(ValidationConfig(check_venue_top=False), books, ticks={"t": 1_000})
    checked = blocked = 0
    with gzip.open(L1, "rt") as fh:
        for row in csv.DictReader(fh):
            if len(row["bid"].rpartition(".")[2]) < 3 and len(row["ask"].rpartition(".")[2]) < 3:
                continue
            bid, ask = to_micro(row["bid"]), to_micro(row["ask"])
            if not 0 < bid < ask < 1_000_000 or ask - bid <= 10_000:
                continue  # only spreads wider than 10 ticks: the mid window missed both touches
            books.apply_snapshot(
                BookSnapshot(0.0, "t", ((bid, 100_000 * 10**6),), ((ask, 100_000 * 10**6),))
            )
            checked += 1
            blocked += not v.can_trade("t", 0.0)[0]
            if checked >= 3000:
                break
    assert checked >= 1000
    assert blocked == 0
