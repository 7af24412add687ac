"""Selection on a trailing window, and stage figures saved on a short interval.

Two strategies on a hand-built store: ``fader`` earned well 60 to 40 days ago and loses in the
last 30 days; ``riser`` was flat then and earns now. All-time, ``fader`` is ahead; on the
trailing 30-day window (the default) the selection picks ``riser`` and leaves ``fader`` out.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.models import ClosedBetRow, PerformanceSnapshotRow
from services.enums import Stage
from services.lifecycle.window import WindowSource, window_figures
from services.money import MICRO
from tests.lifecycle.test_walk import Walk, config

DAY = 86_400.0
LOOSE = {"min_return_pct": 0, "min_sharpe": None, "min_win_rate_pct": None,
         "max_drawdown_pct": None, "min_closed_bets": 1}  # fmt: skip


def _seed(path: Path, now: float) -> None:
    url = db_url_from_path(path)
    migrate(url)
    eng = make_engine(url)
    snaps, bets = [], []
    for day in range(61):  # one snapshot a day, 60 days ago to now
        ts = now - (60 - day) * DAY
        fader = 1000 + 20 * min(day, 20) - 3 * max(0, day - 30)  # +400 early, -90 lately
        riser = 1000 + 4 * max(0, day - 30)  # flat, then +120
        for name, eq in (("fader", fader), ("riser", riser)):
            snaps.append(
                {
                    "strategy": name,
                    "ts": ts,
                    "equity": eq * MICRO,
                    "cash": eq * MICRO,
                    "realized_pnl": 0,
                    "unrealized_pnl": 0,
                    "fees": 0,
                    "exposure": 0,
                    "equity_liquidation": eq * MICRO,
                    "return_pct": 0.0,
                    "drawdown_pct": 0.0,
                    "status": "active",
                }  # fmt: skip
            )
    for i, (name, age, pnl) in enumerate(
        [
            ("fader", 50, 200),
            ("fader", 45, 200),
            ("fader", 10, -45),
            ("fader", 5, -45),
            ("riser", 20, 60),
            ("riser", 8, 60),
        ]  # fmt: skip
    ):
        bets.append(
            {
                "strategy": name,
                "group_id": f"m{i}",
                "closed_ts": now - age * DAY,
                "opened_ts": now - age * DAY - 3600,
                "cost": 100 * MICRO,
                "proceeds": 0,
                "fees": 0,
                "pnl": pnl * MICRO,
                "closed_by": "sold",
            }  # fmt: skip
        )
    with make_session_factory(eng).begin() as s:
        s.execute(insert(PerformanceSnapshotRow), snaps)
        s.execute(insert(ClosedBetRow), bets)
    eng.dispose()


def test_selection_ranks_on_the_trailing_window(tmp_path: Path) -> None:
    sel = {"enabled": False, "stage": "paper", "pool_usd": 1000, "gates": LOOSE}
    w = Walk(config(selection=sel), names=("fader", "riser"))
    now = w.engine.clock.now()
    _seed(tmp_path / "bot.db", now)
    sessions = make_session_factory(make_engine(db_url_from_path(tmp_path / "bot.db")))
    cfg = w.mgr.cfg.competition
    with sessions() as s:
        all_time = window_figures(s, ["fader", "riser"], now - 365 * DAY, now, cfg)
        recent = window_figures(s, ["fader", "riser", "ghost"], now - 30 * DAY, now, cfg)
    assert all_time["fader"].return_pct > all_time["riser"].return_pct > 0
    assert round(all_time["fader"].return_pct, 6) == 31.0  # 1000 -> 1310
    assert round(recent["fader"].return_pct, 4) == round((1310 / 1400 - 1) * 100, 4)
    assert round(recent["riser"].return_pct, 4) == 12.0  # 1000 -> 1120
    assert (recent["fader"].closed_bets, recent["riser"].closed_bets) == (2, 2)
    assert recent["riser"].win_rate == 1.0 and recent["fader"].win_rate == 0.0
    assert "ghost" not in recent  # nothing stored: nothing to judge

    for n in ("fader", "riser"):
        w.engine.runners[n].stage = Stage.PAPER
    w.mgr.window = WindowSource(sessions)
    alloc = w.mgr.run_selection(now)
    assert alloc.shares_pct == {"riser": 70.0, "fader": 0.0}
    assert "return" in alloc.reasons["fader"]  # fails the return gate on the window
    ev = w.writer.events("graduation")[-1]
    assert ev["message"].startswith("selection proposal #1 on the last 30 days: riser 70%")


def test_stage_figures_are_saved_on_the_wall_clock_interval() -> None:
    g = {"save_interval_s": 120, "check_interval_s": 86_400, "sample_interval_s": 60}
    cfg = config()
    w = Walk(cfg.model_copy(update={"graduation": cfg.graduation.model_copy(update=g)}))

    def saved() -> int:
        rows = w.writer.rows.get("bot_state", [])
        return sum(1 for r in rows if r["key"] == "graduation")

    wall = [5000.0]
    w.mgr.wall = lambda: wall[0]
    w.step(1)
    before = saved()
    for _ in range(4):  # four wall minutes: two saves at 120 s, no eligibility check between
        wall[0] += 60
        w.step(1)
    assert saved() - before == 2
    w.step(3600, 3)  # hours of event time in no wall time: no save (a fast simulation)
    assert saved() - before == 2
    st = w.writer.state["graduation"]["stats"]["s1"]["stats"]
    assert st  # the figures' state travels with each save
    w.mgr.finish()  # a clean stop saves too
    assert saved() - before == 3
