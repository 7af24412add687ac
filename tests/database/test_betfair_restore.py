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
