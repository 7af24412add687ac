"""``python bot.py notify test``: send a test notification to the configured URLs.

Exit codes: 0 delivered to every URL, 1 not delivered (after the configured retries), 2 usage or
config error (no URL configured, a URL apprise does not understand).

Examples::

    python bot.py notify test
    python bot.py notify test --config /etc/trading-bot/config.yaml
    python bot.py notify test --url json://127.0.0.1:8080/hook
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot.py notify", description="Notifications.")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    t = sub.add_parser("test", help="send a test notification to notifications.urls")
    t.add_argument("--config", help="config file (default: config.yaml, else config.example.yaml)")
    t.add_argument("--url", action="append", help="send to this apprise URL instead (repeatable)")
    t.add_argument("--message", default=None, help="text of the test message")
    return p


def test_message(source: str, message: str | None = None) -> tuple[str, str]:
    """Return the (title, body) of a test notification sent from ``source``."""
    body = message or (
        f"Test notification from the trading bot ({source}) on {socket.gethostname()} at "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC. If you can read this, "
        "kill-switch, breaker and auto-disable notices will reach you here."
    )
    return "test notification", body


def send_test(urls: list[str], cfg_prefix: str, retries: int, backoff_s: float, source: str,
              message: str | None = None) -> bool:  # fmt: skip
    """Send a test notification to ``urls`` now (with retries); return True if delivered."""
    from services.ops.notify import Notification, Notifier, apprise_sender
    from utils.ops_config import NotificationsConfig

    ncfg = NotificationsConfig(
        enabled=True, urls=urls, retries=retries, retry_backoff_s=backoff_s,  # type: ignore[arg-type]
        title_prefix=cfg_prefix,
    )  # fmt: skip
    notifier = Notifier(ncfg, send=apprise_sender(urls))
    title, body = test_message(source, message)
    return notifier.deliver_now(Notification(f"{cfg_prefix} {title}".strip(), body, "info", "test"))


def main(argv: list[str]) -> int:
    """Entry point of ``bot.py notify ...`` and ``bot.py db ...``; return the exit code."""
    if argv[:1] == ["db"]:
        from services.ops.db_cli import main as db_main

        return db_main(argv[1:])
    args = _parser().parse_args(argv[1:])
    from bot import find_config
    from utils.config import load_config
    from utils.errors import ConfigError

    try:
        path, _example = find_config(args.config)
        cfg = load_config(path).notifications
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    urls = args.url or cfg.url_values()
    if not urls:
        print(
            "Configuration error: notifications.urls is empty; add an apprise URL "
            "(see docs/DEPLOY.md) or pass --url.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        ok = send_test(urls, cfg.title_prefix, cfg.retries, cfg.retry_backoff_s, "command line",
                       args.message)  # fmt: skip
    except ValueError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if ok:
        print(f"Test notification delivered to {len(urls)} URL(s).")
        return EXIT_OK
    print(
        f"Test notification NOT delivered after {cfg.retries + 1} attempt(s); see the log lines "
        "above.",
        file=sys.stderr,
    )
    return EXIT_FAILED
