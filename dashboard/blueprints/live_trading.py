"""Live trading pages: ``/live`` (paper-vs-live fidelity, provisional fills, verification
labels, reconciliation) with ``/live/fidelity.csv``, and ``/keys`` (the API-keys page).

The keys page is write-only: it shows which secrets are set and when, never a value; a secret
sent in the form is encrypted into the key store at once (``live.keys_path``, passphrase from
the form or ``live.passphrase_env``) and never logged, stored in the database or echoed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, render_template

from dashboard.blueprints.util import body, respond
from dashboard.context import ctx
from dashboard.validation import ApiError
from database.queries import get_state
from services.keys.backends import open_store
from services.keys.store import SECRET_NAMES, KeyStoreError

bp = Blueprint("live_trading", __name__)

SECRET_MAX = 512


def _when(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return ""


@bp.get("/live")
def live_page() -> Any:
    """Fidelity report per live strategy, the live client's state and recent labels."""
    from services.markets.polymarket.live.fidelity import COLUMNS, fidelity_report

    with ctx().read() as s:
        rows = fidelity_report(s)
        state = get_state(s, "live", {}) or {}
    return render_template(
        "live.html",
        rows=rows,
        columns=COLUMNS,
        state=state,
        cfg=ctx().cfg.live,
        when=_when,
    )


@bp.get("/live/fidelity.csv")
def fidelity_csv() -> Any:
    """The fidelity report as CSV."""
    from services.markets.polymarket.live.fidelity import fidelity_report, to_csv

    with ctx().read() as s:
        text = to_csv(fidelity_report(s))
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=paper_vs_live.csv"},
    )


def _store() -> Any:
    return open_store(ctx().cfg)  # the encrypted file, or the OS keyring (keys.backend)


def _passphrase(data: dict[str, Any]) -> str:
    import os

    if not _store().needs_passphrase:
        return ""
    given = data.get("passphrase")
    if isinstance(given, str) and given:
        return given
    env = os.environ.get(ctx().cfg.live.passphrase_env)
    if env:
        return env
    raise ApiError(
        400, f"give the key-store passphrase (or set {ctx().cfg.live.passphrase_env})", "passphrase"
    )


@bp.get("/keys")
def keys_page() -> Any:
    """Which secrets are set and when (never their values)."""
    store = _store()
    try:
        st = store.status()
        problem = None
    except KeyStoreError as exc:  # an OS keyring that cannot be read: say so, no 500
        st = {"exists": False, "names": {}, "updated": None, "path": store.path}
        problem = str(exc)
    return render_template(
        "keys.html",
        status=st,
        names=SECRET_NAMES,
        when=_when,
        cfg=ctx().cfg.live,
        keyring=not store.needs_passphrase,
        problem=problem,
    )


@bp.post("/keys")
def keys_set() -> Any:
    """Encrypt the secrets given in the form into the key store (blank fields keep theirs)."""
    data = body()
    values: dict[str, str] = {}
    for name in SECRET_NAMES:
        raw = data.get(name)
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str) or len(raw) > SECRET_MAX or not raw.strip():
            raise ApiError(400, f"{name} must be text of at most {SECRET_MAX} characters", name)
        values[name] = raw.strip()
    if not values:
        raise ApiError(400, "no secret given (every field was blank)")
    try:
        _store().update(_passphrase(data), values)
    except KeyStoreError as exc:
        raise ApiError(400, str(exc), "passphrase") from None
    where = "in the OS keyring" if not _store().needs_passphrase else "(encrypted)"
    msg = f"Stored {', '.join(sorted(values))} {where}."
    return respond({"stored": sorted(values), "message": msg}, message=msg)


@bp.post("/keys/test")
def keys_test() -> Any:
    """Decrypt the store and authenticate with the venue; answer with a sentence, no secret."""
    from services.markets.polymarket.live.connection import test_connection_in_child

    data = body()
    try:
        secrets = _store().load(_passphrase(data))
    except KeyStoreError as exc:
        raise ApiError(400, str(exc), "passphrase") from None
    # A child process: the SDK's asyncio client cannot run under the gevent server (tested
    # against the production server in tests/dashboard/test_keys_production_server.py).
    ok, message = test_connection_in_child(ctx().cfg.live, secrets)
    return respond({"ok": ok, "message": message}, 200 if ok else 502, message=message)
