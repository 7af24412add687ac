"""Input validation for the dashboard: every value a user sends is checked here.

Each function takes the raw value (from a form, a query string or a JSON body) and returns the
clean value or raises :class:`ApiError` (HTTP 400, or 404 for unknown things) with a message that
names the field and says what was expected. Messages never echo secrets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from werkzeug.routing import BaseConverter

REASON_MIN = 3
REASON_MAX = 500
TEXT_MAX = 4000
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


MAX_DB_ID = 2**63 - 1
"""Largest id a database row can have (SQLite INTEGER); larger ids name nothing."""


class DbIdConverter(BaseConverter):
    """URL converter ``<dbid:name>``: a row id of 1-19 digits that fits a database integer.

    Werkzeug's ``<int:...>`` accepts any length, and a 20-digit id then overflowed SQLite's
    integer binding into a 500; here it simply does not match (404).
    """

    regex = r"\d{1,19}"

    def to_python(self, value: str) -> int:
        """Return the id; an out-of-range one does not match the route (404)."""
        from werkzeug.routing import ValidationError

        n = int(value)
        if n > MAX_DB_ID:
            raise ValidationError()
        return n

    def to_url(self, value: Any) -> str:
        """Return the id as digits."""
        return str(int(value))


class ApiError(Exception):
    """A client error answered as ``{"error": message, "field": field}`` with ``status``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def payload(self) -> dict[str, Any]:
        """Return the JSON body of the error response."""
        out: dict[str, Any] = {"error": self.message}
        if self.field:
            out["field"] = self.field
        return out


def bad(field: str, message: str) -> ApiError:
    """Return a 400 error about ``field``."""
    return ApiError(400, f"{field}: {message}", field)


def text(
    data: Mapping[str, Any],
    field: str,
    *,
    required: bool = False,
    min_len: int = 0,
    max_len: int = TEXT_MAX,
) -> str | None:
    """Return a stripped string field (None when absent and optional)."""
    raw = data.get(field)
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if required:
            raise bad(field, "is required")
        return None
    if not isinstance(raw, str):
        raise bad(field, "must be a string")
    value = raw.strip()
    if len(value) < min_len or len(value) > max_len:
        raise bad(field, f"must be {min_len}-{max_len} characters long (got {len(value)})")
    if "\x00" in value:
        raise bad(field, "must not contain NUL characters")
    return value


def reason(data: Mapping[str, Any], field: str = "reason") -> str:
    """Return the required reason of a control action (3-500 characters)."""
    value = text(data, field, required=True, min_len=REASON_MIN, max_len=REASON_MAX)
    assert value is not None
    return value


def name(data: Mapping[str, Any], field: str = "strategy", *, required: bool = True) -> str | None:
    """Return a strategy-name field (letters, digits, ``_ . -``, up to 64)."""
    value = text(data, field, required=required, max_len=64)
    if value is not None and not NAME_RE.match(value):
        raise bad(field, "must be 1-64 letters, digits, '_', '.' or '-'")
    return value


def ident(data: Mapping[str, Any], field: str, *, required: bool = True) -> str | None:
    """Return an instrument-id field (up to 128 of letters, digits, ``_ . : -``)."""
    value = text(data, field, required=required, max_len=128)
    if value is not None and not ID_RE.match(value):
        raise bad(field, "must be 1-128 letters, digits, '_', '.', ':' or '-'")
    return value


def boolean(data: Mapping[str, Any], field: str, default: bool = False) -> bool:
    """Return a boolean (JSON true/false, or form values on/true/1/yes and off/false/0/no)."""
    raw = data.get(field)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(raw, str) and raw.lower() in ("0", "false", "off", "no"):
        return False
    raise bad(field, "must be true or false")


def integer(
    data: Mapping[str, Any],
    field: str,
    *,
    lo: int,
    hi: int,
    required: bool = False,
    default: int | None = None,
) -> int | None:
    """Return an integer in ``[lo, hi]`` (``default`` when absent and optional)."""
    raw = data.get(field)
    if raw is None or raw == "":
        if required:
            raise bad(field, "is required")
        return default
    if isinstance(raw, bool):
        raise bad(field, "must be a whole number")
    try:
        value = int(raw) if not isinstance(raw, float) or raw.is_integer() else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise bad(field, "must be a whole number")
    if not lo <= value <= hi:
        raise bad(field, f"must be between {lo} and {hi} (got {value})")
    return value


def number(
    data: Mapping[str, Any],
    field: str,
    *,
    lo: float,
    hi: float,
    required: bool = False,
    default: float | None = None,
    lo_open: bool = False,
) -> float | None:
    """Return a finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    raw = data.get(field)
    if raw is None or raw == "":
        if required:
            raise bad(field, "is required")
        return default
    if isinstance(raw, bool):
        raise bad(field, "must be a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise bad(field, "must be a number") from None
    if not math.isfinite(value):
        raise bad(field, "must be a finite number")
    if value < lo or value > hi or (lo_open and value == lo):
        left = "(" if lo_open else "["
        raise bad(field, f"must be in {left}{lo:g}, {hi:g}] (got {value:g})")
    return value


def choice(
    data: Mapping[str, Any],
    field: str,
    options: tuple[str, ...],
    *,
    required: bool = True,
    default: str | None = None,
) -> str | None:
    """Return one of ``options`` (exact match)."""
    raw = data.get(field)
    if raw is None or raw == "":
        if required:
            raise bad(field, f"is required (one of {', '.join(options)})")
        return default
    if not isinstance(raw, str) or raw not in options:
        raise bad(field, f"must be one of {', '.join(options)}")
    return raw


def hours(data: Mapping[str, Any], default: float = 24.0) -> float:
    """Return the ``hours`` window of history queries (0 < hours <= 8760)."""
    value = number(data, "hours", lo=0.0, hi=8760.0, default=default, lo_open=True)
    assert value is not None
    return value


def limit(data: Mapping[str, Any], default: int = 100, hi: int = 1000) -> int:
    """Return a ``limit`` query parameter (1..hi)."""
    value = integer(data, "limit", lo=1, hi=hi, default=default)
    assert value is not None
    return value


def offset(data: Mapping[str, Any]) -> int:
    """Return an ``offset`` query parameter (0..10,000,000)."""
    value = integer(data, "offset", lo=0, hi=10_000_000, default=0)
    assert value is not None
    return value
