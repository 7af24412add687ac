"""End to end: `python bot.py` with `source: polymarket` against the local fake venue."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_bot

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake_venue():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.markets.fake_polymarket",
            "--port",
            "0",
            "--walk-interval",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        while len(urls) < 2:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(
                    f"fake venue did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            key, _, value = line.strip().partition("=")
            urls[key] = value
        yield urls
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bot_trades_paper_on_the_fake_polymarket(
    fake_venue: dict[str, str], tmp_path: Path
) -> None:
    base, ws = fake_venue["FAKE_POLYMARKET_URL"], fake_venue["FAKE_POLYMARKET_WS"]
    rec_dir = tmp_path / "rec"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
market_data:
  source: polymarket
  duration_s: 8
  record: true
  recorder: {{directory: "{rec_dir}"}}
  polymarket:
    gamma_url: "{base}"
    clob_url: "{base}"
    ws_url: "{ws}"
    discovery: {{refresh_interval_s: 2}}
  validation: {{freshness_threshold_s: 5, min_depth_usd: 1}}
breakers: {{enabled: false}}
health: {{enabled: false}}
strategies:
  - name: mm
    class: MarketMaker
    params: {{half_spread_ticks: 1}}
  - name: arb
    class: ComplementArbitrage
dashboard: {{enabled: false}}
""",
        encoding="utf-8",
    )
    db = tmp_path / "bot.db"
    proc = run_bot("--config", str(cfg), "--db", str(db), "--quiet", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    con = sqlite3.connect(db)
    try:
        n_inst = con.execute(
            "select count(*) from instruments where venue='polymarket'"
        ).fetchone()[0]
        n_orders = con.execute("select count(*) from orders where strategy='mm'").fetchone()[0]
        tops = con.execute(
            "select count(*) from market_tops where best_bid is not null"
        ).fetchone()[0]
        health = con.execute("select value_json from bot_state where key='data_health'").fetchone()
    finally:
        con.close()
    assert n_inst >= 2
    assert n_orders > 0  # the market maker quoted real (fake-venue) books
    assert tops >= 2
    assert health is not None and json.loads(health[0])["status"] in ("healthy", "degraded")
    files = list(rec_dir.rglob("*.jsonl.*"))
    assert files, "recording was enabled but no file was written"
