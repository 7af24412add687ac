"""Dashboard under hostile input (issue 12): Host header, huge ids, deeply nested JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.dashboard.conftest import TOKEN, FakeWall, make_app
from utils.config import parse_config

TOKEN_HEADERS = {"X-Dashboard-Token": TOKEN}
BIG = "9" * 20


def test_foreign_host_header_is_refused_before_anything_else(client: FlaskClient) -> None:
    # A DNS-rebinding page: its own name resolves to 127.0.0.1, so the browser sends it as Host.
    for path in ("/", "/api/leaderboard", "/login", "/static/css/app.css"):
        r = client.get(path, headers={"Host": "evil.example:5000"})
        assert r.status_code == 400, path
        assert "allowed_hosts" in r.get_json()["error"]
    r = client.post(
        "/api/kill-switch/activate",
        json={"reason": "rebinding"},
        headers={**TOKEN_HEADERS, "Host": "evil.example"},
    )
    assert r.status_code == 400
    for ok in ("localhost:5000", "127.0.0.1:5000", "[::1]:5000", "LOCALHOST"):
        assert client.get("/api/leaderboard", headers={"Host": ok}).status_code == 200, ok


def test_live_socket_refuses_a_foreign_host(client: FlaskClient) -> None:
    app = client.application
    socketio = app.extensions["socketio"]
    good = socketio.test_client(app, flask_test_client=app.test_client())
    assert good.is_connected()
    good.disconnect()
    bad = socketio.test_client(
        app, flask_test_client=app.test_client(), headers={"Host": "evil.example:5000"}
    )
    assert not bad.is_connected()


def test_configured_host_names(tmp_path: Path, db: Engine, wall: FakeWall) -> None:
    def app_for(dash: dict[str, object]) -> FlaskClient:
        cfg = parse_config(
            {
                "bot": {"db_path": str(tmp_path / "bot.db")},
                "dashboard": {"token_file": str(tmp_path / "token"), **dash},
            },
            "test.yaml",
        )
        return make_app(cfg, db, wall).test_client()

    def status(c: FlaskClient, host: str) -> int:
        return c.get("/api/leaderboard", headers={**TOKEN_HEADERS, "Host": host}).status_code

    lan = app_for({"host": "0.0.0.0", "allowed_hosts": ["mybox.lan", "192.168.1.20"]})
    assert status(lan, "mybox.lan:5000") == 200
    assert status(lan, "192.168.1.20") == 200
    assert status(lan, "localhost") == 400
    named = app_for({"host": "mybox.lan"})
    assert status(named, "mybox.lan") == 200
    assert status(named, "evil.example") == 400
    anyhost = app_for({"allowed_hosts": ["*"]})
    assert status(anyhost, "whatever") == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", f"/alerts/{BIG}/toggle"),
        ("post", f"/alerts/{BIG}/delete"),
        ("patch", f"/api/alerts/{BIG}"),
        ("delete", f"/api/alerts/{BIG}"),
        ("get", f"/journal/{BIG}"),
        ("post", f"/journal/{BIG}"),
        ("get", f"/api/journal/{BIG}"),
        ("patch", f"/api/journal/{BIG}"),
        ("put", f"/api/journal/{BIG}"),
        ("get", f"/api/commands/{BIG}"),
        ("get", f"/api/commands/{2**63}"),
    ],
)
def test_ids_beyond_a_database_integer_are_404_not_500(
    client: FlaskClient, method: str, path: str
) -> None:
    r = getattr(client, method)(path, json={"text": "x", "enabled": True}, headers=TOKEN_HEADERS)
    assert r.status_code == 404, (path, r.status_code)


def test_largest_database_id_is_simply_unknown(client: FlaskClient) -> None:
    r = client.get(f"/api/commands/{2**63 - 1}", headers=TOKEN_HEADERS)
    assert r.status_code == 404


def test_deeply_nested_json_to_the_kill_switch_is_400(client: FlaskClient) -> None:
    body = '{"reason": ' + "[" * 30_000 + "]" * 30_000 + "}"  # 60 KB, under the body limit
    r = client.post(
        "/api/kill-switch/activate",
        data=body,
        content_type="application/json",
        headers=TOKEN_HEADERS,
    )
    assert r.status_code == 400
    assert "nests too deep" in r.get_json()["error"]
    # The same body from a logged-in browser (CSRF looked up in the body) is refused cleanly.
    r = client.post("/api/strategies/alpha/pause", data=body, content_type="application/json")
    assert r.status_code in (400, 401, 403)
