"""Supervise the web dashboard as a child process of the bot.

``python bot.py`` starts ``start_dashboard.py`` next to it, restarts it with exponential backoff
if it dies, and stops it when the bot stops (the child also exits by itself if the bot is killed,
see ``--parent-pid``). The control token is resolved here, in the bot (generated on first start
and printed once to the terminal, never to a log), and handed to the child in its environment.
The child's output goes to ``dashboard.log_file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any

from utils.config import AppConfig
from utils.dashboard_token import TOKEN_ENV, TokenError, resolve_token
from utils.logging_setup import rotate_if_large
from utils.redact import DB_URL_ENV

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "start_dashboard.py"
EXIT_CONFIG = 2
"""Exit code of ``start_dashboard.py`` for a configuration error: retrying cannot help."""


class DashboardSupervisor:
    """Start, watch, restart and stop the dashboard process.

    Parameters
    ----------
    cfg : AppConfig
        The bot's config (``dashboard`` section and the database URL).
    config_path : str
        The config file the bot loaded (passed to the child).
    python : str, optional
        Interpreter (default: the bot's).
    script : Path, optional
        The dashboard entry point (default ``start_dashboard.py``).
    backoff_start_s : float, default 1.0
        First restart delay, seconds; doubles up to ``dashboard.restart_backoff_max_s``.
    stable_after_s : float, default 60.0
        A run at least this long resets the backoff.
    stop_timeout_s : float, default 5.0
        Wait after SIGTERM before SIGKILL, seconds.
    """

    def __init__(
        self,
        cfg: AppConfig,
        config_path: str,
        *,
        python: str | None = None,
        script: Path | None = None,
        backoff_start_s: float = 1.0,
        stable_after_s: float = 60.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.cfg = cfg
        self.config_path = str(Path(config_path).resolve())
        self.python = python or sys.executable
        self.script = script or SCRIPT
        self.backoff_start_s = backoff_start_s
        self.stable_after_s = stable_after_s
        self.stop_timeout_s = stop_timeout_s
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.exit_codes: list[int] = []

    def command(self) -> list[str]:
        """Return the child's command line (no secret on it: the token and the database URL,
        which may carry a password, travel in the environment)."""
        d = self.cfg.dashboard
        return [
            self.python,
            str(self.script),
            "--config",
            self.config_path,
            "--host",
            d.host,
            "--port",
            str(d.port),
            "--parent-pid",
            str(os.getpid()),
        ]

    def _env(self) -> dict[str, str] | None:
        try:
            token = resolve_token(self.cfg.dashboard)
        except TokenError as exc:
            log.error("The dashboard is not started: %s.", exc)
            return None
        if token.created:
            # Once, to the terminal only: never through logging.
            print(
                f"Dashboard access token (saved to {token.path}, shown only now): {token.value}",
                flush=True,
            )
        env = dict(os.environ)
        env[TOKEN_ENV] = token.value
        env[DB_URL_ENV] = self.cfg.db_url()
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _output(self) -> IO[Any] | int:
        name = self.cfg.dashboard.log_file
        if not name:
            return asyncio.subprocess.DEVNULL
        path = Path(name).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        # The child writes to this file directly: it rotates at each (re)start of the child.
        rotate_if_large(path, self.cfg.bot.log_max_mb, self.cfg.bot.log_backups)
        return open(path, "ab")  # noqa: SIM115 - owned by run(), closed in its finally

    async def run(self) -> None:
        """Keep the dashboard running until cancelled; then stop it."""
        env = self._env()
        if env is None:
            return
        loop = asyncio.get_running_loop()
        backoff = self.backoff_start_s
        out = self._output()
        d = self.cfg.dashboard
        try:
            while True:
                started = loop.time()
                self.proc = await asyncio.create_subprocess_exec(
                    *self.command(),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    cwd=os.getcwd(),
                )
                self.starts += 1
                log.info("Dashboard started (pid %d): http://%s:%d.", self.proc.pid, d.host, d.port)
                code = await self.proc.wait()
                self.exit_codes.append(code)
                if code == EXIT_CONFIG:
                    log.error(
                        "The dashboard stopped on a configuration error (exit 2); not "
                        "restarting it. See %s.",
                        d.log_file or "its output",
                    )
                    return
                if loop.time() - started >= self.stable_after_s:
                    backoff = self.backoff_start_s
                log.warning(
                    "The dashboard exited with code %d; restarting it in %.0f s.", code, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2.0, d.restart_backoff_max_s)
        finally:
            await self.stop()
            if not isinstance(out, int):
                out.close()

    async def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after ``stop_timeout_s``)."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
        except TimeoutError:
            log.warning(
                "The dashboard did not stop within %.0f s; killing it.", self.stop_timeout_s
            )
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        log.info("Dashboard stopped.")
