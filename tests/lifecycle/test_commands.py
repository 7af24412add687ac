"""Lifecycle control commands from the command line through the database to the bot's control
loop: graduate (with the live confirmation), reject, demote, allocation approve/reject."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from database import queries
from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from services import control_cli
from services.control import ControlLoop
from tests.lifecycle.test_walk import Walk, config
from tests.test_control import now_write


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "bot.db"
    migrate(db_url_from_path(path))
    return path


def result(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as s:
        rows = queries.recent_commands(s, 100)
    return [(r["command"], r["status"], r["result"]) for r in sorted(rows, key=lambda r: r["id"])]


def test_graduate_from_the_cli_reaches_the_bot(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = make_engine(db_url_from_path(db))
    sessions = make_session_factory(eng)
    w = Walk(config())
    ctl = ControlLoop(w.safety, sessions, now_write(sessions), wall=lambda: 1000.0)
    for name, fn in w.mgr.handlers().items():
        ctl.register(name, fn)
    w.run_stage()
    w.run_stage()
    assert w.stage == "paper" and "s1" in w.mgr.pending
    base = ["--db", str(db), "--wait", "0"]
    # Without the word the bot refuses: micro is a live stage (stdin is not a terminal here).
    assert control_cli.main([*base, "graduate", "s1"]) == control_cli.EXIT_QUEUED
    ctl.apply_pending_now()
    assert w.stage == "paper"
    assert control_cli.main([*base, "graduate", "s1", "--confirm", "GRADUATE"]) == 3
    ctl.apply_pending_now()
    assert w.stage == "micro"
    assert control_cli.main([*base, "demote", "s1", "--reason", "venue looks odd"]) == 3
    assert control_cli.main([*base, "reject-graduation", "s1", "--reason", "no"]) == 3
    assert control_cli.main([*base, "allocation", "approve", "7"]) == 3
    ctl.apply_pending_now()
    assert w.stage == "paper"
    got = result(sessions)
    assert got[0][:2] == ("strategy.graduate", "failed")
    assert "needs confirm: 'GRADUATE'" in got[0][2]
    assert got[1][:2] == ("strategy.graduate", "applied")
    assert got[2][:2] == ("strategy.demote", "applied") and "venue looks odd" in got[2][2]
    assert got[3][:2] == ("strategy.graduation_reject", "failed")
    assert "no promotion waiting" in got[3][2]
    assert got[4][:2] == ("allocation.approve", "failed")
    t = w.writer.rows["stage_transitions"][-1]
    assert (t["from_stage"], t["to_stage"], t["actor"]) == ("micro", "paper", "cli")
    capsys.readouterr()
    # The read-only view prints what the bot last published (nothing in this database yet).
    assert control_cli.main([*base, "graduation"]) == 0
    assert "No lifecycle state yet" in capsys.readouterr().out
    eng.dispose()


def test_graduation_view_lists_blockers(db: Path) -> None:
    w = Walk(config())
    w.step(600, 1)
    view = w.writer.state["graduation_view"]
    eng = make_engine(db_url_from_path(db))
    sessions = make_session_factory(eng)
    with sessions.begin() as s:
        queries.set_state(s, "graduation_view", view)
    from services.lifecycle.cli import show

    out = io.StringIO()
    show(sessions, out)
    text = out.getvalue()
    assert "s1" in text and "backtest" in text
    assert "closed bets" in text  # what blocks the strategy
    eng.dispose()
