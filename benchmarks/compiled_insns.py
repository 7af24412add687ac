"""Instruction counts (callgrind) of the hot paths, pure Python against the compiled core.

Each workload runs twice under ``valgrind --tool=callgrind``: set-up only, then set-up plus the
measured pass; the difference is the pass's instructions, divided by its messages/events. The
same is done in pure Python and with each compiled build (``--build DIR``, from
``python bot.py build-core --out DIR``), so the ratio is deterministic on a shared machine (CPU
seconds move +-20 % here). The build is installed with ``BOT_COMPILED_CORE=require`` (the
child fails if it is not valid); pure Python runs with ``BOT_COMPILED_CORE=off``.

Run: ``python benchmarks/compiled_insns.py --build /tmp/core [--work feed,replay,engine]``.
Inside valgrind it runs itself with ``--child WORK [--setup-only]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = os.path.realpath(sys.executable)  # valgrind does not follow pyenv's bash shim
if PY.endswith("/bin/python") or "shims" in PY:
    PY = "/root/.pyenv/versions/3.11.7/bin/python3.11"


def child(work: str, setup_only: bool, n: int) -> None:
    from services.compiled import activate, env_mode

    print(activate(env_mode() or "off").line(), file=sys.stderr)
    if work == "feed":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_feed import bench_live, generate

        insts, frames = generate(n, 100)
        if not setup_only:
            bench_live(insts, frames)
        print(f"units {len(frames)}", file=sys.stderr)
    elif work == "replay":  # bench_feed's replay pass: a format-2 recording read back
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_feed import generate

        from services.markets.polymarket.feed import apply_to_books
        from services.markets.recorder import Recorder, RecorderConfig
        from services.markets.replay import ReplayFeed
        from services.orderbook import BookStore

        insts, frames = generate(n, 100)
        with tempfile.TemporaryDirectory() as tmp:
            rec = Recorder(RecorderConfig(record=True, directory=tmp), source="bench")
            rec.record_instruments(1_795_000_000.0, insts)
            for i, frame in enumerate(frames):
                rec.record_raw(1_795_000_000.0 + i * 1e-4, 0, frame)
            rec.close()
            if not setup_only:
                books = BookStore()
                for batch in ReplayFeed(tmp).iter_batches():
                    apply_to_books(books, batch)
        print(f"units {len(frames)}", file=sys.stderr)
    else:  # engine: the default field, no storage, no safety layer (bench_engine's "default field")
        from services.clock import SimClock
        from services.markets.sim import SimConfig, SimFeed
        from services.node import build_node
        from services.persistence import NullSink
        from services.strategies.loader import build_strategies
        from utils.config import load_config

        cfg_file = str(ROOT / "config.example.yaml")
        cfg = load_config(cfg_file)
        sim_cfg = SimConfig(**{**cfg.market_data.sim.model_dump(), "markets": 50})
        feed = SimFeed(sim_cfg, seed=7, start_ts=cfg.market_data.start_ts, duration_s=n)
        batches = list(feed.iter_batches())
        safety = work == "safety"
        node = build_node(
            cfg,
            build_strategies(cfg, cfg_file),
            NullSink(),
            clock=SimClock(cfg.market_data.start_ts),
            safety=safety,
        )
        engine = node.engine
        engine.start()
        if node.safety is not None:
            node.safety.startup()
        if not setup_only:
            for b in batches:
                engine.process_batch(b)
        print(f"units {sum(len(b) for b in batches)}", file=sys.stderr)
    for m in ("services.orderbook", "services.markets.polymarket.translate", "services.engine"):
        mod = sys.modules.get(m)
        if mod is not None:
            print(f"module {m} {getattr(mod, '__file__', '?')}", file=sys.stderr)


def count(work: str, n: int, setup_only: bool, env: dict[str, str]) -> tuple[int, int]:
    with tempfile.NamedTemporaryFile(suffix=".cg") as out:
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out.name}",
            PY,
            __file__,
            "--child",
            work,
            "--n",
            str(n),
        ] + (["--setup-only"] if setup_only else [])
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
        m = re.search(r"Collected : (\d+)", p.stderr)
        u = re.search(r"units (\d+)", p.stderr)
        if not m or not u:
            raise SystemExit(p.stderr[-3000:])
        return int(m.group(1)), int(u.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--build",
        action="append",
        default=[],
        help="a compiled build directory (repeatable); pure Python always runs",
    )
    ap.add_argument("--work", default="feed,engine")
    ap.add_argument("--feed-messages", type=int, default=20_000)
    ap.add_argument("--engine-seconds", type=int, default=200)
    ap.add_argument("--no-pure", action="store_true", help="skip the pure-Python runs")
    ap.add_argument("--child")
    ap.add_argument("--n", type=int)
    ap.add_argument("--setup-only", action="store_true")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.setup_only, args.n)
        return
    variants = ([] if args.no_pure else [("pure", {"BOT_COMPILED_CORE": "off"})]) + [
        (b, {"BOT_COMPILED_CORE": "require", "BOT_COMPILED_CORE_DIR": str(Path(b).resolve())})
        for b in args.build
    ]
    for work in args.work.split(","):
        n = args.feed_messages if work in ("feed", "replay") else args.engine_seconds
        base = None
        for label, extra in variants:
            env = {**os.environ, "PYTHONHASHSEED": "0", **extra}
            s, _ = count(work, n, True, env)
            t, units = count(work, n, False, env)
            per = (t - s) / units
            base = base or per
            print(
                f"{work:7} {label:30} {t - s:>14,} instr  {units:,} units  "
                f"{per:>10,.0f} per unit  {per / base - 1:+.1%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
