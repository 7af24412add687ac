"""Helpers shared by the blueprints: request data, responses, fragments, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from flask import Response, flash, jsonify, redirect, render_template, request, stream_with_context
from sqlalchemy.orm import Session

from dashboard.data.leaderboard import strategy_exists
from dashboard.security import wants_json
from dashboard.validation import ApiError


def body() -> dict[str, Any]:
    """Return the request's JSON object or form fields as a dict (400 for other JSON)."""
    if request.is_json:
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # json's parser recurses per level: a hostile body
            raise ApiError(400, "the request body nests too deep") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data
    return {k: v for k, v in request.form.items()}


def query() -> dict[str, Any]:
    """Return the query-string parameters as a dict (first value of each)."""
    return {k: v for k, v in request.args.items()}


def require_strategy(session: Session, name: str) -> str:
    """Return ``name`` if it is a known strategy, else raise a 404 ApiError."""
    if not strategy_exists(session, name):
        raise ApiError(404, f"unknown strategy {name!r}", "strategy")
    return name


def safe_next(target: str | None, default: str = "/") -> str:
    """Return ``target`` if it is a local path (no scheme, host or ``//``), else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc:
        return default
    return target


def back() -> str:
    """Return where a browser form should go back to (the same-site referrer, else ``/``)."""
    ref = request.referrer
    if ref:
        parsed = urlparse(ref)
        if parsed.netloc == request.host:
            path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
            return safe_next(path)
    return "/"


def respond(data: dict[str, Any], status: int = 200, *, message: str | None = None) -> Any:
    """Answer JSON, or for a plain browser form flash ``message`` and go back."""
    if wants_json():
        return jsonify(data), status
    flash(message or data.get("message") or "Done.", "ok" if status < 400 else "error")
    return redirect(back(), code=303)


def page(template: str, fragments: dict[str, str], **context: Any) -> str:
    """Render ``template``, or only one fragment of it with ``?fragment=NAME``.

    Parameters
    ----------
    template : str
        The page template.
    fragments : dict[str, str]
        Fragment name -> template of the live sections the page shows.
    **context
        Template variables (shared by the page and its fragments).
    """
    name = request.args.get("fragment")
    if name:
        frag = fragments.get(name)
        if frag is None:
            raise ApiError(404, f"unknown fragment {name!r}", "fragment")
        return render_template(frag, **context)
    return render_template(template, **context)


def _csv_safe(v: Any) -> Any:
    # Spreadsheet apps run cells starting with these as formulas: neutralise user/venue text.
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    if isinstance(v, float):
        return csv_float(v)
    return v


def csv_float(v: float) -> str:
    """Format a float cell with at most 6 decimals (``-61.111111``, not ``-61.111111111111114``;
    money is in micro-units, so 6 decimals are exact)."""
    if v != v or v in (float("inf"), float("-inf")):
        return ""
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """Stream a CSV download."""

    def generate() -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        yield buf.getvalue()
        for row in rows:
            buf.seek(0)
            buf.truncate()
            w.writerow([_csv_safe(v) for v in row])
            yield buf.getvalue()

    resp = Response(stream_with_context(generate()), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
