"""``bot.py`` with the simulator in a child process: the child never outlives the bot, and a
failure of the child stops the bot with a clear error and nothing lost (issue 18).

Real processes: ``bot.py`` (``market_data.sim.process: child``) and its forked child, found by
the pid the bot logs. Each scenario checks that the child is gone afterwards and, where the bot
stops by itself, that the ledger reconciles (``assert_nothing_lost``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.reliability.harness import Bot, assert_nothing_lost, run_bot, write_config

CHILD = re.compile(r"Simulated market running in child process (\d+)")


def _config(tmp: Path) -> Path:
    sim = yaml.safe_load((ROOT / "config.example.yaml").read_text())["market_data"]["sim"]
    return write_config(tmp, market={"sim": {**sim, "process": "child"}})


def _child_pid(bot: Bot) -> int:
    bot.wait_for_log("Simulated market running in child process", timeout=60)
    m = CHILD.search(bot.stderr)
    assert m is not None
    return int(m.group(1))


def _gone(pid: int, timeout: float = 15.0) -> bool:
    """True once ``pid`` has exited (a zombie counts: it no longer runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith(("Z", "X")):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


def test_kill_9_of_the_bot_takes_the_child_with_it(tmp_path: Path) -> None:
    bot = Bot(tmp_path / "bot.db", _config(tmp_path))
    try:
        child = _child_pid(bot)
        bot.wait_for_fills(3)
        bot.signal(signal.SIGKILL)
        bot.wait(30)
        assert _gone(child), "the simulator's child outlived a SIGKILLed bot"
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()


def test_ctrl_c_to_the_process_group_stops_bot_and_child_cleanly(tmp_path: Path) -> None:
    # A terminal's Ctrl-C reaches every process of the foreground group: the child ignores it,
    # the bot stops as usual and ends the child.
    bot = Bot(tmp_path / "bot.db", _config(tmp_path), preexec_fn=os.setsid)
    child = _child_pid(bot)
    bot.wait_for_fills(3)
    os.killpg(bot.proc.pid, signal.SIGINT)
    assert bot.wait(60) == 0, bot.stderr[-3000:]
    assert _gone(child)
    assert "Traceback" not in bot.stderr, bot.stderr[-3000:]
    assert "SimProcessError" not in bot.stderr
    assert_nothing_lost(bot.db, bot.engine_fill_id())


def test_kill_switch_then_sigterm_ends_the_child(tmp_path: Path) -> None:
    bot = Bot(tmp_path / "bot.db", _config(tmp_path))
    child = _child_pid(bot)
    bot.wait_for_fills(3)
    bot.signal(signal.SIGUSR1)  # the kill switch: trading halts, the market keeps running
    bot.wait_for_log("activating the kill switch", timeout=30)
    time.sleep(0.3)
    assert not _gone(child, timeout=0.1)
    bot.signal(signal.SIGTERM)
    assert bot.wait(60) == 0, bot.stderr[-3000:]
    assert _gone(child)
    assert_nothing_lost(bot.db, bot.engine_fill_id())


def test_duration_end_leaves_no_child(tmp_path: Path) -> None:
    bot = run_bot(tmp_path / "bot.db", _config(tmp_path), "--duration", "120")
    assert bot.proc.returncode == 0, bot.stderr[-3000:]
    m = CHILD.search(bot.stderr)
    assert m is not None
    assert _gone(int(m.group(1)), timeout=1.0)
    assert_nothing_lost(bot.db, bot.engine_fill_id())


def test_a_child_killed_from_outside_stops_the_bot_with_an_error(tmp_path: Path) -> None:
    bot = Bot(tmp_path / "bot.db", _config(tmp_path))
    child = _child_pid(bot)
    bot.wait_for_fills(3)
    os.kill(child, signal.SIGKILL)
    rc = bot.wait(60)  # detected: not a hang
    assert rc == 1, bot.stderr[-3000:]
    assert "The simulated market's process" in bot.stderr
    assert "killed by SIGKILL" in bot.stderr
    assert_nothing_lost(bot.db, bot.engine_fill_id())


# Runs bot.py with the simulator's latent step failing after a while; the forked child inherits
# the patch, so the exception is raised in the child.
FAULT = """
import sys
from services.markets.sim.venue import SimVenue
real, calls = SimVenue._latent, [0]
def failing(self, ts, g):
    calls[0] += 1
    if calls[0] > 1000:
        raise ZeroDivisionError("injected fault in the simulator")
    real(self, ts, g)
SimVenue._latent = failing
import bot
sys.exit(bot.main(sys.argv[1:]))
"""


def test_an_exception_in_the_child_stops_the_bot_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    proc = subprocess.run(
        [sys.executable, "-c", FAULT, "--config", str(_config(tmp_path)), "--db", str(db)]
        + ["--seed", "7", "--speed", "max", "--quiet", "--no-dashboard"],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    err = proc.stderr
    assert "The simulated market's process failed: ZeroDivisionError: injected fault" in err
    assert "in failing" in err  # the child's traceback is in the log
    found = re.findall(r"engine fill id (\d+)", err)
    assert found, err[-3000:]
    assert int(found[-1]) > 0  # it had traded before the fault
    assert_nothing_lost(db, int(found[-1]))
