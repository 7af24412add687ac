"""Log records keep their structured context (``extra=``) in the text and the JSON format."""

from __future__ import annotations

import json
import logging

from utils.logging_setup import JsonFormatter, TextFormatter


def _record() -> logging.LogRecord:
    logger = logging.getLogger("bot.test")
    return logger.makeRecord(
        "bot.test",
        logging.WARNING,
        __file__,
        1,
        "Strategy %s paused: %s.",
        ("mm", "3 losses"),
        None,
        extra={"strategy": "mm", "market": "Y1", "order": 42},
    )


def test_json_lines_carry_the_structured_fields() -> None:
    out = json.loads(JsonFormatter().format(_record()))
    assert out["message"] == "Strategy mm paused: 3 losses."
    assert (out["strategy"], out["market"], out["order"]) == ("mm", "Y1", 42)
    assert out["level"] == "WARNING" and out["logger"] == "bot.test"


def test_text_lines_show_the_structured_fields() -> None:
    line = TextFormatter().format(_record())
    assert line.endswith("bot.test: Strategy mm paused: 3 losses. [strategy=mm market=Y1 order=42]")


def test_a_record_without_context_is_unchanged() -> None:
    rec = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "plain", (), None)
    assert TextFormatter().format(rec).endswith("x: plain")
    assert set(json.loads(JsonFormatter().format(rec))) == {"ts", "level", "logger", "message"}
