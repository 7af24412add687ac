"""The OS keyring as the key store (``keys.backend: keyring``), through the ``keyring`` library.

Each secret is one keyring entry ``(service, name)``; a ``__meta__`` entry records which are
set and when (no values), so ``status`` needs no secret. The keyring protects the values itself
(the user's login unlocks it), so no passphrase is asked. Same interface as
:class:`services.keys.store.KeyStore`: ``exists``, ``status``, ``load``, ``save``, ``update``,
``rotate``, ``forget``. Any keyring failure (no backend on a headless server, a locked keyring)
is a :class:`KeyStoreError` saying so; no message carries a value.

keyring API used (keyring 25, ``keyring/core.py``): ``get_password(service, username)``,
``set_password(service, username, password)``, ``delete_password(service, username)``;
``keyring.errors.KeyringError`` (``NoKeyringError``, ``PasswordDeleteError``) on failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from services.keys.store import SECRET_NAMES, KeyStoreError, Secrets

META = "__meta__"
T = TypeVar("T")


class KeyringStore:
    """Secrets in the OS keyring under ``service``."""

    needs_passphrase = False

    def __init__(self, service: str) -> None:
        self.service = service
        self.path = f"keyring:{service}"  # where, for messages (the file store's path)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        import keyring.errors

        try:
            return fn()
        except keyring.errors.KeyringError as exc:
            raise KeyStoreError(
                f"the OS keyring cannot {what} ({type(exc).__name__}: {exc}); "
                "set keys.backend: file to use the encrypted file instead"
            ) from None

    def _get(self, name: str) -> str | None:
        import keyring

        return self._call("be read", lambda: keyring.get_password(self.service, name))

    def _meta(self) -> dict[str, Any]:
        raw = self._get(META)
        if not raw:
            return {}
        try:
            meta = json.loads(raw)
        except ValueError:
            return {}
        return meta if isinstance(meta, dict) else {}

    def exists(self) -> bool:
        """Return whether any secret is stored."""
        return bool(self._meta().get("names"))

    def status(self) -> dict[str, Any]:
        """Return which secrets are set and when (no values)."""
        meta = self._meta()
        names = dict(meta.get("names") or {})
        return {
            "exists": bool(names),
            "names": names,
            "updated": meta.get("updated"),
            "path": self.path,
        }

    def load(self, passphrase: str = "") -> Secrets:
        """Return the stored secrets (``passphrase`` is ignored: the keyring guards them)."""
        names = self._meta().get("names") or {}
        if not names:
            raise KeyStoreError(f"nothing stored in {self.path}: run `python bot.py keys set`")
        values = {n: self._get(n) or "" for n in SECRET_NAMES if n in names}
        return Secrets({k: v for k, v in values.items() if v})

    def save(
        self,
        passphrase: str,
        values: Mapping[str, str],
        *,
        keep_times: Mapping[str, float] | None = None,
        now: float | None = None,
    ) -> None:
        """Replace the stored set with ``values`` (``passphrase`` ignored)."""

        unknown = sorted(set(values) - set(SECRET_NAMES))
        if unknown:
            raise KeyStoreError(f"unknown secret name(s): {', '.join(unknown)}")
        ts = time.time() if now is None else now
        keep = dict(keep_times or {})
        clean = {k: v for k, v in values.items() if v}
        for name in SECRET_NAMES:
            if name in clean:
                self._set(name, clean[name])
            else:
                self._delete(name)
        meta = {"names": {k: keep.get(k, ts) for k in sorted(clean)}, "updated": ts}
        self._set(META, json.dumps(meta))

    def _set(self, name: str, value: str) -> None:
        import keyring

        def put() -> None:
            keyring.set_password(self.service, name, value)

        self._call("store a secret", put)

    def update(self, passphrase: str, changes: Mapping[str, str]) -> None:
        """Set some secrets, keeping the others."""
        current = dict(self.load().values) if self.exists() else {}
        times = self.status()["names"]
        given = {k: v for k, v in changes.items() if v}
        current.update(given)
        keep = {k: t for k, t in times.items() if k not in given}
        self.save(passphrase, current, keep_times=keep)

    def rotate(self, old: str, new: str) -> None:
        """Refuse: the keyring has no passphrase of ours to rotate."""
        raise KeyStoreError(
            "keys.backend is keyring: there is no passphrase to rotate (the OS keyring is "
            "unlocked by your login)"
        )

    def forget(self) -> bool:
        """Delete every stored secret; return whether there was any."""
        had = self.exists()
        for name in (*SECRET_NAMES, META):
            self._delete(name)
        return had

    def _delete(self, name: str) -> None:
        import keyring
        import keyring.errors

        try:
            keyring.delete_password(self.service, name)
        except keyring.errors.PasswordDeleteError:
            pass  # not set
        except keyring.errors.KeyringError as exc:
            raise KeyStoreError(
                f"the OS keyring cannot delete a secret ({type(exc).__name__}: {exc})"
            ) from None
