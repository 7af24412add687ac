"""The peer workload through ``python bot.py`` itself, against flumine on the same work, in
alternation in one session.

The peer workload is N copies (300 by default) of the shared Betfair recording
(``../shared/data/betfair/1.197931750``; 49,800 stream messages and 2.47 M ``atb``/``atl`` level
updates at 300 copies). It is converted once, level for level, into a Polymarket market-channel
recording in this project's recorder format by ``../shared/bench/betfair/to_polymarket.py``
(one ``book`` or ``price_change`` message entry per Betfair level update, written by this
checkout's own recorder). Then, ``--rounds`` times, in turn:

1. ``python bot.py`` (this checkout) replays the recording as a user runs it
   (``market_data.source: replay``, ``speed: max``, SQLite, writer thread, snapshots, the safety
   layer, the data gate), with one strategy that watches every book and counts its updates,
   loaded as a user strategy file (``benchmarks/peer_count_books.py:CountBooks``);
2. with ``--base PATH``: the same with another checkout's ``bot.py`` (e.g. the code before a
   change), on the same recording and the same strategy file;
3. with ``--flumine-python PY``: flumine 3.3.2 replays the original Betfair files with a no-op
   strategy that sees every market book (``../shared/bench/betfair/bench_flumine.py --mode
   noop``; flumine is not a dependency of the project: give the python of a virtual environment
   holding ``flumine==3.3.2`` and ``betfairlightweight[speed]``).

Every run is a child process under ``/usr/bin/time -v``: CPU seconds (user + system, every
thread), wall seconds and peak RSS. The machine this was written on is shared, so the figure to
compare is CPU seconds, best of the rounds, and the ratio is flumine's CPU seconds over ours on
the same 49,800 messages (above 1: faster than flumine). Wall time is printed too.

Usage: python benchmarks/bench_peer.py [--n 300 | --data BETFAIR_DIR] [--recording REC]
[--rounds 3] [--base ../base-checkout [--base-recording OLD_FORMAT_REC]]
[--flumine-python /tmp/flumine-venv/bin/python]

A base checkout from before recording format 3 cannot read a format-3 recording: give it the
same session in format 2 with ``--base-recording`` (``bot.py recording convert`` turns a
format-2 recording into format 3 record for record).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "bench" / "betfair"
CONVERTER = SHARED / "to_polymarket.py"
FLUMINE_BENCH = SHARED / "bench_flumine.py"
STRATEGY = ROOT / "benchmarks" / "peer_count_books.py"

PEAK = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
USER = re.compile(r"User time \(seconds\): ([\d.]+)")
SYSTEM = re.compile(r"System time \(seconds\): ([\d.]+)")
WALL = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)")
FINAL = re.compile(r"Stopped after (\d+) events and (\d+) fills")
COUNT = re.compile(r"COUNTBOOKS (\d+)")


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[str, dict[str, float]]:
    """Run ``cmd`` under ``/usr/bin/time -v``; return its output and CPU, wall and RSS figures."""
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    err = proc.stderr
    user, system, peak, wall = (
        USER.search(err),
        SYSTEM.search(err),
        PEAK.search(err),
        WALL.search(err),
    )
    if not (user and system and peak and wall):
        raise SystemExit(f"no figures from /usr/bin/time:\n{err[-2000:]}")
    secs = 0.0
    for part in wall.group(1).split(":"):
        secs = secs * 60 + float(part)
    figures = {
        "cpu_s": float(user.group(1)) + float(system.group(1)),
        "wall_s": secs,
        "rss_mb": int(peak.group(1)) / 1024,
    }
    return proc.stdout + err, figures


def build_betfair(n: int, out: Path) -> Path:
    """Write ``n`` sequential copies of the shared recording (bench_betfair.py's workload)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_betfair import build_workload

    build_workload(n, "sequential", out)
    # gen_data.py's stats.json carries the per-field counts the converter checks against
    counts = {"atb": 0, "atl": 0, "batb": 0, "batl": 0, "files": n}
    for f in sorted(out.glob("1.*")):
        for line in f.read_text().splitlines():
            for mc in json.loads(line).get("mc", ()):
                for rc in mc.get("rc", ()):
                    for k in ("atb", "atl", "batb", "batl"):
                        counts[k] += len(rc.get(k, ()))
    stats = json.loads((out / "stats.json").read_text())
    stats.update(counts)
    (out / "stats.json").write_text(json.dumps(stats))
    return out


def convert(betfair: Path, out: Path) -> None:
    """Convert the Betfair files into a Polymarket recording with this checkout's recorder."""
    proc = subprocess.run(
        [sys.executable, str(CONVERTER), "--data", str(betfair), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=False, env={**os.environ, "PROJECT": str(ROOT)},
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"conversion failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("LEVEL UPDATES"))
    print(f"converted: {line}")


def bot_config(tmp: Path, recording: Path, name: str = "peer.yaml") -> Path:
    """A config whose only strategy counts book updates (a user strategy file)."""
    cfg = tmp / name
    cfg.write_text(
        json.dumps(  # JSON is YAML
            {
                "market_data": {
                    "source": "replay",
                    "speed": "max",
                    "replay_paths": [str(recording)],
                },
                "dashboard": {"enabled": False},
                "bot": {"log_file": ""},
                "strategies": [{"name": "count_books", "class": f"{STRATEGY}:CountBooks"}],
            }
        )
    )
    return cfg


def run_bot(checkout: Path, cfg: Path, db: Path) -> dict[str, float]:
    """``python bot.py`` of ``checkout`` on the peer config; figures plus events and books."""
    if db.exists():
        db.unlink()
    cmd = [sys.executable, str(checkout / "bot.py"), "--config", str(cfg), "--db", str(db)]
    cmd += ["--speed", "max", "--quiet", "--no-dashboard"]
    out, fig = timed(cmd, checkout, {"PYTHONHASHSEED": "0"})
    final, count = FINAL.search(out), COUNT.search(out)
    if final is None or count is None:
        raise SystemExit(f"no final line or book count from {checkout}/bot.py:\n{out[-3000:]}")
    fig["events"] = int(final.group(1))
    fig["books"] = int(count.group(1))
    return fig


def run_flumine(python: str, betfair: Path) -> dict[str, float]:
    """flumine's no-op strategy on the original Betfair files."""
    out, fig = timed([python, str(FLUMINE_BENCH), "--data", str(betfair), "--mode", "noop"], ROOT)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    res = json.loads(line[len("RESULT ") :])
    fig["books"] = res["market_books_to_strategy"]
    fig["messages"] = res["messages"]
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="copies of the shared Betfair recording")
    ap.add_argument("--data", type=Path, help="a Betfair workload made by gen_data.py instead")
    ap.add_argument("--recording", type=Path, help="an already converted recording (skips it)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--base", type=Path, help="another checkout to run in alternation")
    ap.add_argument(
        "--base-recording",
        type=Path,
        help="the recording --base replays (default: --recording); for a base that cannot read "
        "this checkout's format, the same session in an older format",
    )
    ap.add_argument("--flumine-python", help="python of a venv with flumine 3.3.2")
    a = ap.parse_args()
    if a.flumine_python and a.data is None and a.recording is not None:
        ap.error("--flumine-python needs the Betfair files: give --data with --recording")
    with tempfile.TemporaryDirectory(prefix="bench_peer_") as tmpname:
        tmp = Path(tmpname)
        betfair = a.data
        if betfair is None and a.recording is None:
            betfair = build_betfair(a.n, tmp / "betfair")
        recording = a.recording
        if recording is None:
            assert betfair is not None
            recording = tmp / "pm"
            convert(betfair, recording)
        size = sum(p.stat().st_size for p in recording.iterdir())
        print(f"recording: {recording} ({size / 1e6:.1f} MB)")
        cfg = bot_config(tmp, recording)
        cfg_base = cfg
        if a.base_recording is not None:
            cfg_base = bot_config(tmp, a.base_recording, "peer-base.yaml")
            size = sum(p.stat().st_size for p in a.base_recording.iterdir())
            print(f"base recording: {a.base_recording} ({size / 1e6:.1f} MB)")
        runs: dict[str, list[dict[str, float]]] = {}
        contenders: list[tuple[str, object]] = [("bot.py", ROOT)]
        if a.base is not None:
            contenders.append(("base bot.py", a.base.resolve()))
        if a.flumine_python:
            contenders.append(("flumine", a.flumine_python))
        for r in range(a.rounds):
            for label, what in contenders:
                if label == "flumine":
                    assert betfair is not None
                    fig = run_flumine(str(what), betfair)
                else:
                    conf = cfg_base if label == "base bot.py" else cfg
                    fig = run_bot(Path(str(what)), conf, tmp / "peer.db")
                runs.setdefault(label, []).append(fig)
                extra = f", {fig['events']:,.0f} events" if "events" in fig else ""
                print(
                    f"round {r + 1} {label:12s}: {fig['cpu_s']:6.2f} CPU s, {fig['wall_s']:6.2f} s "
                    f"wall, peak RSS {fig['rss_mb']:6.1f} MB, {fig['books']:,.0f} books to the "
                    f"strategy{extra}",
                    flush=True,
                )
        messages = None
        if betfair is not None and (betfair / "stats.json").is_file():
            messages = json.loads((betfair / "stats.json").read_text()).get("messages")
        print("best of the rounds (CPU seconds; the lowest of each):")
        best = {k: min(v, key=lambda f: f["cpu_s"]) for k, v in runs.items()}
        for label, fig in best.items():
            rss = max(f["rss_mb"] for f in runs[label])
            rate = (
                f", {messages / fig['cpu_s']:,.0f} Betfair messages per CPU s" if messages else ""
            )
            print(
                f"  {label:12s}: {fig['cpu_s']:6.2f} CPU s, {fig['wall_s']:6.2f} s wall{rate}, "
                f"peak RSS up to {rss:.1f} MB"
            )
        if "flumine" in best:
            fl = best["flumine"]["cpu_s"]
            for label in [k for k in best if k != "flumine"]:
                print(
                    f"  {label} against flumine: {fl / best[label]['cpu_s']:.2f}x flumine's rate "
                    f"per CPU second (target >= 1, aim 2)"
                )
        if "base bot.py" in best:
            print(
                f"  base / this checkout: {best['base bot.py']['cpu_s'] / best['bot.py']['cpu_s']:.2f}x"
            )
        rss = max(f["rss_mb"] for f in runs["bot.py"])
        print(
            f"  bot.py peak RSS {rss:.1f} MB (target < 150 MB): {'met' if rss < 150 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
