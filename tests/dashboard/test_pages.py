"""Every page renders on a fresh and on a seeded database; fragments; 404s; escaping; headers."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.dashboard.seed import ins

PAGES = ["/", "/compare", "/positions", "/risk", "/journal", "/alerts", "/login"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_on_a_fresh_database(client: FlaskClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "EMERGENCY STOP" in html  # the controls are on every page
    assert 'id="trading-state"' in html


def test_fresh_leaderboard_explains_itself(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "No strategies yet" in html
    assert "No bot has written to this database yet." in html


def test_leaderboard_ranks_medals_and_summary(client: FlaskClient, seeded: object) -> None:
    html = client.get("/").get_data(as_text=True)
    # alpha (score 70) first with the gold medal, gamma (50) second, beta (40) third.
    a, g, b = (
        html.index('data-strategy="alpha"'),
        html.index('data-strategy="gamma"'),
        html.index('data-strategy="beta"'),
    )
    assert a < g < b
    assert html.count("medal-gold") == 2  # the rank-1 row and the top-performer banner
    assert "medal-silver" in html and "medal-bronze" in html
    assert "Top performer" in html and ">alpha</a>" in html
    assert "+3.60%" in html  # alpha: 10,360 / 10,000
    assert "PAUSED" in html and "WINNING" in html
    assert "BOT RUNNING" in html  # heartbeat 1 s old on the fake wall clock


def test_fragments_render_only_the_section(client: FlaskClient, seeded: object) -> None:
    r = client.get("/?fragment=leaderboard")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "leaderboard-table" in html and "<html" not in html
    assert client.get("/?fragment=nope").status_code == 404
    frag = client.get("/strategy/alpha?fragment=orders").get_data(as_text=True)
    assert "offer above fair value" in frag and "<html" not in frag


def test_strategy_page_shows_everything(client: FlaskClient, seeded: object) -> None:
    html = client.get("/strategy/alpha").get_data(as_text=True)
    assert "offer above fair value" in html  # resting order with its reason
    assert "bid below fair value" in html  # the fill's order reason
    assert "Will it rain?" in html
    assert 'id="btn-pause"' in html and 'id="btn-disable"' in html
    assert "equity-chart" in html and "drawdown-chart" in html
    assert "$10.00" in html  # unrealized P&L of 100 shares bought at 0.40, mid 0.50


def test_unknown_strategy_is_404(client: FlaskClient, seeded: object) -> None:
    r = client.get("/strategy/nobody")
    assert r.status_code == 404
    assert "unknown strategy" in r.get_data(as_text=True)
    assert client.get("/strategy/%3Cscript%3E").status_code == 404


def test_compare_highlights_the_best(client: FlaskClient, seeded: object) -> None:
    html = client.get("/compare?s=alpha&s=beta").get_data(as_text=True)
    assert "compare-table" in html and "compare-chart" in html
    assert 'class="table compare sortable"' in html  # the shared click-to-sort code applies
    heads = html[html.index("<thead>") : html.index("</thead>")]
    col = heads.count("</th>", 0, heads.index(">Return</th>"))  # the Return column's index
    rows = html[html.index("<tbody>") : html.index("</tbody>")].split("<tr>")[1:]
    cells = {r[r.index("/strategy/") :].split('"')[0]: r.split("<td")[1:] for r in rows}
    # alpha's +3.60% is highlighted, not beta's -0.72%; each cell carries its sort key.
    assert 'class="num best" data-sort="3.6' in cells["/strategy/alpha"][col]
    assert "best" not in cells["/strategy/beta"][col] and "-0.72%" in cells["/strategy/beta"][col]
    assert "Pick at least 2" in client.get("/compare?s=alpha").get_data(as_text=True)
    assert client.get("/compare?s=alpha&s=beta&s=gamma&s=alpha&s=beta").status_code == 400
    assert client.get("/compare?s=alpha&s=zzz").status_code == 404


def test_positions_page_filters_and_pages(client: FlaskClient, seeded: object) -> None:
    html = client.get("/positions?strategy=beta&status=rejected").get_data(as_text=True)
    assert "insufficient cash" in html and "offer above fair value" not in html
    assert client.get("/positions?status=bogus").status_code == 400
    assert client.get("/positions?strategy=zzz").status_code == 404
    assert "older" in client.get("/positions?limit=1").get_data(as_text=True)


def test_risk_page_shows_breakers_limits_zones(client: FlaskClient, seeded: object) -> None:
    html = client.get("/risk").get_data(as_text=True)
    assert "consecutive_losses" in html and "OPEN" in html
    assert "entries stop at 15.0%" in html and "halt at 25.0%" in html
    assert "No data yet: the live feed" in html
    assert "Z3" in html and "outside" in html
    crit = client.get("/risk?severity=critical").get_data(as_text=True)
    assert "3 consecutive losses" in crit and "exceeds max_order_usd" not in crit
    assert client.get("/risk?severity=fatal").status_code == 400


def test_user_text_is_escaped(client: FlaskClient, seeded: sessionmaker[Session]) -> None:
    evil = '<script>alert("x")</script>'
    with seeded.begin() as s:
        ins(
            s,
            "journal_entries",
            [
                {
                    "created_ts": 1.0,
                    "updated_ts": 1.0,
                    "strategy": "alpha",
                    "entry_reason": evil,
                    "lessons": "<b>bold</b>",
                }
            ],
        )
        ins(s, "events", [{"ts": 1.0, "kind": "x", "message": evil}])
    for path in ("/journal", "/risk"):
        html = client.get(path).get_data(as_text=True)
        assert evil not in html
        assert "&lt;script&gt;" in html


def test_security_headers(client: FlaskClient) -> None:
    r = client.get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"


def test_static_assets_are_vendored(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html
    for path in (
        "/static/vendor/chartjs/chart.umd.min.js",
        "/static/vendor/socketio/socket.io.min.js",
        "/static/js/dashboard.js",
        "/static/js/charts.js",
        "/static/css/dashboard.css",
        "/static/vendor/chartjs/LICENSE.md",
        "/static/vendor/socketio/LICENSE",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert len(r.data) > 500 or "LICENSE" in path
        r.close()


def test_unknown_page_and_method(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404
    r = client.get("/api/nope")
    assert r.status_code == 404 and "error" in r.get_json()
    r = client.delete("/api/leaderboard")
    assert r.status_code in (401, 405)
