"""Control endpoints write exactly the command rows the bot's control loop expects and show
the bot's acknowledgement; a stopped bot gets a "queued" answer."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from database.models import TABLES
from database.queries import finish_command


def _rows(seeded) -> list[tuple[str, dict, str, str]]:
    t = TABLES["control_commands"]
    with seeded() as s:
        return [
            (c, json.loads(a), src, st)
            for c, a, src, st in s.execute(
                select(t.c.command, t.c.args_json, t.c.source, t.c.status).order_by(t.c.id)
            )
        ]


@pytest.mark.parametrize(
    ("path", "body", "command", "args"),
    [
        (
            "/api/kill-switch/activate",
            {"reason": "market is crazy"},
            "kill_switch.activate",
            {"reason": "market is crazy", "flatten": False},
        ),
        (
            "/api/kill-switch/activate",
            {"reason": "get out", "flatten": True},
            "kill_switch.activate",
            {"reason": "get out", "flatten": True},
        ),
        (
            "/api/kill-switch/deactivate",
            {"reason": "calm again", "confirm": "CONFIRM", "enable_all": True},
            "kill_switch.deactivate",
            {"reason": "calm again", "confirm": "CONFIRM", "enable_all": True},
        ),
        (
            "/api/positions/flatten",
            {"reason": "end of day"},
            "positions.flatten",
            {"reason": "end of day"},
        ),
        (
            "/api/positions/close",
            {"strategy": "alpha", "instrument_id": "Y1", "reason": "cut it"},
            "position.close",
            {"strategy": "alpha", "instrument_id": "Y1", "reason": "cut it"},
        ),
        (
            "/api/strategies/beta/pause",
            {"reason": "losing"},
            "strategy.pause",
            {"strategy": "beta", "reason": "losing"},
        ),
        (
            "/api/strategies/gamma/resume",
            {"reason": "looks fine"},
            "strategy.resume",
            {"strategy": "gamma", "reason": "looks fine"},
        ),
        (
            "/api/strategies/beta/enable",
            {"reason": "fixed"},
            "strategy.enable",
            {"strategy": "beta", "reason": "fixed"},
        ),
        (
            "/api/strategies/beta/disable",
            {"reason": "bug found"},
            "strategy.disable",
            {"strategy": "beta", "reason": "bug found"},
        ),
        (
            "/api/strategies/pause-all",
            {"reason": "news coming"},
            "strategies.pause_all",
            {"reason": "news coming"},
        ),
        (
            "/api/strategies/resume-all",
            {"reason": "news out"},
            "strategies.resume_all",
            {"reason": "news out"},
        ),
        (
            "/api/breakers/reset",
            {"breaker": "daily_loss", "strategy": "", "reason": "reviewed", "confirm": "CONFIRM"},
            "breaker.reset",
            {"breaker": "daily_loss", "reason": "reviewed"},
        ),
        (
            "/api/breakers/reset",
            {
                "breaker": "strategy_drawdown",
                "strategy": "beta",
                "reason": "ok now",
                "confirm": "CONFIRM",
            },
            "breaker.reset",
            {"breaker": "strategy_drawdown", "strategy": "beta", "reason": "ok now"},
        ),  # fmt: skip
    ],
)
def test_each_control_writes_its_command(auth, seeded, path, body, command, args) -> None:
    client, csrf = auth
    r = client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202, r.get_json()
    out = r.get_json()
    assert out["command"]["command"] == command and out["command"]["status"] == "pending"
    assert out["bot_running"] is True and "waiting for the bot" in out["message"]
    assert _rows(seeded) == [(command, args, "dashboard", "pending")]


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/api/kill-switch/activate", {}, 400, "reason: is required"),
        ("/api/kill-switch/activate", {"reason": "ab"}, 400, "reason: must be 3-500"),
        ("/api/kill-switch/activate", {"reason": "x" * 501}, 400, "reason: must be 3-500"),
        ("/api/kill-switch/activate", {"reason": "valid", "flatten": "maybe"}, 400, "flatten"),
        ("/api/kill-switch/activate", {"reason": 12345}, 400, "must be a string"),
        ("/api/kill-switch/deactivate", {"reason": "resume"}, 400, "type CONFIRM"),
        ("/api/kill-switch/deactivate", {"reason": "resume", "confirm": "confirm"}, 400, "CONFIRM"),
        ("/api/strategies/zzz/pause", {"reason": "why not"}, 404, "unknown strategy"),
        ("/api/strategies/alpha/explode", {"reason": "why not"}, 404, "unknown action"),
        (
            "/api/positions/close",
            {"strategy": "alpha", "instrument_id": "Q9", "reason": "xyz"},
            404,
            "unknown instrument",
        ),
        (
            "/api/positions/close",
            {"strategy": "zzz", "instrument_id": "Y1", "reason": "xyz"},
            404,
            "unknown strategy",
        ),
        ("/api/positions/close", {"strategy": "alpha", "reason": "xyz"}, 400, "instrument_id"),
        ("/api/breakers/reset", {"breaker": "daily_loss", "reason": "ok"}, 400, "reason"),
        ("/api/breakers/reset", {"breaker": "daily_loss", "reason": "fine"}, 400, "type CONFIRM"),
        (
            "/api/breakers/reset",
            {"breaker": "meltdown", "reason": "fine", "confirm": "CONFIRM"},
            400,
            "breaker: must be one of",
        ),
        (
            "/api/breakers/reset",
            {"breaker": "strategy_drawdown", "reason": "fine", "confirm": "CONFIRM"},
            400,
            "strategy: is required",
        ),
        (
            "/api/breakers/reset",
            {
                "breaker": "consecutive_losses",
                "strategy": "zzz",
                "reason": "fine",
                "confirm": "CONFIRM",
            },
            404,
            "unknown strategy",
        ),  # fmt: skip
    ],
)
def test_bad_control_requests_change_nothing(auth, seeded, path, body, status, needle) -> None:
    client, csrf = auth
    r = client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == status
    assert needle in r.get_json()["error"]
    assert _rows(seeded) == []


def test_non_object_json_body_is_400(auth, seeded) -> None:
    client, csrf = auth
    r = client.post(
        "/api/kill-switch/activate",
        data="[1, 2]",
        content_type="application/json",
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 400 and "JSON object" in r.get_json()["error"]
    r = client.post(
        "/api/kill-switch/activate",
        data="x" * 70_000,
        content_type="application/json",
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 413


def test_stopped_bot_gets_queued_message(auth, seeded, wall) -> None:
    client, csrf = auth
    wall.t += 3600
    r = client.post(
        "/api/kill-switch/activate", json={"reason": "stop it"}, headers={"X-CSRF-Token": csrf}
    )
    out = r.get_json()
    assert out["bot_running"] is False
    assert "queued and will apply when it starts" in out["message"]
    assert "queued" in client.get("/").get_data(as_text=True)


def test_acknowledgement_is_visible(auth, seeded, wall) -> None:
    client, csrf = auth
    cid = client.post(
        "/api/kill-switch/activate", json={"reason": "stop it"}, headers={"X-CSRF-Token": csrf}
    ).get_json()["command"]["id"]
    with seeded.begin() as s:
        finish_command(
            s,
            cid,
            ok=True,
            result="kill switch active; 3 orders cancelled",
            applied_ts=wall.t + 0.25,
        )
    c = client.get(f"/api/commands/{cid}").get_json()["command"]
    assert c["status"] == "applied" and c["ack_latency_s"] == pytest.approx(0.25)
    assert c["result"] == "kill switch active; 3 orders cancelled"
    ks = client.get("/api/kill-switch").get_json()
    assert ks["commands"][0]["id"] == cid and ks["state"] == "ACTIVE"
    assert client.get("/api/commands?limit=5").get_json()["commands"][0]["id"] == cid


def test_browser_form_post_redirects_with_flash(auth, seeded) -> None:
    client, csrf = auth
    r = client.post(
        "/api/strategies/alpha/pause",
        data={"reason": "form pause", "csrf_token": csrf},
        headers={"Accept": "text/html", "Referer": "http://localhost/strategy/alpha"},
    )
    assert r.status_code == 303 and r.headers["Location"] == "/strategy/alpha"
    html = client.get("/strategy/alpha").get_data(as_text=True)
    assert "waiting for the bot to apply it" in html
