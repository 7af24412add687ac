"""Exactness check for the replay feed: a digest of every event a recording replays into, the
final books and the translator's state, so two checkouts (or two formats of one recording) can
be compared.

Run ``python benchmarks/replay_digest.py RECORDING`` here and with another checkout's copy of
this script (or ``--checkout PATH``): equal digests mean the same events in the same order (each
``repr``, with its time), the same final books (levels, time, update count) and the same
translator counters, venue tops, dirty set and ticks. The CPU seconds printed include hashing.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path


def main() -> None:
    """Replay the recording and print the digests."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording", help="a recording file or directory")
    ap.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1])
    a = ap.parse_args()
    sys.path.insert(0, str(a.checkout))
    from services.markets.polymarket.feed import apply_to_books
    from services.markets.replay import ReplayFeed
    from services.orderbook import BookStore

    feed = ReplayFeed(a.recording)
    books = BookStore()
    events = hashlib.sha256()
    n = 0
    c0 = time.process_time()
    for batch in feed.iter_batches():
        apply_to_books(books, batch)
        for ev in batch:
            events.update(repr(ev).encode())
            n += 1
    cpu = time.process_time() - c0
    book_digest = hashlib.sha256()
    for iid in sorted(books._books):
        b = books._books[iid]
        state = (iid, sorted(b.bids.items()), sorted(b.asks.items()), b.ts, b.updates)
        book_digest.update(repr(state).encode())
    tr = feed.translator
    tr_state = (sorted(tr.counters.items()), list(tr.venue_top.items()), tr.dirty, tr.ticks)
    print(f"checkout {a.checkout}")
    print(f"events {n:,} {events.hexdigest()}")
    print(f"books {len(books):,} {book_digest.hexdigest()}")
    print(f"translator {hashlib.sha256(repr(tr_state).encode()).hexdigest()}")
    print(f"replay counters {feed.counters}")
    print(f"{cpu:.2f} CPU s (hashing included)")


if __name__ == "__main__":
    main()
