"""Logging: full sentences with context, to the terminal and a file; JSON lines on request."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from pathlib import Path

from utils.redact import redact_secrets

# Attributes every LogRecord has; anything else on a record came from ``extra=`` (structured
# context such as ``strategy``, ``market``, ``order``) and is kept in both formats.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def structured_fields(record: logging.LogRecord) -> dict[str, object]:
    """Return the ``extra=`` fields of a record (its structured context), in insertion order."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        out: dict[str, object] = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in structured_fields(record).items():
            out.setdefault(k, v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact_secrets(json.dumps(out, default=str))


class TextFormatter(logging.Formatter):
    """``time level logger: message [key=value ...]``: the structured fields stay readable."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as one line of text (plus a traceback, if any)."""
        line = super().format(record)
        fields = structured_fields(record)
        if fields:
            ctx = " ".join(f"{k}={v}" for k, v in fields.items())
            head, sep, tail = line.partition("\n")
            line = f"{head} [{ctx}]{sep}{tail}"
        return redact_secrets(line)  # a URL with a password never reaches a log


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever ``sys.stderr`` is *now*.

    The terminal leaderboard (rich ``Live``) swaps ``sys.stderr`` for a proxy that prints above
    the live table; a handler bound to the original stream would write through it and leave
    stale fragments of the table's header on the screen.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def setup_logging(
    level: str = "INFO",
    log_file: str | None = None,
    fmt: str = "text",
    console: bool = True,
    console_level: str | None = None,
    max_mb: float = 0.0,
    backups: int = 5,
) -> None:
    """Configure the root logger once (terminal and optional file).

    With ``max_mb`` > 0 the file rotates at that size, keeping ``backups`` old files
    (``bot.log.1`` ... ``bot.log.N``).
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(level)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    if console:
        sh = CurrentStderrHandler()
        sh.setFormatter(formatter)
        sh.setLevel(console_level or level)
        root.addHandler(sh)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh: logging.FileHandler = (
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=int(max_mb * 1024 * 1024), backupCount=backups, encoding="utf-8"
            )
            if max_mb > 0
            else logging.FileHandler(log_file, encoding="utf-8")
        )
        fh.setFormatter(formatter)
        root.addHandler(fh)
    for noisy in ("alembic", "aiohttp.access", "werkzeug", "engineio", "socketio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def rotate_if_large(path: Path, max_mb: float, backups: int) -> None:
    """Rotate ``path`` (``.1`` ... ``.N``) when it is at least ``max_mb`` MB (0: never)."""
    if max_mb <= 0 or not path.exists() or path.stat().st_size < max_mb * 1024 * 1024:
        return
    for i in range(backups - 1, 0, -1):
        src = path.with_name(f"{path.name}.{i}")
        if src.exists():
            src.replace(path.with_name(f"{path.name}.{i + 1}"))
    if backups > 0:
        path.replace(path.with_name(f"{path.name}.1"))
    else:
        path.unlink()
