"""Self-verification of a compiled-core build: the same results as pure Python, or no build.

:func:`verify` feeds one deterministic Polymarket market-channel stream (about 4,000 messages:
book snapshots, ``price_change`` entries that add, change and remove levels on both tokens,
trades, ``best_bid_ask``, tick-size changes, resolutions, ``new_market`` hints, batches of
messages in one frame, control frames, and bad input: unknown assets, off-grid and out-of-range
prices, bad sizes, undecodable frames) through the translator and the book store twice, in two
fresh interpreters: pure Python, and with the build in ``out`` installed. Each records, per
frame, the events, the tops of every touched book and the quality-sink calls, and at the end
every book, the translator's counters and its per-instrument state. Anything different (or the
compiled run not actually running compiled modules) removes the build's manifest, so the bot
never uses it, and says what differed.

``python -m services.compiled.verify --child pure|DIR`` is the child (prints JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from services.compiled import ROOT, load_finder, read_manifest, write_manifest

MICRO = 1_000_000
TICK = 10_000


def _fmt(micro: int) -> str:
    whole, frac = divmod(micro, MICRO)
    if not frac:
        return str(whole)
    return f"{whole}.{frac:06d}".rstrip("0")


def stream(n_messages: int = 4_000, n_markets: int = 12, seed: int = 18) -> tuple[list, list]:
    """Return ``(instrument rows, frames)``: a deterministic stream with the odd bad message."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, str, str]] = []  # (token, market, outcome, complement)
    frames: list[str] = []
    books: list[tuple[str, str, str, dict[int, int], dict[int, int]]] = []

    def snapshot(tok: str, cid: str, b: dict[int, int], a: dict[int, int]) -> str:
        return json.dumps(
            {
                "event_type": "book",
                "asset_id": tok,
                "market": cid,
                "timestamp": "1",
                "hash": "0x0",
                "tick_size": "0.01",
                "bids": [{"price": _fmt(p), "size": _fmt(s)} for p, s in sorted(b.items())],
                "asks": [
                    {"price": _fmt(p), "size": _fmt(s)} for p, s in sorted(a.items(), reverse=True)
                ],
            }
        )

    def price_change(cid: str, ts: int, changes: list[dict[str, str]]) -> str:
        return json.dumps(
            {"event_type": "price_change", "market": cid, "timestamp": str(ts),
             "price_changes": changes}
        )  # fmt: skip

    for m in range(n_markets):
        cid = f"0x{m:064x}"
        yes, no = f"{10**70 + 2 * m}", f"{10**70 + 2 * m + 1}"
        rows += [(yes, cid, "Yes", no), (no, cid, "No", yes)]
        mid = rng.randrange(10, 90) * TICK
        bids = {mid - k * TICK: rng.randrange(1, 50_000) * 10_000 for k in range(1, 9)}
        asks = {mid + k * TICK: rng.randrange(1, 50_000) * 10_000 for k in range(1, 9)}
        books.append((cid, yes, no, bids, asks))
        frames.append(snapshot(yes, cid, bids, asks))
        no_b = {MICRO - p: s for p, s in asks.items()}
        frames.append(snapshot(no, cid, no_b, {MICRO - p: s for p, s in bids.items()}))
    ts = 1_795_000_000_000
    resolved = 0
    while len(frames) < n_messages:
        cid, yes, no, bids, asks = rng.choice(books)
        ts += rng.randrange(1, 20)
        r = rng.random()
        bb, ba = max(bids), min(asks)
        if r < 0.06:
            frames.append(
                json.dumps(
                    {
                        "event_type": "last_trade_price",
                        "asset_id": rng.choice((yes, no)),
                        "market": cid,
                        "price": _fmt(ba),
                        "size": _fmt(rng.randrange(1, 500) * 10_000),
                        "side": rng.choice(("BUY", "SELL")),
                        "fee_rate_bps": "0",
                        "timestamp": str(ts),
                    }
                )
            )
        elif r < 0.14:
            frames.append(
                json.dumps(
                    {
                        "event_type": "best_bid_ask",
                        "asset_id": yes,
                        "market": cid,
                        "best_bid": _fmt(bb),
                        "best_ask": _fmt(ba) if rng.random() < 0.9 else "",
                        "spread": _fmt(ba - bb),
                        "timestamp": str(ts),
                    }
                )
            )
        elif r < 0.155:
            frames.append(
                json.dumps(
                    {
                        "event_type": "tick_size_change",
                        "asset_id": yes,
                        "market": cid,
                        "old_tick_size": "0.01",
                        "new_tick_size": rng.choice(("0.01", "0.001", "0.01", "0.03")),
                        "timestamp": str(ts),
                    }
                )
            )
        elif r < 0.17:  # bad input of several kinds
            k = rng.randrange(7)
            if k == 0:
                frames.append('{"event_type": "price_change", "market": ')  # undecodable
            elif k == 1:
                frames.append(rng.choice(("PING", "PONG")))
            elif k == 2:
                frames.append(json.dumps({"event_type": "mystery", "asset_id": yes}))
            elif k == 3:  # an unknown asset
                frames.append(snapshot("999", cid, bids, asks))
            elif k == 4:  # a bad size and an out-of-range price in one price_change
                frames.append(
                    price_change(
                        cid,
                        ts,
                        [
                            {"asset_id": yes, "price": "1.5", "size": "10", "side": "BUY"},
                            {"asset_id": no, "price": "0.5", "size": "-3", "side": "SELL"},
                        ],
                    )
                )
            elif k == 5:  # off the 0.01 grid
                off = {"asset_id": yes, "price": _fmt(bb - 5_000), "size": "12.5", "side": "BUY"}
                frames.append(price_change(cid, ts, [off]))
            else:
                frames.append(json.dumps({"event_type": "new_market", "market": "0xnew"}))
        elif r < 0.175 and resolved < 2:
            resolved += 1
            winner = rng.choice((yes, no))
            frames.append(
                json.dumps(
                    {
                        "event_type": "market_resolved",
                        "market": cid,
                        "winning_asset_id": winner,
                        "assets_ids": [yes, no],
                        "timestamp": str(ts),
                    }
                )
            )
        else:
            batch = []
            for _ in range(2 if rng.random() < 0.1 else 1):
                side = rng.choice(("BUY", "SELL"))
                levels = bids if side == "BUY" else asks
                step = rng.randrange(0, 6) * TICK
                price = (bb - step) if side == "BUY" else (ba + step)
                if rng.random() < 0.03:  # a crossing price now and then
                    price = ba if side == "BUY" else bb
                if not TICK <= price <= MICRO - TICK:
                    continue
                size = (
                    0
                    if (price in levels and len(levels) > 3 and rng.random() < 0.3)
                    else rng.randrange(1, 50_000) * 10_000 + rng.choice((0, 0, 0, 5_000))
                )
                if size:
                    levels[price] = size
                else:
                    levels.pop(price, None)
                nb, na = max(bids), min(asks)
                batch.append(
                    {
                        "event_type": "price_change",
                        "market": cid,
                        "timestamp": str(ts),
                        "price_changes": [
                            {
                                "asset_id": yes,
                                "price": _fmt(price),
                                "size": _fmt(size),
                                "side": side,
                                "hash": "a" * 40,
                                "best_bid": _fmt(nb),
                                "best_ask": _fmt(na),
                            },
                            {
                                "asset_id": no,
                                "price": _fmt(MICRO - price),
                                "size": _fmt(size),
                                "side": "SELL" if side == "BUY" else "BUY",
                                "hash": "b" * 40,
                                "best_bid": _fmt(MICRO - na),
                                "best_ask": _fmt(MICRO - nb),
                            },
                        ],
                    }
                )
            if batch:
                frames.append(json.dumps(batch[0] if len(batch) == 1 else batch))
    return rows, frames


