"""Control commands: rows applied and acknowledged by the bot's control loop, and the
``python bot.py control`` command line (against a real temp SQLite database)."""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from database import queries
from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from services import control_cli
from services.control import ControlLoop
from services.risk.kill_switch import TradingState
from tests.conftest import ROOT, run_bot
from tests.pg import BACKENDS, fresh_pg_url
from tests.risk.conftest import T0, Harness, make_harness


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ctl") / "template.db"
    migrate(db_url_from_path(path))
    return path


@pytest.fixture
def db(tmp_path: Path, template: Path) -> Path:
    path = tmp_path / "bot.db"
    shutil.copyfile(template, path)
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, template: Path) -> Iterator[str]:
    """The bot's database on SQLite and on PostgreSQL (tests/pg.py)."""
    if request.param == "sqlite":
        path = tmp_path / "ctl.db"
        shutil.copyfile(template, path)
        yield db_url_from_path(path)
    else:
        yield from fresh_pg_url(request)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    eng = make_engine(db_url)
    yield make_session_factory(eng)
    eng.dispose()


def now_write(sessions: sessionmaker[Session]) -> Callable[[Callable[[Session], None]], None]:
    """A stand-in for DbWriter.call that commits at once."""

    def write(fn: Callable[[Session], None]) -> None:
        with sessions.begin() as s:
            fn(s)

    return write


def submit(
    sessions: sessionmaker[Session], command: str, args: dict | None = None, created: float = 999.9
) -> int:
    with sessions.begin() as s:
        return queries.submit_command(s, command, args, source="test", created_ts=created)


def row(sessions: sessionmaker[Session], cid: int) -> dict:
    with sessions() as s:
        return next(r for r in queries.recent_commands(s, 100) if r["id"] == cid)


def loop_for(h: Harness, sessions: sessionmaker[Session]) -> ControlLoop:
    return ControlLoop(h.safety, sessions, now_write(sessions), wall=lambda: 1000.0)


def test_every_command_is_applied_and_acknowledged(sessions: sessionmaker[Session]) -> None:
    h = make_harness()
    h.buy("s1", "Y1", 20, None)
    ctl = loop_for(h, sessions)
    ids = [
        submit(sessions, "strategy.pause", {"strategy": "s1", "reason": "r1"}),
        submit(sessions, "strategy.resume", {"strategy": "s1", "reason": "r2"}),
        submit(sessions, "strategy.disable", {"strategy": "s2", "reason": "r3"}),
        submit(sessions, "strategy.enable", {"strategy": "s2", "reason": "r4"}),
        submit(
            sessions, "position.close", {"strategy": "s1", "instrument_id": "Y1", "reason": "x"}
        ),
        submit(sessions, "breaker.reset", {"breaker": "daily_loss", "reason": "r5"}),
        submit(sessions, "kill_switch.activate", {"reason": "stop", "flatten": False}),
        submit(sessions, "positions.flatten", {"reason": "r6"}),
        submit(
            sessions,
            "kill_switch.deactivate",
            {"reason": "ok", "confirm": "CONFIRM", "enable_all": True},
        ),
    ]
    assert ctl.apply_pending_now() == len(ids)
    rows = [row(sessions, i) for i in ids]
    assert [r["status"] for r in rows] == ["applied"] * len(ids)
    assert all(r["applied_ts"] == 1000.0 for r in rows)
    assert rows[0]["result"].startswith("s1 paused by test: r1")
    assert "sold 20.00 of 20.00 shares" in rows[4]["result"]
    assert "Latency 100.0 ms" in rows[6]["result"]  # created 999.9, applied at wall 1000.0
    assert rows[8]["result"].startswith("Kill switch deactivated by test: ok. 2 strategies enabled")
    assert h.safety.kill.state is TradingState.ACTIVE
    assert {r.status for r in h.engine.runners.values()} == {"active"}
    with sessions() as s:
        assert queries.pending_commands(s) == []


