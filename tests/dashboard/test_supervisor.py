"""The bot's dashboard supervisor: restart with backoff, stop with the bot, token via env."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from services.dashboard_process import DashboardSupervisor
from utils.config import parse_config

CHILD = """
import json, os, sys, time
out = sys.argv[sys.argv.index("--marker") + 1] if "--marker" in sys.argv else None
with open(os.environ["SUP_LOG"], "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[1:], "token": os.environ.get("DASHBOARD_TOKEN"),
                         "db_url": os.environ.get("BOT_DB_URL"), "pid": os.getpid()}) + "\\n")
mode = os.environ["SUP_MODE"]
if mode == "crash":
    sys.exit(1)
if mode == "config":
    sys.exit(2)
time.sleep(60)
"""


def _sup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, db_url: str | None = None
) -> DashboardSupervisor:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    monkeypatch.setenv("SUP_LOG", str(tmp_path / "starts.jsonl"))
    monkeypatch.setenv("SUP_MODE", mode)
    monkeypatch.delenv("DASHBOARD_TOKEN", raising=False)
    cfg = parse_config(
        {
            "bot": {"db_path": str(tmp_path / "bot.db"), "db_url": db_url},
            "dashboard": {
                "token_file": str(tmp_path / "tok"),
                "port": 5999,
                "log_file": str(tmp_path / "dash.log"),
                "restart_backoff_max_s": 1,
            },
        },
        "c.yaml",
    )
    return DashboardSupervisor(
        cfg, str(tmp_path / "c.yaml"), script=script, backoff_start_s=0.05, stop_timeout_s=2
    )


def _starts(tmp_path: Path) -> list[dict]:
    p = tmp_path / "starts.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


async def test_crashing_dashboard_is_restarted_with_backoff(tmp_path, monkeypatch, capsys) -> None:
    sup = _sup(tmp_path, monkeypatch, "crash")
    task = asyncio.create_task(sup.run(), name="dashboard-test")
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if sup.starts >= 3:
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sup.starts >= 3 and set(sup.exit_codes) == {1}
    starts = _starts(tmp_path)
    token = (tmp_path / "tok").read_text().strip()
    assert all(s["token"] == token for s in starts)  # handed over in the environment
    argv = starts[0]["argv"]
    assert argv[argv.index("--port") + 1] == "5999"
    assert argv[argv.index("--parent-pid") + 1] == str(os.getpid())
    assert token not in " ".join(argv)  # never on the command line
    out = capsys.readouterr().out
    assert out.count(token) == 1  # printed once, at generation


async def test_dashboard_stops_with_the_bot(tmp_path, monkeypatch) -> None:
    sup = _sup(tmp_path, monkeypatch, "serve")
    task = asyncio.create_task(sup.run(), name="dashboard-test")
    for _ in range(100):
        await asyncio.sleep(0.05)
        if _starts(tmp_path):
            break
    assert sup.proc is not None and sup.proc.returncode is None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert sup.proc.returncode is not None  # terminated, not orphaned
    assert sup.starts == 1


async def test_config_error_is_not_retried(tmp_path, monkeypatch) -> None:
    sup = _sup(tmp_path, monkeypatch, "config")
    await asyncio.wait_for(sup.run(), 10)
    assert sup.starts == 1 and sup.exit_codes == [2]


def test_command_line_names_the_config_and_never_the_database_url(tmp_path, monkeypatch) -> None:
    sup = _sup(tmp_path, monkeypatch, "serve")
    cmd = sup.command()
    assert cmd[0] == sys.executable
    assert "--db-url" not in cmd
    assert cmd[cmd.index("--config") + 1] == str((tmp_path / "c.yaml").resolve())


async def test_database_password_reaches_the_child_only_through_its_environment(
    tmp_path, monkeypatch
) -> None:
    # Issue 17: the password was on the child's command line, visible to every local user (ps).
    url = "postgresql+psycopg://bot:hunter2-secret@127.0.0.1:5432/bot"
    sup = _sup(tmp_path, monkeypatch, "crash", db_url=url)
    task = asyncio.create_task(sup.run(), name="dashboard-test")
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if sup.starts >= 1 and _starts(tmp_path):
                break
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    first = _starts(tmp_path)[0]
    assert first["db_url"] == url
    assert "hunter2-secret" not in " ".join(first["argv"])


@pytest.mark.e2e
def test_ctrl_c_leaves_no_traceback_in_the_dashboard_log(tmp_path) -> None:
    # Defect: every Ctrl-C left a KeyboardInterrupt traceback in logs/dashboard.log. Ctrl-C goes
    # to the whole process group; the supervised child ignores it and the bot stops it.
    import signal
    import socket
    import subprocess
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parents[2] / "start_dashboard.py"),
         "--db", str(tmp_path / "bot.db"), "--host", "127.0.0.1", "--port", str(port),
         "--parent-pid", str(os.getpid())],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "DASHBOARD_TOKEN": "t" * 32},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "Dashboard: http" not in (tmp_path / "dashboard.log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None  # still serving: the bot decides when it stops
        proc.terminate()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "KeyboardInterrupt" not in (tmp_path / "dashboard.log").read_text()
