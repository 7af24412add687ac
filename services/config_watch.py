"""Hot config reload: re-validate config.yaml when it changes and apply the safety thresholds.

Users tune thresholds by editing the file while the bot runs. Every
``control.config_poll_interval_s`` wall seconds the watcher compares the file's modification time,
size and text; on a change it validates the whole file exactly like a start does. On success the
``risk``, ``breakers``, ``health``, ``exits``, ``kill_switch``, ``kill_switch_options`` and
``control`` sections apply at once and a ``config_reload`` event lists every changed key (old ->
new); keys of other sections are reported as needing a restart. On failure the bot keeps the old
values and logs the exact error (file, key path, what was expected), also as a ``config_reload``
event (severity warning).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.risk.safety import SafetyLayer
from utils.config import AppConfig, load_config
from utils.errors import ConfigError
from utils.safety_config import HOT_RELOADABLE

log = logging.getLogger("bot.config")


@dataclass
class ReloadResult:
    """What one reload did."""

    ok: bool
    applied: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)
    error: str | None = None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys (lists stay whole values)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        if not value and prefix:
            out[prefix] = {}
        return out
    return {prefix: value}


def diff(old: AppConfig, new: AppConfig) -> list[tuple[str, Any, Any]]:
    """Return ``(dotted key, old value, new value)`` for every changed setting."""
    a = flatten(old.model_dump(mode="json", by_alias=True))
    b = flatten(new.model_dump(mode="json", by_alias=True))
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _show(v: Any) -> str:
    return "null" if v is None else str(v)


class ConfigWatcher:
    """Watches one config file and applies its safety sections to a :class:`SafetyLayer`.

    Parameters
    ----------
    path : str | Path
        The config file the bot was started with.
    safety : SafetyLayer
        Receives the new safety sections (:meth:`SafetyLayer.apply_config`).
    """

    def __init__(self, path: str | Path, safety: SafetyLayer) -> None:
        self.path = Path(path)
        self.safety = safety
        self._sig: tuple[int, int] | None = None
        self._text: str | None = None
        self._file_cfg: AppConfig | None = None
        self.reloads = 0

    def _read(self) -> tuple[tuple[int, int] | None, str | None]:
        try:
            st = self.path.stat()
            return (st.st_mtime_ns, st.st_size), self.path.read_text(encoding="utf-8")
        except OSError:
            return None, None

    def baseline(self) -> None:
        """Remember the file as it is now (call at start; blocking file read)."""
        self._sig, self._text = self._read()
        try:
            self._file_cfg = load_config(self.path)
        except ConfigError:
            self._file_cfg = None

    async def run(self) -> None:
        """Check the file forever (cancel the task to stop)."""
        if self._text is None:
            await asyncio.to_thread(self.baseline)
        while True:
            await asyncio.sleep(self.safety.cfg.control.config_poll_interval_s)
            if self.safety.cfg.control.config_reload:
                await self.check()

    async def check(self) -> ReloadResult | None:
        """Reload if the file changed; return what happened (None: unchanged)."""
        sig = await asyncio.to_thread(lambda: self._read()[0])
        if sig is None or sig == self._sig:
            return None
        sig, text = await asyncio.to_thread(self._read)
        self._sig = sig
        if text is None or text == self._text:
            return None
        self._text = text
        try:
            new = await asyncio.to_thread(load_config, self.path)
        except ConfigError as exc:
            return self._failed(str(exc))
        return self.apply(new)

    def _failed(self, error: str) -> ReloadResult:
        eng = self.safety.engine
        msg = f"{Path(self.path).name} reload failed; keeping the previous values: {error}"
        log.error("%s", msg)
        self.safety.bus.event(
            eng.clock.now(),
            "config_reload",
            msg,
            severity="warning",
            data={"ok": False, "error": error, "file": str(self.path)},
        )
        return ReloadResult(False, error=error)

    def apply(self, new: AppConfig) -> ReloadResult:
        """Apply a validated file's safety sections; report the rest as needing a restart."""
        eng = self.safety.engine
        base = self._file_cfg or self.safety.cfg
        changes = diff(base, new)
        live = [c for c in changes if c[0].split(".", 1)[0] in HOT_RELOADABLE]
        running = self.safety.cfg
        # A restart-only key edited back to the value the bot runs with needs nothing.
        differs = {k for k, _a, _b in diff(running, new)}
        restart = [
            c for c in changes if c[0].split(".", 1)[0] not in HOT_RELOADABLE and c[0] in differs
        ]
        back = [
            k
            for k, _a, _b in changes
            if k.split(".", 1)[0] not in HOT_RELOADABLE and k not in differs
        ]
        self._file_cfg = new
        merged = running.model_copy(update={k: getattr(new, k) for k in HOT_RELOADABLE})
        if live:
            self.safety.apply_config(merged)
        self.reloads += 1
        applied = [f"{k}: {_show(a)} -> {_show(b)}" for k, a, b in live]
        needs = [k for k, _a, _b in restart]
        parts = [f"{Path(self.path).name} reloaded"]
        parts.append("applied " + "; ".join(applied) if applied else "no live setting changed")
        if needs:
            parts.append("needs a restart to apply: " + ", ".join(needs))
        if back:
            parts.append("back to the running value: " + ", ".join(back))
        msg = ". ".join(parts) + "."
        if needs:
            log.warning("%s", msg)
        else:
            log.info("%s", msg)
        self.safety.bus.event(
            eng.clock.now(),
            "config_reload",
            msg,
            severity="warning" if needs else "info",
            data={
                "ok": True,
                "changed": applied,
                "restart_required": needs,
                "file": str(self.path),
            },
        )
        return ReloadResult(True, applied, needs)