class _Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def note_data_issue(self, instrument_id: str, reason: str, ts: float) -> None:
        self.calls.append(("issue", instrument_id, reason, ts))

    def note_clean_update(self, instrument_id: str, ts: float) -> None:
        self.calls.append(("clean", instrument_id, ts))


def run_stream() -> dict[str, Any]:
    """Run :func:`stream` through the translator and a book store in this process; return
    per-frame digests, the final state and the files of the modules that ran."""
    import orjson  # noqa: PLC0415

    from services.instruments import Instrument  # noqa: PLC0415
    from services.markets.polymarket import translate  # noqa: PLC0415
    from services.markets.polymarket.feed import apply_to_books  # noqa: PLC0415
    from services.orderbook import BookStore  # noqa: PLC0415
    from services.orderbook import __file__ as book_file  # noqa: PLC0415

    rows, frames = stream()
    sink = _Sink()
    tr = translate.Translator(sink=sink)
    tr.register(
        Instrument(tok, "polymarket", cid, out, TICK, 5 * MICRO, complement_id=comp)
        for tok, cid, out, comp in rows
    )
    books = BookStore()
    steps: list[str] = []
    t0 = 1_795_000_000.0
    for i, frame in enumerate(frames):
        ts = t0 + i * 1e-3
        if i % 3 == 2:  # the replay path (format 2 stores frames decoded)
            try:
                obj = orjson.loads(frame)
            except orjson.JSONDecodeError:
                obj = None
            events = tr.translate_frame(frame, ts) if obj is None else tr.translate_decoded(obj, ts)
        else:
            events = tr.translate_frame(frame, ts)
        apply_to_books(books, events)
        touched = sorted({getattr(e, "instrument_id", "") for e in events} - {""})
        tops = []
        for tok in touched:
            b = books.find(tok)
            if b is not None:
                tops.append((tok, b.best_bid(), b.best_ask(), b.mid(), b.is_crossed(), b.updates))
        calls = sink.calls
        sink.calls = []
        text = repr((events, tops, calls))
        steps.append(hashlib.sha256(text.encode()).hexdigest()[:16])
    final = {
        "books": {
            tok: (sorted(b.bids.items()), sorted(b.asks.items()), b.ts, b.updates)
            for tok, _c, _o, _x in rows
            if (b := books.find(tok)) is not None
        },
        "counters": tr.counters,
        "ticks": tr.ticks,
        "dirty": tr.dirty,
        "venue_top": tr.venue_top,
        "last_trade": tr.last_trade,
        "resolved": sorted(tr.resolved),
        "new_market_hints": tr.new_market_hints,
    }
    return {
        "frames": len(frames),
        "steps": steps,
        "final": hashlib.sha256(repr(final).encode()).hexdigest(),
        "final_text": repr(final)[:2000],
        "files": [book_file, translate.__file__],
    }


