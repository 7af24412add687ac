"""A Betfair-shaped ledger (odds ladder, GBP, lays, commission) survives a restart exactly."""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from database.writer import DbWriter
from services.events import MarketResolved
from services.instruments import Instrument
from services.money import MICRO
from services.persistence import Sink
from services.recovery import instrument_from_row, restore
from tests.execution.test_back_lay import MARKET, A, B, Session, m, runner, trade_out


def _restart(session_factory: sessionmaker[DbSession]) -> Session:
    fresh = Session()
    restore(fresh.engine, session_factory)
    return fresh


def test_open_lay_position_and_instrument_rules_are_restored(
    writer: DbWriter, session_factory: sessionmaker[DbSession]
) -> None:
    s = Session(Sink(writer))
    trade_out(s)
    assert writer.flush()
    back = _restart(session_factory)
    pf, orig = back.pf, s.pf
    assert back.engine.instruments[A] == runner(A, "Alpha")
    assert (pf.cash, pf.short_liability, pf.realized_pnl) == (
        orig.cash,
        orig.short_liability,
        orig.realized_pnl,
    )
    assert pf.positions[A].qty == -m("33.7") and pf.positions[A].cost_basis == -m("13.48")
    assert pf.market_net(MARKET) == orig.market_net(MARKET) == m("6.52")
    pf.check_ledger()


def test_commission_is_a_ledger_row_replayed_on_restart(
    writer: DbWriter, session_factory: sessionmaker[DbSession]
) -> None:
    s = Session(Sink(writer))
    trade_out(s)
    s.send(MarketResolved(s.at(), MARKET, ((A, 0), (B, MICRO))))
    assert s.pf.cash == m("1033.25")
    assert writer.flush()
    back = _restart(session_factory)
    assert back.pf.cash == m("1033.25")
    assert back.pf.commission == back.pf.fees == m("1.75")
    assert back.pf.positions == {} and back.pf.market_net(MARKET) == 0
    back.pf.check_ledger()


def test_an_old_row_without_the_new_columns_is_a_polymarket_instrument() -> None:
    row = {
        "instrument_id": "y",
        "venue": "polymarket",
        "market_id": "m",
        "outcome": "Yes",
        "tick": 10_000,
        "min_size": 5 * MICRO,
        "fee_rate": "0.02",
        "fee_exponent": 1,
        "end_ts": None,
        "complement_id": None,
        "event_id": None,
        "question": None,
        "category": None,
    }
    inst = instrument_from_row(row)
    assert isinstance(inst, Instrument)
    assert (inst.lot, inst.currency, inst.allows_short, inst.ladder.name) == (
        10_000,
        "USDC",
        False,
        "uniform",
    )
    assert inst.fees.taker_fee(10 * MICRO, 500_000) == 50_000  # 10 * 0.02 * 0.25


def test_a_void_runner_is_stored_as_void_not_minus_one_and_replays(
    writer: DbWriter, session_factory: sessionmaker[DbSession]
) -> None:
    from sqlalchemy import text

    from services.events import VOID_PAYOUT

    s = Session(Sink(writer))
    trade_out(s)  # a lay position open on A
    s.send(MarketResolved(s.at(), MARKET, ((A, VOID_PAYOUT), (B, MICRO))))
    assert writer.flush()
    with session_factory() as db:
        st = db.execute(
            text(
                "select payout_per_share, void, amount from settlements"
                " where instrument_id = :i and size != 0"
            ),
            {"i": A},
        ).one()
        inst = db.execute(
            text("select status, payout, void from instruments where instrument_id = :i"), {"i": A}
        ).one()
        assert (
            db.execute(text("select count(*) from settlements where payout_per_share < 0")).one()[0]
            == 0
        )
    assert st[0] is None and bool(st[1]) is True
    assert inst[0] == "resolved" and inst[1] is None and bool(inst[2]) is True
    back = _restart(session_factory)
    assert (back.pf.cash, back.pf.realized_pnl) == (s.pf.cash, s.pf.realized_pnl)
    back.pf.check_ledger()


def test_migration_0016_turns_the_old_minus_one_into_void(tmp_path: object) -> None:
    from pathlib import Path

    from alembic import command
    from sqlalchemy import create_engine, text

    from database.engine import alembic_config

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0013")
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text(
            "insert into settlements (id, strategy, instrument_id, size, payout_per_share, amount,"
            " fee, ts) values (1, 's', 'x', 5, -1, 3, 0, 1.0), (2, 's', 'y', 5, 1000000, 5, 0, 1.0)"
        ))  # fmt: skip
    command.upgrade(cfg, "0016")
    with eng.begin() as c:
        rows = c.execute(text("select id, payout_per_share, void from settlements order by id"))
        assert [(i, p, bool(v)) for i, p, v in rows] == [(1, None, True), (2, 1000000, False)]
    command.downgrade(cfg, "0013")
    with eng.begin() as c:
        assert (
            c.execute(text("select payout_per_share from settlements where id = 1")).one()[0] == -1
        )
    eng.dispose()
