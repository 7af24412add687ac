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
