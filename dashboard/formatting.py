"""Jinja filters: numbers, money, percentages and times shown the same way on every page."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask


def fmt_ts(ts: float | None, with_date: bool = True) -> str:
    """Format epoch seconds as UTC (``2026-01-01 12:00:05``); ``-`` for None."""
    if ts is None:
        return "-"
    dt = datetime.fromtimestamp(float(ts), tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def fmt_usd(v: float | None, signed: bool = False) -> str:
    """Format USD with thousands separators and cents (``-$1,234.50``)."""
    if v is None:
        return "-"
    v = round(float(v), 2)
    sign = "-" if v < 0 else ("+" if signed and v > 0 else "")
    return f"{sign}${abs(v):,.2f}"


def fmt_pct(v: float | None, digits: int = 2, signed: bool = False) -> str:
    """Format a percentage (``+1.25%``)."""
    if v is None:
        return "-"
    v = round(float(v), digits) + 0.0  # no "-0.00%": -0.0 + 0.0 is +0.0
    if signed and v == 0:
        return f"{0:.{digits}f}%"
    return f"{v:+.{digits}f}%" if signed else f"{v:.{digits}f}%"


def fmt_num(v: float | None, digits: int = 2) -> str:
    """Format a plain number with separators."""
    if v is None:
        return "-"
    return f"{round(float(v), digits) + 0.0:,.{digits}f}"


def fmt_price(v: float | None) -> str:
    """Format a probability price with 3 decimals (``0.530``)."""
    return "-" if v is None else f"{v:.3f}"


def fmt_odds(v: float | None) -> str:
    """Format decimal odds with 2 decimals (``3.05``), as Betfair shows them."""
    return "-" if v is None else f"{v:.2f}"


def fmt_age(seconds: float | None) -> str:
    """Format an age in seconds (``4.2 s``, ``3 min``, ``2.5 h``)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def sign_class(v: float | None) -> str:
    """Return ``pos``, ``neg`` or ``""`` for colouring."""
    if v is None or v == 0:
        return ""
    return "pos" if v > 0 else "neg"


def flatten(params: object, prefix: str = "") -> list[tuple[str, str]]:
    """Return nested parameters as sorted ``("sizing.mode", "fixed_shares")`` rows (no raw
    Python dicts on the page); lists read ``a, b``, None reads ``-``."""
    out: list[tuple[str, str]] = []
    if isinstance(params, dict):
        for k in sorted(params, key=str):
            out.extend(flatten(params[k], f"{prefix}{k}."))
        return out
    key = prefix[:-1]
    if isinstance(params, list | tuple):
        text = ", ".join(str(x) for x in params) or "(none)"
    elif params is None:
        text = "-"
    elif isinstance(params, bool):
        text = "yes" if params else "no"
    else:
        text = str(params)
    return [(key, text)]


def install(app: Flask) -> None:
    """Register the filters on ``app``."""
    app.add_template_filter(fmt_ts, "ts")
    app.add_template_filter(fmt_usd, "usd")
    app.add_template_filter(fmt_pct, "pct")
    app.add_template_filter(fmt_num, "num")
    app.add_template_filter(fmt_price, "price")
    app.add_template_filter(fmt_odds, "odds")
    app.add_template_filter(fmt_age, "age")
    app.add_template_filter(sign_class, "sign")
    app.add_template_filter(flatten, "flatten")
