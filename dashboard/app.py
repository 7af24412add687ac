"""The Flask application factory: ``create_app(config)``.

The dashboard reads the bot's database and writes only control commands, alerts and journal
entries; it never imports engine state. Pages, the JSON API and Socket.IO events share the query
helpers in :mod:`dashboard.data`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_socketio import SocketIO
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from dashboard import formatting, security
from dashboard.blueprints import register_blueprints
from dashboard.context import Dashboard, LoginLimiter, wall_time
from dashboard.live import LiveUpdates
from dashboard.token import resolve_token, session_secret
from dashboard.validation import ApiError, DbIdConverter
from database.engine import make_engine, make_session_factory
from utils.config import AppConfig, DashboardConfig

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (forms and JSON), bytes."""


def default_async_mode() -> str:
    """Return ``"gevent"`` when gevent is installed (production server), else ``"threading"``."""
    try:
        import gevent  # noqa: F401
    except ImportError:
        return "threading"
    return "gevent"


def is_loopback(host: str) -> bool:
    """Return whether ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_login_required(cfg: DashboardConfig) -> bool:
    """Return whether read-only pages need a login (``read_access`` resolved for the host)."""
    if cfg.read_access == "auto":
        return not is_loopback(cfg.host)
    return cfg.read_access == "login"


def create_app(
    config: AppConfig,
    *,
    token: str | None = None,
    db_engine: Engine | None = None,
    now: Callable[[], float] = wall_time,
    async_mode: str | None = None,
    base_dir: Path | None = None,
) -> Flask:
    """Build the dashboard app.

    Parameters
    ----------
    config : AppConfig
        The bot's configuration (``dashboard``, ``competition`` and the database URL are used).
    token : str, optional
        Control token; resolved from config, environment or token file when omitted
        (see :mod:`dashboard.token`).
    db_engine : Engine, optional
        Database engine (default: ``make_engine(config.db_url())``); the schema must exist.
    now : Callable[[], float], default time.time
        Wall clock, epoch seconds (tests inject a fake).
    async_mode : str, optional
        Socket.IO async mode: ``"gevent"`` (default when installed) or ``"threading"``.
    base_dir : Path, optional
        Directory a relative ``dashboard.token_file`` is resolved against.

    Returns
    -------
    Flask
        ``app.extensions["dashboard"]`` holds the :class:`~dashboard.context.Dashboard` and
        ``app.extensions["socketio"]`` the bound ``SocketIO``.
    """
    dcfg = config.dashboard
    if token is None:
        token = resolve_token(dcfg, base_dir=base_dir).value
    db = db_engine if db_engine is not None else make_engine(config.db_url())
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_secret(token),
        SESSION_COOKIE_NAME="msb_dashboard",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=dcfg.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=dcfg.session_hours),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if dcfg.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=dcfg.proxy_count,
            x_proto=dcfg.proxy_count,
            x_host=dcfg.proxy_count,
            x_prefix=dcfg.proxy_count,
        )
    dash = Dashboard(
        cfg=config,
        db=db,
        sessions=make_session_factory(db),
        token=token,
        now=now,
        read_login_required=read_login_required(dcfg),
        limiter=LoginLimiter(dcfg.login_attempts_per_min, now),
    )
    app.extensions["dashboard"] = dash
    formatting.install(app)
    security.install(app)
    app.url_map.converters["dbid"] = DbIdConverter
    register_blueprints(app)
    _install_error_handlers(app)

    socketio = SocketIO()
    socketio.init_app(
        app,
        async_mode=async_mode or default_async_mode(),
        # Same-origin only: the page that opens the socket is served by this app.
        cors_allowed_origins=None,
        logger=False,
        engineio_logger=False,
        ping_interval=10,
        ping_timeout=10,
    )
    dash.socketio = socketio
    dash.live = LiveUpdates(app, socketio, dash)
    return app


def _install_error_handlers(app: Flask) -> None:
    def api_error(exc: ApiError) -> tuple[Response, int] | tuple[str, int]:
        if security.wants_json():
            return jsonify(exc.payload()), exc.status
        return render_template("error.html", status=exc.status, message=exc.message), exc.status

    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = f"request body larger than {MAX_BODY_BYTES} bytes"
        if security.wants_json() or request.method in security.UNSAFE_METHODS:
            resp = jsonify({"error": f"{exc.name}: {message}"})
            resp.status_code = status
            if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
                resp.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
            return resp
        return render_template("error.html", status=status, message=message), status

    def unexpected(exc: Exception) -> Any:
        # Log the traceback; show nothing of it (it may hold paths or values).
        log.exception("Unexpected error while serving %s %s.", request.method, request.path)
        if security.wants_json():
            return jsonify({"error": "internal error; see the dashboard log"}), 500
        return render_template(
            "error.html", status=500, message="Internal error; see the dashboard log."
        ), 500

    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)
