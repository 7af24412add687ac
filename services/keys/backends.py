"""Which key store the config names: the encrypted file or the OS keyring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.keys.keyring_store import KeyringStore
from services.keys.store import KeyStore


def open_store(cfg: Any) -> KeyStore | KeyringStore:
    """Return the key store ``cfg`` names: the encrypted file ``live.keys_path`` or, with
    ``keys.backend: keyring``, the OS keyring (:class:`KeyringStore`). Both have the same
    methods; ``needs_passphrase`` says whether to ask for one."""
    if cfg.keys.backend == "keyring":
        return KeyringStore(cfg.keys.keyring_service)
    return KeyStore(Path(cfg.live.keys_path))
