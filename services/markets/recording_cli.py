"""``python bot.py recording convert OLD NEW``: rewrite recordings in format 3 (docs/RECORDING.md).

Each file under OLD (a file or a directory of ``*.jsonl``, ``*.jsonl.gz``, ``*.jsonl.zst``) becomes
one ``.jsonl.zst`` file of the same name under the directory NEW, record for record in the same
order: raw text frames that are JSON become decoded ``j`` records without the venue's ``hash``
fields, and ``price_change`` messages in the usual shape (text or format-2 ``j`` frames) become
runs of levels (``p``, ``r``); every other record is copied as it is. The replay of the converted files yields the same
events (``tests/markets/test_recording_format.py``). Old files stay readable: converting is only
for size and reading speed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from services.markets.recorder import FORMAT_VERSION, _dumps, _loads, compact_frame
from services.markets.recording_runs import price_change_runs
from services.markets.replay import _READ_ERRORS, ReplayFileError, recording_files, recording_lines


def convert_file(src: Path, dst: Path, level: int = 3) -> tuple[int, int, bool]:
    """Convert one recording file; return (records, compacted frames, cut short).

    Raises
    ------
    OSError
        If the output cannot be written (or ``zstandard`` is missing).
    """
    import zstandard

    records = compacted = 0
    truncated = False
    with (
        open(dst, "xb") as raw,
        zstandard.ZstdCompressor(level=level).stream_writer(raw, closefd=False) as out,
    ):
        try:
            for line in recording_lines(src):
                line = line.rstrip(b"\r\n")
                if not line:
                    continue
                records += 1
                try:
                    rec = _loads(line)
                except ValueError:
                    out.write(line + b"\n")  # kept: the replay counts it as bad, as before
                    continue
                if isinstance(rec, dict) and rec.get("k") == "meta":
                    rec = {**rec, "v": FORMAT_VERSION, "converted_from": src.name}
                    line = json.dumps(rec).encode()
                elif isinstance(rec, dict) and rec.get("k") == "raw":
                    if type(rec.get("m")) is str:
                        obj = compact_frame(rec["m"])
                        if obj is not None:
                            del rec["m"]
                    else:  # a format-2 record: its price_change messages become runs
                        obj = rec.pop("j", None)
                    split = None if obj is None else price_change_runs(obj)
                    if split is not None:
                        rec["p"], rec["r"] = split
                    elif obj is not None:
                        rec["j"] = obj
                    if obj is not None:
                        line = _dumps(rec).encode()
                        compacted += 1
                out.write(line + b"\n")
        except _READ_ERRORS:
            truncated = True
    return records, compacted, truncated


def _out_name(src: Path) -> str:
    name = src.name
    for suffix in (".jsonl.gz", ".jsonl.zst", ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + ".jsonl.zst"
    return name + ".jsonl.zst"


def main(argv: list[str]) -> int:
    """Run the ``recording`` subcommand; returns the exit code (2 for bad arguments)."""
    ap = argparse.ArgumentParser(prog="bot.py recording", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    cv = sub.add_parser(
        "convert", help="rewrite recordings in format 3 (zstd, decoded frames, runs)"
    )
    cv.add_argument("old", help="a recording file or a directory of them")
    cv.add_argument("new", help="output directory (created; existing files are not overwritten)")
    cv.add_argument("--level", type=int, default=3, help="zstd level 1-19 (default 3)")
    args = ap.parse_args(argv)
    if not 1 <= args.level <= 19:
        print("error: --level must be between 1 and 19", file=sys.stderr)
        return 2
    try:
        files = recording_files(args.old)
    except ReplayFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dest = Path(args.new)
    dest.mkdir(parents=True, exist_ok=True)
    for src in files:
        dst = dest / _out_name(src)
        if dst.resolve() == src.resolve() or dst.exists():
            print(f"error: {dst} exists; choose another output directory", file=sys.stderr)
            return 2
        try:
            n, k, cut = convert_file(src, dst, args.level)
        except OSError as exc:
            print(f"error: {src}: {exc}", file=sys.stderr)
            return 1
        note = " (input cut short: converted what it holds)" if cut else ""
        print(
            f"{src} -> {dst}: {n:,} records, {k:,} frames rewritten, "
            f"{src.stat().st_size / 1e6:.2f} MB -> {dst.stat().st_size / 1e6:.2f} MB{note}"
        )
    return 0
