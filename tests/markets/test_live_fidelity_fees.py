"""The paper-vs-live report says where each live fill's fee came from (trade rate or model)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.models import TABLES
from services.markets.polymarket.live.fidelity import COLUMNS, fidelity_report, to_csv
from tests.database.rows import fill_row, order_row, strategy_row


def test_report_counts_fee_sources(tmp_path: Path) -> None:
    url = db_url_from_path(tmp_path / "bot.db")
    migrate(url)
    sessions = make_session_factory(make_engine(url))
    with sessions.begin() as s:
        s.execute(insert(TABLES["strategies"]), [strategy_row("mm")])
        s.execute(
            insert(TABLES["orders"]),
            [order_row(1, "mm", route="polymarket_live", filled=3_000_000, status="filled")],
        )
        s.execute(
            insert(TABLES["fills"]),
            [
                fill_row(1, 1, "mm", fee_source="trade", fill_reason="confirmed"),
                fill_row(2, 1, "mm", fee_source="trade", fill_reason="confirmed"),
                fill_row(3, 1, "mm", fee_source="model", fill_reason="provisional"),
                fill_row(4, 1, "mm", side="SELL", fee_source="model", fill_reason="reversal"),
            ],
        )
    with sessions() as s:
        (row,) = fidelity_report(s)
    assert (row["live_fee_fills_trade_rate"], row["live_fee_fills_model"]) == (2, 1)
    assert "live_fee_fills_trade_rate" in COLUMNS
    assert ",2,1," in to_csv([row])
