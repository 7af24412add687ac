"""The bot's alert evaluation: edge-triggered, pure; and the task that records triggers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from database.models import TABLES
from services.bus import AuditEvent, EventBus
from services.monitors.alerts import (
    AlertEvaluator,
    AlertMonitor,
    AlertSpec,
    Observation,
    load_alerts,
)
from services.ops.notify import NotifyPolicy
from tests.dashboard.seed import ins
from utils.ops_config import NotificationsConfig

M = 1_000_000


def _fire(ev: AlertEvaluator, alert: AlertSpec, **obs: Any) -> list[str]:
    return [t.message for t in ev.evaluate([alert], Observation(ts=0.0, **obs))]


def test_price_cross_fires_on_every_change_of_side_only() -> None:
    ev = AlertEvaluator()
    a = AlertSpec(1, "price", "cross", instrument_id="Y1", level=550_000)
    seq = [500_000, 540_000, 560_000, 550_000, 570_000, 549_000, None, 530_000, 600_000]
    fired = [bool(_fire(ev, a, prices={"Y1": p})) for p in seq]
    # first sample sets the side; up at 0.56; touching 0.55 keeps "above"; down at 0.549;
    # a missing quote changes nothing; up again at 0.60.
    assert fired == [False, False, True, False, False, True, False, False, True]
    assert _fire(ev, a, prices={"Y1": 500_000}) == [
        "price of Y1 crossed down through 0.550 (now 0.500)"
    ]


def test_above_fires_once_per_excursion_including_the_first_check() -> None:
    ev = AlertEvaluator()
    a = AlertSpec(2, "portfolio_equity", "above", level=30_000 * M)
    seq = [30_100, 30_200, 29_900, 30_050, 30_060]
    fired = [bool(_fire(ev, a, total_equity=v * M)) for v in seq]
    assert fired == [True, False, False, True, False]
    below = AlertSpec(3, "portfolio_equity", "below", level=30_000 * M)
    assert _fire(AlertEvaluator(), below, total_equity=29_000 * M) == [
        "total equity went below $30,000.00 (now $29,000.00)"
    ]


def test_drawdown_and_status_alerts() -> None:
    ev = AlertEvaluator()
    dd = AlertSpec(4, "strategy_drawdown", "above", strategy="s", level_pct=5.0)
    assert [bool(_fire(ev, dd, drawdowns={"s": v})) for v in (1.0, 5.0, 5.5, 6.0, 2.0, 7.0)] == [
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    st = AlertSpec(5, "strategy_status", "change", strategy="s")
    seq = ["WINNING", "WINNING", "MARGINAL", "DISABLED"]
    assert [bool(_fire(ev, st, statuses={"s": v})) for v in seq] == [False, False, True, True]
    only = AlertSpec(6, "strategy_status", "change", strategy="s", status_to="DISABLED")
    ev2 = AlertEvaluator()
    assert [bool(_fire(ev2, only, statuses={"s": v})) for v in seq] == [False, False, False, True]
    assert _fire(ev2, only, statuses={"t": "LOSING"}) == []  # other strategy: nothing


def test_removed_alerts_are_forgotten() -> None:
    ev = AlertEvaluator()
    a = AlertSpec(7, "price", "above", instrument_id="Y1", level=500_000)
    assert _fire(ev, a, prices={"Y1": 600_000})
    ev.evaluate([], Observation(ts=0.0))
    assert _fire(ev, a, prices={"Y1": 600_000})  # re-added: it fires again


@dataclass
class _Row:
    strategy: str
    status: str
    drawdown_pct: float


@dataclass
class _Pf:
    cash: int
    value: int

    def market_value(self, mark: Any) -> int:
        return self.value


@dataclass
class _Runner:
    portfolio: _Pf


@dataclass
class _Clock:
    t: float = 100.0

    def now(self) -> float:
        return self.t


@dataclass
class FakeEngine:
    prices: dict[str, int] = field(default_factory=dict)
    clock: _Clock = field(default_factory=_Clock)
    runners: dict[str, _Runner] = field(default_factory=dict)
    tracker: Any = None

    def mark(self, iid: str) -> int | None:
        return self.prices.get(iid)


class _Writer:
    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.rows: list[dict[str, Any]] = []

    def insert(self, table: str, row: dict[str, Any]) -> None:
        assert table == "alert_triggers"
        self.rows.append(row)
        with self.sessions.begin() as s:
            ins(s, table, [row])


async def test_monitor_loads_alerts_and_records_triggers(seeded) -> None:
    with seeded.begin() as s:
        ins(
            s,
            "alerts",
            [
                {
                    "created_ts": 1.0,
                    "updated_ts": 1.0,
                    "kind": "price",
                    "direction": "above",
                    "instrument_id": "Y1",
                    "level": 550_000,
                },
                {
                    "created_ts": 1.0,
                    "updated_ts": 1.0,
                    "kind": "portfolio_equity",
                    "direction": "below",
                    "level": 20_000 * M,
                    "enabled": False,
                },
            ],
        )
    with seeded() as s:
        assert [a.kind for a in load_alerts(s)] == ["price"]  # disabled ones are skipped
    tracker = type("T", (), {"latest": [_Row("a", "WINNING", 0.5)]})()
    eng = FakeEngine(
        prices={"Y1": 500_000},
        tracker=tracker,
        runners={"a": _Runner(_Pf(cash=9_000 * M, value=1_000 * M))},
    )
    writer = _Writer(seeded)
    bus = EventBus()
    published: list[AuditEvent] = []
    bus.subscribe(published.append)
    mon = AlertMonitor(eng, seeded, writer, interval_s=0.01, reload_s=60, wall=lambda: 5.0, bus=bus)
    task = asyncio.create_task(mon.run(), name="alerts-test")
    try:
        await asyncio.sleep(0.1)
        assert writer.rows == []
        eng.prices["Y1"] = 560_000
        eng.clock.t = 200.0
        for _ in range(100):
            await asyncio.sleep(0.01)
            if writer.rows:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(writer.rows) == 1
    row = writer.rows[0]
    assert (row["ts"], row["wall_ts"], row["value"]) == (200.0, 5.0, "0.560")
    assert row["message"] == "price of Y1 went above 0.550 (now 0.560)"
    with seeded() as s:
        assert s.execute(select(TABLES["alert_triggers"].c.alert_id)).scalars().all() == [1]
    # Published on the one event path too, where notifications subscribe (issue 17).
    assert [(e.kind, e.severity, e.message) for e in published] == [
        ("alert", "warning", "Alert #1 fired: price of Y1 went above 0.550 (now 0.560)")
    ]
    note = NotifyPolicy(NotificationsConfig()).decide(published[0], 0.0)
    assert note is not None and note.kind == "alert"
