"""``python bot.py optimize ...``: search a strategy's parameters with walk-forward validation."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from services.backtest.cli import EXIT_CONFIG, _common, load, parse_time
from services.backtest.trial import OBJECTIVES
from utils.errors import ConfigError


def optimize_parser() -> argparse.ArgumentParser:
    """Return the parser of ``bot.py optimize``."""
    p = argparse.ArgumentParser(
        prog="bot.py optimize",
        description="Search one strategy's parameters on history (grid, random or Bayesian), "
        "validated walk-forward; report in-sample and out-of-sample figures, a sensitivity "
        "table and the deflated Sharpe ratio.",
    )
    _common(p)
    p.add_argument("--strategy", required=True, help="the strategy (its name in the config)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        help="NAME=LO:HI[:STEP] or NAME=A,B,C (repeat; dotted names reach nested parameters)",
    )
    p.add_argument("--method", choices=["grid", "random", "tpe"], default="tpe")
    p.add_argument("--trials", type=int, help="trials per window (backtest.optimizer.trials)")
    p.add_argument("--objective", choices=OBJECTIVES, default="pnl_usd")
    p.add_argument(
        "--walk-forward", choices=["rolling", "anchored", "none"], default="rolling",
        dest="walk_forward",
    )  # fmt: skip
    p.add_argument("--windows", type=int, default=3, help="walk-forward test windows")
    p.add_argument(
        "--train-ratio", type=float, default=3.0, help="train period length / test period length"
    )
    p.add_argument("--workers", type=int, help="local worker processes (backtest.optimizer)")
    p.add_argument("--dask", help="Dask scheduler address, tcp://HOST:8786")
    p.add_argument("--seed", type=int, help="sampler seed (backtest.optimizer.seed)")
    p.add_argument(
        "--batch", type=int, default=4, help="trials asked at once (fixed: results do not "
        "depend on the number of workers)",
    )  # fmt: skip
    p.add_argument("--no-db", action="store_true", help="do not record the run in the database")
    return p


def _check(args: argparse.Namespace, cfg: Any, file: str) -> None:
    names = {e.name for e in cfg.strategies}
    if args.strategy not in names:
        raise ConfigError(file, "--strategy", f"unknown strategy {args.strategy!r}")
    if not args.param:
        raise ConfigError("<command line>", "--param", "give at least one parameter to search")
    for key, lo, hi in (("--windows", 1, 100), ("--batch", 1, 1024)):
        v = getattr(args, key[2:])
        if not lo <= v <= hi:
            raise ConfigError("<command line>", key, f"expected {lo}..{hi}, got {v}")
    if args.trials is not None and not 1 <= args.trials <= 100_000:
        raise ConfigError("<command line>", "--trials", "expected 1..100000")
    if args.workers is not None and not 1 <= args.workers <= 256:
        raise ConfigError("<command line>", "--workers", "expected 1..256")
    if not 0.1 <= args.train_ratio <= 100:
        raise ConfigError("<command line>", "--train-ratio", "expected 0.1..100")


def follow_in_workers(mode: str) -> None:
    """Have local worker processes install the compiled core as this one did.

    They are spawned (nothing is inherited but the environment) and install it from
    ``BOT_COMPILED_CORE`` (``services/__init__.py``), so the mode read from ``bot.compiled_core``
    goes there; the build folder is the same unless ``BOT_COMPILED_CORE_DIR`` says otherwise,
    and then they inherit that too. Dask workers run in their own environment.
    """
    from services.compiled import ENV_MODE

    os.environ[ENV_MODE] = mode


def optimize_main(argv: list[str]) -> int:
    """Run ``bot.py optimize``; return the exit code."""
    args = optimize_parser().parse_args(argv)
    from bot import activate_core, find_config, load_raw
    from utils.config import compiled_core_mode

    try:
        cfg, file = load(args.config, args.db, args.report_dir)
        # As bot.py and bot.py backtest do: the compiled core (bot.compiled_core,
        # docs/COMPILED_CORE.md) before anything imports the book or the translator (trials on
        # one worker run in this process).
        mode = compiled_core_mode(cfg, file)
        core = activate_core(mode, file)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    follow_in_workers(mode[0])
    if not args.quiet:
        print(core.line(), flush=True)
    from services.backtest.optimize import make_pool, optimize, parse_param, walk_forward
    from services.backtest.run import parse_source, source_span

    try:
        _check(args, cfg, file)
        space = [parse_param(s) for s in args.param]
        source = parse_source(args.data)
        start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
        first, last = source_span(source, start, end)
        windows = walk_forward(first, last, args.windows, args.walk_forward, args.train_ratio)
        o = cfg.backtest.optimizer
        raw = load_raw(find_config(args.config)[0])
        base = {"data": raw, "file": file, "strategy": args.strategy, "source": args.data,
                "objective": args.objective}  # fmt: skip
        pool = make_pool(
            args.workers or o.workers, args.dask if args.dask is not None else o.dask_address
        )
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    trials = args.trials or o.trials
    seed = o.seed if args.seed is None else args.seed
    t0 = time.perf_counter()
    try:
        with _Bar(args.quiet, len(windows)) as bar:
            doc = optimize(
                pool, base, space, windows, method=args.method, trials=trials, seed=seed,
                batch=args.batch, progress=bar,
            )  # fmt: skip
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        pool.close()
    wall = time.perf_counter() - t0
    n_trials = len(doc["trials"])
    doc.update(
        {
            "kind": "optimize",
            "config": file,
            "strategy": args.strategy,
            "data": str(source.path),
            "fidelity": source.kind,
            "fidelity_text": source.fidelity,
            "method": args.method,
            "objective": args.objective,
            "walk_forward": args.walk_forward,
            "train_ratio": args.train_ratio,
            "seed": seed,
            "batch": args.batch,
            "workers": "dask " + args.dask if args.dask else args.workers or o.workers,
            "space": [p.__dict__ for p in space],
            "wall_s": round(wall, 3),
            "trials_per_minute": round(n_trials / wall * 60.0, 2) if wall > 0 else None,
            "events": sum(t.get("events", 0) for t in doc["trials"]),
            "first_event_ts": first,
            "last_event_ts": last,
        }
    )
    from services.backtest.report_opt import result_rows, write_optimize_reports

    folder = Path(cfg.backtest.report_dir).expanduser()
    if args.no_db:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        jpath, hpath = write_optimize_reports(doc, folder, f"optimize-{stamp}")
        run_id = None
    else:
        from services.backtest.store import save_run

        def _write(run_id: int) -> tuple[Path, Path]:
            doc["run_id"] = run_id
            return write_optimize_reports(doc, folder, f"optimize-{run_id}")

        run_id, jpath, hpath = save_run(
            cfg.db_url(), kind="optimize", doc=doc, results=result_rows(doc),
            write_reports=_write, busy_timeout_ms=cfg.bot.db_busy_timeout_ms,
        )  # fmt: skip
    _print(doc, run_id, jpath, hpath)
    return 0


class _Bar:
    def __init__(self, quiet: bool, windows: int) -> None:
        self.quiet, self.windows = quiet, windows
        self._bar: Any = None
        self._t0 = time.perf_counter()
        self._done_before = 0
        self._last_done = 0

    def __enter__(self) -> _Bar:
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]optimize"), BarColumn(), TextColumn("{task.description}"),
                TimeElapsedColumn(),
            )  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            return
        if done < self._last_done:
            self._done_before += self._last_done
        self._last_done = done
        n = self._done_before + done
        rate = n / max(1e-9, time.perf_counter() - self._t0) * 60
        self._bar.update(
            self._task, completed=done, total=total,
            description=f"window trial {done}/{total}, {n} trials, {rate:.1f}/min",
        )  # fmt: skip

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _print(doc: dict[str, Any], run_id: int | None, jpath: Path, hpath: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    t = Table(title=f"Optimization{f' {run_id}' if run_id else ''} of {doc['strategy']} "
              f"({doc['method']}, {doc['objective']}, {doc['fidelity']})")  # fmt: skip
    for h in ("window", "best parameters", "in-sample", "out-of-sample", "OOS label", "DSR"):
        t.add_column(h)
    for w in doc["windows"]:
        oos = w["out_of_sample"]
        dsr = w["deflated_sharpe"]["dsr"]
        t.add_row(
            str(w["window"]),
            ", ".join(f"{k}={v}" for k, v in w["best_params"].items()),
            f"{w['in_sample']['objective']:.4g}",
            "-" if oos is None else f"{oos['objective']:.4g}",
            "-" if oos is None else oos["label"],
            "-" if dsr is None else f"{dsr:.2f}",
        )
    console.print(t)
    console.print(
        f"{len(doc['trials'])} trials in {doc['wall_s']:.1f} s "
        f"({doc['trials_per_minute']} trials/min)."
    )
    console.print(f"Report: {hpath}\nJSON:   {jpath}")