@pytest.mark.parametrize(
    ("command", "args_json", "needle"),
    [
        ("nope", "{}", "unknown command 'nope'"),
        ("strategy.pause", "{not json", "args_json is not valid JSON"),
        ("strategy.pause", "[1]", "must be a JSON object"),
        ("strategy.pause", "{}", "missing argument 'strategy'"),
        ("strategy.pause", '{"strategy": "zz"}', "unknown strategy 'zz'"),
        ("kill_switch.deactivate", '{"reason": "x"}', "not active"),
        ("breaker.reset", '{"breaker": "strategy_drawdown"}', "per strategy"),
    ],
)
def test_bad_commands_fail_with_a_reason(
    sessions: sessionmaker[Session], command: str, args_json: str, needle: str
) -> None:
    h = make_harness()
    ctl = loop_for(h, sessions)
    ok, result = ctl.apply(
        {"id": 1, "command": command, "args_json": args_json, "source": "test", "created_ts": 1.0}
    )
    assert not ok and needle in result
    assert h.writer.events("control")[-1]["severity"] == "warning"


def test_deactivation_without_the_token_fails_and_stays_halted(
    sessions: sessionmaker[Session],
) -> None:
    h = make_harness()
    ctl = loop_for(h, sessions)
    submit(sessions, "kill_switch.activate", {"reason": "stop"})
    bad = submit(sessions, "kill_switch.deactivate", {"reason": "x", "confirm": "yes"})
    ctl.apply_pending_now()
    r = row(sessions, bad)
    assert r["status"] == "failed" and "confirmation token 'CONFIRM'" in r["result"]
    assert h.safety.kill.state is TradingState.HALTED


def test_a_command_is_applied_once_even_before_its_ack_is_committed(
    sessions: sessionmaker[Session],
) -> None:
    h = make_harness()
    queued: list[Callable[[Session], None]] = []
    ctl = ControlLoop(h.safety, sessions, queued.append, wall=lambda: 1000.0)
    submit(sessions, "strategy.pause", {"strategy": "s1", "reason": "once"})
    assert ctl.apply_pending_now() == 1
    assert ctl.apply_pending_now() == 0  # still pending in the DB, but already applied
    assert len(h.writer.events("control")) == 1
    with sessions.begin() as s:
        queued[0](s)
    assert ctl.apply_pending_now() == 0 and ctl._seen == set()


def test_an_unexpected_error_halts_trading_and_keeps_the_loop_alive(
    sessions: sessionmaker[Session],
) -> None:
    h = make_harness()
    ctl = loop_for(h, sessions)

    def broken(reason: str, source: str) -> str:
        raise RuntimeError("bug in flatten")

    h.safety.flatten_all = broken  # type: ignore[method-assign]
    ok, result = ctl.apply(
        {
            "id": 5,
            "command": "positions.flatten",
            "args_json": "{}",
            "source": "test",
            "created_ts": 1.0,
        }
    )
    assert not ok and result == "internal error: RuntimeError: bug in flatten"
    assert h.safety.kill.state is TradingState.HALTED


async def test_async_tick_reads_in_a_thread_and_writes_a_heartbeat(
    sessions: sessionmaker[Session],
) -> None:
    h = make_harness()
    ctl = loop_for(h, sessions)
    submit(sessions, "kill_switch.activate", {"reason": "async"})
    assert await ctl.tick() == 1
    assert h.safety.kill.state is TradingState.HALTED
    hb = h.writer.state["heartbeat"]
    assert hb["wall_ts"] == 1000.0 and hb["trading_state"] == "ACTIVE" and hb["pid"] > 0
    assert h.clock.now() == T0


