"""Run ``bot.py`` as a process and inject storage faults, crashes and signals (issue 12).

Every scenario ends with the same checks (:func:`assert_nothing_lost`): the fills in the database
have no gap and reach the engine's last fill id, the ledger rebuilt from fills and settlements
equals the cash the bot recorded, and the positions table equals that rebuild.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, wait_for
from tests.conftest import query as q
from tests.test_bot_e2e import final_cash, replay_ledger

FINAL_LINE = re.compile(r"Stopped after \d+ events and \d+ fills \(engine fill id (\d+)\)")


def write_config(
    tmp: Path, name: str = "config.yaml", market: dict[str, Any] | None = None, **bot: Any
) -> Path:
    """Write a config: the example's strategies, no dashboard, no log file, ``bot`` overrides
    (and ``market_data`` overrides)."""
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    data["bot"].update({"log_file": "", "db_busy_timeout_ms": 300, **bot})
    data["market_data"].update(market or {})
    data["dashboard"]["enabled"] = False
    data["strategies"] = [
        s for s in data["strategies"] if "examples/" not in str(s.get("class", ""))
    ]
    path = tmp / name
    path.write_text(yaml.safe_dump(data))
    return path


class Bot:
    """A running ``bot.py``; stderr is collected in the background."""

    def __init__(
        self,
        db: Path,
        config: Path,
        *args: str,
        seed: int = 7,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bot.py"),
                "--config",
                str(config),
                "--db",
                str(db),
                "--seed",
                str(seed),
                "--speed",
                "max",
                "--quiet",
                "--no-dashboard",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            preexec_fn=preexec_fn,
        )
        self.lines: list[str] = []
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for_fills(self, n: int, timeout: float = 60) -> None:
        wait_for(
            lambda: (
                self.proc.poll() is None
                and self.db.exists()
                and q(self.db, "select count(*) from fills")[0][0] >= n
            ),
            timeout,
            f"{n} fills",
            poll_s=0.1,
        )

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        wait_for(lambda: text in self.stderr, timeout, repr(text), poll_s=0.05)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 90) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return rc

    def final_line(self) -> str:
        """Return the bot's last ``Stopped after ...`` log line (what it committed)."""
        lines = [line for line in self.lines if "Stopped after" in line]
        return lines[-1].strip() if lines else ""

    def engine_fill_id(self) -> int:
        found = FINAL_LINE.findall(self.stderr)
        assert found, self.stderr[-3000:]
        return int(found[-1])


def run_bot(db: Path, config: Path, *args: str, seed: int = 7, timeout: float = 90) -> Bot:
    """Run the bot to its end; return it (``returncode`` via ``bot.proc``)."""
    bot = Bot(db, config, *args, seed=seed)
    bot.wait(timeout)
    return bot


class HeldLock:
    """Another process holding SQLite's write lock (``BEGIN IMMEDIATE``) for ``seconds``."""

    SCRIPT = (
        "import sqlite3, sys, time\n"
        "con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
        "con.execute('BEGIN IMMEDIATE')\n"
        "print('LOCKED', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "con.execute('ROLLBACK')\n"
    )

    def __init__(self, db: Path, seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(db), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "LOCKED"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def limit_file_size(max_bytes: int) -> Callable[[], None]:
    """A preexec_fn: every file the bot writes stops growing at ``max_bytes`` (a full disk)."""
    import resource

    def apply() -> None:
        # Soft limit only: the test can lift it later without CAP_SYS_RESOURCE.
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, resource.RLIM_INFINITY))

    return apply


def lift_file_size_limit(pid: int) -> None:
    """Free the "disk" of a running process (root, or the process's own user)."""
    import resource

    inf = resource.RLIM_INFINITY
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (inf, inf))


def without_root_file_override() -> None:
    """A preexec_fn: drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH so file modes bind even as root."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def assert_nothing_lost(db: Path, engine_fill_id: int | None = None) -> None:
    """No fill missing, ledger reconciles to the micro, positions table equals the replay."""
    con = sqlite3.connect(db, timeout=10)
    try:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    count, top = q(db, "select count(*), coalesce(max(id), 0) from fills")[0]
    assert count == top, f"fill ids have gaps: {count} fills, max id {top}"
    if engine_fill_id is not None:
        assert top >= engine_fill_id, f"engine made fill {engine_fill_id}, database has {top}"
    ledger = replay_ledger(db)
    cash = final_cash(db)
    assert {n: s["cash"] for n, s in ledger.items()} == cash
    for name, st in ledger.items():
        stored = dict(q(db, "select instrument_id, qty from positions where strategy=?", name))
        assert stored == st["positions"], name
    over = q(
        db,
        "select o.id from orders o join (select order_id, sum(size) f from fills "
        "group by order_id) x on x.order_id = o.id where x.f > o.size",
    )
    assert over == []
    settlements = q(db, "select count(*) from settlements")[0][0]
    # Figures for docs/RELIABILITY.md (visible with `pytest -s`).
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
    print(
        f"\nreliability [{test}]: {count} fills (ids 1..{top}, no gap; engine made up to "
        f"{engine_fill_id if engine_fill_id is not None else 'n/a'}), {settlements} "
        "settlements, ledger reconciled, 0 rows lost"
    )


def restart_and_check(db: Path, config: Path, engine_fill_id: int | None, seed: int = 7) -> Bot:
    """Start again on the database a fault left; it must run cleanly and reconcile."""
    bot = run_bot(db, config, "--duration", "5", seed=seed)
    assert bot.proc.returncode == 0, bot.stderr[-3000:]
    assert_nothing_lost(db, engine_fill_id)
    assert not Path(str(db) + ".spool").exists()
    return bot


def wait_pid_gone(proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


SIGNALS = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}
