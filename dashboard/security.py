"""Authentication, CSRF protection and security headers, enforced for every request.

* A state-changing request (POST, PUT, PATCH, DELETE) needs either the control token in a header
  (``Authorization: Bearer <token>`` or ``X-Dashboard-Token``; API clients, no CSRF needed as
  no cookie is involved) or a logged-in browser session plus the session's CSRF token (form
  field ``csrf_token`` or header ``X-CSRF-Token``). Missing or wrong credentials get 401, a
  missing or wrong CSRF token 403; nothing is changed.
* Read-only requests need a login only when ``read_login_required`` is set.
* Every comparison of a secret uses :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Flask, g, jsonify, redirect, request, session, url_for
from werkzeug.wrappers import Response

from dashboard.context import ctx
from dashboard.token import tokens_equal

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_ENDPOINTS = frozenset(
    {"static", "auth.login_form", "auth.login", "auth.logout", "auth.session_info", "meta.healthz"}
)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_HOST_RE = re.compile(
    r"^[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$"
)


def csrf_token() -> str:
    """Return this browser session's CSRF token, creating it on first use."""
    tok = session.get("csrf")
    if not isinstance(tok, str) or len(tok) < 16:
        tok = secrets.token_urlsafe(32)
        session["csrf"] = tok
    return tok


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str):
        return False
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not given and request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # a hostile, deeply nested body: no token in it
            body = None
        given = body.get(CSRF_FIELD) if isinstance(body, dict) else None
    return isinstance(given, str) and tokens_equal(given, expected)


def presented_token() -> str | None:
    """Return the control token the client sent in a header, if any."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("X-Dashboard-Token")


def logged_in() -> bool:
    """Return whether this browser session holds an unexpired login."""
    until = session.get("auth_until")
    return isinstance(until, int | float) and until > ctx().now()


def log_in() -> str:
    """Mark the session logged in (new CSRF token, fixed lifetime); return the CSRF token."""
    d = ctx()
    session.clear()
    session.permanent = True
    session["auth_until"] = d.now() + d.cfg.dashboard.session_hours * 3600.0
    session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def client_addr() -> str:
    """Return the client's address (after ProxyFix, when proxies are configured)."""
    return request.remote_addr or "?"


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def wants_json() -> bool:
    """Return whether the response should be JSON.

    JSON for a JSON body and for ``/api/`` paths, except a plain browser form posted to an API
    endpoint (it gets a redirect with a flash message); elsewhere JSON only when preferred.
    """
    if request.is_json:
        return True
    accept = request.accept_mimetypes
    if request.path.startswith("/api/"):
        browser_form = request.method in UNSAFE_METHODS and request.mimetype in FORM_TYPES
        return not (browser_form and accept["text/html"] > accept["application/json"])
    return accept.best_match(["text/html", "application/json"]) == "application/json"


def _deny(status: int, message: str) -> Response:
    if wants_json() or request.method in UNSAFE_METHODS:
        resp = jsonify({"error": message})
        resp.status_code = status
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="dashboard"'
        return resp
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """Return whether a Host header (``name`` or ``name:port``) names this dashboard."""
    if "*" in allowed:
        return True
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    return bool(name) and name.rstrip(".") in allowed


def _host_check() -> Response | None:
    allowed = ctx().cfg.dashboard.host_names()
    if host_allowed(request.host, allowed):
        return None
    resp = jsonify(
        {
            "error": "this dashboard does not answer to that Host header; add the name to "
            "dashboard.allowed_hosts if it is yours"
        }
    )
    resp.status_code = 400
    return resp


def _guard() -> Response | None:
    denied = _host_check()  # first: a DNS-rebinding page must not read or do anything
    if denied is not None:
        return denied
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404/405 handlers answer
    d = ctx()
    if request.method in UNSAFE_METHODS:
        if endpoint == "auth.login":
            return None if _csrf_ok() else _deny(403, "missing or invalid CSRF token")
        given = presented_token()
        if given is not None:
            # The correct token always passes: the limiter slows guessing, it must never stand
            # between the operator and the emergency stop (an attacker on the same address
            # could otherwise lock the operator out).
            if tokens_equal(given, d.token):
                g.auth = "token"
                return None
            if d.limiter.blocked(client_addr()):
                return _deny(429, "too many failed attempts; wait a minute")
            d.limiter.failed(client_addr())
            return _deny(401, "invalid token")
        if not logged_in():
            return _deny(401, "authentication required: log in or send the token header")
        if not _csrf_ok():
            return _deny(403, "missing or invalid CSRF token")
        g.auth = "session"
        return None
    if endpoint in OPEN_ENDPOINTS or not d.read_login_required:
        return None
    given = presented_token()
    if given is not None and tokens_equal(given, d.token):
        return None
    if logged_in():
        return None
    return _deny(401, "authentication required: log in or send the token header")


def _headers(resp: Response) -> Response:
    h = resp.headers
    # Older browsers do not match ws:/wss: with 'self': name this host's socket origins.
    host = request.host if _HOST_RE.match(request.host) else "localhost"
    h.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host} wss://{host}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'",
    )
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        h.setdefault("Cache-Control", "no-store")
    return resp


def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "logged_in": logged_in}


def install(app: Flask) -> None:
    """Register the request guard, security headers and template helpers on ``app``."""
    app.before_request(_guard)
    app.after_request(_headers)
    app.context_processor(_template_globals)
