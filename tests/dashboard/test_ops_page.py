"""The Operations page and its "Send test notification" button (to a local HTTP receiver)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.dashboard.conftest import FakeWall, login, make_app
from tests.ops.receiver import Receiver
from utils.config import parse_config


def _app(tmp_path: Path, db: Engine, wall: FakeWall, urls: list[str]):  # type: ignore[no-untyped-def]
    cfg = parse_config(
        {
            "bot": {"db_path": str(tmp_path / "bot.db")},
            "dashboard": {"token_file": str(tmp_path / "token")},
            "notifications": {"enabled": bool(urls), "urls": urls, "retries": 0},
            "metrics": {"enabled": True, "port": 9999},
        },
        "test.yaml",
    )
    return make_app(cfg, db, wall)


def test_send_test_notification_from_the_dashboard(tmp_path: Path, db: Engine, wall) -> None:
    with Receiver() as rx:
        client = _app(tmp_path, db, wall, [rx.url("dash")]).test_client()
        html = client.get("/ops").get_data(as_text=True)
        assert "Send test notification" in html and "json://…" in html
        assert str(rx.port) not in html  # the URL itself is not shown
        assert "http://127.0.0.1:9999/metrics" in html
        r = client.post("/api/notify/test")
        assert r.status_code == 401  # a control: needs a login
        csrf = login(client)
        r = client.post(
            "/api/notify/test", headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
        )
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.get_json() == {"ok": True, "message": "Test notification delivered to 1 URL(s)."}
        got = rx.wait_for(1)
    assert got[0]["path"] == "/dash"
    assert "Test notification from the trading bot (dashboard)" in got[0]["message"]


def test_test_notification_failures_say_why(tmp_path: Path, db: Engine, wall) -> None:
    client = _app(tmp_path, db, wall, []).test_client()
    csrf = login(client)
    h = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    r = client.post("/api/notify/test", headers=h)
    assert r.status_code == 409 and "notifications.urls" in r.get_data(as_text=True)
    client = _app(tmp_path, db, wall, ["json://127.0.0.1:9/x"]).test_client()
    h["X-CSRF-Token"] = login(client)
    r = client.post("/api/notify/test", headers=h)
    assert r.status_code == 502 and r.get_json()["ok"] is False
