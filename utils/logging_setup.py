"""Logging: full sentences with context, to the terminal and a file; JSON lines on request."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (for log shippers)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        out = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(
    level: str = "INFO",
    log_file: str | None = None,
    fmt: str = "text",
    console: bool = True,
    console_level: str | None = None,
) -> None:
    """Configure the root logger once (terminal and optional file)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(level)
    formatter: logging.Formatter = (
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    if console:
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(formatter)
        sh.setLevel(console_level or level)
        root.addHandler(sh)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(formatter)
        root.addHandler(fh)
    for noisy in ("alembic", "aiohttp.access", "werkzeug", "engineio", "socketio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