def _child(target: str) -> int:
    if target != "pure":
        finder, reason = load_finder(Path(target), verified_only=False)
        if finder is None:
            print(json.dumps({"error": reason}))
            return 0
        sys.meta_path.insert(0, finder)
    print(json.dumps(run_stream()))
    return 0


def _run_child(target: str) -> dict[str, Any]:
    env = {**os.environ, "BOT_COMPILED_CORE": "off", "PYTHONHASHSEED": "0"}
    p = subprocess.run(
        [sys.executable, "-m", "services.compiled.verify", "--child", target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"the {target} run failed: {tail}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def compare(pure: dict[str, Any], built: dict[str, Any]) -> str:
    """Return '' when both runs agree, else what differed first."""
    for run, name in ((pure, "pure"), (built, "compiled")):
        if "error" in run:
            return f"{name}: {run['error']}"
    if not all(f.endswith(".py") for f in pure["files"]):
        return f"the pure run imported a compiled module: {pure['files']}"
    not_compiled = [f for f in built["files"] if f.endswith(".py")]
    if not_compiled:
        return f"the compiled run imported the .py for {not_compiled}"
    if pure["frames"] != built["frames"]:
        return f"frame counts differ: {pure['frames']} vs {built['frames']}"
    for i, (a, b) in enumerate(zip(pure["steps"], built["steps"], strict=True)):
        if a != b:
            return f"message {i} gave other events, book tops or quality notes"
    if pure["final"] != built["final"]:
        return "the final books or translator state differ"
    return ""


def verify(out: Path) -> tuple[bool, str]:
    """Compare the build in ``out`` with pure Python; mark it verified, or remove it."""
    why = compare(_run_child("pure"), _run_child(str(out.resolve())))
    manifest = read_manifest(out)
    if why or manifest is None:
        (out / "manifest.json").unlink(missing_ok=True)
        import shutil  # noqa: PLC0415

        shutil.rmtree(out, ignore_errors=True)
        return False, why or "the manifest vanished"
    manifest["verified"] = True
    write_manifest(out, manifest)
    return True, f"{len(manifest['modules'])} modules, same results as pure Python"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2]))
    print("usage: python -m services.compiled.verify --child pure|DIR", file=sys.stderr)
    sys.exit(2)
