"""An encrypted key store: scrypt derives a key from a passphrase, AES-256-GCM seals the secrets.

The file (``live.keys_path``, mode 0600) is JSON::

    {"format": "msb-keys", "version": 1,
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<b64>"},
     "cipher": "AES-256-GCM", "nonce": "<b64>", "ciphertext": "<b64>",
     "meta": {"names": {"private_key": <set unix s>, ...}, "updated": <unix s>}}

``meta`` (which secrets are set and when, never a value) is readable without the passphrase so
the dashboard can show it, and is bound to the ciphertext as associated data: editing it makes
decryption fail. Secret values never appear in reprs, logs, exceptions or the database.

References: ``cryptography`` docs, "Key derivation functions: Scrypt" and "Authenticated
encryption: AESGCM" (https://cryptography.io/en/latest/hazmat/primitives/).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from utils.errors import BotError

SECRET_NAMES = ("private_key", "api_key", "api_secret", "api_passphrase")
"""The secrets the live Polymarket client uses (the API triple may be derived from the key)."""

FORMAT = "msb-keys"
SCRYPT_N = 2**15  # about 32 MiB and ~0.1 s per derivation: slow to brute-force, fast to start
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE_LEN = 12


class KeyStoreError(BotError):
    """The key store cannot be read or written (missing, wrong passphrase, tampered)."""


@dataclass(frozen=True)
class Secrets:
    """Decrypted secrets; ``repr`` and ``str`` never show a value."""

    values: Mapping[str, str] = field(repr=False)

    def get(self, name: str) -> str | None:
        """Return one secret, or None when it is not set."""
        v = self.values.get(name)
        return v or None

    def names(self) -> list[str]:
        """Return which secrets are set (names only)."""
        return sorted(k for k, v in self.values.items() if v)

    def __str__(self) -> str:  # pragma: no cover - repr already hides values
        return f"Secrets({', '.join(self.names())})"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode("ascii"), validate=True)


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _aad(meta: Mapping[str, Any]) -> bytes:
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")


class KeyStore:
    """The encrypted secrets file.

    Parameters
    ----------
    path : Path
        Where the encrypted file lives (created with mode 0600).
    """

    needs_passphrase = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    def exists(self) -> bool:
        """Return whether the store file exists."""
        return self.path.is_file()

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError as exc:
            raise KeyStoreError(
                f"no key store at {self.path}: run `python bot.py keys set` first"
            ) from exc
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"the key store {self.path} is unreadable: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyStoreError(f"{self.path} is not a key store written by this bot")
        return doc

    def status(self) -> dict[str, Any]:
        """Return which secrets are set and when (no passphrase needed; no values)."""
        if not self.exists():
            return {"exists": False, "names": {}, "updated": None, "path": str(self.path)}
        meta = self._read().get("meta") or {}
        return {
            "exists": True,
            "names": dict(meta.get("names") or {}),
            "updated": meta.get("updated"),
            "path": str(self.path),
        }

    def load(self, passphrase: str) -> Secrets:
        """Decrypt and return the secrets.

        Raises
        ------
        KeyStoreError
            Missing file, wrong passphrase, or a file that was altered.
        """
        doc = self._read()
        try:
            kdf = doc["kdf"]
            key = _derive(passphrase, _unb64(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
            plain = AESGCM(key).decrypt(
                _unb64(doc["nonce"]), _unb64(doc["ciphertext"]), _aad(doc.get("meta") or {})
            )
        except InvalidTag as exc:
            raise KeyStoreError(
                f"cannot open {self.path}: wrong passphrase, or the file was altered"
            ) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyStoreError(f"the key store {self.path} is damaged: {exc}") from exc
        values = json.loads(plain.decode("utf-8"))
        return Secrets({k: str(v) for k, v in values.items() if k in SECRET_NAMES})

    def save(
        self,
        passphrase: str,
        values: Mapping[str, str],
        *,
        keep_times: Mapping[str, float] | None = None,
        now: float | None = None,
    ) -> None:
        """Encrypt ``values`` under ``passphrase`` and write the file atomically (mode 0600).

        ``values`` replaces the stored set. A secret named in ``keep_times`` keeps that set
        time; the others are stamped now.
        """
        if len(passphrase) < MIN_PASSPHRASE_LEN:
            raise KeyStoreError(
                f"the passphrase must have at least {MIN_PASSPHRASE_LEN} characters"
            )
        unknown = sorted(set(values) - set(SECRET_NAMES))
        if unknown:
            raise KeyStoreError(f"unknown secret name(s): {', '.join(unknown)}")
        ts = time.time() if now is None else now
        keep = dict(keep_times or {})
        clean = {k: v for k, v in values.items() if v}
        meta = {"names": {k: keep.get(k, ts) for k in sorted(clean)}, "updated": ts}
        salt = os.urandom(16)
        nonce = os.urandom(12)
        key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        ct = AESGCM(key).encrypt(nonce, json.dumps(clean).encode("utf-8"), _aad(meta))
        doc = {
            "format": FORMAT,
            "version": 1,
            "kdf": {
                "name": "scrypt",
                "n": SCRYPT_N,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "salt": _b64(salt),
            },
            "cipher": "AES-256-GCM",
            "nonce": _b64(nonce),
            "ciphertext": _b64(ct),
            "meta": meta,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        os.chmod(self.path, 0o600)

    def update(self, passphrase: str, changes: Mapping[str, str]) -> None:
        """Set some secrets, keeping the others (the passphrase must open the current store)."""
        current = dict(self.load(passphrase).values) if self.exists() else {}
        times = self.status()["names"]
        given = {k: v for k, v in changes.items() if v}
        current.update(given)
        keep = {k: t for k, t in times.items() if k not in given}
        self.save(passphrase, current, keep_times=keep)

    def rotate(self, old: str, new: str) -> None:
        """Re-encrypt the same secrets under a new passphrase (new salt and nonce)."""
        secrets = self.load(old)
        self.save(new, dict(secrets.values), keep_times=self.status()["names"])

    def forget(self) -> bool:
        """Overwrite and delete the store; return whether there was one."""
        if not self.exists():
            return False
        size = self.path.stat().st_size
        with open(self.path, "r+b") as fh:
            fh.write(os.urandom(size))
            fh.flush()
            os.fsync(fh.fileno())
        self.path.unlink()
        return True
