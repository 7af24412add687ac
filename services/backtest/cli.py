"""``python bot.py backtest ...`` and ``python bot.py optimize ...`` (docs/BACKTESTING.md)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from utils.errors import ConfigError

EXIT_CONFIG = 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    p.add_argument(
        "--data",
        required=True,
        help="history: l2:PATH (recordings), l1:FOLDER (quotes + labels), trades:FOLDER "
        "(bot.py history fetch), or a bare path (detected)",
    )
    p.add_argument("--start", help="first event time, UTC (YYYY-MM-DD[ HH:MM[:SS]])")
    p.add_argument("--end", help="end of the window (excluded), UTC")
    p.add_argument("--db", help="SQLite database file where the run is listed (bot.db_path)")
    p.add_argument("--report-dir", help="folder of the JSON and HTML reports (backtest.report_dir)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def backtest_parser() -> argparse.ArgumentParser:
    """Return the parser of ``bot.py backtest``."""
    p = argparse.ArgumentParser(
        prog="bot.py backtest",
        description="Run strategies on history through the bot's own node; write a JSON and an "
        "HTML report and list the run in the database (dashboard: Backtests).",
    )
    _common(p)
    p.add_argument("--strategies", help="comma-separated strategy names (default: all enabled)")
    p.add_argument("--no-db", action="store_true", help="do not record the run in the database")
    return p


def parse_time(text: str | None, key: str) -> float | None:
    """Return epoch seconds of a UTC date or date-time, or None."""
    if text is None:
        return None
    from services.backtest.l1 import parse_ts

    try:
        return parse_ts(text)
    except ValueError as exc:
        raise ConfigError(
            "<command line>", key, f"expected YYYY-MM-DD[ HH:MM[:SS]], got {text!r}"
        ) from exc


def load(config: str | None, db: str | None, report_dir: str | None) -> tuple[Any, str]:
    """Return the validated config (with command-line overrides) and its file name."""
    from bot import find_config, load_raw
    from utils.config import parse_config

    path, _ = find_config(config)
    data = load_raw(path)
    if db:
        data["bot"] = {**(data.get("bot") or {}), "db_path": db}
        data["bot"].pop("db_url", None)
    if report_dir:
        data["backtest"] = {**(data.get("backtest") or {}), "report_dir": report_dir}
    return parse_config(data, str(path)), str(path)


def select(cfg: Any, names: str | None, file: str) -> Any:
    """Return the config restricted to the named strategies (all enabled ones when None)."""
    if not names:
        return cfg
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {e.name: e for e in cfg.strategies}
    missing = [n for n in wanted if n not in known]
    if missing:
        raise ConfigError(
            file,
            "--strategies",
            f"unknown strategy {', '.join(missing)} (known: {', '.join(known)})",
        )
    entries = [known[n].model_copy(update={"enabled": True}) for n in wanted]
    return cfg.model_copy(update={"strategies": entries})


class ProgressBar:
    """A rich progress bar over event time (ETA when the span is known) with events/s."""

    def __init__(self, first: float | None, last: float | None, quiet: bool) -> None:
        self.quiet = quiet
        self._bar: Any = None
        self.first, self.last = first, last
        self._t0 = time.perf_counter()

    def __enter__(self) -> ProgressBar:
        if self.quiet:
            return self
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]backtest"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            transient=False,
        )
        self._bar.__enter__()
        total = (self.last - self.first) if self.first is not None and self.last else None
        self._task = self._bar.add_task("run", total=total or None, info="")
        return self

    def __call__(self, events: int, ts: float) -> None:
        if self._bar is None:
            return
        rate = events / max(1e-9, time.perf_counter() - self._t0)
        done = ts - self.first if self.first is not None else 0.0
        self._bar.update(
            self._task, completed=max(0.0, done), info=f"{events:,} events, {rate:,.0f}/s"
        )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def backtest_main(argv: list[str]) -> int:
    """Run ``bot.py backtest``; return the exit code."""
    args = backtest_parser().parse_args(argv)
    try:
        from bot import activate_core
        from utils.config import compiled_core_mode

        cfg, file = load(args.config, args.db, args.report_dir)
        # As bot.py does: the compiled core (bot.compiled_core, docs/COMPILED_CORE.md) before
        # anything imports the book or the translator (an L2 backtest replays through both).
        core = activate_core(compiled_core_mode(cfg, file), file)
        from services.backtest.run import parse_source
        from services.strategies.loader import build_strategies

        cfg = select(cfg, args.strategies, file)
        strategies = build_strategies(cfg, file)
        if not strategies:
            raise ConfigError(file, "strategies", "no enabled strategy to backtest")
        source = parse_source(args.data)
        start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
        if start is not None and end is not None and end <= start:
            raise ConfigError("<command line>", "--end", "must be after --start")
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.quiet:
        print(core.line(), flush=True)
    from services.backtest.report import to_dict, write_reports
    from services.backtest.run import run_backtest

    first, last = start, end
    if source.kind != "L2" and (first is None or last is None):
        from services.backtest.run import source_span

        try:  # cheap for L1 and fetched history (read once, cached): gives the bar its ETA
            span = source_span(source, start, end)
        except ConfigError as exc:
            print(f"Configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        first, last = first if first is not None else span[0], last if last is not None else span[1]
    with ProgressBar(first, last, args.quiet) as bar:
        try:
            res = run_backtest(cfg, strategies, source, start_ts=start, end_ts=end, progress=bar)
        except ConfigError as exc:
            print(f"Configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    doc = to_dict(res, config_file=file)
    folder = Path(cfg.backtest.report_dir).expanduser()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    if args.no_db:
        jpath, hpath = write_reports(doc, folder, f"backtest-{stamp}")
        run_id = None
    else:
        from services.backtest.store import result_rows, save_run

        def _write(run_id: int) -> tuple[Path, Path]:
            doc["run_id"] = run_id
            return write_reports(doc, folder, f"backtest-{run_id}")

        run_id, jpath, hpath = save_run(
            cfg.db_url(),
            kind="backtest",
            doc={
                **doc,
                "first_event_ts": res.first_event_ts,
                "last_event_ts": res.last_event_ts,
                "summary": {
                    n: {"label": s["label"], "return_pct": s["return_pct"]}
                    for n, s in doc["strategies"].items()
                },
            },
            results=result_rows(doc),
            write_reports=_write,
            busy_timeout_ms=cfg.bot.db_busy_timeout_ms,
        )
    _print_summary(doc, run_id, jpath, hpath)
    return 0


def _print_summary(doc: dict[str, Any], run_id: int | None, jpath: Path, hpath: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    t = Table(title=f"Backtest{f' {run_id}' if run_id else ''}: {doc['fidelity_text']}")
    for h in ("strategy", "label", "return %", "Sharpe", "max DD %", "fills", "fees USD"):
        t.add_column(h)
    for name, s in doc["strategies"].items():
        t.add_row(
            name,
            s["label"],
            f"{s['return_pct']:.3f}",
            "-" if s["sharpe"] is None else f"{s['sharpe']:.2f}",
            f"{s['max_drawdown_pct']:.2f}",
            str(s["trades"]),
            f"{s['fees'] / 1e6:.2f}",
        )
    console.print(t)
    console.print(
        f"{doc['events']:,} events in {doc['wall_s']:.2f} s ({doc['events_per_s']:,.0f} events/s)."
    )
    console.print(f"Report: {hpath}\nJSON:   {jpath}")


def main(argv: list[str]) -> int:
    """Dispatch ``backtest`` and ``optimize``."""
    if argv[:1] == ["backtest"]:
        return backtest_main(argv[1:])
    if argv[:1] == ["history"]:
        from services.backtest.history_cli import main as history_main

        return history_main(argv[1:])
    if argv[:1] == ["optimize"]:
        from services.backtest.optimize_cli import optimize_main

        return optimize_main(argv[1:])
    print("usage: bot.py backtest|optimize ...", file=sys.stderr)
    return EXIT_CONFIG
