"""The strategy page's price chart: a strategy's markets, one market's price series (thinned,
UTC axis bounds at the data) and its fills as markers; the sink's bounded price history."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from dashboard.data.prices import price_chart
from database.models import Base
from database.queries import prune_price_history
from services.persistence import OpWriter, Sink
from tests.conftest import run_bot
from tests.dashboard.seed import T0


def _json(client: FlaskClient, path: str, status: int = 200) -> Any:
    r = client.get(path)
    assert r.status_code == status, (path, r.get_data(as_text=True))
    return r.get_json()


def test_markets_of_a_strategy_most_recent_first(client: FlaskClient, seeded: object) -> None:
    got = _json(client, "/api/strategies/alpha/markets")["markets"]
    assert got == [
        {
            "instrument_id": "Y1",
            "question": "Will it rain?",
            "outcome": "Yes",
            "fills": 1,
            "last_fill_ts": T0 + 6,
        }
    ]
    assert _json(client, "/api/strategies/gamma/markets")["markets"] == []
    _json(client, "/api/strategies/zzz/markets", 404)


def test_price_series_and_fill_markers(client: FlaskClient, seeded: object) -> None:
    j = _json(client, "/api/strategies/alpha/prices?hours=24")
    assert j["instrument_id"] == "Y1" and j["source"] == "history"
    p = j["price"]
    # 120 history points a minute apart, then the newer market_tops row (mid 0.50 at T0 + 7200).
    assert len(p["ts"]) == len(p["mid"]) == len(p["last"]) == 121
    assert p["ts"][0] == T0 and p["ts"][-1] == T0 + 7200
    assert p["mid"][0] == pytest.approx(0.40) and p["mid"][-1] == pytest.approx(0.50)
    assert p["last"][0] == pytest.approx(0.40) and p["last"][60] is None
    # The axis spans the data: first point to last, nothing before it.
    assert j["since_ts"] == T0 and j["until_ts"] == T0 + 7200
    assert j["fills"] == [
        {
            "id": 1,
            "ts": T0 + 6,
            "side": "BUY",
            "price": pytest.approx(0.40),
            "size_shares": pytest.approx(100.0),
            "fee_usd": 0.0,
            "liquidity": "maker",
        }
    ]


def test_price_window_and_thinning(client: FlaskClient, seeded: object) -> None:
    j = _json(client, "/api/strategies/alpha/prices?instrument=Y1&hours=0.5")
    # The window ends at the newest data (T0 + 7200): the fill at T0 + 6 falls outside it.
    assert j["fills"] == [] and j["since_ts"] == T0 + 5400 and j["until_ts"] == T0 + 7200
    assert all(t >= T0 + 5400 for t in j["price"]["ts"])


def test_price_chart_errors_and_empty(client: FlaskClient, seeded: object) -> None:
    assert _json(client, "/api/strategies/gamma/prices")["price"] is None  # no fills at all
    _json(client, "/api/strategies/alpha/prices?instrument=NOPE", 404)
    _json(client, "/api/strategies/alpha/prices?instrument=%3Cx%3E", 400)
    _json(client, "/api/strategies/alpha/prices?hours=0", 400)
    _json(client, "/api/strategies/zzz/prices", 404)
    # A market the strategy did not trade still charts, without markers.
    j = _json(client, "/api/strategies/alpha/prices?instrument=N1")
    assert j["fills"] == [] and j["source"] == "none" and j["since_ts"] is None


def test_strategy_page_has_the_market_selector(client: FlaskClient, seeded: object) -> None:
    html = client.get("/strategy/alpha").get_data(as_text=True)
    assert 'id="price-chart"' in html and 'id="price-market"' in html
    assert '<option value="Y1">Will it rain? · Yes (1 fills)</option>' in html
    html = client.get("/strategy/gamma").get_data(as_text=True)
    assert 'id="price-chart"' not in html and "No fills yet" in html


class _Rows(OpWriter):
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def op(self, kind: str, table: str, row: dict[str, Any]) -> None:
        if kind in ("i", "u"):
            self.rows.append((table, row))


def _point(iid: str, ts: float, mid: int | None, last: int | None = None) -> dict[str, Any]:
    return {"instrument_id": iid, "ts": ts, "mid": mid, "last_trade": last}


def test_sink_skips_unchanged_price_points() -> None:
    w = _Rows()
    sink = Sink(w)
    sink.price_point(_point("A", 10.0, 500_000))
    sink.price_point(_point("A", 20.0, 500_000))  # same prices: skipped
    sink.price_point(_point("B", 20.0, 500_000))  # another instrument: kept
    sink.price_point(_point("A", 30.0, 500_000, 510_000))  # a trade printed: kept
    sink.price_point(_point("A", 40.0, 520_000, 510_000))
    assert [(t, r["instrument_id"], r["ts"]) for t, r in w.rows] == [
        ("price_history", "A", 10.0),
        ("price_history", "B", 20.0),
        ("price_history", "A", 30.0),
        ("price_history", "A", 40.0),
    ]


def test_price_history_retention() -> None:
    eng = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(eng)
    with Session(eng) as s, s.begin():
        tb = Base.metadata.tables["price_history"]
        s.execute(tb.insert(), [_point("A", float(ts), 500_000) for ts in range(0, 100, 10)])
        assert prune_price_history(s, 50.0) == 5
        assert s.execute(select(func.min(tb.c.ts))).scalar() == 50.0


def test_price_series_is_thinned_keeping_the_ends() -> None:
    eng = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(eng)
    with Session(eng) as s, s.begin():
        tb = Base.metadata.tables["price_history"]
        s.execute(tb.insert(), [_point("A", float(ts), 400_000 + ts) for ts in range(1000)])
        got = price_chart(s, "x", "A", 24.0, max_points=10)
    assert len(got["price"]["ts"]) == 10
    assert got["price"]["ts"][0] == 0.0 and got["price"]["ts"][-1] == 999.0
    assert got["since_ts"] == 0.0 and got["until_ts"] == 999.0


@pytest.mark.e2e
def test_a_run_writes_a_bounded_price_history(tmp_path: Path) -> None:
    """The engine appends price points at the persisted-snapshot cadence, only on change, and
    the last point of each instrument is its final top of book."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "market_data: {source: sim, seed: 5, speed: max, duration_s: 120}\n"
        "competition: {snapshot_interval_s: 10}\n"
        "strategies: [{name: mm, class: MarketMaker}]\n"
        "dashboard: {enabled: false}\n",
        encoding="utf-8",
    )
    db = tmp_path / "bot.db"
    p = run_bot("--config", str(cfg), "--db", str(db), "--quiet")
    assert p.returncode == 0, p.stderr[-2000:]
    con = sqlite3.connect(db)
    per = con.execute(
        "select instrument_id, count(*) from price_history group by instrument_id"
    ).fetchall()
    assert per, "no price history written"
    # 120 s at one point per 10 s at most, plus the first point and the final forced one.
    assert max(n for _iid, n in per) <= 120 / 10 + 2, per
    for iid, _n in per:
        pts = con.execute(
            "select mid, last_trade from price_history where instrument_id = ? order by ts",
            (iid,),
        ).fetchall()
        assert all(a != b for a, b in zip(pts, pts[1:], strict=False)), iid  # only changes
        top = con.execute(
            "select mid, last_trade from market_tops where instrument_id = ?",
            (iid,),
        ).fetchone()
        assert top is None or top == pts[-1], iid
