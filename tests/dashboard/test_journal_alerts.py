"""Trade journal and alerts: create, edit, search, enable/disable/delete, validation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from database.models import TABLES
from tests.dashboard.seed import ins


def _post(auth, path, body, method="post"):
    client, csrf = auth
    return getattr(client, method)(path, json=body, headers={"X-CSRF-Token": csrf})


def test_journal_create_edit_search(auth, seeded, wall) -> None:
    client, _ = auth
    r = _post(
        auth, "/api/journal", {"fill_id": 1, "entry_reason": "spread was wide", "confidence": 7}
    )
    assert r.status_code == 201
    e = r.get_json()["entry"]
    assert (e["strategy"], e["instrument_id"], e["fill_id"], e["confidence"]) == (
        "alpha",
        "Y1",
        1,
        7,
    )
    wall.t += 10
    r = _post(
        auth,
        f"/api/journal/{e['id']}",
        {"exit_reason": "mean reverted", "rating": 4, "lessons": "size up next time"},
        "patch",
    )
    assert r.status_code == 200
    e2 = r.get_json()["entry"]
    assert e2["rating"] == 4 and e2["entry_reason"] == "spread was wide"
    assert e2["updated_ts"] == e["updated_ts"] + 10
    _post(auth, "/api/journal", {"strategy": "beta", "entry_reason": "arb leg"})
    found = client.get("/api/journal?q=SIZE UP").get_json()["entries"]
    assert [x["id"] for x in found] == [e["id"]]
    assert len(client.get("/api/journal?strategy=beta").get_json()["entries"]) == 1
    assert client.get("/api/journal?q=100%25").get_json()["entries"] == []  # % is literal
    html = client.get("/journal?q=mean").get_data(as_text=True)
    assert "mean reverted" in html and "arb leg" not in html
    assert "spread was wide" in client.get(f"/journal/{e['id']}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"entry_reason": "x"}, 400, "strategy: is required"),
        ({"strategy": "zzz"}, 404, "unknown strategy"),
        ({"strategy": "alpha", "confidence": 11}, 400, "confidence: must be between 1 and 10"),
        ({"strategy": "alpha", "rating": 0}, 400, "rating: must be between 1 and 5"),
        ({"strategy": "alpha", "rating": 2.5}, 400, "rating: must be a whole number"),
        ({"strategy": "alpha", "lessons": "x" * 4001}, 400, "lessons"),
        ({"fill_id": 99}, 404, "unknown fill 99"),
        ({"fill_id": 1, "strategy": "beta"}, 400, "belongs to alpha"),
        ({"strategy": "alpha", "instrument_id": "Q9"}, 404, "unknown instrument"),
    ],
)
def test_journal_validation(auth, seeded, body, status, needle) -> None:
    r = _post(auth, "/api/journal", body)
    assert r.status_code == status and needle in r.get_json()["error"]
    with seeded() as s:
        assert s.execute(select(TABLES["journal_entries"].c.id)).all() == []


def test_journal_form_flow(auth, seeded) -> None:
    client, csrf = auth
    html = client.get("/journal?fill=1").get_data(as_text=True)
    assert 'value="1"' in html and 'value="Y1"' in html  # prefilled from the fill
    r = client.post(
        "/journal",
        data={
            "csrf_token": csrf,
            "strategy": "alpha",
            "fill_id": "1",
            "instrument_id": "Y1",
            "entry_reason": "from the form",
            "confidence": "",
            "rating": "5",
        },
    )
    assert r.status_code == 303
    assert "from the form" in client.get("/journal").get_data(as_text=True)
    with seeded() as s:
        eid, conf = s.execute(
            select(TABLES["journal_entries"].c.id, TABLES["journal_entries"].c.confidence)
        ).one()
    assert conf is None
    r = client.post(
        f"/journal/{eid}",
        data={"csrf_token": csrf, "strategy": "alpha", "lessons": "edited", "rating": "3"},
    )
    assert r.status_code == 303
    assert client.get(f"/api/journal/{eid}").get_json()["entry"]["lessons"] == "edited"
    assert client.get("/journal/999").status_code == 404
    assert client.get("/journal?fill=999").status_code == 404


def test_alerts_lifecycle(auth, seeded) -> None:
    client, _ = auth
    r = _post(
        auth,
        "/api/alerts",
        {
            "kind": "price",
            "instrument_id": "Y1",
            "direction": "cross",
            "level": 0.55,
            "note": "watch",
        },
    )
    assert r.status_code == 201
    a = r.get_json()["alert"]
    assert a["level"] == 550_000 and a["level_value"] == pytest.approx(0.55)
    assert a["description"] == "Price of Y1 crosses 0.550" and a["enabled"] is True
    b = _post(
        auth, "/api/alerts", {"kind": "strategy_drawdown", "strategy": "beta", "level_pct": 5}
    ).get_json()["alert"]
    assert b["direction"] == "above" and b["level_pct"] == 5.0
    c = _post(
        auth,
        "/api/alerts",
        {"kind": "strategy_status", "strategy": "alpha", "status_to": "DISABLED"},
    ).get_json()["alert"]
    assert c["description"] == "Status of alpha changes to DISABLED"
    d = _post(
        auth, "/api/alerts", {"kind": "portfolio_equity", "direction": "below", "level": 29000}
    ).get_json()["alert"]
    assert d["level"] == 29_000_000_000
    with seeded.begin() as s:
        ins(
            s,
            "alert_triggers",
            [
                {
                    "alert_id": a["id"],
                    "ts": 1.0,
                    "wall_ts": 2.0,
                    "message": "price crossed",
                    "value": "0.560",
                }
            ],
        )
    listed = {x["id"]: x for x in client.get("/api/alerts").get_json()["alerts"]}
    assert listed[a["id"]]["trigger_count"] == 1 and listed[b["id"]]["trigger_count"] == 0
    trig = client.get("/api/alerts/triggers").get_json()["triggers"]
    assert trig[0]["description"] == "Price of Y1 crosses 0.550"
    r = _post(auth, f"/api/alerts/{a['id']}", {"enabled": False}, "patch")
    assert r.get_json()["alert"]["enabled"] is False
    assert _post(auth, f"/api/alerts/{a['id']}", {}, "patch").status_code == 400
    r = _post(auth, f"/api/alerts/{a['id']}", None, "delete")
    assert r.status_code == 200
    assert a["id"] not in {x["id"] for x in client.get("/api/alerts").get_json()["alerts"]}
    with seeded() as s:
        assert s.execute(select(TABLES["alert_triggers"].c.id)).all() == []
    assert _post(auth, f"/api/alerts/{a['id']}", None, "delete").status_code == 404
    assert _post(auth, "/api/alerts/999", {"enabled": True}, "patch").status_code == 404
    html = client.get("/alerts").get_data(as_text=True)
    assert "Drawdown of beta goes over 5.00%" in html and "alerts-table" in html


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({}, 400, "kind: is required"),
        ({"kind": "weather"}, 400, "kind: must be one of"),
        (
            {"kind": "price", "instrument_id": "Y1", "direction": "cross", "level": 1.0},
            400,
            "below 1",
        ),
        ({"kind": "price", "instrument_id": "Y1", "direction": "cross", "level": 0}, 400, "level"),
        (
            {"kind": "price", "instrument_id": "Y1", "direction": "sideways", "level": 0.5},
            400,
            "direction",
        ),
        (
            {"kind": "price", "instrument_id": "Q9", "direction": "cross", "level": 0.5},
            404,
            "unknown instrument",
        ),
        ({"kind": "price", "instrument_id": "Y1", "direction": "cross"}, 400, "level: is required"),
        ({"kind": "portfolio_equity", "direction": "cross", "level": 5}, 400, "direction"),
        ({"kind": "strategy_drawdown", "strategy": "beta", "level_pct": 150}, 400, "level_pct"),
        ({"kind": "strategy_status", "strategy": "zzz"}, 404, "unknown strategy"),
        ({"kind": "strategy_status", "strategy": "alpha", "status_to": "HAPPY"}, 400, "status_to"),
        (
            {"kind": "portfolio_equity", "direction": "above", "level": 5, "note": "n" * 201},
            400,
            "note",
        ),
    ],
)
def test_alert_validation(auth, seeded, body, status, needle) -> None:
    r = _post(auth, "/api/alerts", body)
    assert r.status_code == status and needle in r.get_json()["error"]


def test_alert_forms(auth, seeded) -> None:
    client, csrf = auth
    r = client.post(
        "/alerts",
        data={
            "csrf_token": csrf,
            "kind": "portfolio_equity",
            "direction": "above",
            "level": "31000",
            "note": "",
            "instrument_id": "",
            "strategy": "alpha",
            "level_pct": "",
        },
    )
    assert r.status_code == 303
    with seeded() as s:
        aid = s.execute(select(TABLES["alerts"].c.id)).scalar_one()
    assert (
        client.post(
            f"/alerts/{aid}/toggle", data={"csrf_token": csrf, "enabled": "false"}
        ).status_code
        == 303
    )
    assert client.get("/api/alerts").get_json()["alerts"][0]["enabled"] is False
    assert client.post(f"/alerts/{aid}/delete", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/api/alerts").get_json()["alerts"] == []
