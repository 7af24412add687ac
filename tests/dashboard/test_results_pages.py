"""Closed bets on the strategy and positions pages, in the API and in CSV; today's P&L and bets on
the leaderboard; the new metrics on the leaderboard; no float noise in CSV cells."""

from __future__ import annotations

import csv
import io
import json

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.dashboard.seed import T0, ins

M = 1_000_000


def _add_bets(seeded: sessionmaker[Session]) -> None:
    with seeded.begin() as s:
        ins(
            s,
            "closed_bets",
            [
                {
                    "strategy": "alpha", "group_id": "M1", "opened_ts": T0 + 5,
                    "closed_ts": T0 + 905, "cost": 40 * M, "proceeds": 50 * M, "fees": 0,
                    "pnl": 10 * M, "closed_by": "sold", "order_id": 2,
                },
                {
                    "strategy": "alpha", "group_id": "M1", "opened_ts": T0 + 1000,
                    "closed_ts": T0 + 86_400 + 60, "cost": 30 * M, "proceeds": 0,
                    "fees": 333_333, "pnl": -30_333_333, "closed_by": "settled", "order_id": None,
                },
            ],
        )  # fmt: skip
        ins(
            s,
            "bot_state",
            [
                {
                    "key": "risk_metrics",
                    "value_json": json.dumps(
                        {
                            "timezone": "UTC",
                            "day": "2026-01-02",
                            "day_start": {"alpha": 10_300 * M},
                        }
                    ),
                    "updated_ts": T0 + 86_400,
                }
            ],
        )


def test_closed_bets_api_lists_entry_exit_pnl_fees_hold_time_and_reason(
    client: FlaskClient, seeded: sessionmaker[Session]
) -> None:
    _add_bets(seeded)
    out = client.get("/api/closed-bets?strategy=alpha").get_json()
    assert out["total"] == 2
    newest, oldest = out["closed_bets"]
    assert newest["closed_by"] == "settled" and newest["reason"] == "market resolved"
    assert newest["pnl_usd"] == -30.333333 and newest["result"] == "loss"
    assert oldest["question"] == "Will it rain?" and oldest["hold_s"] == 900.0
    assert oldest["reason"] == "offer above fair value"  # the closing sell order's reason
    assert oldest["pnl_usd"] == 10.0 and oldest["return_pct"] == 25.0
    assert client.get("/api/closed-bets?strategy=nobody").status_code == 404


def test_closed_bets_show_on_both_pages_and_export_without_float_noise(
    client: FlaskClient, seeded: sessionmaker[Session]
) -> None:
    _add_bets(seeded)
    for path in ("/strategy/alpha", "/positions"):
        html = client.get(path).get_data(as_text=True)
        assert 'id="closed-bets-table"' in html and "market resolved" in html, path
        assert "-$30.33" in html
    frag = client.get("/strategy/alpha?fragment=closed_bets").get_data(as_text=True)
    assert "closed-bets-table" in frag
    text = client.get("/api/export/closed_bets.csv?strategy=alpha").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["pnl_usd"] for r in rows] == ["-30.333333", "10"]
    assert rows[0]["return_pct"] == "-101.11111"  # -101.111110 with the trailing 0 trimmed
    assert rows[1]["exit_utc"] == "2026-01-01 00:15:05" and rows[1]["hold_s"] == "900"
    # Defect: CSV cells held floats like -61.111111111111114.
    snaps = client.get("/api/export/snapshots.csv").get_data(as_text=True)
    for row in csv.reader(io.StringIO(snaps)):
        for cell in row:
            if cell.replace(".", "", 1).lstrip("-").isdigit() and "." in cell:
                assert len(cell.split(".")[1]) <= 6, cell


def test_the_leaderboard_shows_today_and_max_drawdown(
    client: FlaskClient, seeded: sessionmaker[Session]
) -> None:
    _add_bets(seeded)
    rows = {r["strategy"]: r for r in client.get("/api/leaderboard").get_json()["rows"]}
    a = rows["alpha"]
    assert a["today_bets"] == 1 and a["today_wins"] == 0
    assert a["today_pnl_usd"] == a["equity_usd"] - 10_300
    assert "max_drawdown_pct" in a and "sharpe_se" in a and "evidence_pct" in a
    assert rows["beta"]["today_pnl_usd"] is None  # no day-start equity recorded for it


def test_the_risk_page_offers_breaker_reset_and_shows_no_stale_activation_reason(
    client: FlaskClient, seeded: sessionmaker[Session]
) -> None:
    from sqlalchemy import update

    from database.models import TABLES

    ks = {
        "state": "ACTIVE", "active": False, "reason": "prices looked wrong", "since_ts": T0,
        "deactivated_ts": T0 + 600, "deactivate_reason": "checked the feed",
    }  # fmt: skip
    with seeded.begin() as s:
        bs = TABLES["bot_state"]
        s.execute(update(bs).where(bs.c.key == "kill_switch").values(value_json=json.dumps(ks)))
    html = client.get("/risk").get_data(as_text=True)
    # Defect: the old activation reason showed under ACTIVE after a deactivation.
    assert "prices looked wrong" not in html
    assert "trading resumed 2026-01-01 00:10:00: checked the feed" in html
    # An OPEN breaker has a Reset button and the page has the dialog (reason, CONFIRM, token).
    assert 'class="secondary small breaker-reset" data-breaker="consecutive_losses"' in html
    assert 'data-strategy="gamma"' in html and 'id="dlg-breaker-reset"' in html
    # Defect: "Resume trading..." showed while trading was ACTIVE.
    assert 'id="btn-deactivate" class="secondary hidden"' in html


def test_the_login_page_says_where_the_token_file_is(client: FlaskClient) -> None:
    # Defect: the login page did not say where the token file is.
    html = client.get("/login").get_data(as_text=True)
    assert 'id="token-file">/' in html and "DASHBOARD_TOKEN" in html


def test_a_sharpe_not_shown_yet_says_how_many_returns_it_has_and_needs(
    client: FlaskClient, seeded: sessionmaker[Session]
) -> None:
    from sqlalchemy import update

    from database.models import TABLES

    metrics = {"n_returns": 5, "min_returns": 20, "returns_period": "hourly", "sharpe": None}
    with seeded.begin() as s:
        ps = TABLES["performance_snapshots"]
        s.execute(update(ps).values(metrics_json=json.dumps(metrics), sharpe=None))
    rows = client.get("/api/leaderboard").get_json()["rows"]
    assert rows and all(r["sharpe"] is None and r["min_returns"] == 20 for r in rows)
    # Defect: a bare "-" for the first 20 market hours read as a broken metric.
    assert "5/20 h" in client.get("/").get_data(as_text=True)
