"""docs/DEPLOY.md followed in a clean directory, with the systemd unit's own lines (issue 17).

This machine has neither systemd as PID 1 nor a Docker daemon, so the closest real thing is run
instead: the tracked files are copied to a fresh ``opt/trading-bot``; the configuration is the
example plus the YAML block of DEPLOY.md section 2; the secrets file is ``deploy/env.example``
with its ``NOTIFY_URL`` filled in; and the bot is started exactly as ``deploy/trading-bot.service``
says (its ``WorkingDirectory``, ``EnvironmentFile``, ``Environment`` and ``ExecStart``, paths moved
under the test's directory and the virtual environment's python replaced by this one). Then what
the unit promises is checked: metrics are scraped, ``kill -9`` is followed by a start of the same
command (``Restart=on-failure``) that resumes from the database and records an
``unclean_restart``, ``bot.py notify test`` reaches a local receiver, and SIGTERM (``KillSignal``)
stops it with exit code 0, which ``Restart=on-failure`` leaves stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.ops.receiver import Receiver
from tests.ops.test_ops_e2e import _free_port, _value, scrape

pytestmark = pytest.mark.e2e


def unit(path: Path) -> dict[str, list[str]]:
    """Parse a systemd unit file: {key: [values]} (later sections add to earlier keys)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def env_file(path: Path) -> dict[str, str]:
    """Read a systemd EnvironmentFile (KEY=VALUE lines, # comments)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def deploy_yaml() -> dict[str, Any]:
    """The YAML block of DEPLOY.md section 2 (what a user pastes into config.yaml)."""
    text = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    section = text[text.index("## 2. Configuration and secrets") : text.index("## 3.")]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "DEPLOY.md section 2 has no yaml block"
    data = yaml.safe_load(block.group(1))
    assert isinstance(data, dict)
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def tracked_files() -> list[str]:
    proc = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip("not a git checkout: the release folder cannot be listed")
    return [p for p in proc.stdout.splitlines() if (ROOT / p).is_file()]


def wait_scrape(port: int, proc: subprocess.Popen[str], what: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the bot exited {proc.returncode} before {what}")
        try:
            m = scrape(port)
        except OSError:
            m = {}
        if (_value(m, "bot_events_processed_total") or 0) > 0:
            return m
        time.sleep(0.3)
    raise AssertionError(f"no metrics before {what}")


def dashboard_answers(port: int, timeout: float = 60) -> bool:
    """Whether the dashboard the bot supervises answers HTTP (any status: login included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                return r.status < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            time.sleep(0.3)
    return False


def test_deploy_walkthrough_restart_after_kill_9_notify_and_clean_stop(tmp_path: Path) -> None:
    opt, etc = tmp_path / "opt" / "trading-bot", tmp_path / "etc" / "trading-bot"

    def here(value: str) -> str:
        return value.replace("/opt/trading-bot", str(opt)).replace("/etc/trading-bot", str(etc))

    # 1. Code (the release folder), data and logs folders.
    for rel in tracked_files():
        dest = opt / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    (opt / "data").mkdir(exist_ok=True)
    (opt / "logs").mkdir(exist_ok=True)
    # 2. Configuration and secrets, as the guide writes them.
    etc.mkdir(parents=True)
    example = yaml.safe_load((opt / "config.example.yaml").read_text(encoding="utf-8"))
    cfg_data = merge(example, yaml.safe_load(here(yaml.safe_dump(deploy_yaml()))))
    metrics_port, dash_port = _free_port(), _free_port()
    cfg_data["metrics"]["port"] = metrics_port  # the guide's default port may be taken here
    cfg_data["dashboard"]["port"] = dash_port
    cfg_data["market_data"]["speed"] = 20  # a busy market in a short test
    (etc / "config.yaml").write_text(yaml.safe_dump(cfg_data), encoding="utf-8")
    with Receiver() as rx:
        secrets = env_file(opt / "deploy" / "env.example")
        secrets["NOTIFY_URL"] = rx.url("deploy")
        (etc / "env").write_text("".join(f"{k}={v}\n" for k, v in secrets.items()))
        os.chmod(etc / "env", 0o600)
        # 3. The service, started as the unit says.
        u = unit(opt / "deploy" / "trading-bot.service")
        assert u["Restart"] == ["on-failure"] and u["KillSignal"] == ["SIGTERM"]
        workdir = Path(here(u["WorkingDirectory"][0]))
        env = {**os.environ, **env_file(Path(here(u["EnvironmentFile"][0].lstrip("-"))))}
        for assignment in u.get("Environment", []):
            k, v = assignment.split("=", 1)
            env[k] = v
        argv = shlex.split(here(u["ExecStart"][0]))
        assert argv[0] == str(opt / ".venv" / "bin" / "python")
        argv[0] = sys.executable  # the guide's venv holds requirements.txt: this one does too

        def start() -> subprocess.Popen[str]:
            return subprocess.Popen(
                argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip

        db = opt / "data" / "bot.db"
        proc = start()
        try:
            wait_scrape(metrics_port, proc, "the first scrape")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if (
                    db.exists()
                    and sqlite3.connect(db).execute("select count(*) from fills").fetchone()[0]
                ):
                    break
                time.sleep(0.3)
            proc.send_signal(signal.SIGKILL)  # sudo kill -9 <MainPID>
            proc.wait(30)
            assert proc.returncode == -signal.SIGKILL  # a failure: Restart=on-failure applies
            proc = start()
            wait_scrape(metrics_port, proc, "the scrape after the restart")
            kinds = {
                k for (k,) in sqlite3.connect(db).execute("select kind from events").fetchall()
            }
            assert "unclean_restart" in kinds
            assert dashboard_answers(dash_port), "the supervised dashboard never answered"
            # 4. Notifications: the guide's "send a test notification".
            test = subprocess.run(
                [sys.executable, "bot.py", "notify", "test", "--config", str(etc / "config.yaml")],
                cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert test.returncode == 0, test.stdout + test.stderr
            got = rx.wait_for(1, timeout=30)
            assert got[0]["path"] == "/deploy"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # systemctl stop
            _, err = proc.communicate(timeout=150)
    assert proc.returncode == 0, err[-3000:]  # a clean exit: Restart=on-failure leaves it stopped
    log = (opt / "logs" / "bot.log").read_text(encoding="utf-8")
    assert "Stopped after" in log
