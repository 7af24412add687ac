"""What users run, against the bare engine, in the same run: ``bot.py --speed max`` on the simulator
and ``bot.py`` replaying a recording, each compared with the engine alone on the same events.

1. The simulator's events for the shipped config (its markets, seed, ``--seconds`` of market time)
   are generated in chunks of 200,000 events; the bare engine (default field, no storage, no
   safety layer: the figure of ``bench_engine.py``) runs each chunk, timed apart from the
   generation, and so does the node ``bot.py`` builds without storage.
2. ``python bot.py --config ... --duration S --speed max --quiet --no-dashboard`` runs as a user
   runs it (SQLite, writer thread, snapshots, safety layer, data gate), recording its market data;
   its events per wall second come from its own final line.
3. The same with the shipped config as it is (recording off, as shipped; log file in a temporary
   directory): the figure a user gets from ``python bot.py --speed max``. The simulator runs in
   a child process (``market_data.sim.process: auto`` on two or more cores); its CPU seconds
   (logged by ``bot.py``) are printed apart from the bot's own process.
3b. The same with ``market_data.sim.process: thread`` (the simulator on the engine's thread, as
   before the sixth round), for comparison in the same run.
4. ``bot.py`` replays the recording of step 2 (``market_data.source: replay``) with the same
   strategies. ``--no-recording`` skips step 2 and this one (long ``--seconds``).

Each figure is printed with the ratio to the bare engine (the target of issue 18: within 2x).
The simulator's own generation cost is printed apart: ``bot.py`` on the simulator pays it, the bare
engine does not. Wall-clock figures vary with the machine's load: run it on a quiet machine, and
compare ratios from one run, not figures from different runs.

With ``--base DIR`` (another checkout, e.g. the code before a change), every ``bot.py`` run is
repeated with that checkout's ``bot.py`` right after this one's, for ``--rounds`` rounds, and
both CPU figures are printed side by side (the bare engine is this checkout's).

Usage: python benchmarks/bench_bot.py [--seconds 900] [--config config.example.yaml] [--seed 7]
       [--base DIR] [--rounds 1] [--no-recording]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.clock import SimClock  # noqa: E402
from services.markets.sim import SimFeed  # noqa: E402
from services.node import build_node  # noqa: E402
from services.persistence import NullSink  # noqa: E402
from services.strategies.loader import build_strategies  # noqa: E402
from utils.config import load_config  # noqa: E402

FINAL = re.compile(r"Stopped after (\d+) events and (\d+) fills")
PEAK = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
USER = re.compile(r"User time \(seconds\): ([\d.]+)")
SYSTEM = re.compile(r"System time \(seconds\): ([\d.]+)")
CHILD = re.compile(r"simulated market's process used ([\d.]+) CPU s")
CPU: dict[str, float] = {}  # CPU seconds (user + system) of the last bot.py run, from time -v
EVENTS: list[tuple[str, int]] = []  # (config file name and duration, events) of every bot.py run


def run_bot(
    config: Path, db: Path, seconds: float | None, seed: int, root: Path = ROOT
) -> tuple[int, float, float]:
    """Run ``root``'s bot.py; return (events, wall seconds, peak RSS MB)."""
    if db.exists():
        db.unlink()  # every run starts from a new database, as the first run of a user does
    cmd = [sys.executable, str(root / "bot.py"), "--config", str(config), "--db", str(db)]
    cmd += ["--speed", "max", "--quiet", "--no-dashboard", "--seed", str(seed)]
    if seconds is not None:
        cmd += ["--duration", str(seconds)]
    timed = Path("/usr/bin/time").is_file()
    if timed:
        cmd = ["/usr/bin/time", "-v", *cmd]
    # As a user runs it: Python caches compiled modules (an environment with
    # PYTHONDONTWRITEBYTECODE set would compile every module at every start, about 1 s).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bot.py exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    m = FINAL.search(proc.stderr) or FINAL.search(proc.stdout)
    if m is None:
        raise SystemExit(f"no final line from bot.py:\n{proc.stderr[-3000:]}")
    EVENTS.append((f"{config.name} --duration {seconds}", int(m.group(1))))
    peak = PEAK.search(proc.stderr) if timed else None
    user, system = USER.search(proc.stderr), SYSTEM.search(proc.stderr)
    CPU["last"] = float(user.group(1)) + float(system.group(1)) if user and system else float("nan")
    # the simulator's child process (its CPU is in the total: time -v counts reaped children)
    # (bot.py --quiet logs at the configured level, INFO, on stderr)
    child = CHILD.search(proc.stderr) or CHILD.search(proc.stdout)
    CPU["child"] = float(child.group(1)) if child else 0.0
    return int(m.group(1)), wall, (int(peak.group(1)) / 1024 if peak else float("nan"))


