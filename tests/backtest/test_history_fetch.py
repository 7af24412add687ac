"""``history fetch`` against the fake Polymarket: incremental, and every failure mode (429,
5xx, truncated answers, a crash mid-way) loses nothing already stored."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.backtest.l1 import parse_ts
from services.markets.history_store import HistoryStore
from services.markets.polymarket.history import HistoryFetcher
from services.markets.polymarket.rest import RestClient, RestError
from tests.conftest import ROOT
from tests.markets.fake_polymarket import FakePolymarket
from utils.backtest_config import HistoryConfig
from utils.polymarket_config import PolymarketConfig

RESOLVED = "500007"  # closed, outcomePrices ["1", "0"], ended 2026-11-04
NOW = parse_ts("2026-11-06 00:00:00")
START, END = parse_ts("2026-11-01"), parse_ts("2026-11-04")
HCFG = HistoryConfig(fidelity_min=60, trades_page=50)


class NoSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakePolymarket]:
    f = FakePolymarket()
    f.clock = lambda: NOW
    await f.start()
    yield f
    await f.stop()


def _fetcher(fake: FakePolymarket, root: Path) -> tuple[HistoryFetcher, RestClient, NoSleep]:
    venue = PolymarketConfig(
        gamma_url=fake.gamma_url, clob_url=fake.clob_url, max_retries=2, retry_backoff_base_s=0.01
    )
    sleep = NoSleep()
    rest = RestClient(venue, sleep=sleep)
    cfg = HCFG.model_copy(update={"data_api_url": fake.clob_url})
    return HistoryFetcher(rest, venue, cfg, HistoryStore(root), now=lambda: NOW), rest, sleep


def digest(root: Path) -> dict[str, str]:
    """Return the content hash of every Parquet file under ``root`` (rows, not bytes)."""
    store = HistoryStore(root)
    out = {}
    for m in store.markets():
        for d in store.price_days(m):
            out[f"{m}/prices/{d}"] = hashlib.sha256(
                repr(store.read_prices(m, d)).encode()
            ).hexdigest()
        for d in store.trade_days(m):
            out[f"{m}/trades/{d}"] = hashlib.sha256(
                repr(store.read_trades(m, d)).encode()
            ).hexdigest()
    return out


async def _fetch(fake: FakePolymarket, root: Path, start: float = START, end: float = END):
    fetcher, rest, sleep = _fetcher(fake, root)
    try:
        raws = await fetcher.list_markets([RESOLVED], closed=None, limit=1)
        return await fetcher.fetch_market(raws[0], start, end), rest, sleep
    finally:
        await rest.close()


@pytest_asyncio.fixture
async def clean(fake: FakePolymarket, tmp_path: Path) -> dict[str, str]:
    rep, _, _ = await _fetch(fake, tmp_path / "clean")
    assert (rep.price_days_fetched, rep.points, rep.trades_added) == (3, 3 * 24 * 2, 3 * 24)
    return digest(tmp_path / "clean")


async def test_fetch_stores_days_trades_and_resolution_then_only_what_is_missing(
    fake: FakePolymarket, tmp_path: Path, clean: dict[str, str]
) -> None:
    root = tmp_path / "h"
    await _fetch(fake, root)
    store = HistoryStore(root)
    (mid,) = store.markets()
    meta = store.meta(mid)
    assert meta is not None
    assert meta["payouts"][0][1] == 1_000_000 and meta["payouts"][1][1] == 0
    assert meta["prices_complete"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert digest(root) == clean
    # YES and NO mirror each other, at the fake's documented path.
    pts = store.read_prices(mid, "2026-11-02")
    yes, no = meta["token_ids"]
    by = {(tok, t): p for tok, t, p in pts}
    assert all(by[(yes, t)] + by[(no, t)] == 1_000_000 for (tok, t) in by if tok == yes)
    asked = len([r for r in fake.request_log if r[0] == "/prices-history"])
    rep, _, _ = await _fetch(fake, root, START, END + 86_400)  # one more day than stored
    assert (rep.price_days_fetched, rep.price_days_skipped) == (0, 3)  # the market ended 11-04
    assert len([r for r in fake.request_log if r[0] == "/prices-history"]) == asked
    assert rep.trades_added == 0
    assert digest(root) == clean


async def test_429_with_retry_after_is_waited_and_nothing_differs(
    fake: FakePolymarket, tmp_path: Path, clean: dict[str, str]
) -> None:
    fake.fail_next("/prices-history", 429, retry_after="1")
    fake.fail_next("/trades", 429)
    _, rest, sleep = await _fetch(fake, tmp_path / "h")
    assert rest.counters["status_429"] == 2
    assert 1.0 in sleep.waits
    assert digest(tmp_path / "h") == clean


async def test_truncated_answers_are_retried(
    fake: FakePolymarket, tmp_path: Path, clean: dict[str, str]
) -> None:
    fake.truncate_next("/prices-history", 2)
    fake.truncate_next("/trades", 1)
    _, rest, _ = await _fetch(fake, tmp_path / "h")
    assert rest.counters["transport_errors"] == 3
    assert digest(tmp_path / "h") == clean


async def test_5xx_beyond_the_retries_keeps_what_was_stored_and_a_rerun_completes(
    fake: FakePolymarket, tmp_path: Path, clean: dict[str, str]
) -> None:
    root = tmp_path / "h"
    await _fetch(fake, root, START, START + 86_400)  # day one only
    first = digest(root)
    day1 = next(root.rglob("prices/2026-11-01.parquet"))
    stamp = day1.stat().st_mtime_ns
    fake.fail_next("/prices-history", 500, 502, 503)  # one request, three attempts
    with pytest.raises(RestError):
        await _fetch(fake, root)
    assert day1.stat().st_mtime_ns == stamp
    assert {k: v for k, v in digest(root).items() if k in first} == first
    await _fetch(fake, root)
    assert digest(root) == clean


def _serve_in_thread(fake: FakePolymarket) -> Iterator[None]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        ready.set()
        loop.run_forever()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    ready.wait(10)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)


def test_a_crash_mid_way_loses_nothing_and_the_rerun_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.backtest.history_cli import main as history_main

    fake = FakePolymarket()
    gen = _serve_in_thread(fake)
    next(gen)
    try:
        common = ["--config", str(ROOT / "config.example.yaml"), "--db", str(tmp_path / "h.db")]
        fetch = ["fetch", "--market", RESOLVED, "--start", "2026-10-27", "--end", "2026-11-04",
                 "--gamma-url", fake.gamma_url, "--clob-url", fake.clob_url, "--data-url",
                 fake.clob_url, "--quiet"]  # fmt: skip
        ref = tmp_path / "ref"
        assert history_main([*common, "--dir", str(ref), *fetch]) == 0  # in process: reference

        def cmd(root: Path) -> list[str]:
            return [sys.executable, str(ROOT / "bot.py"), "history", *common, "--dir", str(root),
                    *fetch]  # fmt: skip

        root = tmp_path / "crash"
        fake.request_delay_s = 0.1  # slow answers only while the run to be killed fetches
        p = subprocess.Popen(cmd(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(list(root.rglob("prices/*.parquet"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        fake.request_delay_s = 0.0
        partial = digest(root)
        assert 3 <= len([k for k in partial if "/prices/" in k]) < 8
        full = digest(ref)
        assert all(full[k] == v for k, v in partial.items() if "/prices/" in k)
        again = subprocess.run(cmd(root), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr[-2000:]
        assert digest(root) == full
        capsys.readouterr()
        assert history_main([*common, "--dir", str(root), "list"]) == 0
        listed = capsys.readouterr().out
        assert "governor-race-2026-candidate-a" in listed and "(1 markets)" in listed
    finally:
        with pytest.raises(StopIteration):
            next(gen)


async def test_backtest_on_fetched_history_fills_on_prints_at_its_limit_and_settles(
    fake: FakePolymarket, tmp_path: Path
) -> None:
    from services.backtest.run import parse_source, run_backtest
    from services.strategies.loader import build_strategies
    from utils.config import parse_config

    root = tmp_path / "h"
    await _fetch(fake, root)
    cfg_file = str(ROOT / "config.example.yaml")
    cfg = parse_config(
        {
            "dashboard": {"enabled": False},
            "market_data": {"validation": {"min_depth_usd": 0}},
            "strategies": [
                {
                    "name": "hold",
                    "class": "examples/buy_and_hold.py:BuyYesAndHold",
                    "params": {"shares": 10},
                },
            ],  # fmt: skip
            "backtest": {"trades": {"half_spread": "0.02", "depth_shares": 100}},
        },
        cfg_file,
    )
    res = await asyncio.to_thread(
        run_backtest, cfg, build_strategies(cfg, cfg_file), parse_source(f"trades:{root}")
    )
    assert res.source.fidelity.startswith("trades")
    store = HistoryStore(root)
    (mid,) = store.markets()
    meta = store.meta(mid)
    assert meta is not None
    yes = meta["token_ids"][0]
    first = min((t, p) for tok, t, p in store.read_prices(mid, "2026-11-01") if tok == yes)
    ask = -(-(first[1] + 20_000) // 10_000) * 10_000  # last price + half spread, up to the tick
    (fill,) = res.fills
    assert (fill["instrument_id"], fill["price"], fill["size"]) == (yes, ask, 10_000_000)
    # No book in this data: the order filled from a trade printed through its price, not from
    # the assumed ask (prints-only matching), as a taker at its limit.
    assert (fill["fill_reason"], fill["liquidity"]) == ("taker_print", "taker")
    (st,) = res.settlements
    assert st["amount"] == 10_000_000  # YES won: 10 shares pay 1 each
    assert res.strategies["hold"]["pnl"] == 10_000_000 - 10 * ask - fill["fee"]
    assert res.assumptions["trades"] == 72 and res.assumptions["settled"] == 1


async def test_listing_closed_markets_pages_through_gamma(
    fake: FakePolymarket, tmp_path: Path
) -> None:
    fetcher, rest, _ = _fetcher(fake, tmp_path)
    try:
        closed = await fetcher.list_markets([], closed=True, limit=50)
        everything = await fetcher.list_markets([], closed=None, limit=50)
    finally:
        await rest.close()
    assert [m["id"] for m in closed] == [RESOLVED]
    assert len(everything) == len(fake.markets) == 9
