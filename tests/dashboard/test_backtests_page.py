"""The Backtests page lists runs written by the backtest CLI's store and compares them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from services.backtest.store import save_run


def _save(db_url: str, tmp_path: Path, name: str, ret: float, label: str) -> int:
    def write(run_id: int) -> tuple[Path, Path]:
        j, h = tmp_path / f"r{run_id}.json", tmp_path / f"r{run_id}.html"
        j.write_text("{}", encoding="utf-8")
        h.write_text(f"<html><body>report {run_id}</body></html>", encoding="utf-8")
        return j, h

    run_id, _, _ = save_run(
        db_url,
        kind="backtest",
        doc={"config": "c.yaml", "data": "/data/l1", "fidelity": "L1", "events": 1234},
        results=[
            {
                "strategy": name,
                "label": label,
                "return_pct": ret,
                "sharpe": 1.5,
                "max_drawdown_pct": 2.0,
                "trades": 42,
                "fees": 1_500_000,
                "pnl": 12_340_000,
                "params": {"spread_ticks": 3},
            }
        ],
        write_reports=write,
    )
    return run_id


def test_backtests_list_compare_and_report(client, db: Engine, tmp_path: Path) -> None:
    url = db.url.render_as_string(hide_password=False)  # SQLite or PostgreSQL (conftest)
    a = _save(url, tmp_path, "mm_wide", 1.25, "GOOD")
    b = _save(url, tmp_path, "mm_tight", -0.5, "FAILED")
    page = client.get("/backtests").get_data(as_text=True)
    assert "mm_wide" in page and "mm_tight" in page and "GOOD" in page and "FAILED" in page
    assert page.index("mm_tight") < page.index("mm_wide")  # newest first
    r = client.get(f"/backtests/compare?id={a}&id={b}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "spread_ticks=3" in html and "12.34" in html
    api = client.get(f"/api/backtests/compare?id={a}&id={b}").get_json()
    assert [run["results"][0]["strategy"] for run in api["runs"]] == ["mm_wide", "mm_tight"]
    rep = client.get(f"/backtests/{a}/report")
    assert rep.status_code == 200 and f"report {a}" in rep.get_data(as_text=True)
    assert client.get("/backtests/compare?id=999").status_code == 404
    assert client.get("/backtests/compare?id=x").status_code == 400
    assert client.get("/backtests/compare").status_code == 400
    assert client.get("/backtests/999/report").status_code == 404
