"""Security: every state-changing request needs the token (header) or a session + CSRF; refused
requests change nothing; secrets never show; reading may require a login."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from dashboard.token import ResolvedToken, TokenError, resolve_token, tokens_equal
from database.models import TABLES
from tests.dashboard.conftest import TOKEN, FakeWall, csrf_of, login, make_app
from utils.config import DashboardConfig, parse_config

WRITES = [
    ("post", "/api/kill-switch/activate", {"reason": "test stop"}),
    ("post", "/api/kill-switch/deactivate", {"reason": "resume", "confirm": "CONFIRM"}),
    ("post", "/api/positions/flatten", {"reason": "flatten now"}),
    (
        "post",
        "/api/positions/close",
        {"strategy": "alpha", "instrument_id": "Y1", "reason": "x y z"},
    ),
    ("post", "/api/strategies/alpha/pause", {"reason": "too risky"}),
    ("post", "/api/strategies/alpha/resume", {"reason": "ok again"}),
    ("post", "/api/strategies/alpha/enable", {"reason": "ok again"}),
    ("post", "/api/strategies/alpha/disable", {"reason": "broken"}),
    ("post", "/api/journal", {"strategy": "alpha", "entry_reason": "x"}),
    ("post", "/journal", {"strategy": "alpha", "entry_reason": "x"}),
    ("patch", "/api/journal/1", {"lessons": "x"}),
    ("post", "/api/alerts", {"kind": "portfolio_equity", "direction": "above", "level": 1}),
    ("post", "/alerts", {"kind": "portfolio_equity", "direction": "above", "level": 1}),
    ("patch", "/api/alerts/1", {"enabled": False}),
    ("delete", "/api/alerts/1", None),
    ("post", "/alerts/1/toggle", {"enabled": "false"}),
    ("post", "/alerts/1/delete", None),
    ("post", "/logout", None),
]


def _counts(seeded) -> dict[str, int]:
    with seeded() as s:
        return {
            t: s.execute(select(func.count()).select_from(TABLES[t])).scalar()
            for t in ("control_commands", "journal_entries", "alerts", "alert_triggers")
        }


def _send(client: FlaskClient, method: str, path: str, body: dict | None, **kw):
    return (
        getattr(client, method)(path, json=body, **kw)
        if body is not None
        else getattr(client, method)(path, **kw)
    )


@pytest.mark.parametrize(("method", "path", "body"), WRITES[:-1])
def test_unauthenticated_writes_are_refused_and_change_nothing(
    client: FlaskClient, seeded, method: str, path: str, body: dict | None
) -> None:
    before = _counts(seeded)
    r = _send(client, method, path, body)
    assert r.status_code == 401
    assert "authentication required" in r.get_json()["error"]
    r = _send(client, method, path, body, headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
    assert r.status_code == 401 and r.get_json()["error"] == "invalid token"
    assert _counts(seeded) == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_session_without_csrf_is_forbidden(
    auth, seeded, method: str, path: str, body: dict | None
) -> None:
    client, _csrf = auth
    before = _counts(seeded)
    r = _send(client, method, path, body)
    assert r.status_code == 403
    r = _send(client, method, path, body, headers={"X-CSRF-Token": "forged-forged-forged"})
    assert r.status_code == 403 and "CSRF" in r.get_json()["error"]
    assert _counts(seeded) == before


def test_token_header_works_without_session(client: FlaskClient, seeded) -> None:
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-Dashboard-Token": TOKEN}):
        r = client.post("/api/kill-switch/activate", json={"reason": "api stop"}, headers=headers)
        assert r.status_code == 202
    with seeded() as s:
        rows = s.execute(select(TABLES["control_commands"].c.source)).scalars().all()
    assert rows == ["api", "api"]


def test_session_login_with_csrf_works(auth, seeded) -> None:
    client, csrf = auth
    r = client.post(
        "/api/strategies/alpha/pause", json={"reason": "too risky"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 202
    assert r.get_json()["command"]["source"] == "dashboard"
    # The form field works as well as the header.
    r = client.post(
        "/api/positions/flatten",
        data={"reason": "flatten it", "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 202


def test_login_needs_csrf_and_the_right_token(client: FlaskClient) -> None:
    assert client.post("/login", data={"token": TOKEN}).status_code == 403
    csrf = csrf_of(client)
    r = client.post("/login", data={"token": "nope", "csrf_token": csrf})
    assert r.status_code == 401 and "Wrong token." in r.get_data(as_text=True)
    r = client.post("/login", data={"token": TOKEN, "csrf_token": csrf, "next": "/risk"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/risk")
    assert client.get("/api/session").get_json()["logged_in"] is True


def test_login_redirect_stays_on_site(client: FlaskClient) -> None:
    csrf = csrf_of(client)
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil"):
        r = client.post("/login", data={"token": TOKEN, "csrf_token": csrf, "next": bad})
        assert r.status_code == 303 and r.headers["Location"] in ("/", "http://localhost/")
        csrf = csrf_of(client)


def test_wrong_tokens_are_rate_limited_but_the_right_one_always_passes(
    client: FlaskClient, wall: FakeWall
) -> None:
    # Issue 12: after 10 wrong tokens the correct token on the emergency stop got 429 for a
    # minute; the limiter must never stand between the operator and the kill switch.
    csrf = csrf_of(client)
    for _ in range(10):
        assert client.post("/login", data={"token": "bad", "csrf_token": csrf}).status_code == 401
    assert client.post("/login", data={"token": "bad", "csrf_token": csrf}).status_code == 429
    bad = client.post(
        "/api/kill-switch/activate", json={"reason": "x y z"}, headers={"X-Dashboard-Token": "no"}
    )
    assert bad.status_code == 429
    r = client.post(
        "/api/kill-switch/activate", json={"reason": "x y z"}, headers={"X-Dashboard-Token": TOKEN}
    )
    assert r.status_code in (200, 202), r.get_data(as_text=True)
    r = client.post("/login", data={"token": TOKEN, "csrf_token": csrf})
    assert r.status_code == 303
    wall.t += 61
    assert (
        client.post("/login", data={"token": "bad", "csrf_token": csrf_of(client)}).status_code
        == 401
    )


def test_session_expires(auth, wall: FakeWall) -> None:
    client, csrf = auth
    wall.t += 12 * 3600 + 1
    r = client.post(
        "/api/strategies/alpha/pause", json={"reason": "late"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 401


def test_logout_ends_the_session(auth) -> None:
    client, csrf = auth
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
    assert client.get("/api/session").get_json()["logged_in"] is False


def test_token_never_appears(client: FlaskClient, seeded, auth) -> None:
    c, csrf = auth
    for path in (
        "/",
        "/login",
        "/risk",
        "/api/health",
        "/api/session",
        "/api/risk",
        "/nope",
        "/strategy/zzz",
    ):
        assert TOKEN not in c.get(path).get_data(as_text=True)
    r = c.post("/api/kill-switch/activate", json={"reason": "x"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and TOKEN not in r.get_data(as_text=True)
    r = client.post(
        "/api/kill-switch/activate", json={"reason": "x"}, headers={"X-Dashboard-Token": TOKEN[:-1]}
    )
    assert TOKEN[:-1] not in r.get_data(as_text=True)


def test_read_access_login_protects_pages(cfg, db, wall: FakeWall) -> None:
    locked = cfg.model_copy(
        update={"dashboard": cfg.dashboard.model_copy(update={"read_access": "login"})}
    )
    client = make_app(locked, db, wall).test_client()
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/api/leaderboard").status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/api/leaderboard", headers={"X-Dashboard-Token": TOKEN}).status_code == 200
    login(client)
    assert client.get("/").status_code == 200


def test_read_access_auto_depends_on_host(cfg, db, wall: FakeWall) -> None:
    public = cfg.model_copy(
        update={"dashboard": cfg.dashboard.model_copy(update={"host": "0.0.0.0"})}
    )
    assert make_app(public, db, wall).test_client().get("/api/summary").status_code == 401
    assert make_app(cfg, db, wall).test_client().get("/api/summary").status_code == 200


def test_tokens_equal_is_exact() -> None:
    assert tokens_equal("a" * 20, "a" * 20)
    assert not tokens_equal("a" * 19, "a" * 20)
    assert not tokens_equal("", "")
    assert not tokens_equal(None, "x")


def test_token_resolution_order(tmp_path: Path) -> None:
    cfg = DashboardConfig(token_file=str(tmp_path / "t" / "token"))
    first = resolve_token(cfg, env={})
    assert first.created and first.source == "generated" and len(first.value) >= 40
    mode = stat.S_IMODE(os.stat(tmp_path / "t" / "token").st_mode)
    assert mode == 0o600
    again = resolve_token(cfg, env={})
    assert (again.source, again.value) == ("file", first.value) and not again.created
    assert resolve_token(cfg, env={"DASHBOARD_TOKEN": "e" * 20}).value == "e" * 20
    in_cfg = parse_config({"dashboard": {"token": "c" * 20}}, "x").dashboard
    assert resolve_token(in_cfg, env={"DASHBOARD_TOKEN": "e" * 20}) == ResolvedToken(
        "c" * 20, "config"
    )
    assert "c" * 20 not in repr(in_cfg)
    with pytest.raises(TokenError, match="at least 16"):
        resolve_token(cfg, env={"DASHBOARD_TOKEN": "short"})
    os.chmod(tmp_path / "t" / "token", 0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        resolve_token(cfg, env={})
