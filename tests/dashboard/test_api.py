"""JSON API and CSV exports: values from a known database, filters, and 4xx errors."""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient

from tests.dashboard.seed import T0


def _json(client: FlaskClient, path: str, status: int = 200) -> dict:
    r = client.get(path)
    assert r.status_code == status, (path, r.get_data(as_text=True))
    assert r.is_json
    return r.get_json()


def test_leaderboard_and_summary(client: FlaskClient, seeded: object) -> None:
    rows = _json(client, "/api/leaderboard")["rows"]
    assert [r["strategy"] for r in rows] == ["alpha", "gamma", "beta"]
    a = rows[0]
    assert a["rank"] == 1 and a["medal"] == "gold"
    assert a["equity_usd"] == pytest.approx(10_360.0)
    assert a["return_pct"] == pytest.approx(3.6)
    assert a["win_rate_pct"] == pytest.approx(60.0)
    assert a["status"] == "WINNING" and a["stage"] == "paper"
    assert rows[1]["status"] == "PAUSED"
    s = _json(client, "/api/summary")
    assert s["strategies"] == 3 and s["active"] == 2 and s["paused"] == 1
    assert s["top"]["strategy"] == "alpha"
    assert s["avg_return_pct"] == pytest.approx((3.6 + 0.0 - 0.72) / 3)
    assert s["as_of_ts"] == T0 + 7200


def test_empty_database_answers_empty(client: FlaskClient) -> None:
    assert _json(client, "/api/leaderboard")["rows"] == []
    s = _json(client, "/api/summary")
    assert s["strategies"] == 0 and s["top"] is None and s["avg_return_pct"] is None
    perf = _json(client, "/api/performance?hours=24")
    assert perf["series"] == [] and perf["until_ts"] is None
    assert _json(client, "/api/risk")["breakers"] == []
    assert _json(client, "/api/health")["bot"]["running"] is False


def test_performance_history_is_bucketed_and_windowed(client: FlaskClient, seeded: object) -> None:
    perf = _json(client, "/api/performance?hours=1")
    assert perf["granularity"] == "fine"
    assert perf["until_ts"] == T0 + 7200 and perf["since_ts"] == T0 + 3600
    by = {s["strategy"]: s for s in perf["series"]}
    assert set(by) == {"alpha", "beta", "gamma"}
    alpha = by["alpha"]
    assert 300 <= len(alpha["ts"]) <= 400  # 361 rows into at most max_chart_points (400)
    assert alpha["ts"][0] >= T0 + 3600 and alpha["ts"][-1] == T0 + 7200
    assert alpha["equity_usd"][-1] == pytest.approx(10_360.0, abs=1.0)
    assert all(b >= a for a, b in zip(alpha["equity_usd"], alpha["equity_usd"][1:], strict=False))
    one = _json(client, "/api/strategies/beta/performance?hours=0.5")
    assert [s["strategy"] for s in one["series"]] == ["beta"]
    assert one["series"][0]["drawdown_pct"][-1] == pytest.approx(0.7)
    sel = _json(client, "/api/performance?hours=2&strategies=alpha,beta")
    assert [s["strategy"] for s in sel["series"]] == ["alpha", "beta"]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/api/performance?hours=0", 400, "hours"),
        ("/api/performance?hours=abc", 400, "hours: must be a number"),
        ("/api/performance?hours=nan", 400, "finite"),
        ("/api/performance?hours=99999", 400, "hours"),
        ("/api/performance?strategies=alpha,zzz", 404, "unknown strategy 'zzz'"),
        ("/api/performance?strategies=a%20b", 400, "strategies"),
        ("/api/strategies/zzz", 404, "unknown strategy"),
        ("/api/strategies/zzz/performance", 404, "unknown strategy"),
        ("/api/orders?status=weird", 400, "status: must be one of"),
        ("/api/orders?limit=0", 400, "limit: must be between 1 and 1000"),
        ("/api/orders?limit=1001", 400, "limit"),
        ("/api/orders?offset=-1", 400, "offset"),
        ("/api/orders?side=up", 400, "side"),
        ("/api/orders?strategy=zzz", 404, "unknown strategy"),
        ("/api/fills?strategy=zzz", 404, "unknown strategy"),
        ("/api/positions?strategy=bad%20name", 400, "strategy"),
        ("/api/events?severity=fatal", 400, "severity"),
        ("/api/events?before_id=x", 400, "before_id"),
        ("/api/journal?strategy=zzz", 404, "unknown strategy"),
        ("/api/commands/999", 404, "unknown command"),
        ("/api/journal/999", 404, "unknown journal entry"),
        ("/api/alerts/triggers?limit=5000", 400, "limit"),
    ],
)
def test_bad_requests_say_what_was_wrong(
    client: FlaskClient, seeded: object, path: str, status: int, needle: str
) -> None:
    body = _json(client, path, status)
    assert needle in body["error"]


