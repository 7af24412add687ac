"""A restart never moves a working order to another route (live -> paper after live is off)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from database.models import TABLES
from services.recovery import restore
from tests.test_recovery import _engine, _seed, sessions  # noqa: F401 - the fixture

__all__ = ["sessions"]


def test_a_live_order_is_not_re_rested_on_paper(sessions: sessionmaker[Session]) -> None:  # noqa: F811
    _seed(sessions)
    with sessions.begin() as s:
        s.execute(TABLES["orders"].update().where(TABLES["orders"].c.id == 2).values(route="live"))
    engine, writer = _engine()  # every strategy on paper: live trading is off in this run
    restore(engine, sessions)
    assert engine.open_orders("s1", None) == []
    (row,) = [r for r in writer.rows["orders"] if r["id"] == 2]
    assert row["status"] == "cancelled"
    assert (
        row["reject_reason"] == "was working on route 'live', not this run's 'paper': not restored"
    )
    assert engine.runners["s1"].portfolio.reserved_shares.get("Y1", 0) == 0
