"""Re-export of the dashboard token helpers, which live in :mod:`utils.dashboard_token` (the bot
uses them too, and services must not import the dashboard package)."""

from utils.dashboard_token import (
    MIN_TOKEN_LEN,
    TOKEN_ENV,
    ResolvedToken,
    TokenError,
    resolve_token,
    session_secret,
    tokens_equal,
)

__all__ = [
    "MIN_TOKEN_LEN",
    "ResolvedToken",
    "TOKEN_ENV",
    "TokenError",
    "resolve_token",
    "session_secret",
    "tokens_equal",
]