def test_strategy_detail(client: FlaskClient, seeded: object) -> None:
    d = _json(client, "/api/strategies/alpha")
    assert d["strategy"]["params"] == {"spread": 2}
    assert d["strategy"]["max_drawdown_pct"] == pytest.approx(0.4)  # from strategy_risk
    assert d["strategy"]["metrics"]["rank"] == 1
    assert [o["id"] for o in d["orders"]] == [2]  # only the resting order
    assert d["fills"][0]["reason"] == "bid below fair value"
    pos = d["positions"][0]
    assert pos["size_shares"] == 100.0 and pos["entry_price"] == pytest.approx(0.4)
    assert pos["current_price"] == pytest.approx(0.5)
    assert pos["unrealized_pnl_usd"] == pytest.approx(10.0) and pos["zone"] == "Z3"
    names = [s["name"] for s in _json(client, "/api/strategies")["strategies"]]
    assert names == ["alpha", "beta", "gamma"]


def test_orders_fills_positions_events(client: FlaskClient, seeded: object) -> None:
    orders = _json(client, "/api/orders")["orders"]
    assert [o["id"] for o in orders] == [3, 2, 1]
    assert orders[2]["fill_pct"] == 100.0 and orders[2]["liquidity"] == "maker"
    assert [o["id"] for o in _json(client, "/api/orders?status=open")["orders"]] == [2]
    assert [o["id"] for o in _json(client, "/api/orders?side=SELL")["orders"]] == [2]
    assert [o["id"] for o in _json(client, "/api/orders?market=rain&strategy=beta")["orders"]] == [
        3
    ]
    assert _json(client, "/api/orders?market=snow")["orders"] == []
    assert [o["id"] for o in _json(client, "/api/orders?limit=1&offset=1")["orders"]] == [2]
    fills = _json(client, "/api/fills?strategy=alpha")["fills"]
    assert fills[0]["notional_usd"] == pytest.approx(40.0)
    assert len(_json(client, "/api/positions")["positions"]) == 1
    ev = _json(client, "/api/events?severity=critical")["events"]
    assert [e["kind"] for e in ev] == ["breaker_trip"]
    assert len(_json(client, "/api/events?strategy=beta")["events"]) == 1


def test_risk_and_health(client: FlaskClient, seeded: object, wall) -> None:
    r = _json(client, "/api/risk")
    assert r["kill_switch"]["state"] == "ACTIVE"
    b = r["breakers"][0]
    assert (b["name"], b["strategy"], b["state"], b["until"]) == (
        "consecutive_losses",
        "gamma",
        "OPEN",
        T0 + 86600,
    )
    per = {s["strategy"]: s for s in r["strategies"]}
    assert per["alpha"]["limit_pct"] == 15.0 and per["beta"]["limit_pct"] == 10.0
    assert per["beta"]["used_pct"] == pytest.approx(7.0)  # 0.7 % of 10 %
    assert per["gamma"]["consecutive_losses"] == 3 and per["alpha"]["halt_pct"] == 25.0
    zones = {z["zone"]: z for z in r["zones"]}
    assert zones["Z3"]["positions"] == 1 and zones["Z3"]["value_usd"] == pytest.approx(50.0)
    assert zones["Z3"]["share_pct"] == pytest.approx(100.0)
    h = _json(client, "/api/health")
    assert h["bot"]["running"] is True and h["bot"]["pid"] == 4242
    assert h["bot"]["heartbeat_age_s"] == pytest.approx(1.0)
    assert h["data_health"] == []
    wall.t += 60  # no heartbeat for a minute: the bot counts as stopped
    h = _json(client, "/api/health")
    assert h["bot"]["running"] is False and "No heartbeat for 61 s" in h["bot"]["message"]


