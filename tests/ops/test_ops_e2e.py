"""End to end: a running bot is scraped by Prometheus and notifies a local receiver.

``python bot.py`` runs with ``metrics`` and ``notifications`` enabled; the test scrapes
``/metrics`` while it trades, then activates the kill switch from a second process
(``bot.py control``) and asserts the notification that reached the receiver and the gauges
that followed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, run_bot
from tests.ops.receiver import Receiver

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return {(sample name, sorted labels): value} from the endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(m: dict, name: str, **labels: str) -> float | None:
    return m.get((name, tuple(sorted(labels.items()))))


def test_running_bot_is_scraped_and_its_kill_switch_is_notified(tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "bot.db"
    with Receiver() as rx:
        data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
        data["bot"]["log_file"] = str(tmp_path / "bot.log")
        data["dashboard"]["enabled"] = False
        data["metrics"] = {"enabled": True, "port": port, "update_interval_s": 0.2}
        data["notifications"] = {
            "enabled": True,
            "urls": ["${NOTIFY_URL}"],
            "kinds": ["kill_switch"],
            "retries": 1,
            "retry_backoff_s": 0.1,
        }
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
        env = {**os.environ, "NOTIFY_URL": rx.url("bot")}
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bot.py"), "--config", str(cfg), "--db", str(db),
             "--speed", "20", "--duration", "3600", "--seed", "5", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT), env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            m: dict = {}
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                try:
                    m = scrape(port)
                except OSError:
                    m = {}
                if (_value(m, "bot_fills_total") or 0) > 0:
                    break
                time.sleep(0.2)
            assert (_value(m, "bot_events_processed_total") or 0) > 0
            assert (_value(m, "bot_orders_total") or 0) > 0
            assert _value(m, "bot_kill_switch_active") == 0
            assert _value(m, "bot_trading_state", state="ACTIVE") == 1
            assert _value(m, "bot_strategy_equity", strategy="mm_tight") is not None
            assert _value(m, "bot_strategy_stage", strategy="mm_tight", stage="paper") == 1
            assert _value(m, "bot_writer_healthy") == 1
            assert (_value(m, "bot_order_ack_seconds_count") or 0) > 0
            assert _value(m, "bot_book_staleness_seconds", stat="max") is not None
            ctl = run_bot("control", "--config", str(cfg), "--db", str(db), "kill-switch",
                          "activate", "--reason", "e2e stop", timeout=60, env=env)  # fmt: skip
            assert ctl.returncode == 0, ctl.stdout + ctl.stderr
            got = rx.wait_for(1, timeout=30)
            deadline = time.monotonic() + 30
            while _value(scrape(port), "bot_kill_switch_active") != 1:
                assert time.monotonic() < deadline, "kill switch gauge never went to 1"
                time.sleep(0.2)
            m = scrape(port)
            assert _value(m, "bot_notifications_total", outcome="sent") == 1
            assert (
                _value(m, "bot_audit_events_total", kind="kill_switch", severity="critical") or 0
            ) >= 1
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert got[0]["path"] == "/bot" and got[0]["type"] == "failure"
    assert got[0]["title"] == "[trading bot] CRITICAL kill_switch"
    assert "e2e stop" in got[0]["message"]
