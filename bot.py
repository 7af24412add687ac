"""Market Strategy Testing Bot: many strategies compete on one market, each with its own capital.

Usage: ``python bot.py [--config PATH] [--seed N] [--speed N|max] [--duration S] [--db PATH]``,
or ``python bot.py control ...`` (kill switch, pause/resume, status; see docs/SAFETY.md).
See README.md and ``python bot.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

from utils.errors import ConfigError, StoreError

log = logging.getLogger("bot")

EXIT_CONFIG = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        prog="bot.py", description="Run the strategy competition (paper trading)."
    )
    p.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    p.add_argument("--seed", type=int, help="simulator seed (market_data.seed)")
    p.add_argument("--speed", help="market seconds per wall second, or 'max' (market_data.speed)")
    p.add_argument("--duration", type=float, help="stop after S seconds of market time")
    p.add_argument("--db", help="SQLite database file (bot.db_path)")
    p.add_argument("--quiet", action="store_true", help="no live leaderboard in the terminal")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the web dashboard")
    p.add_argument("--log-format", choices=["text", "json"], help="log line format")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--list-strategies", action="store_true", help="list strategy classes and parameters"
    )
    return p.parse_args(argv)


def find_config(arg: str | None) -> tuple[Path, bool]:
    """Return the config path to use and whether it is the bundled example."""
    if arg:
        return Path(arg), False
    here = Path(__file__).resolve().parent
    for candidate in (Path("config.yaml"), here / "config.yaml"):
        if candidate.is_file():
            return candidate, False
    return here / "config.example.yaml", True


def load_raw(path: Path) -> dict[str, Any]:
    """Read the YAML document (syntax errors become ConfigError)."""
    from utils.config import parse_config, read_yaml

    data = read_yaml(path)  # read once (issue 18: it was parsed twice)
    parse_config(data, str(path))  # full validation first: YAML and schema errors with key paths
    return data or {}


def apply_overrides(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Apply command-line overrides to the raw config document."""
    md = dict(data.get("market_data") or {})
    if args.seed is not None:
        md["seed"] = args.seed
    if args.speed is not None:
        if args.speed == "max":
            md["speed"] = "max"
        else:
            try:
                speed = float(args.speed)
            except ValueError:
                speed = math.nan
            if not (math.isfinite(speed) and speed > 0):
                raise ConfigError(
                    "<command line>", "--speed", "expected a finite number > 0, or 'max'"
                )
            md["speed"] = speed
    if args.duration is not None:
        md["duration_s"] = args.duration
    data["market_data"] = md
    bot = dict(data.get("bot") or {})
    if args.db:
        bot["db_path"] = args.db
        bot.pop("db_url", None)
    if args.log_format:
        bot["log_format"] = args.log_format
    if args.log_level:
        bot["log_level"] = args.log_level
    data["bot"] = bot
    if args.no_dashboard:
        data["dashboard"] = {**(data.get("dashboard") or {}), "enabled": False}
    return data


def check_replay_files(cfg: Any, file: str) -> None:
    """Refuse replay paths that are not recordings before anything starts (a ConfigError)."""
    if cfg.market_data.source == "betfair_replay":
        from services.markets.betfair.replay import check_replay_paths

        check_replay_paths(cfg.market_data.betfair.replay_paths, file)
        return
    if cfg.market_data.source != "replay":
        return
    from services.markets.replay import ReplayFileError, check_recording, recording_files

    for i, p in enumerate(cfg.market_data.replay_paths):
        try:
            for f in recording_files(Path(p).expanduser()):
                check_recording(f)
        except ReplayFileError as exc:
            raise ConfigError(file, f"market_data.replay_paths[{i}]", str(exc)) from exc


