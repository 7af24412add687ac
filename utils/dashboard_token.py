"""The dashboard's control token: where it comes from, how it is stored, how it is compared.

Order of precedence: ``dashboard.token`` in the config (normally ``${DASHBOARD_TOKEN}``), then the
``DASHBOARD_TOKEN`` environment variable, then ``dashboard.token_file``; if that file does not
exist a random token is generated into it with owner-only permissions (0600) and the caller
prints it once. This module imports nothing from Flask: the bot uses it before starting the
dashboard process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from utils.config import DashboardConfig

TOKEN_ENV = "DASHBOARD_TOKEN"
"""Environment variable holding the control token."""

MIN_TOKEN_LEN = 16
"""Shortest token accepted from config or environment, characters."""

_TOKEN_BYTES = 32


@dataclass(frozen=True)
class ResolvedToken:
    """A control token and where it came from.

    Attributes
    ----------
    value : str
        The token (never log or render it).
    source : str
        ``"config"``, ``"env"``, ``"file"`` or ``"generated"``.
    path : Path or None
        The token file for ``"file"`` / ``"generated"``.
    """

    value: str = field(repr=False)
    source: str
    path: Path | None = None

    @property
    def created(self) -> bool:
        """Return whether the token was generated just now (print it once)."""
        return self.source == "generated"


class TokenError(ValueError):
    """The configured token is unusable (too short, unreadable file...)."""


def resolve_token(
    cfg: DashboardConfig,
    env: Mapping[str, str] | None = None,
    *,
    base_dir: Path | None = None,
) -> ResolvedToken:
    """Return the control token, generating and storing one on first start.

    Parameters
    ----------
    cfg : DashboardConfig
        ``token`` and ``token_file`` are read.
    env : Mapping[str, str], optional
        Environment (default ``os.environ``).
    base_dir : Path, optional
        Directory a relative ``token_file`` is resolved against (default: current directory).

    Returns
    -------
    ResolvedToken

    Raises
    ------
    TokenError
        A configured token shorter than ``MIN_TOKEN_LEN``, or a token file that cannot be read,
        is empty or is readable by other users.
    """
    environ = os.environ if env is None else env
    if cfg.token is not None:
        return ResolvedToken(_checked(cfg.token.get_secret_value(), "dashboard.token"), "config")
    from_env = environ.get(TOKEN_ENV, "")
    if from_env:
        return ResolvedToken(_checked(from_env, TOKEN_ENV), "env")
    path = Path(cfg.token_file).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if path.exists():
        return ResolvedToken(_read_token_file(path), "file", path)
    return ResolvedToken(_generate(path), "generated", path)


def _checked(value: str, where: str) -> str:
    value = value.strip()
    if len(value) < MIN_TOKEN_LEN:
        raise TokenError(f"{where} must be at least {MIN_TOKEN_LEN} characters long")
    return value


def _read_token_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenError(f"cannot read the token file {path}: {exc.strerror}") from None
    if os.name == "posix" and mode & 0o077:
        raise TokenError(f"the token file {path} is readable by other users; run: chmod 600 {path}")
    return _checked(text, f"the token file {path}")


def _generate(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    # O_EXCL: two processes starting at once cannot both write; the loser reads the winner's.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token_file(path)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


def tokens_equal(given: str | None, expected: str) -> bool:
    """Compare a presented token with the real one in constant time.

    Parameters
    ----------
    given : str or None
        What the client sent (None or empty is never equal).
    expected : str
        The real token.
    """
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def session_secret(token: str) -> bytes:
    """Derive the cookie-signing key from the token (a new token logs every browser out)."""
    return hmac.new(token.encode("utf-8"), b"dashboard-session-v1", hashlib.sha256).digest()
