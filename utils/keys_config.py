"""Typed, frozen configuration of where the live secrets are kept (``keys:`` in config.yaml).

``file`` (default): the encrypted file ``live.keys_path`` (scrypt + AES-256-GCM, a passphrase).
``keyring``: the operating system's keyring through the ``keyring`` library (macOS Keychain,
Windows Credential Locker, the Freedesktop Secret Service); no passphrase. See docs/GOING_LIVE.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class KeysConfig(BaseModel):
    """Where ``bot.py keys``, the dashboard's API-keys page and live trading keep the secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["file", "keyring"] = Field(
        "file", description="file: the encrypted live.keys_path; keyring: the OS keyring."
    )
    keyring_service: str = Field(
        "market-strategy-bot",
        min_length=1,
        max_length=100,
        description="Service name the secrets are stored under in the OS keyring.",
    )