# ------------------------------------------------------------------------------ command line
def _heartbeat(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        queries.set_state(s, "heartbeat", {"wall_ts": time.time(), "pid": 1})


def test_cli_queues_when_the_bot_is_not_running(sessions: sessionmaker[Session]) -> None:
    out = io.StringIO()
    code = control_cli.send(sessions, "kill_switch.activate", {"reason": "x"}, 1.0, out)
    assert code == control_cli.EXIT_QUEUED
    assert "The bot is not running; command #1 kill_switch.activate is queued" in out.getvalue()
    with sessions() as s:
        assert [r["command"] for r in queries.pending_commands(s)] == ["kill_switch.activate"]


def test_cli_waits_for_the_bots_answer(sessions: sessionmaker[Session]) -> None:
    _heartbeat(sessions)
    stop = threading.Event()

    def fake_bot() -> None:  # acknowledges like the control loop does
        while not stop.is_set():
            with sessions.begin() as s:
                for r in queries.pending_commands(s):
                    ok = r["command"] != "strategy.enable"
                    queries.finish_command(
                        s, r["id"], ok=ok, result="done" if ok else "no", applied_ts=time.time()
                    )
            time.sleep(0.02)

    t = threading.Thread(target=fake_bot, daemon=True)
    t.start()
    try:
        out = io.StringIO()
        assert control_cli.send(sessions, "strategy.pause", {"strategy": "a"}, 5.0, out) == 0
        assert out.getvalue() == "Applied #1 strategy.pause: done\n"
        out = io.StringIO()
        assert control_cli.send(sessions, "strategy.enable", {"strategy": "a"}, 5.0, out) == 1
        assert out.getvalue() == "Refused #2 strategy.enable: no\n"
    finally:
        stop.set()
        t.join(5)


def test_cli_no_answer_within_wait(sessions: sessionmaker[Session]) -> None:
    _heartbeat(sessions)
    out = io.StringIO()
    assert control_cli.send(sessions, "strategy.pause", {"strategy": "a"}, 0.2, out) == 3
    assert "No answer within 0.2 s; command #1 strategy.pause stays queued." in out.getvalue()


def test_cli_maps_subcommands_to_agreed_command_rows() -> None:
    p = control_cli._parser()
    cases = {
        "kill-switch activate --reason r --flatten": (
            "kill_switch.activate",
            {"reason": "r", "flatten": True},
        ),
        "kill-switch deactivate --reason r --confirm CONFIRM --enable-all": (
            "kill_switch.deactivate",
            {"reason": "r", "confirm": "CONFIRM", "enable_all": True},
        ),
        "pause mm --reason r": ("strategy.pause", {"strategy": "mm", "reason": "r"}),
        "close-position mm Y1": (
            "position.close",
            {"strategy": "mm", "instrument_id": "Y1", "reason": "closed from the command line"},
        ),
        "flatten --reason r": ("positions.flatten", {"reason": "r"}),
        "breaker-reset strategy_drawdown --strategy mm --reason r": (
            "breaker.reset",
            {"breaker": "strategy_drawdown", "reason": "r", "strategy": "mm"},
        ),
    }
    for line, expect in cases.items():
        assert control_cli._command(p.parse_args(line.split())) == expect
    with pytest.raises(SystemExit):
        p.parse_args(["kill-switch", "deactivate", "--reason", "r"])  # --confirm is required


def test_bot_py_control_status_and_commands_need_no_strategies(
    tmp_path: Path, db_url: str, sessions: sessionmaker[Session]
) -> None:
    # A second process (the CLI) reads the running bot's database, SQLite or PostgreSQL.
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"bot: {{db_url: '{db_url}'}}\nstrategies: []\n", encoding="utf-8")
    with sessions.begin() as s:
        queries.set_state(
            s,
            "kill_switch",
            {
                "state": "HALTED",
                "since_ts": T0,
                "source": "cli",
                "reason": "test stop",
                "latency_ms": 12.5,
            },
        )
    proc = run_bot("control", "--config", str(cfg), "status", timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "Bot: NOT running" in proc.stdout
    assert "Trading state: HALTED since 2026-01-01 00:00:00 UTC" in proc.stdout
    assert "test stop; applied in 12.5 ms" in proc.stdout


def test_cli_main_in_process(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert control_cli.main(["--db", str(db), "pause", "mm", "--reason", "r"]) == 3
    assert "is queued" in capsys.readouterr().out
    assert control_cli.main(["--db", str(db), "commands"]) == 0
    out = capsys.readouterr().out
    assert "strategy.pause" in out and "pending" in out


def test_options_may_follow_the_command(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Defect: `control status --db PATH` was refused; only `control --db PATH status` worked.
    assert control_cli.main(["status", "--db", str(db)]) == 0
    assert "Bot: NOT running" in capsys.readouterr().out
    assert (
        control_cli.main(["pause-all", "--reason", "news", "--db", str(db), "--wait", "0.1"]) == 3
    )
    assert control_cli.main(["kill-switch", "activate", "--reason", "x", "--db", str(db)]) == 3
    capsys.readouterr()
    assert control_cli.main(["commands", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "strategies.pause_all" in out and "kill_switch.activate" in out


# ------------------------------------------------------------------------------ lock-free inbox
def test_inbox_command_applies_without_its_row_and_the_row_is_answered_not_reapplied(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    # Issue 17: an EMERGENCY STOP waited ~2 s for SQLite's write lock at --speed max. The file
    # lane applies it at the next tick; the row, when it lands, gets that same answer.
    from database.control_inbox import drop

    h = make_harness()
    h.buy("s1", "Y1", 20, None)
    inbox = tmp_path / "bot.db.control"
    ctl = ControlLoop(h.safety, sessions, now_write(sessions), wall=lambda: 1000.0, inbox=inbox)
    args = {"reason": "stop now"}
    drop(inbox, "kill_switch.activate", args, "dashboard", 999.5)
    assert ctl.apply_inbox() == 1
    assert h.safety.kill.state is TradingState.HALTED
    assert list(inbox.glob("*.json")) == []  # consumed
    assert "Latency 500.0 ms" in h.writer.events("kill_switch")[-1]["message"]
    with sessions.begin() as s:  # the row lands later (it waited for the lock)
        cid = queries.submit_command(
            s, "kill_switch.activate", args, source="dashboard", created_ts=999.5
        )
    assert ctl.apply_pending_now() == 0  # answered, not applied a second time
    r = row(sessions, cid)
    assert r["status"] == "applied" and r["applied_ts"] == 1000.0
    assert len(h.writer.events("kill_switch")) == 1


def test_row_first_then_its_file_is_not_applied_twice(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    from database.control_inbox import drop

    h = make_harness()
    inbox = tmp_path / "bot.db.control"
    ctl = ControlLoop(h.safety, sessions, now_write(sessions), wall=lambda: 1000.0, inbox=inbox)
    args = {"strategy": "s1", "reason": "r"}
    submit(sessions, "strategy.pause", args, created=998.0)
    drop(inbox, "strategy.pause", args, "test", 998.0)
    drop(inbox, "strategy.pause", {"strategy": "s1", "reason": "other"}, "test", 998.0)
    (inbox / "broken.json").write_text("{not json", encoding="utf-8")
    assert ctl.apply_pending_now() == 2  # the row, and the second (different) file
    assert len(h.writer.events("control")) == 2
    assert (inbox / "broken.bad").exists()


def test_submit_retrying_drops_the_command_in_the_inbox_of_a_sqlite_database(
    tmp_path: Path, template: Path
) -> None:
    from database.commands import submit_retrying
    from database.control_inbox import inbox_for, take

    path = tmp_path / "x.db"
    shutil.copyfile(template, path)
    url = db_url_from_path(path)
    eng = make_engine(url)
    try:
        submit_retrying(make_session_factory(eng), "kill_switch.activate", {"reason": "r"},
                        source="dashboard", asked_ts=12.5)  # fmt: skip
    finally:
        eng.dispose()
    items = take(inbox_for(url))
    assert items == [{"command": "kill_switch.activate", "args": {"reason": "r"},
                      "source": "dashboard", "created_ts": 12.5}]  # fmt: skip
    assert inbox_for("postgresql+psycopg://u:p@h/db") is None
