"""Feed throughput: Polymarket frames through parse + translate + book update, and replay speed.

Generates a realistic market-channel stream (snapshots, then ``price_change`` messages touching
both tokens of a market, with ``best_bid_ask`` and trade prints mixed in), then measures:

1. live path: ``Translator.translate_frame`` + book updates, messages per second;
2. recording: the same frames through the recorder (writer thread, format 2: zstd JSON lines);
3. replay: ``ReplayFeed`` reading the recording back through the same translation, with book
   updates, messages per second, best of ``--repeat`` runs (also checks the replayed books
   equal the live ones).

Run: ``python benchmarks/bench_feed.py [--messages 200000] [--markets 100] [--repeat 3]``.
Target: >= 100,000 messages per CPU second on the live path (best of ``--repeat`` runs; the
machine this runs on is shared, so CPU time, not wall time, is the figure).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.instruments import Instrument  # noqa: E402
from services.markets.polymarket.feed import apply_to_books  # noqa: E402
from services.markets.polymarket.translate import Translator  # noqa: E402
from services.markets.recorder import Recorder, RecorderConfig  # noqa: E402
from services.markets.replay import ReplayFeed  # noqa: E402
from services.orderbook import BookStore  # noqa: E402

MICRO = 1_000_000
TICK = 10_000


def fmt(micro: int) -> str:
    """Format micro-units like the venue (``"0.53"``, ``"120.5"``)."""
    whole, frac = divmod(micro, MICRO)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:06d}".rstrip("0")


def generate(n_messages: int, n_markets: int, seed: int = 1) -> tuple[list[Instrument], list[str]]:
    """Return instruments and a list of JSON frames (first the snapshots)."""
    rng = random.Random(seed)
    insts: list[Instrument] = []
    frames: list[str] = []
    books: list[tuple[str, str, str, dict[int, int], dict[int, int]]] = []
    for m in range(n_markets):
        cid = f"0x{m:064x}"
        yes, no = f"{10**70 + 2 * m}", f"{10**70 + 2 * m + 1}"
        insts += [
            Instrument(yes, "polymarket", cid, "Yes", TICK, 5 * MICRO, complement_id=no),
            Instrument(no, "polymarket", cid, "No", TICK, 5 * MICRO, complement_id=yes),
        ]
        mid = rng.randrange(10, 90) * TICK
        bids = {mid - k * TICK: rng.randrange(100, 50_000) * 10_000 for k in range(1, 9)}
        asks = {mid + k * TICK: rng.randrange(100, 50_000) * 10_000 for k in range(1, 9)}
        books.append((cid, yes, no, bids, asks))
        for tok, b, a in (
            (yes, bids, asks),
            (no, {MICRO - p: s for p, s in asks.items()}, {MICRO - p: s for p, s in bids.items()}),
        ):
            frames.append(
                json.dumps(
                    {
                        "event_type": "book",
                        "asset_id": tok,
                        "market": cid,
                        "timestamp": "1",
                        "hash": "0x0",
                        "tick_size": "0.01",
                        "bids": [{"price": fmt(p), "size": fmt(s)} for p, s in sorted(b.items())],
                        "asks": [
                            {"price": fmt(p), "size": fmt(s)}
                            for p, s in sorted(a.items(), reverse=True)
                        ],
                    }
                )
            )
    ts = 1_795_000_000_000
    while len(frames) < n_messages:
        cid, yes, no, bids, asks = rng.choice(books)
        ts += rng.randrange(1, 20)
        r = rng.random()
        bb, ba = max(bids), min(asks)
        if r < 0.08:
            frames.append(
                json.dumps(
                    {
                        "event_type": "last_trade_price",
                        "asset_id": yes,
                        "market": cid,
                        "price": fmt(ba),
                        "size": fmt(rng.randrange(1, 500) * 10_000),
                        "side": "BUY",
                        "fee_rate_bps": "0",
                        "timestamp": str(ts),
                        "transaction_hash": "0x1",
                    }
                )
            )
            continue
        if r < 0.2:
            frames.append(
                json.dumps(
                    {
                        "event_type": "best_bid_ask",
                        "asset_id": yes,
                        "market": cid,
                        "best_bid": fmt(bb),
                        "best_ask": fmt(ba),
                        "spread": fmt(ba - bb),
                        "timestamp": str(ts),
                    }
                )
            )
            continue
        side = rng.choice(("BUY", "SELL"))
        levels = bids if side == "BUY" else asks
        price = (
            (bb - rng.randrange(0, 6) * TICK)
            if side == "BUY"
            else (ba + rng.randrange(0, 6) * TICK)
        )
        if not TICK <= price <= MICRO - TICK:
            continue
        size = (
            0
            if (price in levels and len(levels) > 3 and rng.random() < 0.3)
            else (rng.randrange(100, 50_000) * 10_000)
        )
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)
        bb, ba = max(bids), min(asks)
        frames.append(
            json.dumps(
                {
                    "event_type": "price_change",
                    "market": cid,
                    "timestamp": str(ts),
                    "price_changes": [
                        {
                            "asset_id": yes,
                            "price": fmt(price),
                            "size": fmt(size),
                            "side": side,
                            "hash": "a" * 40,
                            "best_bid": fmt(bb),
                            "best_ask": fmt(ba),
                        },
                        {
                            "asset_id": no,
                            "price": fmt(MICRO - price),
                            "size": fmt(size),
                            "side": "SELL" if side == "BUY" else "BUY",
                            "hash": "b" * 40,
                            "best_bid": fmt(MICRO - ba),
                            "best_ask": fmt(MICRO - bb),
                        },
                    ],
                }
            )
        )
    return insts, frames


def bench_live(
    insts: list[Instrument], frames: list[str]
) -> tuple[float, float, BookStore, Translator]:
    """Return (msgs/s wall, msgs/s CPU, books, translator) for parse + translate + book update.

    CPU time is reported too because a shared machine's wall time says more about the
    neighbours than about the code.
    """
    tr = Translator()
    tr.register(insts)
    books = BookStore()
    t0, c0 = time.perf_counter(), time.process_time()
    ts = 1_795_000_000.0
    for i, frame in enumerate(frames):
        apply_to_books(books, tr.translate_frame(frame, ts + i * 1e-4))
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return len(frames) / dt, len(frames) / dc, books, tr


def main() -> None:
    """Run the benchmark and print figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--markets", type=int, default=100)
    ap.add_argument(
        "--repeat", type=int, default=3, help="live path runs; the best CPU rate is the figure"
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    insts, frames = generate(args.messages, args.markets)
    print(
        f"generated {len(frames):,} frames for {len(insts)} tokens "
        f"in {time.perf_counter() - t0:.1f} s "
        f"(avg {sum(map(len, frames)) / len(frames):.0f} bytes)"
    )

    runs = [bench_live(insts, frames) for _ in range(max(args.repeat, 1))]
    rate, cpu_rate, live_books, tr = max(runs, key=lambda r: r[1])
    c = tr.counters
    print(
        f"live path (json + translate + book update), best of {len(runs)}: {rate:,.0f} msgs/s "
        f"wall, {cpu_rate:,.0f} msgs/s CPU ({c['events']:,} events, {c['malformed']} malformed; "
        f"CPU rates of the runs: {', '.join(f'{r[1]:,.0f}' for r in runs)})"
    )

    with tempfile.TemporaryDirectory() as tmp:
        rec = Recorder(RecorderConfig(record=True, directory=tmp), source="bench")
        t0 = time.perf_counter()
        rec.record_instruments(1_795_000_000.0, insts)
        ts = 1_795_000_000.0
        for i, frame in enumerate(frames):
            rec.record_raw(ts + i * 1e-4, 0, frame)
        queued = time.perf_counter() - t0
        rec.close()
        total = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        print(
            f"recorder: enqueue {len(frames) / queued:,.0f} msgs/s on the event loop; "
            f"written at {len(frames) / total:,.0f} msgs/s; {size / 1e6:.1f} MB compressed "
            f"({size / len(frames):.0f} bytes/msg)"
        )

        replays = []
        for _ in range(max(args.repeat, 1)):
            replay = ReplayFeed(tmp)
            books = BookStore()
            t0, c0 = time.perf_counter(), time.process_time()
            n = 0
            for batch in replay.iter_batches():
                apply_to_books(books, batch)
                n += len(batch)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            replays.append((len(frames) / dt, len(frames) / dc))
        wall, cpu = max(replays, key=lambda r: r[1])
        print(
            f"replay (decompress + record + translate + book update), best of {len(replays)}: "
            f"{wall:,.0f} msgs/s wall, {cpu:,.0f} msgs/s CPU ({n:,} events; CPU rates of the "
            f"runs: {', '.join(f'{r[1]:,.0f}' for r in replays)})"
        )
        same = all(
            (books.get(i.instrument_id).bids, books.get(i.instrument_id).asks)
            == (live_books.get(i.instrument_id).bids, live_books.get(i.instrument_id).asks)
            for i in insts
        )
        print(f"replayed books equal live books: {same}")
    target = 100_000
    print(
        f"target {target:,} msgs/s on the live path (CPU time): "
        f"{'met' if cpu_rate >= target else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
