"""Operations (``/ops``): notification, metrics and retention settings, and "send a test
notification" (the same message as ``python bot.py notify test``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from dashboard.blueprints.util import page, respond
from dashboard.context import ctx
from dashboard.validation import ApiError

bp = Blueprint("ops", __name__)

TEST_RETRIES = 1  # the browser waits for the answer: one retry, short backoff
TEST_BACKOFF_S = 0.5


def _scheme(url: str) -> str:
    # Only the service name is shown: the rest of an apprise URL is usually a secret.
    return url.split("://", 1)[0] + "://…" if "://" in url else "(invalid URL)"


@bp.get("/ops")
def ops_page() -> Any:
    """Settings of the unattended-operation features and the test button."""
    cfg = ctx().cfg
    n = cfg.notifications
    return page(
        "ops.html",
        {},
        n=n,
        services=[_scheme(u) for u in n.url_values()],
        m=cfg.metrics,
        r=cfg.retention,
    )


def _send_test() -> Any:
    from services.ops.cli import send_test

    n = ctx().cfg.notifications
    urls = n.url_values()
    if not urls:
        raise ApiError(409, "no notification URL configured (notifications.urls in config.yaml)")
    try:
        ok = send_test(urls, n.title_prefix, TEST_RETRIES, TEST_BACKOFF_S, "dashboard")
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None
    if not ok:
        msg = f"Test notification NOT delivered to {len(urls)} URL(s); see the dashboard log."
        return respond({"ok": False, "message": msg}, 502, message=msg)
    msg = f"Test notification delivered to {len(urls)} URL(s)."
    return respond({"ok": True, "message": msg}, message=msg)


@bp.post("/api/notify/test")
def api_notify_test() -> Any:
    """Send a test notification now; 200 delivered, 502 not delivered, 409 nothing configured."""
    return _send_test()


@bp.post("/ops/notify-test")
def notify_test_form() -> Any:
    """The page's button (form post; flashes the result)."""
    return _send_test()
