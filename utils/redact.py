"""Keep credentials out of logs, the terminal and command lines.

A database URL such as ``postgresql+psycopg://bot:s3cret@db:5432/bot`` carries its password; every
place that shows a URL shows :func:`redact_url` of it, and the log formatters pass every line
through :func:`redact_secrets` as a last guard (an exception message that quotes a URL, a third
party that logs one).
"""

from __future__ import annotations

import re

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
# scheme://user:password@  (the password is anything up to the last "@" before the host)
_URL_CRED_RE = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^\s/]+)@")
# password=... in a libpq keyword string or a query string
_KV_RE = re.compile(r"(?P<k>\b(?:password|passwd|pwd)\s*=\s*)(?P<v>[^\s&;']+)", re.IGNORECASE)

DB_URL_ENV = "BOT_DB_URL"
"""Environment variable through which the bot hands its database URL to the dashboard child
(never on the command line, where ``ps`` shows it to every local user)."""


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (unchanged if it has none)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return redact_secrets(url)
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def redact_secrets(text: str) -> str:
    """Return ``text`` with URL passwords and ``password=...`` values replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_CRED_RE.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _KV_RE.sub(lambda m: f"{m['k']}{MASK}", text)