CHUNK = 200_000  # events generated at a time for the in-process passes (bounded memory)


def run_engine(cfg: Any, config: str, seconds: float, seed: int, safety: bool) -> dict[str, float]:
    """Run the bare engine (or the node without storage) on the simulator's events, generated
    in chunks beforehand; return events, engine wall s and CPU s, generation wall s and CPU s."""
    md = cfg.market_data
    node = build_node(
        cfg, build_strategies(cfg, config), NullSink(), clock=SimClock(md.start_ts), safety=safety
    )
    node.engine.start()
    if node.safety is not None:
        node.safety.startup()
    out = {"events": 0.0, "wall": 0.0, "cpu": 0.0, "gen_wall": 0.0, "gen_cpu": 0.0}
    it = iter(SimFeed(md.sim, seed=seed, start_ts=md.start_ts, duration_s=seconds).iter_batches())
    process = node.engine.process_batch
    while True:
        t, c = time.perf_counter(), time.process_time()
        chunk: list[Any] = []
        k = 0
        for batch in it:
            chunk.append(batch)
            k += len(batch)
            if k >= CHUNK:
                break
        out["gen_wall"] += time.perf_counter() - t
        out["gen_cpu"] += time.process_time() - c
        if not chunk:
            return out
        t, c = time.perf_counter(), time.process_time()
        for batch in chunk:
            process(batch)
        out["wall"] += time.perf_counter() - t
        out["cpu"] += time.process_time() - c
        out["events"] += k
        del chunk


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=900.0, help="market time to simulate")
    ap.add_argument("--config", default=str(ROOT / "config.example.yaml"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--base", default=None, help="another checkout whose bot.py alternates")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of bot.py runs")
    ap.add_argument(
        "--no-recording",
        action="store_true",
        help="skip the recording-on run and the replay (long --seconds)",
    )
    args = ap.parse_args()

    cfg = load_config(args.config)
    md = cfg.market_data
    bare_run = run_engine(cfg, args.config, args.seconds, args.seed, safety=False)
    n = int(bare_run["events"])
    gen_s, gen_cpu = bare_run["gen_wall"], bare_run["gen_cpu"]
    print(
        f"simulator: {n:,} events ({md.sim.markets} markets, {args.seconds:.0f} s of market time)"
    )
    print(
        f"  generation alone: {n / gen_s:,.0f} events/s ({gen_s:.1f} s, {gen_cpu:.1f} CPU s, "
        f"{gen_cpu / n * 1e6:.1f} us per event)"
    )
    bare = n / bare_run["wall"]
    bare_cpu = bare_run["cpu"]
    print(
        f"bare engine, default field, no storage: {bare:,.0f} events/s ({bare_run['wall']:.1f} s, "
        f"{bare_cpu:.1f} CPU s)"
    )
    node_run = run_engine(cfg, args.config, args.seconds, args.seed, safety=True)
    node_eps = n / node_run["wall"]
    print(
        f"bot.py's node (safety layer, data gate) without storage: {node_eps:,.0f} events/s "
        f"({bare / node_eps:.2f}x the bare engine's time; {node_run['cpu']:.1f} CPU s)"
    )

    roots = [("this", ROOT)] + ([("base", Path(args.base).resolve())] if args.base else [])

    def cpu_line(label: str, figures: dict[str, list[float]], ratios: bool = True) -> None:
        """Every run's CPU seconds per checkout (and its ratio to the bare engine's)."""
        parts = []
        for name, _ in roots:
            vals = figures[name]
            part = f"{name} {' / '.join(f'{v:.1f}' for v in vals)} CPU s"
            if ratios:
                part += " (" + " / ".join(f"{v / bare_cpu:.2f}x" for v in vals) + ")"
            parts.append(part)
        print(f"  {label}: " + "; ".join(parts))

    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        data = yaml.safe_load(Path(args.config).read_text())
        shipped = yaml.safe_load(Path(args.config).read_text())
        data.setdefault("market_data", {}).update(
            {"record": True, "recorder": {"directory": str(tmpd / "rec")}}
        )
        data.setdefault("dashboard", {})["enabled"] = False
        data.setdefault("bot", {})["log_file"] = ""
        sim_cfg = tmpd / "sim.yaml"
        sim_cfg.write_text(yaml.safe_dump(data))
        # The shipped config as a user runs it: only the log file moves to the temporary
        # directory (bot.py --no-dashboard turns the dashboard off, --db places the database).
        shipped.setdefault("bot", {})["log_file"] = str(tmpd / "bot.log")
        ship_cfg = tmpd / "shipped.yaml"
        ship_cfg.write_text(yaml.safe_dump(shipped))
        # The same with the simulator on the engine's thread (market_data.sim.process: thread,
        # the path before the sixth round), for comparison in the same run.
        thread = yaml.safe_load(ship_cfg.read_text())
        thread["market_data"].setdefault("sim", {})["process"] = "thread"
        thread["bot"]["log_file"] = str(tmpd / "bot-thread.log")
        thread_cfg = tmpd / "shipped-thread.yaml"
        thread_cfg.write_text(yaml.safe_dump(thread))
        runs: list[tuple[str, Path, bool]] = [
            ("the shipped config as a user runs it: SQLite, recording off", ship_cfg, True),
            ("the same, simulator on the engine's thread (process: thread)", thread_cfg, True),
        ]
        if not args.no_recording:
            runs.insert(0, ("SQLite, recording on", sim_cfg, True))
        fixed_c: dict[str, list[float]] = {n: [] for n, _ in roots}
        run_c: dict[str, dict[str, list[float]]] = {
            lb: {n: [] for n, _ in roots} for lb, _, _ in runs
        }
        run_child: dict[str, dict[str, list[float]]] = {
            lb: {n: [] for n, _ in roots} for lb, _, _ in runs
        }
        run_wall: dict[str, list[tuple[int, float, float]]] = {label: [] for label, _, _ in runs}
        rep_c: dict[str, list[float]] = {n: [] for n, _ in roots}
        rep_wall: list[tuple[int, float, float]] = []
        fixed_wall: list[float] = []
        rec: list[Path] = []
        for _ in range(args.rounds):
            for name, root in roots:
                _, fixed, _ = run_bot(ship_cfg, tmpd / "start.db", 1.0, args.seed, root)
                fixed_c[name].append(CPU["last"])
                if name == "this":
                    fixed_wall.append(fixed)
            for label, path, _ in runs:
                for name, root in roots:
                    if (tmpd / "rec").exists():
                        shutil.rmtree(tmpd / "rec")
                    r = run_bot(path, tmpd / "sim.db", args.seconds, args.seed, root)
                    run_c[label][name].append(CPU["last"])
                    run_child[label][name].append(CPU["child"])
                    if name == "this":
                        run_wall[label].append(r)
                        if path == sim_cfg:
                            keep = tmpd / "rec-this"
                            if keep.exists():
                                shutil.rmtree(keep)
                            shutil.copytree(tmpd / "rec", keep)
                            rec = sorted(keep.rglob("*.jsonl.*"))
            if args.no_recording:
                continue
            rep_data = dict(data)
            rep_data["market_data"] = {
                "source": "replay",
                "speed": "max",
                "replay_paths": [str(tmpd / "rec-this")],
            }
            rep_cfg = tmpd / "replay.yaml"
            rep_cfg.write_text(yaml.safe_dump(rep_data))
            for name, root in roots:
                r = run_bot(rep_cfg, tmpd / "replay.db", None, args.seed, root)
                rep_c[name].append(CPU["last"])
                if name == "this":
                    rep_wall.append(r)

        fixed = min(fixed_wall)
        fixed_cpu = min(fixed_c["this"])
        print(
            f"bot.py start and stop (imports, migrations of a new database, 1 s of market): "
            f"{fixed:.1f} s ({fixed_cpu:.1f} CPU s)"
        )
        cpu_line("every run", fixed_c, ratios=False)
        bare_wall = bare_run["wall"]
        for label, _, _ in runs:
            walls = run_wall[label]
            events, wall, rss = min(walls, key=lambda w: w[1])
            eps = events / wall
            print(
                f"bot.py --speed max on the simulator ({label}): {events:,} events in "
                f"{wall:.1f} s = {eps:,.0f} events/s, {bare / eps:.2f}x the bare engine's wall "
                f"time ({max(wall - fixed, 1e-9) / bare_wall:.2f}x without the {fixed:.1f} s "
                f"start), peak RSS {rss:,.0f} MB"
            )
            # CPU seconds do not depend on the machine's load as much as wall time does: the
            # process's user + system time (writer thread and the simulator's child included)
            # against the bare engine's; then the parent alone (the child's own CPU apart).
            i = min(range(len(walls)), key=lambda j: walls[j][1])
            total = run_c[label]["this"][i]
            child = run_child[label]["this"][i]
            line = (
                f"  in CPU seconds (the fastest run): bot.py {total:.1f} s, bare engine "
                f"{bare_cpu:.1f} s: {total / bare_cpu:.2f}x in all"
            )
            if child > 0:
                line += (
                    f"; of which the simulator's child process {child:.1f} s, bot.py's own "
                    f"process {total - child:.1f} s ({(total - child) / bare_cpu:.2f}x; "
                    f"{(total - child - fixed_cpu) / bare_cpu:.2f}x without the start)"
                )
            else:
                line += (
                    f" ({(total - fixed_cpu - gen_cpu) / bare_cpu:.2f}x without the start and the "
                    f"simulator's own {gen_cpu:.1f} CPU s)"
                )
            print(line)
            cpu_line("every run", run_c[label])
        if args.no_recording:
            rep_wall = []
        if rep_wall:
            size = sum(p.stat().st_size for p in rec)
            events, wall, rss = min(rep_wall, key=lambda w: w[1])
            eps = events / wall
            print(
                f"bot.py replaying the recording ({len(rec)} file(s), {size / 1e6:.1f} MB): "
                f"{events:,} events in {wall:.1f} s = {eps:,.0f} events/s, "
                f"{bare / eps:.2f}x the bare engine's time "
                f"({max(wall - fixed, 1e-9) / bare_wall:.2f}x without the start), "
                f"peak RSS {rss:,.0f} MB"
            )
            best = min(rep_c["this"])
            print(
                f"  in CPU seconds: bot.py {best:.1f} s, bare engine {bare_cpu:.1f} s: "
                f"{best / bare_cpu:.2f}x ({(best - fixed_cpu) / bare_cpu:.2f}x without the start)"
            )
            cpu_line("every run", rep_c)
    seen: dict[str, set[int]] = {}
    for name, events in EVENTS:
        seen.setdefault(name, set()).add(events)
    for name, counts in seen.items():
        if len(counts) > 1:  # the same config and seed must give the same events every run
            print(f"WARNING: {name} runs processed different event counts: {sorted(counts)}")


if __name__ == "__main__":
    main()
