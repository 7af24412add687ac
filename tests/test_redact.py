"""Credentials never reach the logs or the terminal (issue 17)."""

from __future__ import annotations

import json
import logging

import pytest

from services.terminal import startup_lines
from utils.logging_setup import JsonFormatter, TextFormatter
from utils.redact import redact_secrets, redact_url

URL = "postgresql+psycopg://bot:hunter2-secret@db.internal:5432/bot"


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url(URL) == "postgresql+psycopg://bot:***@db.internal:5432/bot"
    assert redact_url("sqlite:////var/lib/bot/bot.db") == "sqlite:////var/lib/bot/bot.db"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"database {URL}.", "database postgresql+psycopg://bot:***@db.internal:5432/bot."),
        ("mailto://me:pw%40x@example.com", "mailto://me:***@example.com"),
        ("host=db password=hunter2 user=bot", "host=db password=*** user=bot"),
        ("http://127.0.0.1:9100/metrics", "http://127.0.0.1:9100/metrics"),
    ],
)
def test_redact_secrets(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_log_lines_never_carry_a_database_password(formatter: logging.Formatter) -> None:
    rec = logging.makeLogRecord(
        {
            "msg": "Bot started: %d strategies, source %s, database %s.",
            "args": (3, "sim", URL),
            "levelname": "INFO",
            "name": "services.app",
            "db_url": URL,  # structured context too
        }
    )
    line = formatter.format(rec)
    assert "hunter2-secret" not in line
    assert "bot:***@db.internal" in line
    if isinstance(formatter, JsonFormatter):
        json.loads(line)  # still valid JSON


def test_startup_lines_hide_the_password() -> None:
    lines = startup_lines("/etc/bot/config.yaml", False, URL, None)
    assert "Database: postgresql+psycopg://bot:***@db.internal:5432/bot" in lines
    assert not any("hunter2" in x for x in lines)


def test_dashboard_child_takes_the_database_url_from_its_environment(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import start_dashboard

    cfg = tmp_path / "c.yaml"
    cfg.write_text("bot: {db_path: other.db}\n", encoding="utf-8")
    monkeypatch.setenv("BOT_DB_URL", URL)
    loaded, _path = start_dashboard.load(start_dashboard.parse_args(["--config", str(cfg)]))
    assert loaded.db_url() == URL
    # An explicit --db still wins (a dashboard started by hand on another file).
    loaded, _path = start_dashboard.load(
        start_dashboard.parse_args(["--config", str(cfg), "--db", str(tmp_path / "x.db")])
    )
    assert loaded.db_url().endswith("x.db")
