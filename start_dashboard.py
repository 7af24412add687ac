"""Start the web dashboard (Flask + Flask-SocketIO) against the bot's database.

Usage: ``python start_dashboard.py [--config PATH] [--db PATH | --db-url URL] [--host H]
[--port N]``. The bot starts this as a supervised child process; run it alone to watch a bot
that runs elsewhere (or a stopped bot's database). It serves with gevent's WSGI server (a
production server; WebSockets through simple-websocket), never Werkzeug's development server.
See docs/DASHBOARD.md.
"""

from __future__ import annotations

if __name__ == "__main__":
    # gevent serves the dashboard: patch the standard library before anything imports it, so
    # locks, sleeps and sockets cooperate with the server's greenlets.
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

EXIT_CONFIG = 2
EXIT_SERVE = 3

log = logging.getLogger("dashboard")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(prog="start_dashboard.py", description="Run the web dashboard.")
    p.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    p.add_argument("--db", help="SQLite database file (bot.db_path)")
    p.add_argument("--db-url", help="SQLAlchemy database URL (bot.db_url)")
    p.add_argument("--host", help="listen address (dashboard.host)")
    p.add_argument("--port", type=int, help="listen port (dashboard.port)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process (the bot) is gone (set by the bot's supervisor)",
    )
    return p.parse_args(argv)


def load(args: argparse.Namespace) -> Any:
    """Load the config and apply the command-line overrides (raises ConfigError)."""
    import yaml

    from bot import find_config
    from utils.config import load_config, parse_config
    from utils.errors import ConfigError

    path, _example = find_config(args.config)
    load_config(path)  # full validation first, with file and key in the message
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    bot = dict(data.get("bot") or {})
    from utils.redact import DB_URL_ENV

    # The bot hands its URL over in the environment (a password on the command line would be
    # visible to every local user through ps); --db-url is for a dashboard started by hand.
    env_url = os.environ.get(DB_URL_ENV)
    if args.db_url:
        bot["db_url"] = args.db_url
    elif args.db:
        bot["db_path"] = args.db
        bot.pop("db_url", None)
    elif env_url:
        bot["db_url"] = env_url
    data["bot"] = bot
    dash = dict(data.get("dashboard") or {})
    if args.host:
        dash["host"] = args.host
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            raise ConfigError("<command line>", "--port", "expected 1-65535")
        dash["port"] = args.port
    data["dashboard"] = dash
    return parse_config(data, str(path)), path


def _watch_parent(pid: int, stop: Any) -> None:
    # The bot may die without stopping us (kill -9): do not outlive it as an orphan.
    while True:
        time.sleep(1.0)
        if os.getppid() != pid:
            log.warning("The bot (pid %d) is gone; the dashboard stops.", pid)
            stop()
            return


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    if args.parent_pid:
        # Ctrl-C in the terminal reaches the whole process group: the bot stops this child
        # itself (SIGTERM), so the child ignores SIGINT instead of logging a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    from utils.errors import ConfigError

    try:
        cfg, path = load(args)
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=args.log_level or cfg.bot.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from dashboard.token import TokenError, resolve_token

    try:
        token = resolve_token(cfg.dashboard)
    except TokenError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if token.created:
        # Printed once, to the terminal only (never to a log).
        print(
            f"Dashboard access token (saved to {token.path}, shown only now): {token.value}",
            flush=True,
        )
    from database.engine import migrate

    url = cfg.db_url()
    migrate(url)
    from dashboard.app import create_app
    from dashboard.server import serve

    app = create_app(cfg, token=token.value, async_mode="gevent")
    # Everything built so far lives as long as the process: keep it out of the garbage
    # collector's scans (shorter pauses under load).
    gc.collect()
    gc.freeze()
    host, port = cfg.dashboard.host, cfg.dashboard.port
    if args.parent_pid:
        threading.Thread(
            target=_watch_parent,
            args=(args.parent_pid, lambda: os._exit(0)),
            name="parent-watch",
            daemon=True,
        ).start()
    log.info("Dashboard on http://%s:%d (gevent server; config %s).", host, port, path)
    print(f"Dashboard: http://{host}:{port}", flush=True)
    try:
        serve(app, host, port)
    except OSError as exc:
        print(f"The dashboard cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return EXIT_SERVE
    except KeyboardInterrupt:
        log.info("Dashboard stopped (Ctrl-C).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