def test_data_health_is_shown_once_reported(client: FlaskClient, seeded) -> None:
    from database.queries import set_state

    with seeded.begin() as s:
        set_state(
            s,
            "data_health",
            {"status": "degraded", "message_age_s": 12.5, "reconnects": 3, "feed": "polymarket"},
            ts=1.0,
        )
    h = _json(client, "/api/health")["data_health"]
    assert h == [
        {
            "name": "polymarket",
            "status": "degraded",
            "message_age_s": 12.5,
            "reconnects": 3,
            "reasons": [],
            "details": "",
        }
    ]
    assert "degraded" in client.get("/risk").get_data(as_text=True)
    # The live feed's pipeline record (services/monitors/data_pipeline.py).
    record = {
        "ts": 5.0,
        "status": "critical",
        "previous_status": "healthy",
        "changed": True,
        "allows_new_positions": False,
        "reasons": ["message age 31.0 s >= 30 s"],
        "max_message_age_s": 31.0,
        "reconnects_window": 4,
        "shards_total": 2,
    }
    with seeded.begin() as s:
        set_state(s, "data_health", record, ts=5.0)
    (h,) = _json(client, "/api/health")["data_health"]
    assert (h["name"], h["status"], h["message_age_s"], h["reconnects"]) == (
        "market data",
        "critical",
        31.0,
        4,
    )
    assert h["reasons"] == ["message age 31.0 s >= 30 s"]
    assert "shards_total" in h["details"] and "previous_status" not in h["details"]
    assert "message age 31.0 s" in client.get("/risk").get_data(as_text=True)


def _csv(client: FlaskClient, path: str) -> list[dict[str, str]]:
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))


def test_csv_exports(client: FlaskClient, seeded: object) -> None:
    trades = _csv(client, "/api/export/trades.csv")
    assert len(trades) == 1
    assert trades[0]["reason"] == "bid below fair value" and trades[0]["price"] == "0.4"
    assert _csv(client, "/api/export/trades.csv?strategy=beta") == []
    orders = _csv(client, "/api/export/orders.csv?status=rejected")
    assert [o["id"] for o in orders] == ["3"] and orders[0]["reject_reason"] == "insufficient cash"
    port = _csv(client, "/api/export/portfolio.csv")
    assert port[0]["strategy"] == "alpha" and float(port[0]["value_usd"]) == 50.0
    snaps = _csv(client, "/api/export/snapshots.csv?strategy=alpha&hours=0.5")
    assert len(snaps) == 181 and snaps[-1]["equity_usd"] == "10360"
    assert client.get("/api/export/snapshots.csv?strategy=zzz").status_code == 404
    assert client.get("/api/export/snapshots.csv?granularity=weekly").status_code == 400


def test_csv_neutralises_formulas(client: FlaskClient, seeded) -> None:
    from sqlalchemy import update

    from database.models import TABLES

    with seeded.begin() as s:
        s.execute(
            update(TABLES["orders"])
            .where(TABLES["orders"].c.id == 1)
            .values(reason='=HYPERLINK("http://x")')
        )
    trades = _csv(client, "/api/export/trades.csv")
    assert trades[0]["reason"].startswith("'=")


def test_healthz_is_open(client: FlaskClient) -> None:
    assert _json(client, "/healthz") == {"ok": True}
