"""Login and logout of browser sessions (the token is typed once; a signed cookie follows)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, session, url_for

from dashboard.blueprints.util import safe_next
from dashboard.context import ctx
from dashboard.security import client_addr, csrf_token, log_in, logged_in, wants_json
from dashboard.token import tokens_equal

bp = Blueprint("auth", __name__)


@bp.get("/login")
def login_form() -> Any:
    """Show the login form."""
    return render_template(
        "login.html", next=safe_next(request.args.get("next")), error=None, token_file=_token_file()
    )


@bp.post("/login")
def login() -> Any:
    """Check the token (constant time, rate-limited per address) and start a session."""
    d = ctx()
    nxt = safe_next(request.form.get("next") or request.args.get("next"))
    addr = client_addr()
    given = request.form.get("token", "")
    if not tokens_equal(given.strip(), d.token):
        # The correct token always logs in; only wrong guesses are limited.
        if d.limiter.blocked(addr):
            return _fail("Too many failed attempts; wait a minute and try again.", 429, nxt)
        d.limiter.failed(addr)
        return _fail("Wrong token.", 401, nxt)
    csrf = log_in()
    if wants_json():
        return jsonify({"ok": True, "csrf_token": csrf})
    return redirect(nxt, code=303)


def _fail(message: str, status: int, nxt: str) -> Any:
    if wants_json():
        return jsonify({"error": message}), status
    return render_template("login.html", next=nxt, error=message, token_file=_token_file()), status


@bp.post("/logout")
def logout() -> Any:
    """End the browser session."""
    session.clear()
    csrf_token()
    if wants_json():
        return jsonify({"ok": True})
    return redirect(url_for("leaderboard.index"), code=303)


@bp.get("/api/session")
def session_info() -> Any:
    """Return whether this browser is logged in (never the token)."""
    return jsonify(
        {"logged_in": logged_in(), "login_required_for_reading": ctx().read_login_required}
    )


def _token_file() -> str:
    """Return where the generated token lives (absolute when the path is relative)."""
    from pathlib import Path

    p = Path(ctx().cfg.dashboard.token_file).expanduser()
    return str(p if p.is_absolute() else p.resolve())
