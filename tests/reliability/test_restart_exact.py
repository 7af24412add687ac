"""A restart rebuilds exactly what a clean stop left (issue 12).

Run 1 stops cleanly at a fixed market time with partly filled resting orders on both sides and
open positions; run 2 starts four hours of market time later, so markets that ended while the bot
was down are resolved at once. Everything the restart rebuilt (bot_state ``restored``) must equal
what the database said at the stop, and the overdue markets must settle.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import query as q
from tests.reliability.harness import assert_nothing_lost, run_bot, write_config
from tests.test_bot_e2e import replay_ledger

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

SEED = 5  # with --duration 300: partly filled BUYs and SELLs rest at the stop
DOWN_S = 4 * 3600.0


def _at_stop(db: Path) -> dict[str, dict[str, object]]:
    ledger = replay_ledger(db)
    out: dict[str, dict[str, object]] = {}
    for name, st in ledger.items():
        snap = q(
            db,
            "select cash, realized_pnl, fees, sharpe from performance_snapshots "
            "where strategy=? and granularity='fine' order by id desc limit 1",
            name,
        )[0]
        orders = q(
            db,
            "select id, side, filled, avg_price, fees, liquidity, status from orders "
            "where strategy=? and status in ('open','partially_filled') order by id",
            name,
        )
        positions = q(
            db,
            "select instrument_id, qty, cost_basis, realized_pnl, fees from positions "
            "where strategy=? order by instrument_id",
            name,
        )
        out[name] = {
            "cash": st["cash"],
            "snapshot": list(snap),
            "positions": st["positions"],
            "position_details": {iid: [qty, cb, rp, f] for iid, qty, cb, rp, f in positions},
            "open_orders": [o[0] for o in orders],
            "order_details": {
                str(o[0]): [o[1], o[2], o[3] if o[2] else None, o[4], o[5], o[6]] for o in orders
            },
        }
    return out


def test_restart_rebuilds_portfolios_orders_positions_and_metrics_exactly(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path)
    first = run_bot(db, cfg, "--duration", "300", seed=SEED)
    assert first.proc.returncode == 0, first.stderr[-3000:]
    before = _at_stop(db)
    sides = {d[0] for s in before.values() for d in s["order_details"].values() if d[1] > 0}
    assert sides == {"BUY", "SELL"}, "the scenario needs partly filled orders on both sides"
    stop_ts = q(db, "select max(ts) from performance_snapshots")[0][0]
    held = q(
        db,
        "select p.strategy, p.instrument_id, i.end_ts from positions p "
        "join instruments i using (instrument_id)",
    )
    restart_ts = stop_ts + DOWN_S
    overdue = {(s, iid) for s, iid, end in held if end is not None and end < restart_ts}
    assert overdue, "the scenario needs positions on markets that end while the bot is down"

    cfg2 = write_config(tmp_path, "later.yaml", market={"start_ts": restart_ts})
    second = run_bot(db, cfg2, "--duration", "120", seed=SEED)
    assert second.proc.returncode == 0, second.stderr[-3000:]
    assert "cannot adopt market" not in second.stderr
    restored = json.loads(q(db, "select value_json from bot_state where key='restored'")[0][0])
    for name, b in before.items():
        r = restored[name]
        cash, realized, fees, sharpe = b["snapshot"]  # type: ignore[misc]
        assert r["cash"] == b["cash"] == cash, name
        assert (r["realized_pnl"], r["fees"]) == (realized, fees), name
        assert r["positions"] == b["positions"], name
        assert r["position_details"] == b["position_details"], name
        assert r["open_orders"] == b["open_orders"], name
        assert r["order_details"] == b["order_details"], name
        assert r["metrics"]["sharpe"] == sharpe, name
    # Markets that ended while the bot was down settled right after the restart.
    for strategy, iid in overdue:
        settled = q(
            db,
            "select count(*) from settlements where strategy=? and instrument_id=? and ts>=?",
            strategy,
            iid,
            restart_ts,
        )[0][0]
        assert settled == 1, (strategy, iid)
        assert not q(
            db, "select 1 from positions where strategy=? and instrument_id=?", strategy, iid
        )
    assert_nothing_lost(db)
