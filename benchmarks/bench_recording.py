"""Recording format 1 (gzip, frames as JSON strings) against the current format 3 (zstd,
decoded frames without hashes, price changes with runs as columns): bytes per record and per
event, and reading cost, on the same session.

1. Without ``--recording``: ``python bot.py --speed max`` records ``--seconds`` of the shipped
   config's simulator with the format-1 writer (``recorder: {codec: gzip, compact: false}``), as
   a user's recording from before format 2. With ``--recording PATH``: that recording (a file or
   a directory, any format), e.g. the peer workload converted by
   ``../shared/bench/betfair/to_polymarket.py`` (raw Polymarket frames).
2. ``bot.py recording convert``'s code writes the same records in format 3 (identical replay:
   ``tests/markets/test_recording_format.py``).
3. Each format is read ``--repeat`` times, best CPU time (``time.process_time``, not wall time:
   the machine is shared): records only (decompress and parse the envelope), and the replay feed
   (records, frames parsed and translated into engine events, what ``bot.py`` replays).
4. The recorder writes the same records (a format-1 input: its text frames) with each writer,
   CPU seconds of the whole process (the writer thread included).

Usage: python benchmarks/bench_recording.py [--seconds 1800] [--recording PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.events import BookDelta, BookSnapshot  # noqa: E402
from services.markets.recorder import (  # noqa: E402
    Recorder,
    RecorderConfig,
    event_from_dict,
    instrument_from_dict,
)
from services.markets.recording_cli import _out_name, convert_file  # noqa: E402
from services.markets.replay import ReplayFeed, recording_files  # noqa: E402


def record_sim(tmpd: Path, config: Path, seconds: float, seed: int) -> Path:
    """Record ``seconds`` of the simulator through bot.py with the format-1 writer."""
    data = yaml.safe_load(config.read_text())
    rec = tmpd / "v1"
    data.setdefault("market_data", {}).update(
        {
            "record": True,
            "recorder": {"directory": str(rec), "codec": "gzip", "compact": False},
        }
    )
    data.setdefault("dashboard", {})["enabled"] = False
    data.setdefault("bot", {})["log_file"] = ""
    cfg = tmpd / "sim.yaml"
    cfg.write_text(yaml.safe_dump(data))
    cmd = [sys.executable, str(ROOT / "bot.py"), "--config", str(cfg), "--db", str(tmpd / "b.db")]
    cmd += ["--speed", "max", "--quiet", "--no-dashboard", "--seed", str(seed)]
    cmd += ["--duration", str(seconds)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bot.py exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return rec


def cpu(fn: object, repeat: int) -> tuple[float, int]:
    """Best CPU seconds of ``fn()`` over ``repeat`` runs, and its count."""
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.process_time()
        n = fn()  # type: ignore[operator]
        best = min(best, time.process_time() - t0)
    return best, n


def measure(label: str, files: list[Path], repeat: int) -> None:
    size = sum(f.stat().st_size for f in files)

    def records() -> int:
        return sum(1 for _ in ReplayFeed(files).records())

    def events() -> int:
        return sum(len(b) for b in ReplayFeed(files).iter_batches())

    levels = 0  # book levels carried (snapshot levels + delta changes): the peer's "updates"
    for batch in ReplayFeed(files).iter_batches():
        for ev in batch:
            if isinstance(ev, BookDelta):
                levels += len(ev.changes)
            elif isinstance(ev, BookSnapshot):
                levels += len(ev.bids) + len(ev.asks)
    rec_s, n_rec = cpu(records, repeat)
    ev_s, n_ev = cpu(events, repeat)
    print(
        f"{label}: {size / 1e6:8.2f} MB, {n_rec:,} records, {size / n_rec:,.1f} B/record, "
        f"{size / max(n_ev, 1):,.1f} B/event, {size / max(levels, 1):,.1f} B/book level "
        f"({levels:,}) | records only {rec_s:.2f} CPU s "
        f"({n_rec / rec_s:,.0f} records/s) | replay feed {ev_s:.2f} CPU s "
        f"({n_ev:,} events, {n_ev / ev_s:,.0f} events/s, {n_rec / ev_s:,.0f} records/s)"
    )


def write_cost(files: list[Path], repeat: int) -> None:
    """CPU seconds of the recorder writing the same records: format 1 against format 3."""
    items: list[tuple[str, float, Any, Any]] = []
    for rec in ReplayFeed(files).records():
        t = float(rec["t"])
        if rec["k"] == "raw" and "m" in rec:
            items.append(("raw", t, rec.get("s", 0), rec["m"]))
        elif rec["k"] == "instruments":
            items.append(("inst", t, None, [instrument_from_dict(d) for d in rec["instruments"]]))
        elif rec["k"] == "normalized":
            items.append(("norm", t, None, [event_from_dict(d) for d in rec["events"]]))
    if not items:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for label, kw in (
            ("format 1 (gzip 6, frames as strings)", {"codec": "gzip", "compact": False}),
            ("format 3 (zstd 3, decoded, no hash, columns)", {}),
        ):
            best = float("inf")
            for k in range(repeat):
                d = Path(tmp) / f"{label[:8]}-{k}"
                r = Recorder(RecorderConfig(record=True, directory=str(d), **kw))  # type: ignore[arg-type]
                t0 = time.process_time()  # every thread of the process: the writer's too
                for kind, t, s, x in items:
                    if kind == "raw":
                        r.record_raw(t, s, x)
                    elif kind == "inst":
                        r.record_instruments(t, x)
                    else:
                        r.record_events(x, t)
                r.close()
                best = min(best, time.process_time() - t0)
            print(f"writing {len(items):,} records, {label}: {best:.2f} CPU s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1800.0, help="simulated seconds to record")
    ap.add_argument("--config", default=str(ROOT / "config.example.yaml"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--recording", help="an existing recording instead of a simulated one")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        if args.recording:
            src = Path(args.recording)
            print(f"recording: {src}")
        else:
            t0 = time.perf_counter()
            src = record_sim(tmpd, Path(args.config), args.seconds, args.seed)
            print(
                f"recorded {args.seconds:,.0f} simulated s of {Path(args.config).name} with the "
                f"format-1 writer in {time.perf_counter() - t0:.1f} s wall"
            )
        old = recording_files(src)
        new_dir = tmpd / "v2"
        new_dir.mkdir()
        new = []
        for f in old:
            dst = new_dir / _out_name(f)
            convert_file(f, dst)
            new.append(dst)
        measure("as given (format 1 if simulated)", old, args.repeat)
        measure("format 3 (zstd level 3, decoded, columns)", new, args.repeat)
        write_cost(old, args.repeat)


if __name__ == "__main__":
    main()