def activate_core(mode: tuple[str, str], file: str) -> Any:
    """Install the compiled core per ``(mode, key)`` (docs/COMPILED_CORE.md); return its state.

    ``require`` without a valid build is a ConfigError naming the key (exit 2).
    """
    from services.compiled import CompiledCoreError, activate

    value, key = mode
    try:
        return activate(value)
    except CompiledCoreError as exc:
        reason = exc.args[0]
        raise ConfigError(
            file if key.startswith("bot.") else "<environment>",
            key,
            f"'require' but the compiled core cannot be used: {reason} (or set it to auto or off)",
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    raw = sys.argv[1:] if argv is None else argv
    if raw[:1] == ["control"]:  # `python bot.py control ...`: talk to a running (or stopped) bot
        from services.control_cli import main as control_main

        return control_main(raw[1:])
    if raw[:1] in (["backtest"], ["optimize"], ["history"]):  # docs/BACKTESTING.md
        from services.backtest.cli import main as backtest_cli

        return backtest_cli(raw)
    if raw[:1] == ["recording"]:  # `recording convert OLD NEW`: docs/RECORDING.md
        from services.markets.recording_cli import main as recording_main

        return recording_main(raw[1:])
    if raw[:1] in (["notify"], ["db"]):  # operations: `notify test`, `db backup|restore|prune`
        from services.ops.cli import main as ops_main

        return ops_main(raw)
    if raw[:1] == ["build-core"]:  # the optional compiled core: docs/COMPILED_CORE.md
        from services.compiled.build import main as build_core_main

        return build_core_main(raw[1:])
    if raw[:1] in (["keys"], ["live"]):  # live trading: `keys set|test|rotate|forget|status`,
        from services.keys.cli import main as keys_main  # `live report [--csv FILE]`
        from services.markets.polymarket.live.cli import main as live_main

        return (keys_main if raw[0] == "keys" else live_main)(raw[1:])
    args = parse_args(argv)
    if args.list_strategies:
        from services.strategies.catalog import print_catalog

        try:
            print_catalog()
        except BrokenPipeError:  # e.g. `bot.py --list-strategies | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    path, is_example = find_config(args.config)
    try:
        from utils.config import compiled_core_mode, parse_config

        data = apply_overrides(load_raw(path), args)
        cfg = parse_config(data, str(path))
        # Before anything imports the book or the translator (the strategies' modules do).
        core = activate_core(compiled_core_mode(cfg, str(path)), str(path))
        from services.strategies.loader import build_strategies

        strategies = build_strategies(cfg, str(path))
        check_replay_files(cfg, str(path))
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        print("The bot did not start. Fix the key above and run it again.", file=sys.stderr)
        return EXIT_CONFIG
    from utils.logging_setup import setup_logging

    setup_logging(
        cfg.bot.log_level,
        cfg.bot.log_file or None,
        cfg.bot.log_format,
        console_level="WARNING" if not args.quiet else cfg.bot.log_level,
        max_mb=cfg.bot.log_max_mb,
        backups=cfg.bot.log_backups,
    )
    log.info("%s", core.line())
    if is_example:
        log.info("No config.yaml found; using %s (copy it to config.yaml to customise).", path)
    if not strategies:
        print("Configuration error: no strategy is enabled.", file=sys.stderr)
        return EXIT_CONFIG
    from services.terminal import startup_lines

    d = cfg.dashboard
    url = f"http://{d.host}:{d.port}/" if d.enabled else None
    if url is not None:
        url += f" (access token: DASHBOARD_TOKEN, dashboard.token, or the file {d.token_file})"
    for line in startup_lines(str(path.resolve()), is_example, cfg.db_url(), url, core.line()):
        print(line, flush=True)
    from services.app import run_app

    try:
        return asyncio.run(run_app(cfg, strategies, quiet=args.quiet, config_path=str(path)))
    except StoreError as exc:
        print(f"Database error: {exc}", file=sys.stderr)
        print("The bot did not start.", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:  # live trading: keys or venue not usable
        print(f"Configuration error: {exc}", file=sys.stderr)
        print("The bot did not start.", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
