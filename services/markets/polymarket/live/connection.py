"""Test a connection with the stored secrets (``bot.py keys test`` and the dashboard button)."""

from __future__ import annotations

from typing import Any

from services.markets.polymarket.live.venue import ClobVenue, VenueCallError, connect_sdk
from services.money import MICRO
from utils.live_config import LiveConfig


async def test_connection(cfg: LiveConfig, secrets: Any) -> tuple[bool, str]:
    """Authenticate with the venue and read the USDC balance; return (ok, a sentence).

    The sentence names the wallet address and the balance, never a secret.
    """
    try:
        sdk = await connect_sdk(cfg, secrets)
    except VenueCallError as exc:
        return False, f"Connection failed: {exc}"
    except Exception as exc:  # noqa: BLE001 - the SDK's errors carry no secrets (redacted reprs)
        return False, f"Connection failed: {type(exc).__name__}: {exc}"
    venue = ClobVenue(sdk, cfg)
    try:
        balance, allowance = await venue.collateral()
        return True, (
            f"Connection OK: wallet {sdk.wallet} at {cfg.clob_url}; USDC balance "
            f"{balance / MICRO:,.2f}, exchange allowance {allowance / MICRO:,.2f}."
        )
    except VenueCallError as exc:
        return False, f"Authenticated, but reading the balance failed: {exc}"
    finally:
        await venue.close()


CHILD_TIMEOUT_S = 60.0
"""How long the dashboard waits for the connection test's child process."""


def test_connection_in_child(cfg: LiveConfig, secrets: Any) -> tuple[bool, str]:
    """Run :func:`test_connection` in a child Python process; return (ok, a sentence).

    The dashboard serves with gevent and monkey-patches the standard library; the SDK's asyncio
    client cannot run there (``asyncio.run`` fails: gevent's ``select`` has no ``epoll``). The
    child is a plain interpreter. The live settings and the secrets travel on its stdin (never
    on the command line or in the environment); it answers one JSON line on stdout.
    """
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    payload = json.dumps(
        {
            "live": cfg.model_dump(mode="json"),
            "secrets": {n: secrets.get(n) for n in secrets.names()},
        }
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "services.markets.polymarket.live.connection"],
            input=payload,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            cwd=str(root),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"Connection failed: no answer within {CHILD_TIMEOUT_S:g} s"
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return False, f"Connection failed: the test process exited with code {done.returncode}"
    answer = json.loads(lines[-1])
    return bool(answer["ok"]), str(answer["message"])


def _child_main() -> int:
    """Read ``{"live": ..., "secrets": ...}`` on stdin, print ``{"ok", "message"}``."""
    import asyncio
    import json
    import sys

    from services.keys.store import Secrets

    req = json.loads(sys.stdin.read())
    cfg = LiveConfig.model_validate(req["live"])
    ok, message = asyncio.run(test_connection(cfg, Secrets(req["secrets"])))
    print(json.dumps({"ok": ok, "message": message}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_child_main())
