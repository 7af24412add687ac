"""Live updates: the poller detects changes per topic and pushes them over Socket.IO."""

from __future__ import annotations

import time

from flask import Flask
from sqlalchemy import update

from database.models import TABLES
from database.queries import finish_command, set_state, submit_command
from tests.dashboard.conftest import login, make_app
from tests.dashboard.seed import T0, ins, snapshot


def test_poll_detects_each_topic(app: Flask, seeded, wall) -> None:
    live = app.extensions["dashboard"].live
    first = live.poll_once()
    assert set(first["topics"]) == {
        "leaderboard",
        "trading",
        "events",
        "commands",
        "risk",
        "alerts",
        "journal",
    }
    assert first["status"]["running"] is True
    assert [r["strategy"] for r in first["leaderboard"]["rows"]] == ["alpha", "gamma", "beta"]
    assert live.poll_once()["topics"] == []  # nothing changed

    with seeded.begin() as s:
        ins(s, "performance_snapshots", [snapshot("beta", T0 + 7210, 12_000.0, score=99.0)])
    p = live.poll_once()
    assert p["topics"] == ["leaderboard"]
    assert p["leaderboard"]["rows"][0]["strategy"] == "beta"
    assert p["leaderboard"]["summary"]["top"]["strategy"] == "beta"

    with seeded.begin() as s:
        ins(
            s,
            "fills",
            [
                {
                    "id": 2,
                    "order_id": 2,
                    "strategy": "alpha",
                    "instrument_id": "Y1",
                    "side": "SELL",
                    "price": 600_000,
                    "size": 1_000_000,
                    "fee": 0,
                    "liquidity": "maker",
                    "ts": T0 + 7211,
                }
            ],
        )
        ins(s, "events", [{"ts": T0 + 7211, "kind": "x", "message": "y"}])
    assert set(live.poll_once()["topics"]) == {"trading", "events"}

    with seeded.begin() as s:
        set_state(s, "kill_switch", {"state": "HALTED", "reason": "test"}, ts=T0 + 7300)
    p = live.poll_once()
    assert p["topics"] == ["risk"] and p["status"]["trading_state"] == "HALTED"

    with seeded.begin() as s:
        cid = submit_command(
            s, "kill_switch.activate", {"reason": "x"}, source="dashboard", created_ts=wall.t
        )
    p = live.poll_once()
    assert p["topics"] == ["commands"] and p["commands"][0]["status"] == "pending"
    with seeded.begin() as s:
        finish_command(s, cid, ok=True, result="halted", applied_ts=wall.t + 0.2)
    p = live.poll_once()
    assert p["commands"][0]["status"] == "applied" and p["commands"][0]["result"] == "halted"

    with seeded.begin() as s:
        ins(
            s,
            "alerts",
            [
                {
                    "created_ts": 1.0,
                    "updated_ts": 1.0,
                    "kind": "portfolio_equity",
                    "direction": "above",
                    "level": 1,
                }
            ],
        )
    assert live.poll_once()["topics"] == ["alerts"]
    with seeded.begin() as s:
        ins(
            s,
            "alert_triggers",
            [{"alert_id": 1, "ts": 2.0, "wall_ts": 3.0, "message": "equity above", "value": "1"}],
        )
    p = live.poll_once()
    assert [t["message"] for t in p["triggers"]] == ["equity above"]

    with seeded.begin() as s:
        s.execute(
            update(TABLES["strategies"])
            .where(TABLES["strategies"].c.name == "alpha")
            .values(status="paused", updated_ts=T0 + 9999)
        )
    p = live.poll_once()
    assert p["topics"] == ["leaderboard"]
    assert {r["strategy"]: r["status"] for r in p["leaderboard"]["rows"]}["alpha"] == "PAUSED"


def test_socket_pushes_updates(app: Flask, seeded) -> None:
    socketio = app.extensions["socketio"]
    live = app.extensions["dashboard"].live
    sc = socketio.test_client(app, flask_test_client=app.test_client())
    try:
        assert sc.is_connected()
        deadline = time.monotonic() + 5
        got = []
        while time.monotonic() < deadline and not got:
            got = [m for m in sc.get_received() if m["name"] == "update"]
            time.sleep(0.05)
        assert got, "no update event within 5 s"
        payload = got[0]["args"][0]
        assert "leaderboard" in payload["topics"]
        assert payload["leaderboard"]["rows"][0]["strategy"] == "alpha"
        assert live.polls >= 1
    finally:
        live.stop()
        sc.disconnect()


def test_socket_refused_without_login_when_reading_needs_it(cfg, db, wall) -> None:
    locked = cfg.model_copy(
        update={"dashboard": cfg.dashboard.model_copy(update={"read_access": "login"})}
    )
    app = make_app(locked, db, wall)
    socketio = app.extensions["socketio"]
    anon = socketio.test_client(app, flask_test_client=app.test_client())
    assert not anon.is_connected()
    browser = app.test_client()
    login(browser)
    app.extensions["dashboard"].live.stop()  # no polling thread needed for this check
    ok = socketio.test_client(app, flask_test_client=browser)
    assert ok.is_connected()
    ok.disconnect()
