"""``python bot.py keys set | test | rotate | forget | status``: the encrypted key store.

The store (``live.keys_path``) holds the wallet's private key and the CLOB API credentials,
encrypted with a key derived from a passphrase (scrypt + AES-256-GCM, see ``store.py``). The
passphrase comes from the environment variable named by ``live.passphrase_env`` (default
``MSB_KEYS_PASSPHRASE``) or from a prompt. Secrets are read from prompts (hidden) or, with
``--from-env``, from ``POLYMARKET_PRIVATE_KEY``, ``POLYMARKET_API_KEY``,
``POLYMARKET_API_SECRET`` and ``POLYMARKET_API_PASSPHRASE``. Nothing here prints or logs a
secret.

Exit codes: 0 done, 1 refused (wrong passphrase, connection failed), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from datetime import UTC, datetime
from typing import Any

from services.keys.backends import open_store
from services.keys.store import SECRET_NAMES, KeyStoreError, Secrets

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
ENV_NAMES = {
    "private_key": "POLYMARKET_PRIVATE_KEY",
    "api_key": "POLYMARKET_API_KEY",
    "api_secret": "POLYMARKET_API_SECRET",
    "api_passphrase": "POLYMARKET_API_PASSPHRASE",
}
NEW_PASSPHRASE_ENV = "MSB_KEYS_NEW_PASSPHRASE"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bot.py keys", description="Manage the encrypted wallet key and API credentials."
    )
    p.add_argument("--config", help="config file (default: config.yaml, else the example)")
    sub = p.add_subparsers(dest="action", required=True)
    s = sub.add_parser("set", help="store or replace secrets (hidden prompts, blank keeps)")
    s.add_argument("--from-env", action="store_true", help="read POLYMARKET_* variables")
    sub.add_parser("test", help="decrypt and test the connection to the venue")
    sub.add_parser("rotate", help=f"re-encrypt under a new passphrase (${NEW_PASSPHRASE_ENV})")
    f = sub.add_parser("forget", help="overwrite and delete the store")
    f.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_parser("status", help="show which secrets are set and when (no passphrase)")
    return p


def _ask_passphrase(env: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise KeyStoreError(f"no passphrase: set {env} or run in a terminal to be prompted")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat it: ") != first:
        raise KeyStoreError("the two passphrases differ")
    return first


def _when(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return "?"


def main(argv: list[str]) -> int:
    """Run one ``keys`` action; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        cfg = _load_config(args.config)
    except Exception as exc:  # noqa: BLE001 - any config problem is a usage error here
        print(f"Configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = open_store(cfg)
    env = cfg.live.passphrase_env

    def _passphrase(env: str, prompt: str, *, confirm: bool = False) -> str:
        # The OS keyring (keys.backend: keyring) needs no passphrase of ours.
        return _ask_passphrase(env, prompt, confirm=confirm) if store.needs_passphrase else ""

    try:
        if args.action == "status":
            st = store.status()
            if not st["exists"]:
                print(f"No key store at {st['path']}.")
                return EXIT_OK
            print(f"Key store {st['path']} (updated {_when(st['updated'])}):")
            for name in SECRET_NAMES:
                ts = st["names"].get(name)
                print(f"  {name:15s} {'set ' + _when(ts) if ts else 'not set'}")
            return EXIT_OK
        if args.action == "set":
            values = _read_secrets(args.from_env)
            if not values:
                print("Nothing to store (every value was blank).", file=sys.stderr)
                return EXIT_USAGE
            passphrase = _passphrase(env, "Key-store passphrase: ", confirm=not store.exists())
            store.update(passphrase, values)
            how = "encrypted" if store.needs_passphrase else "OS keyring"
            print(f"Stored {', '.join(sorted(values))} in {store.path} ({how}).")
            return EXIT_OK
        if args.action == "rotate":
            if not store.needs_passphrase:
                store.rotate("", "")  # refuses with the reason
            old = _passphrase(env, "Current passphrase: ")
            new = _passphrase(NEW_PASSPHRASE_ENV, "New passphrase: ", confirm=True)
            store.rotate(old, new)
            print(f"Re-encrypted {store.path} under the new passphrase.")
            return EXIT_OK
        if args.action == "forget":
            confirmed = args.yes or (
                sys.stdin.isatty() and input(f"Delete {store.path}? [y/N] ") == "y"
            )
            if not confirmed:
                print("Nothing deleted.")
                return EXIT_REFUSED
            print("Deleted." if store.forget() else f"No key store at {store.path}.")
            return EXIT_OK
        if args.action == "test":
            secrets = store.load(_passphrase(env, "Key-store passphrase: "))
            return asyncio.run(_test(cfg, secrets))
    except KeyStoreError as exc:
        print(f"Key store: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_USAGE


def _read_secrets(from_env: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in SECRET_NAMES:
        if from_env:
            v = os.environ.get(ENV_NAMES[name], "")
        elif sys.stdin.isatty():
            v = getpass.getpass(f"{name} (blank keeps the stored value): ")
        else:
            v = ""
        if v.strip():
            out[name] = v.strip()
    return out


async def _test(cfg: Any, secrets: Secrets) -> int:
    from services.markets.polymarket.live.connection import test_connection

    ok, message = await test_connection(cfg.live, secrets)
    print(message)
    return EXIT_OK if ok else EXIT_REFUSED


def _load_config(arg: str | None) -> Any:
    import bot
    from utils.config import load_config

    path, _ = bot.find_config(arg)
    return load_config(path)
