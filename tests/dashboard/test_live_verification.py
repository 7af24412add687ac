"""The orders page shows each live order's trade-verification label (issue 14: "shown on the
orders page"); paper orders have none."""

from __future__ import annotations

import json

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from dashboard.formatting import fmt_ts
from tests.dashboard.seed import T0, ins, strategy
from tests.database.rows import order_row


def test_live_orders_show_their_verification_label(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        ins(s, "strategies", [strategy("mm")])
        ins(s, "orders", [
            order_row(1, route="polymarket_live", status="FILLED", filled=10_000_000),
            order_row(2, route="polymarket_live", status="FILLED", filled=10_000_000),
            order_row(3, route="paper", status="FILLED", filled=10_000_000),
        ])  # fmt: skip
        ins(s, "events", [
            {"ts": T0 + i, "kind": "trade_verification", "severity": sev, "strategy": "mm",
             "instrument_id": "tok-yes", "message": f"mm: live order {oid} {label}",
             "value": label,
             "data_json": json.dumps({"label": label, "order_id": oid, "strategy": "mm"})}
            for i, (oid, label, sev) in enumerate(
                [(1, "VERIFIED", "info"), (2, "SLIPPAGE_HIGH", "warning"), (3, "FAILED", "info")]
            )
        ])  # fmt: skip
    orders = {o["id"]: o for o in client.get("/api/orders").get_json()["orders"]}
    assert orders[1]["verification"] == "VERIFIED"
    assert orders[2]["verification"] == "SLIPPAGE_HIGH"
    assert orders[3]["verification"] is None  # a paper order is never labelled
    html = client.get("/positions").get_data(as_text=True)
    assert 'title="live trade verification">SLIPPAGE_HIGH</span>' in html


def test_a_gtd_order_shows_its_expiry_in_the_api_page_and_csv(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    expiry = T0 + 3_600.0
    with sessions.begin() as s:
        ins(s, "strategies", [strategy("mm")])
        ins(s, "orders", [
            order_row(1, tif="GTD", expire_ts=expiry),
            order_row(2),
        ])  # fmt: skip
    orders = {o["id"]: o for o in client.get("/api/orders").get_json()["orders"]}
    assert orders[1]["tif"] == "GTD" and orders[1]["expire_ts"] == expiry
    assert orders[2]["expire_ts"] is None
    html = client.get("/positions").get_data(as_text=True)
    assert f"until {fmt_ts(expiry, with_date=False)}" in html
    assert html.count('class="muted expiry"') == 1
    lines = client.get("/api/export/orders.csv").get_data(as_text=True).splitlines()
    header = lines[0].split(",")
    rows = {r[header.index("id")]: r for r in (line.split(",") for line in lines[1:])}
    assert rows["1"][header.index("expires_utc")] == fmt_ts(expiry)
    assert rows["2"][header.index("expires_utc")] == ""
