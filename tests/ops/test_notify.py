"""Notifications: policy (kinds, folding, rate limit, quiet hours), delivery to a local HTTP
receiver through apprise, retries, non-blocking publishing, ``bot.py notify test``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from services.bus import AuditEvent, EventBus
from services.ops.notify import Notifier, NotifyPolicy, in_quiet_hours
from services.ops.summary import DailySchedule, summary_notification
from tests.conftest import run_bot
from tests.ops.receiver import Receiver
from utils.ops_config import NotificationsConfig, QuietHours


def _wall(hh: int, mm: int = 0, day: int = 3) -> float:
    return datetime(2026, 12, day, hh, mm, tzinfo=UTC).timestamp()


def _cfg(**kw: object) -> NotificationsConfig:
    base: dict[str, object] = {"enabled": True, "urls": ["json://127.0.0.1:1/x"]}
    return NotificationsConfig(**{**base, **kw})  # type: ignore[arg-type]


def _ev(kind: str = "breaker_trip", sev: str = "warning", msg: str = "m", strat: str = "s1"):
    return AuditEvent(1_767_225_600.0, kind, msg, sev, strat)


def test_policy_filters_kinds_and_severity() -> None:
    p = NotifyPolicy(_cfg(kinds=["breaker_trip", "kill_switch"], min_severity="warning"))
    assert p.decide(_ev("risk_rejection"), 0.0) is None  # not subscribed
    assert p.decide(_ev("breaker_trip", "info"), 0.0) is None  # below the floor
    n = p.decide(_ev("breaker_trip", "warning", "Breaker x tripped"), 0.0)
    assert n is not None and n.kind == "breaker_trip" and n.severity == "warning"
    assert n.title == "[trading bot] WARNING breaker_trip"
    assert n.body.startswith("Breaker x tripped\nstrategy: s1\n")


def test_duplicates_fold_and_the_next_notice_counts_them() -> None:
    p = NotifyPolicy(_cfg(dedup_window_s=60))
    assert p.decide(_ev(msg="same"), 0.0) is not None
    assert p.decide(_ev(msg="same"), 10.0) is None
    assert p.decide(_ev(msg="same"), 59.0) is None
    assert p.decide(_ev(msg="other"), 20.0) is not None  # a different message is not a duplicate
    n = p.decide(_ev(msg="same"), 61.0)
    assert n is not None and "(2 identical event(s) folded since the last notice)" in n.body
    assert p.counters.folded == 2


def test_rate_limit_per_kind_then_the_held_count_is_reported() -> None:
    p = NotifyPolicy(_cfg(rate_limit_per_kind=2, rate_window_s=100, dedup_window_s=0))
    sent = [p.decide(_ev(msg=f"m{i}"), float(i)) for i in range(5)]
    assert [n is not None for n in sent] == [True, True, False, False, False]
    assert p.decide(_ev("kill_switch", msg="k"), 5.0) is not None  # another kind has its own budget
    n = p.decide(_ev(msg="later"), 100.5)  # the first send left the window
    assert n is not None and "3 other breaker_trip event(s) held back" in n.body
    assert p.counters.rate_limited == 3


def test_quiet_hours_hold_non_critical_only() -> None:
    q = QuietHours(start="22:00", end="07:00")
    assert in_quiet_hours(q, _wall(23, 30)) and in_quiet_hours(q, _wall(6, 59))
    assert not in_quiet_hours(q, _wall(7, 0)) and not in_quiet_hours(q, _wall(12))
    p = NotifyPolicy(_cfg(quiet_hours=q))
    assert p.decide(_ev(sev="warning"), _wall(23)) is None
    assert p.decide(_ev("kill_switch", "critical"), _wall(23)) is not None
    assert p.decide(_ev(sev="warning", msg="day"), _wall(12)) is not None
    assert p.counters.quiet == 1


def test_bus_event_is_delivered_to_a_local_http_receiver() -> None:
    with Receiver() as rx:
        cfg = _cfg(urls=[rx.url("bot")])
        bus = EventBus()
        n = Notifier(cfg)
        n.subscribe(bus)
        n.start()
        try:
            bus.event(1_767_225_600.0, "kill_switch", "Kill switch ACTIVATED by dashboard: test",
                      severity="critical", value="HALTED")  # fmt: skip
            bus.event(1_767_225_601.0, "risk_rejection", "too big", severity="warning")
            got = rx.wait_for(1)
            assert n.drain(10)
        finally:
            n.stop()
    assert len(got) == 1  # the rejection is not a subscribed kind
    assert got[0]["path"] == "/bot"
    assert got[0]["title"] == "[trading bot] CRITICAL kill_switch"
    assert got[0]["message"].startswith("Kill switch ACTIVATED by dashboard: test\nvalue: HALTED")
    assert got[0]["type"] == "failure"
    assert n.counters.sent == 1 and n.counters.failed == 0


def test_failed_send_is_retried_then_counted() -> None:
    with Receiver(fail_first=2) as rx:
        n = Notifier(_cfg(urls=[rx.url()], retries=3, retry_backoff_s=0.01))
        n.start()
        n.on_event(_ev("kill_switch", "critical"))
        rx.wait_for(1)
        assert n.drain(10)
        n.stop()
        assert rx.attempts == 3 and n.counters.retries == 2 and n.counters.sent == 1
    with Receiver(fail_first=100) as rx:
        outcomes: list[str] = []
        n = Notifier(_cfg(urls=[rx.url()], retries=1, retry_backoff_s=0.01))
        n.on_outcome = lambda what, _n: outcomes.append(what)
        n.start()
        n.on_event(_ev("kill_switch", "critical"))
        assert n.drain(10)
        n.stop()
        assert rx.attempts == 2 and n.counters.failed == 1 and outcomes == ["failed"]


def test_publishing_never_waits_for_delivery() -> None:
    # The sender is stuck (a dead service): publishing still returns at once, and a full queue
    # drops (and counts) instead of blocking the engine.
    release = threading.Event()
    calls: list[str] = []

    def stuck(title: str, body: str, severity: str) -> bool:
        calls.append(title)
        release.wait(30)
        return True

    n = Notifier(_cfg(queue_max=10, dedup_window_s=0, rate_limit_per_kind=1000), send=stuck)
    n.start()
    bus = EventBus()
    n.subscribe(bus)
    for i in range(25):
        bus.event(float(i), "breaker_trip", f"trip {i}", severity="warning")
    assert bus.published == 25 and bus.subscriber_errors == 0
    assert n.counters.dropped >= 14  # 1 in the sender, 10 queued, the rest dropped
    release.set()
    assert n.drain(10)
    n.stop()
    assert n.counters.sent + n.counters.dropped == 25


def test_daily_summary_once_per_day_at_the_configured_time() -> None:
    s = DailySchedule("08:00", _wall(9))  # started after today's time: first one tomorrow
    assert not s.due(_wall(10))
    assert not s.due(_wall(7, 59, day=4))
    assert s.due(_wall(8, 0, day=4))
    assert not s.due(_wall(20, day=4))
    assert s.due(_wall(8, 5, day=5))
    n = summary_notification([], _wall(8), "[bot]")
    assert n.title == "[bot] daily summary 2026-12-03" and "No strategy" in n.body


def test_bot_py_notify_test_delivers_and_fails_clearly(tmp_path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("strategies: []\nnotifications: {retries: 0}\n", encoding="utf-8")
    with Receiver() as rx:
        p = run_bot("notify", "test", "--config", str(cfg), "--url", rx.url(), timeout=60)
        assert p.returncode == 0, p.stderr
        assert "delivered to 1 URL(s)" in p.stdout
        got = rx.wait_for(1)
    assert got[0]["title"] == "[trading bot] test notification"
    assert "Test notification from the trading bot (command line)" in got[0]["message"]
    p = run_bot("notify", "test", "--config", str(cfg), timeout=60)
    assert p.returncode == 2 and "notifications.urls is empty" in p.stderr
    p = run_bot("notify", "test", "--config", str(cfg), "--url", "json://127.0.0.1:9/x",
                timeout=60)  # fmt: skip
    assert p.returncode == 1 and "NOT delivered" in p.stderr


def test_enabled_without_urls_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="urls is empty"):
        NotificationsConfig(enabled=True)


def test_grafana_dashboard_uses_only_metrics_the_bot_serves() -> None:
    import json
    import re

    from prometheus_client import generate_latest

    from services.ops.metrics import BotMetrics
    from tests.conftest import ROOT

    text = generate_latest(BotMetrics().registry).decode()
    served = {  # every family, even one with no labelled sample yet
        re.sub(r"_total$", "", n) for n in re.findall(r"^# HELP (bot_[a-z_]+)", text, re.M)
    }
    dash = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = {name for p in dash["panels"] for t in p["targets"]
            for name in re.findall(r"\b(bot_[a-z_]+)", t["expr"])}  # fmt: skip
    families = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in used}
    assert len(families) >= 15 and families <= served, families - served


def test_every_default_notification_kind_is_one_the_bot_publishes() -> None:
    """Defect: four default kinds (reconciliation, live_order_failed, stage_change,
    approval_waiting) were names nothing published, so those notifications never came."""
    from pathlib import Path

    from utils.ops_config import DEFAULT_KINDS

    root = Path(__file__).resolve().parents[2] / "services"
    sources = "\n".join(
        p.read_text(encoding="utf-8") for p in root.rglob("*.py") if "ops" not in p.parts
    )
    missing = [k for k in DEFAULT_KINDS if f'"{k}"' not in sources]
    assert missing == []
